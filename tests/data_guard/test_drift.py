"""drift.py: missing/NaN/Inf rates compared between two profiles made by the counting core."""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pytest

from nanguard.components.data_guard import drift, profiling


def _profile(rows: int, nan_rate: float, missing_rate: float, seed: int) -> dict:
    """A split profile of features x (NaN at `nan_rate`, absent at `missing_rate`) and y."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=rows)
    x[rng.random(rows) < nan_rate] = np.nan
    absent = rng.random(rows) < missing_rate
    y = rng.normal(size=rows)
    y[rng.random(rows) < 0.05] = np.inf
    batch = pa.RecordBatch.from_arrays(
        [pa.array(np.where(absent, None, x), pa.float64(), from_pandas=False), pa.array(y)],
        ["x", "y"],
    )
    return profiling.profile_record_batches([batch])


def test_z_score_matches_the_pooled_formula():
    # 10/1000 vs 200/1000: pooled 0.105, sd sqrt(0.105 * 0.895 * 0.002).
    assert drift.z_score(10, 1000, 200, 1000) == pytest.approx(
        0.19 / math.sqrt(0.105 * 0.895 * 0.002)
    )
    assert drift.z_score(0, 100, 0, 50) == 0.0  # both rates 0: undefined, not a change


def test_the_critical_value_follows_the_confidence():
    assert drift.Tolerance().z_critical == pytest.approx(3.2905, abs=1e-4)
    assert drift.Tolerance(confidence=0.95).z_critical == pytest.approx(1.96, abs=1e-3)


def test_nan_rate_from_1_to_20_percent_is_caught_and_named():
    old = _profile(5000, nan_rate=0.01, missing_rate=0.0, seed=0)
    new = _profile(5000, nan_rate=0.20, missing_rate=0.0, seed=1)
    findings = drift.compare_splits(old, new)
    assert [(f["feature"], f["rate"]) for f in findings] == [("x", "nan")]
    f = findings[0]
    # The counts are the counting core's, exactly.
    assert (f["old_count"], f["new_count"]) == (
        old["features"]["x"]["nan"],
        new["features"]["x"]["nan"],
    )
    assert f["old_out_of"] == old["features"]["x"]["num_values"] == 5000
    assert f["old_rate"] == pytest.approx(0.01, abs=0.004)
    assert f["new_rate"] == pytest.approx(0.20, abs=0.02)
    assert f["z"] > 20
    text = drift.describe(f)
    assert text.startswith(f"x: NaN rate {f['old_rate']:.2%} in train ({f['old_count']} of 5000)")
    assert "in train (" in text and "in eval (" in text and "|z| > 3.29" in text


def test_a_missing_rate_jump_is_caught_with_its_own_denominator():
    old = _profile(3000, nan_rate=0.0, missing_rate=0.02, seed=2)
    new = _profile(3000, nan_rate=0.0, missing_rate=0.10, seed=3)
    findings = drift.compare_splits(old, new, old_name="run 7", new_name="run 8")
    assert [(f["feature"], f["rate"]) for f in findings] == [("x", "missing")]
    assert findings[0]["new_out_of"] == 3000  # rows, not values
    assert findings[0]["new_count"] == new["features"]["x"]["missing"]
    assert (findings[0]["old"], findings[0]["new"]) == ("run 7", "run 8")


@pytest.mark.parametrize("seed", range(10))
def test_sampling_noise_at_the_same_rates_raises_no_alarm(seed):
    old = _profile(2000, nan_rate=0.05, missing_rate=0.05, seed=100 + seed)
    new = _profile(700, nan_rate=0.05, missing_rate=0.05, seed=200 + seed)
    assert drift.compare_splits(old, new) == []


def test_small_moves_are_within_the_absolute_and_relative_tolerances():
    old = _profile(200_000, nan_rate=0.001, missing_rate=0.0, seed=4)
    new = _profile(200_000, nan_rate=0.004, missing_rate=0.0, seed=5)
    # Significant (|z| ~ 19) and 4x, but under one percentage point: tolerated by default.
    assert drift.compare_splits(old, new) == []
    tight = drift.Tolerance(absolute=0.001)
    assert [f["rate"] for f in drift.compare_splits(old, new, tight)] == ["nan"]
    # A move of 2 points on a 40% rate is under half the old rate: tolerated.
    old = _profile(50_000, nan_rate=0.40, missing_rate=0.0, seed=6)
    new = _profile(50_000, nan_rate=0.42, missing_rate=0.0, seed=7)
    assert drift.compare_splits(old, new) == []


def test_features_on_one_side_only_and_empty_denominators_are_skipped():
    old = {"rows": 10, "features": {"a": {"missing": 10, "num_values": 0, "nan": 0}}}
    new = {"rows": 10, "features": {"a": {"missing": 0, "num_values": 10, "nan": 9}, "b": {}}}
    findings = drift.compare_splits(old, new, drift.Tolerance(confidence=0.9))
    assert [(f["feature"], f["rate"]) for f in findings] == [("a", "missing")]
