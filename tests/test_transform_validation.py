"""Post-transform validation (stats_options_updater_fn), the public impute/scale/knn building
blocks, and a run on the multi-process DirectRunner."""

from __future__ import annotations

import ast
import functools
import os
import tempfile

import apache_beam as beam
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import tensorflow as tf
import tensorflow_data_validation as tfdv
import tensorflow_transform as tft
import tensorflow_transform.beam as tft_beam
from apache_beam.options.pipeline_options import PipelineOptions
from sklearn.impute import KNNImputer, SimpleImputer
from sklearn.preprocessing import MinMaxScaler
from tensorflow_metadata.proto.v0 import anomalies_pb2, schema_pb2
from tensorflow_transform.tf_metadata import schema_utils
from tfx.components.transform import stats_options_util

from nanguard.components.transform import preprocessing, stats_options


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


def test_config_errors_name_the_key():
    with pytest.raises(ValueError, match="features.bill: strategy"):
        preprocessing.resolve_config({"features": {"bill": {"strategy": "mode"}}})
    with pytest.raises(ValueError, match="unknown keys \\['fill'\\]"):
        preprocessing.resolve_config({"features": {"bill": {"fill": 1}}})
    with pytest.raises(ValueError, match="clip_quantiles"):
        preprocessing.resolve_config({"defaults": {"numeric": {"clip_quantiles": [0.9, 0.1]}}})
    cfg = preprocessing.resolve_config(None)
    assert cfg["defaults"]["numeric"] == {
        "strategy": "auto",
        "scale": "z_score",
        "add_indicator": True,
    }


N = 120
SPEC = {n: tf.io.VarLenFeature(tf.float32) for n in "abc"}


MP_CONFIG = {
    "label_key": "none",
    "features": {
        "a": {"strategy": "median", "scale": "min_max", "add_indicator": True},
        "c": {"strategy": "knn", "scale": "none"},
        "b": {"strategy": "knn", "scale": "none", "add_indicator": False},
    },
    "knn": {"n_neighbors": 2, "sample_size": 500, "seed": 0},
}


def _data():
    rng = np.random.default_rng(3)
    a = rng.normal(5, 2, N).astype(np.float32).astype(np.float64)
    a[::7] = np.nan
    a[3::11] = np.inf
    a_absent = np.arange(N) % 5 == 1
    b = np.arange(N, dtype=np.float64) + 0.5  # unique and always present: also the row id
    c = (a * 0 + rng.normal(0, 1, N)).astype(np.float32).astype(np.float64)
    c[np.isnan(c)] = rng.normal(0, 1, np.isnan(c).sum()).astype(np.float32)
    c_absent = np.arange(N) % 9 == 4
    rows = [
        {
            "a": [] if a_absent[i] else [float(a[i])],
            "b": [float(b[i])],
            "c": [] if c_absent[i] else [float(c[i])],
        }
        for i in range(N)
    ]
    return rows, np.where(a_absent, np.nan, a), b, np.where(c_absent, np.nan, c)


@pytest.mark.e2e  # ~60-100 s: two worker processes each import TensorFlow
def test_preprocessing_fn_on_multiprocess_direct_runner():
    rows, a, b, c = _data()
    tmp = tempfile.mkdtemp()
    args = ["--direct_running_mode=multi_processing", "--direct_num_workers=2"]
    fn = functools.partial(preprocessing.preprocessing_fn, custom_config=MP_CONFIG)
    with beam.Pipeline(options=PipelineOptions(args)) as p:
        with tft_beam.Context(temp_dir=os.path.join(tmp, "tmp")):
            data = p | beam.Create(rows)
            meta = tft.DatasetMetadata.from_feature_spec(SPEC)
            (out, _), _ = (data, meta) | tft_beam.AnalyzeAndTransformDataset(fn)
            _ = (
                out
                | beam.Map(str)  # builtins only: the workers cannot import this test module
                | beam.io.WriteToText(os.path.join(tmp, "out"), shard_name_template="")
            )
    with open(os.path.join(tmp, "out")) as f:
        res = pd.DataFrame([ast.literal_eval(line) for line in f]).astype(np.float64)
    res = res.iloc[np.argsort(res["b"].to_numpy())].reset_index(drop=True)
    np.testing.assert_allclose(res["b"], b)
    fin = np.where(np.isfinite(a), a, np.nan)[:, None]
    missing = ~np.isfinite(a)
    np.testing.assert_array_equal(res["a_missing"], missing.astype(float))
    # 'a': median (odd count of finite values: the sketch returns the exact middle value) then
    # min-max with the finite min/max, as SimpleImputer + MinMaxScaler.
    assert np.isfinite(a).sum() % 2 == 1
    expected = (
        MinMaxScaler().fit(fin).transform(SimpleImputer(strategy="median").fit_transform(fin))[:, 0]
    )
    np.testing.assert_allclose(res["a"], expected, rtol=1e-6, atol=1e-6)
    # 'b' and 'c' are KNN-imputed together (scale 'none'): sklearn's KNNImputer on the
    # standardised complete rows, mapped back to the original units.
    both = np.stack([b, c], axis=1)
    mu, sd = np.nanmean(both, axis=0), np.nanstd(both, axis=0)
    z = (both - mu) / sd
    knn = KNNImputer(n_neighbors=2).fit(z[~np.isnan(z).any(axis=1)]).transform(z)
    np.testing.assert_allclose(res["c"], knn[:, 1] * sd[1] + mu[1], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(res["c_missing"], np.isnan(c).astype(float))
