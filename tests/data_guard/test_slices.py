"""slices.py: per-slice counts, against a pandas groupby of the same rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from nanguard.components.data_guard import drift, slices


def _frame(rows=3000, seed=0):
    rng = np.random.default_rng(seed)
    region = rng.choice(
        ["north", "south", "east", "west", "Zürich"], rows, p=[0.4, 0.3, 0.15, 0.1, 0.05]
    )
    region = region.astype(object)
    region[rng.random(rows) < 0.02] = None
    x = rng.normal(size=rows)
    x[(region == "south") & (rng.random(rows) < 0.3)] = np.nan  # NaN only in one region
    x[rng.random(rows) < 0.01] = np.inf
    x[rng.random(rows) < 0.01] = -1e30
    x = np.where(rng.random(rows) < 0.05, None, x)
    n = rng.integers(0, 5, rows).astype(object)
    n[rng.random(rows) < 0.1] = None
    return pd.DataFrame({"region": region, "x": x, "n": n})


def _list_batches(frame, size=700):
    """TFXIO layout: one list column per feature, an absent value as an empty list."""
    out = []
    for start in range(0, len(frame), size):
        part = frame.iloc[start : start + size]
        arrays = []
        for name, kind in (("region", pa.string()), ("x", pa.float32()), ("n", pa.int64())):
            values = [[] if v is None else [v] for v in part[name]]
            arrays.append(pa.array(values, pa.list_(kind)))
        out.append(pa.RecordBatch.from_arrays(arrays, ["region", "x", "n"]))
    return out


def test_counts_per_region_match_pandas_across_batches_and_merges():
    frame = _frame()
    batches = _list_batches(frame)
    left = slices.SliceCounts(["region"])
    right = slices.SliceCounts(["region"])
    for i, batch in enumerate(batches):
        (left if i % 2 else right).add(batch)
    got = left.merge([right]).extract()["region"]
    key = frame["region"].fillna(slices.MISSING_SLICE)
    absent = frame["x"].map(lambda v: v is None)
    x = frame["x"].map(lambda v: np.nan if v is None else v).astype(float)
    nan = np.isnan(x) & ~absent
    for value, group in frame.groupby(key, dropna=False):
        s = got[value]
        assert s["rows"] == len(group), value
        assert s["features"]["x"]["missing"] == int(absent[group.index].sum()), value
        assert s["features"]["x"]["nan"] == int(nan[group.index].sum()), value
        assert s["features"]["x"]["pos_inf"] == int(np.isposinf(x[group.index]).sum()), value
        assert s["features"]["x"]["huge"] == int((x[group.index] == -1e30).sum()), value
        assert s["features"]["n"]["missing"] == int(group["n"].isna().sum()), value
        assert s["features"]["region"]["missing"] == (len(group) if value == "__missing__" else 0)
    assert list(got)[:2] == ["north", "south"]  # largest first
    assert "Zürich" in got


def test_plain_columns_give_the_same_counts_as_list_columns():
    frame = _frame(seed=1)
    listed = slices.SliceCounts(["region"])
    for b in _list_batches(frame):
        listed.add(b)
    plain = pa.RecordBatch.from_arrays(
        [pa.array(frame["region"].tolist(), pa.string()),  # a list: NaN stays NaN, None null
         pa.array(frame["x"].tolist(), pa.float32()),
         pa.array(frame["n"].tolist(), pa.int64())], ["region", "x", "n"],
    )  # fmt: skip
    assert slices.SliceCounts(["region"]).add(plain).extract() == listed.extract()


def test_only_the_largest_slices_are_kept_and_the_rest_folded():
    frame = _frame(seed=2)
    got = slices.SliceCounts(["region"], max_slices=2).add(_list_batches(frame)[0]).extract()
    counts = frame.iloc[:700]["region"].value_counts()
    region = got["region"]
    assert list(region)[:2] == list(counts.index[:2])
    assert region[slices.OTHER_SLICE]["rows"] == int(counts.iloc[2:].sum())
    assert sum(s["rows"] for s in region.values()) == 700


def test_a_nan_jump_in_one_slice_is_found_by_the_drift_rule():
    before = slices.SliceCounts(["region"])
    for b in _list_batches(_frame(seed=3).assign(x=lambda f: f["x"].where(
            f["x"].map(lambda v: v is None or not np.isnan(v)), 0.5))):  # fmt: skip
        before.add(b)
    after = slices.SliceCounts(["region"])
    for b in _list_batches(_frame(seed=4)):
        after.add(b)
    old, new = before.extract()["region"], after.extract()["region"]
    moved = {
        (value, f["feature"], f["rate"])
        for value in old
        if value in new
        for f in drift.compare_splits(old[value], new[value])
    }
    assert moved == {("south", "x", "nan")}


@pytest.mark.parametrize("max_slices", [1, 3])
def test_capacity_overflow_goes_to_other(max_slices):
    batch = pa.RecordBatch.from_arrays([pa.array([f"v{i}" for i in range(50)])], ["k"])
    got = slices.SliceCounts(["k"], max_slices=max_slices).add(batch).extract()["k"]
    assert len(got) == max_slices + 1 and got[slices.OTHER_SLICE]["rows"] == 50 - max_slices
