"""counts.py: NaN/+Inf/-Inf counting per batch, merging and totals (vs numpy)."""

from __future__ import annotations

import numpy as np

from nanguard.components.gate import counts, testing


def test_count_non_finite_matches_numpy():
    a = np.array([[0.1, np.nan, 0.3], [np.inf, -np.inf, 1.0], [0.0, 0.0, 0.0]], np.float32)
    b = np.array([[1.0], [2.0], [-np.inf]], np.float32)
    result, bad = counts.count_non_finite({"a": a, "b": b, "ids": np.array([1, 2, 3])})
    assert result == {
        "a": {"total": 9, "nan": int(np.isnan(a).sum()), "pos_inf": 1, "neg_inf": 1},
        "b": {"total": 3, "nan": 0, "pos_inf": 0, "neg_inf": 1},
    }
    assert bad.tolist() == [True, True, True]
    assert "ids" not in result


def test_no_float_output_gives_no_bad_rows():
    result, bad = counts.count_non_finite({"ids": np.array([1, 2])})
    assert result == {} and bad is None


def test_batch_counts_keeps_offending_examples_in_vocab_spelling():
    rows = testing.eval_rows(rows=20)
    out = np.array([[0.5], [np.nan], [1.0], [np.inf]] * 5, np.float32)
    acc = counts.batch_counts(np.asarray(rows["records"], object), {"p": out}, 3, "eval")
    assert acc["examples"] == 20 and acc["non_finite"] == 10
    assert acc["outputs"]["p"] == {"total": 20, "nan": 5, "pos_inf": 5, "neg_inf": 0}
    assert len(acc["offending"]) == 3
    first = acc["offending"][0]
    assert first["split"] == "eval" and first["non_finite_outputs"] == ["p"]
    assert first["outputs"] == {"p": ["NaN"]}
    assert acc["offending"][1]["outputs"] == {"p": ["Infinity"]}
    assert first["features"]["n"] == [int(rows["n"][1])]


def test_merge_counts_and_totals():
    one = {"examples": 3, "non_finite": 1, "outputs": {"p": {"total": 3, "nan": 1,
           "pos_inf": 0, "neg_inf": 0}}, "offending": [{"i": 1}]}  # fmt: skip
    two = {"examples": 2, "non_finite": 2, "outputs": {"p": {"total": 2, "nan": 0,
           "pos_inf": 1, "neg_inf": 1}, "q": {"total": 2, "nan": 2, "pos_inf": 0,
           "neg_inf": 0}}, "offending": [{"i": 2}, {"i": 3}]}  # fmt: skip
    merged = counts.merge_counts([one, two, counts.empty_counts()], max_offending=2)
    assert merged["examples"] == 5 and merged["non_finite"] == 3
    assert merged["outputs"]["p"] == {"total": 5, "nan": 1, "pos_inf": 1, "neg_inf": 1}
    assert merged["offending"] == [{"i": 1}, {"i": 2}]
    total = counts.totals({"a": one, "b": two})
    assert {k: total[k] for k in ("examples", "non_finite", "nan", "pos_inf", "neg_inf")} == {
        "examples": 5, "non_finite": 3, "nan": 3, "pos_inf": 1, "neg_inf": 1,
    }  # fmt: skip
