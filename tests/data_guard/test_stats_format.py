"""stats_format.py: the profile as TFDV statistics, with exact missing, NaN and Inf counts."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
import tensorflow_data_validation as tfdv
from tensorflow_metadata.proto.v0 import statistics_pb2

from nanguard.components.data_guard import profiling, stats_format


def _split(seed: int, rows: int = 500):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=rows)
    x[rng.random(rows) < 0.1] = np.nan
    x[rng.random(rows) < 0.02] = np.inf
    absent = rng.random(rows) < 0.05
    color = np.where(rng.random(rows) < 0.7, "red", "blue").astype(object)
    color[rng.random(rows) < 0.03] = None
    batch = pa.RecordBatch.from_arrays(
        [pa.array(np.where(absent, None, x), pa.float64()), pa.array(color, pa.string())],
        ["x", "color"],
    )
    return profiling.profile_record_batches([batch]), x, absent, color


def test_counts_reach_tfdv_fields_exactly():
    train, x, absent, color = _split(0)
    evaluation, *_ = _split(1, rows=200)
    stats = stats_format.to_statistics({"train": train, "eval": evaluation})
    assert [d.name for d in stats.datasets] == ["eval", "train"]
    data = stats.datasets[1]
    assert data.num_examples == 500
    feats = {f.path.step[0]: f for f in data.features}
    num = feats["x"].num_stats
    present = x[~absent]
    assert num.common_stats.num_missing == int(absent.sum())
    assert num.common_stats.num_non_missing == int((~absent).sum())
    assert num.histograms[0].num_nan == int(np.isnan(present).sum())
    custom = {c.name: c.num for c in feats["x"].custom_stats}
    assert custom["nanguard_pos_inf"] == int(np.isposinf(present).sum()) > 0
    assert custom["nanguard_nan"] == int(np.isnan(present).sum())
    finite = present[np.isfinite(present)]
    assert num.mean == pytest.approx(finite.mean()) and num.max == pytest.approx(finite.max())
    assert num.std_dev == pytest.approx(finite.std())
    assert feats["x"].type == statistics_pb2.FeatureNameStatistics.FLOAT
    s = feats["color"].string_stats
    assert s.common_stats.num_missing == sum(c is None for c in color)
    assert (s.top_values[0].value, s.top_values[0].frequency) == (
        "red",
        sum(c == "red" for c in color),
    )


def test_tfdv_reads_it():
    train, *_ = _split(2)
    stats = stats_format.to_statistics({"train": train})
    schema = tfdv.infer_schema(stats)
    assert {f.name for f in schema.feature} == {"x", "color"}
    x = tfdv.get_feature_stats(stats.datasets[0], tfdv.FeaturePath(["x"]))
    assert x.num_stats.histograms[0].num_nan == train["features"]["x"]["nan"]
    assert "facets-overview" in tfdv.utils.display_util.get_statistics_html(stats)
