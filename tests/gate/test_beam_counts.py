"""beam_counts.py: counts in Beam, carried back through a scratch folder that never stays."""

from __future__ import annotations

import os
import tempfile

import numpy as np
import pytest

from nanguard.components.gate import beam_counts, testing

N = 600


@pytest.fixture(scope="module")
def log_model(tmp_path_factory):
    return testing.save_model(str(tmp_path_factory.mktemp("models") / "log"), "log")


@pytest.fixture(scope="module")
def data():
    return testing.eval_rows(N)


def _count(model_dir, sources, **kwargs):
    params = {"signature_name": "serving_default", "batch_size": 64, "max_offending": 3}
    return beam_counts.count_predictions(model_dir, sources, **{**params, **kwargs})


def test_log_model_exact_counts_in_beam(log_model, data, tmp_path):
    out_ref, scale_ref = testing.log_reference(data)
    work = tmp_path / "blessing"
    result = _count(log_model, {"eval": data["records"]}, work_dir=str(work))["eval"]
    assert result["examples"] == N
    assert result["outputs"]["outputs"] == {
        "total": N,
        "nan": int(np.isnan(out_ref).sum()),
        "pos_inf": 0,
        "neg_inf": int(np.isneginf(out_ref).sum()),
    }
    assert result["outputs"]["scale"]["pos_inf"] == int(np.isposinf(scale_ref).sum()) == 5
    bad_rows = ~np.isfinite(out_ref) | ~np.isfinite(scale_ref)
    assert result["non_finite"] == int(bad_rows.sum())
    assert len(result["offending"]) == 3
    first = result["offending"][0]
    assert first["split"] == "eval"
    assert set(first["non_finite_outputs"]) <= {"outputs", "scale"}
    assert set(first["features"]) >= {"n", "color"}
    assert os.listdir(work) == []  # the scratch folder under work_dir is gone


def test_two_splits_from_tfrecord_patterns(log_model, data, tmp_path):
    out_ref, _ = testing.log_reference(data)
    half = N // 2
    for split, records in (("a", data["records"][:half]), ("b", data["records"][half:])):
        testing.write_tfrecord(str(tmp_path / split / "part.gz"), records)
    result = _count(
        log_model,
        {s: str(tmp_path / s / "*") for s in ("a", "b")},
        work_dir=str(tmp_path / "work"),
    )
    assert [result[s]["examples"] for s in ("a", "b")] == [half, N - half]
    assert result["a"]["outputs"]["outputs"]["nan"] == int(np.isnan(out_ref[:half]).sum())
    assert result["b"]["outputs"]["outputs"]["nan"] == int(np.isnan(out_ref[half:]).sum())


def test_a_failed_pipeline_leaves_no_scratch_folder(log_model, tmp_path, monkeypatch):
    local_tmp = tmp_path / "system_tmp"
    local_tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(local_tmp))
    work = tmp_path / "blessing"
    for work_dir in (None, str(work)):
        with pytest.raises(Exception, match="(?i)parse|example|invalid"):
            _count(log_model, {"eval": [b"not a tf.Example"]}, work_dir=work_dir)
    assert [n for n in os.listdir(local_tmp) if n.startswith("nanguard_gate_")] == []
    assert os.listdir(work) == []


def test_scratch_folder_is_removed_and_not_shared(tmp_path):
    with (
        beam_counts.scratch_folder(str(tmp_path)) as one,
        beam_counts.scratch_folder(str(tmp_path)) as two,
    ):
        assert one != two and os.path.dirname(one) == str(tmp_path)
        assert os.path.basename(one).startswith(".counts-")
        open(os.path.join(one, "f"), "w").close()
    assert os.listdir(tmp_path) == []
