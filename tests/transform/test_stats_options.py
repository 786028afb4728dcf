"""stats_options.py: post-transform validation refuses NaN and Inf in float outputs."""

from __future__ import annotations

import os
import tempfile

import apache_beam as beam
import numpy as np
import pandas as pd
import pyarrow as pa
import tensorflow as tf
import tensorflow_data_validation as tfdv
from tensorflow_metadata.proto.v0 import anomalies_pb2, schema_pb2
from tensorflow_transform.tf_metadata import schema_utils
from tfx.components.transform import stats_options_util

from nanguard.components.transform import stats_options


def _post_transform_schema():
    spec = {
        "f": tf.io.FixedLenFeature([], tf.float32),
        "f_missing": tf.io.FixedLenFeature([], tf.float32),
        "price": tf.io.FixedLenFeature([], tf.float32),  # numeric label
        "island": tf.io.FixedLenFeature([], tf.int64),
    }
    return schema_utils.schema_from_feature_spec(spec)


def _anomalies(df: pd.DataFrame, schema: schema_pb2.Schema) -> dict[str, list[int]]:
    """What tfx/components/transform/executor.py does with the transformed data: GenerateStatistics
    over Arrow record batches (NaN stays a value, as in transformed examples), then
    tfdv.validate_statistics(stats, stats_options.schema)."""
    arrays = [pa.array([[v] for v in df[c].tolist()]) for c in df.columns]
    batch = pa.RecordBatch.from_arrays(arrays, list(df.columns))
    path = os.path.join(tempfile.mkdtemp(), "stats.pb")
    with beam.Pipeline() as p:
        _ = (
            p
            | beam.Create([batch])
            | tfdv.GenerateStatistics(tfdv.StatsOptions())
            | tfdv.WriteStatisticsToBinaryFile(path)
        )
    result = tfdv.validate_statistics(tfdv.load_stats_binary(path), schema)
    return {name: sorted(r.type for r in info.reason) for name, info in result.anomaly_info.items()}


def test_stats_options_updater_flags_injected_nan_and_inf():
    opts = tfdv.StatsOptions(schema=_post_transform_schema())
    updated = stats_options.stats_options_updater_fn(
        stats_options_util.StatsType.POST_TRANSFORM, opts, {"label_key": "price"}
    )
    by_name = {f.name: f for f in updated.schema.feature}
    assert by_name["f"].float_domain.disallow_nan and by_name["f"].float_domain.disallow_inf
    assert by_name["f_missing"].float_domain.disallow_nan
    assert not by_name["price"].HasField("float_domain")  # the label may be NaN (row dropped)
    clean = pd.DataFrame(
        {
            "f": np.linspace(-1, 1, 50, dtype=np.float32),
            "f_missing": np.zeros(50, np.float32),
            "price": np.r_[np.full(49, 3.0), np.nan].astype(np.float32),
            "island": np.arange(50) % 2,
        }
    )
    assert _anomalies(clean, updated.schema) == {}
    dirty = clean.copy()
    dirty.loc[7, "f"] = np.nan
    dirty.loc[9, "f_missing"] = np.inf
    found = _anomalies(dirty, updated.schema)
    assert found == {
        "f": [anomalies_pb2.AnomalyInfo.FLOAT_TYPE_HAS_NAN],
        "f_missing": [anomalies_pb2.AnomalyInfo.FLOAT_TYPE_HAS_INF],
    }
    # Without the updater the stock schema reports nothing: that is the gap it closes.
    assert _anomalies(dirty, _post_transform_schema()) == {}
    # PRE_TRANSFORM options are left alone.
    pre = tfdv.StatsOptions(schema=_post_transform_schema())
    out = stats_options.stats_options_updater_fn(stats_options_util.StatsType.PRE_TRANSFORM, pre)
    assert not any(f.HasField("float_domain") for f in out.schema.feature)
