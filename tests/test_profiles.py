"""profiles.py: what the probes know of each feature, from schema/statistics or raw data."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from tensorflow_metadata.proto.v0 import statistics_pb2

from nanguard.components import profiles, vocab
from nanguard.components.gate import testing


def test_profiles_from_schema_and_statistics():
    stats = statistics_pb2.DatasetFeatureStatisticsList()
    ds = stats.datasets.add()
    fx = ds.features.add()
    fx.path.step.append("x")
    fx.num_stats.mean = 12.5
    fx.num_stats.max = float("inf")  # TFDV keeps Inf in max: must be ignored
    fx.num_stats.min = -3.0
    h = fx.num_stats.histograms.add(type=statistics_pb2.Histogram.QUANTILES)
    for lo in (0.0, 5.0, 10.0):
        h.buckets.add(low_value=lo, high_value=lo + 5.0)
    fc = ds.features.add()
    fc.path.step.append("color")
    fc.string_stats.top_values.add(value="green", frequency=10)
    by_name = {
        p.name: p for p in profiles.profiles_from_schema(testing.raw_schema(), stats, "label")
    }
    assert set(by_name) == {"x", "n", "color"}
    assert by_name["x"].typical == 7.5  # middle quantile bucket
    assert by_name["x"].max_abs == 40.0  # max(|inf| ignored, |-3|, domain 40, |-2|)
    assert by_name["n"] == profiles.FeatureProfile("n", "int", 0, None)
    assert by_name["color"].typical == "green"


def test_no_label_keeps_every_feature():
    names = [p.name for p in profiles.profiles_from_schema(testing.raw_schema())]
    assert names == ["x", "n", "color", "label"]
    assert vocab.NO_LABEL == ""


def test_profiles_from_table_and_records():
    data = testing.eval_rows()
    by_name = {p.name: p for p in profiles.profiles_from_records(data["records"])}
    present = data["x"][~data["absent"]]
    finite = present[np.isfinite(present)].astype(np.float64)
    assert by_name["x"].kind == "float"
    assert by_name["x"].typical == pytest.approx(float(np.median(finite)))
    assert by_name["x"].max_abs == pytest.approx(float(np.abs(finite).max()))
    assert by_name["n"].kind == "int" and by_name["n"].max_abs == 95.0
    values, counts = np.unique(data["color"], return_counts=True)
    assert by_name["color"].typical == values[np.argmax(counts)]


def test_profiles_from_table_skips_label_and_handles_all_missing():
    table = pa.table(
        {
            "y": pa.array([1.0, 2.0]),
            "gone": pa.array([np.nan, np.inf]),
            "s": pa.array([None, None], pa.string()),
        }
    )
    by_name = {p.name: p for p in profiles.profiles_from_table(table, label_key="y")}
    assert by_name == {
        "gone": profiles.FeatureProfile("gone", "float", None, None),
        "s": profiles.FeatureProfile("s", "bytes", None, None),
    }
