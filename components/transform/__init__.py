"""NaN-safe imputation and scaling for tf.Transform (nanguard issue 4)."""

from nanguard.components import _lazy

_EXPORTS = {
    "AUTO_SKEW_THRESHOLD": "nanguard.components.transform.imputation",
    "DEFAULT_CONFIG": "nanguard.components.transform.preprocessing",
    "RECORD_FILENAME": "nanguard.components.transform.record",
    "TransformConfig": "nanguard.components.transform.config",
    "impute": "nanguard.components.transform.imputation",
    "knn_impute": "nanguard.components.transform.knn",
    "preprocessing_fn": "nanguard.components.transform.preprocessing",
    "read_transform_record": "nanguard.components.transform.record",
    "scale": "nanguard.components.transform.scaling",
    "stats_options_updater_fn": "nanguard.components.transform.stats_options",
    "write_transform_record": "nanguard.components.transform.record",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = _lazy.exports(__name__, _EXPORTS)
