"""NaN-safe imputation and scaling for tf.Transform (nanguard issue 4)."""

from nanguard.components.transform.imputation import AUTO_SKEW_THRESHOLD, impute
from nanguard.components.transform.knn import knn_impute
from nanguard.components.transform.preprocessing import DEFAULT_CONFIG, preprocessing_fn
from nanguard.components.transform.record import (
    RECORD_FILENAME,
    read_transform_record,
    write_transform_record,
)
from nanguard.components.transform.scaling import scale
from nanguard.components.transform.stats_options import stats_options_updater_fn

__all__ = [
    "AUTO_SKEW_THRESHOLD",
    "DEFAULT_CONFIG",
    "RECORD_FILENAME",
    "impute",
    "knn_impute",
    "preprocessing_fn",
    "read_transform_record",
    "scale",
    "stats_options_updater_fn",
    "write_transform_record",
]
