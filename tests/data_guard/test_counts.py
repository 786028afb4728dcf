"""counts.py: the Arrow counting core, against numpy and pandas (no Beam)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from nanguard.components.data_guard import counts, profiling


def test_profile_record_batches_matches_numpy_and_merges_across_batches():
    rng = np.random.default_rng(0)
    n = 5000
    values = rng.normal(3.0, 2.0, n).astype(np.float32)
    values[rng.random(n) < 0.05] = np.nan
    values[rng.random(n) < 0.01] = np.inf
    values[rng.random(n) < 0.01] = -np.inf
    values[:3] = [2e19, -5e19, 1e10]
    present = rng.random(n) > 0.1
    offsets = np.concatenate([[0], np.cumsum(present)])
    column = pa.LargeListArray.from_arrays(
        pa.array(offsets), pa.array(values[present]), mask=pa.array(~present)
    )
    words = pa.array(
        [[b"a"], [b"b"], None, [b"a"]] * (n // 4), type=pa.large_list(pa.large_binary())
    )
    batch = pa.RecordBatch.from_arrays([column, words], ["x", "w"])
    batches = [batch.slice(i, 700) for i in range(0, n, 700)]  # uneven, sliced batches
    result = profiling.profile_record_batches(batches)
    x = result["features"]["x"]
    v = values[present]
    finite = v[np.isfinite(v)].astype(np.float64)
    assert result["rows"] == n
    assert x["present"] == present.sum() and x["missing"] == n - present.sum()
    assert x["nan"] == np.isnan(v).sum()
    assert x["pos_inf"] == np.isposinf(v).sum() and x["neg_inf"] == np.isneginf(v).sum()
    assert x["huge"] == (np.abs(finite) > counts.HUGE_THRESHOLD).sum() == 2 - (not present[1])
    np.testing.assert_allclose(x["mean"], finite.mean(), rtol=1e-9)
    np.testing.assert_allclose(x["std"], finite.std(), rtol=1e-9)
    # Approximate median: rank error within the documented epsilon.
    rank = np.searchsorted(np.sort(finite), x["median"])
    assert abs(rank - finite.size / 2) <= counts.QUANTILES_EPSILON * finite.size + 1
    w = result["features"]["w"]
    assert (w["present"], w["missing"], w["top_value"], w["top_count"]) == (
        3 * n // 4,
        n // 4,
        "a",
        n // 2,
    )
    assert w["nan"] == w["pos_inf"] == 0


def test_complete_profile_adds_absent_features_as_all_missing():
    batch = pa.RecordBatch.from_arrays([pa.array([1.0, None, 3.0])], ["x"])
    result = profiling.complete_profile(
        profiling.profile_record_batches([batch]), {"x": counts.FLOAT, "ghost": counts.INT}
    )
    assert list(result["features"]) == ["ghost", "x"]
    ghost = result["features"]["ghost"]
    assert (ghost["type"], ghost["present"], ghost["missing"], ghost["nan"]) == ("INT", 0, 3, 0)
    assert (result["features"]["x"]["present"], result["features"]["x"]["missing"]) == (2, 1)


def test_non_numeric_values_are_counted_exactly_across_batches_and_merges():
    """The stray-value sketch starts as a copy of the top-k sketch when the first number shows
    up (text-only batches before it), and merges with accumulators that saw no number."""
    parts = [["abc", "x", "abc"], ["1", "2.5", "abc", "nan"], ["?", "x"], ["3"] * 40]
    batches = [pa.RecordBatch.from_arrays([pa.array(p)], names=["v"]) for p in parts]
    values = pd.Series(sum(parts, []))
    others = values[~values.str.fullmatch(r"[0-9.]+|nan")].value_counts().to_dict()
    assert others == {"abc": 3, "x": 2, "?": 1}
    one = profiling.profile_record_batches(batches)["features"]["v"]
    accs = []
    for batch in batches:
        acc = counts.ProfileAccumulator()
        counts.add_record_batch(acc, batch)
        accs.append(acc)
    merged = profiling.extract_profile(counts.merge_accumulators(accs[::-1]))["features"]["v"]
    for feat in (one, merged):
        assert (feat["numeric_like"], feat["non_numeric_exact"]) == (43, True)
        assert feat["non_numeric"] == others
    text = profiling.profile_record_batches(batches[:1])["features"]["v"]
    assert text["non_numeric"] == {} and text["top_value"] == "abc"  # a text column


def test_the_non_numeric_sample_is_the_smallest_in_any_order_of_batches_and_merges():
    """Runners order bundles differently (Flink's first value of `sex` was 'female', the
    DirectRunner's 'male'): the sample is the smallest non-number, as `min` gives it."""
    parts = [["male", "1", "zeta"], ["female", "2"], ["3", "mid"]]
    batches = [pa.RecordBatch.from_arrays([pa.array(p)], names=["v"]) for p in parts]
    expected = min(v for v in sum(parts, []) if not v.isdigit())
    samples = set()
    for order in (batches, batches[::-1], batches[1:] + batches[:1]):
        samples.add(profiling.profile_record_batches(order)["features"]["v"]["non_numeric_sample"])
        accs = []
        for batch in order:
            acc = counts.ProfileAccumulator()
            counts.add_record_batch(acc, batch)
            accs.append(acc)
        merged = profiling.extract_profile(counts.merge_accumulators(accs))["features"]["v"]
        samples.add(merged["non_numeric_sample"])
    assert samples == {expected} == {"female"}


def test_the_median_is_within_its_rank_bound_over_summarised_buffers_and_merges():
    """Past `SUMMARY_VALUES` finite values a feature's buffer is sorted and summarised into the
    sketch: the median stays within `QUANTILES_EPSILON * n` ranks of numpy's, in one pass over
    batches and over accumulators merged in either order, for float32 and int64 values."""
    rng = np.random.default_rng(7)
    n = 3 * counts.SUMMARY_VALUES + 12345
    floats = rng.lognormal(3.0, 1.0, n).astype(np.float32)
    floats[rng.random(n) < 0.01] = np.nan
    ints = rng.integers(-1000, 50, n)
    table = pa.table({"f": floats, "i": ints})
    batches = table.to_batches(max_chunksize=40_000)

    def accumulators():  # one per batch (merging reuses and finalises them)
        for batch in batches:
            yield counts.add_record_batch(counts.ProfileAccumulator(), batch)

    results = [
        profiling.profile_record_batches(batches),
        profiling.extract_profile(counts.merge_accumulators(accumulators())),
        profiling.extract_profile(counts.merge_accumulators(list(accumulators())[::-1])),
    ]
    for name, values in (("f", floats), ("i", ints)):
        finite = np.sort(values[np.isfinite(values)].astype(np.float64))
        bound = counts.QUANTILES_EPSILON * finite.size
        for result in results:
            median = result["features"][name]["median"]
            below = np.searchsorted(finite, median, "left")
            above = np.searchsorted(finite, median, "right")
            assert below - bound <= finite.size / 2 <= above + bound, (name, median)
