"""local_counts.py: an Arrow table through the signature in batches, no Beam, exact counts."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from nanguard.components.gate import beam_counts, local_counts, records, testing
from nanguard.components.gate.signature import ModelSignature

N = 600


@pytest.fixture(scope="module")
def log_model(tmp_path_factory):
    return testing.save_model(str(tmp_path_factory.mktemp("models") / "log"), "log")


@pytest.fixture(scope="module")
def data():
    rows = testing.eval_rows(N)
    x = pa.array(rows["x"], mask=rows["absent"])  # absent x: a null cell, as read_csv gives
    table = pa.table({"x": x, "n": rows["n"], "color": rows["color"]})
    return {**rows, "table": table}


@pytest.mark.parametrize("batch_size", [1, 64, 599, 600, 4096])
def test_exact_counts_against_numpy(log_model, data, batch_size):
    out_ref, scale_ref = testing.log_reference(data)
    signature = ModelSignature(log_model, "serving_default")
    calls = []

    def predict(serialized):
        calls.append(len(serialized))
        return signature(serialized)

    result = local_counts.count_table(
        predict, data["table"], batch_size=batch_size, max_offending=3, split="data"
    )
    assert calls == [min(batch_size, N - s) for s in range(0, N, batch_size)]
    assert result["examples"] == N
    assert result["outputs"]["outputs"] == {
        "total": N,
        "nan": int(np.isnan(out_ref).sum()),
        "pos_inf": 0,
        "neg_inf": int(np.isneginf(out_ref).sum()),
    }
    assert result["outputs"]["scale"] == {
        "total": N, "nan": 0, "pos_inf": int(np.isposinf(scale_ref).sum()), "neg_inf": 0,
    }  # fmt: skip
    bad_rows = ~np.isfinite(out_ref) | ~np.isfinite(scale_ref)
    assert result["non_finite"] == int(bad_rows.sum())
    # The first offending rows, in row order, with their features as sent.
    first_bad = np.flatnonzero(bad_rows)[:3]
    assert [o["features"] for o in result["offending"]] == [
        records.example_to_dict(records.table_to_examples(data["table"])[i]) for i in first_bad
    ]
    assert {o["split"] for o in result["offending"]} == {"data"}


def test_same_accumulator_as_the_beam_path(log_model, data, tmp_path):
    signature = ModelSignature(log_model, "serving_default")
    local = local_counts.count_table(
        signature, data["table"], batch_size=64, max_offending=5, split="eval"
    )
    beam = beam_counts.count_predictions(
        log_model,
        {"eval": records.table_to_examples(data["table"])},
        signature_name="serving_default",
        batch_size=64,
        max_offending=5,
        work_dir=str(tmp_path),
    )["eval"]
    assert local == beam


def test_no_column_left_sends_empty_examples():
    table = pa.table({"a": pa.array([None, None, None])})
    seen = []

    def predict(serialized):
        seen.extend(serialized)
        return {"p": np.zeros((len(serialized), 1), np.float32)}

    result = local_counts.count_table(predict, table, batch_size=2, max_offending=1)
    assert seen == [b"", b"", b""]
    assert (result["examples"], result["non_finite"]) == (3, 0)


def test_the_signature_error_is_raised(log_model):
    signature = ModelSignature(log_model, "serving_default")
    table = pa.table({"x": pa.array(["abc", "def"])})  # text where the model parses a float
    with pytest.raises(Exception, match="x"):
        local_counts.count_table(signature, table, batch_size=8, max_offending=1)
