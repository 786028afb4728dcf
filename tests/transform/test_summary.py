"""summary.py: the transform's facts read back from the TransformGraph artifact's files."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import pytest
import tensorflow_transform as tft

from nanguard.components import transform_record as record
from nanguard.components import vocab
from nanguard.components.transform import spec, summarize, summary_line
from tests.transform import _data


@pytest.fixture(scope="module")
def graph():
    _, _, graph = _data.analyzed()
    record.write_transform_record(graph)
    return graph


def test_summarize_reads_the_record(graph):
    summary = summarize(graph)
    recs = _data.recs(graph)["features"]
    assert summary["record"] == os.path.join(graph, spec.RECORD_FILENAME)
    assert set(summary["features"]) == set(recs)
    f_mean = summary["features"]["f_mean"]
    assert f_mean == {
        "kind": "numeric",
        "strategy": "mean",
        "chosen": "mean",
        "fill_value": pytest.approx(recs["f_mean"]["fill_value"], rel=1e-15),
        "scale": "z_score",
        "center": pytest.approx(recs["f_mean"]["center"], rel=1e-15),
        "scale_factor": pytest.approx(recs["f_mean"]["scale_factor"], rel=1e-15),
        "output_low": pytest.approx(recs["f_mean"]["output_low"], rel=1e-15),
        "output_high": pytest.approx(recs["f_mean"]["output_high"], rel=1e-15),
        "add_indicator": True,
        "warning": "",
    }
    assert f_mean["output_low"] < 0 < f_mean["output_high"]
    assert summary["features"]["f_skew"]["reason"] == recs["f_skew"]["reason"]
    assert summary["features"]["f_clip"]["clip_low"] == recs["f_clip"]["clip_low"]
    assert summary["features"]["f_skew"]["strategy"] == "auto"
    assert summary["features"]["f_skew"]["chosen"] == "median"
    assert summary["features"]["f_median"]["scale"] == "robust"
    island = summary["features"]["island"]
    assert island["kind"] == "string" and island["add_indicator"] is False
    assert island["fill_value"] == recs["island"]["fill_value"]
    assert "scale" not in island
    assert set(summary["warnings"]) == {"f_allnan"}
    assert "no finite value" in summary["warnings"]["f_allnan"]
    # Strict JSON as it stands (non-finite numbers would be vocab's strings).
    assert json.loads(json.dumps(summary, allow_nan=False)) == summary


def test_summary_line(graph):
    line = summary_line(summarize(graph))
    assert line.startswith("imputation: f_allnan=mean, f_big=mean, f_clip=mean, f_const=constant")
    assert "f_skew=median" in line and "f_sym=mean" in line and "island=most_frequent" in line
    assert "k1=knn" in line and "y=" not in line


def test_summary_line_is_todays_cli_transform_line():
    summary = {
        "features": {"b": {"strategy": "auto", "chosen": "median"}, "a": {"strategy": "mean"}}
    }
    assert summary_line(summary) == "imputation: a=mean, b=median"


def test_summarize_without_a_record():
    empty = tempfile.mkdtemp()
    assert summarize(empty) == {}
    assert summary_line({}) == "no nanguard transform record"


def test_summarize_keeps_vocab_spelling_of_non_finite_values():
    uri = tempfile.mkdtemp()
    rec = {"features": {"x": {"kind": "numeric", "strategy": "mean", "fill_value": float("nan")}}}
    with open(os.path.join(uri, spec.RECORD_FILENAME), "w") as f:
        f.write(vocab.dumps(rec))
    assert summarize(uri)["features"]["x"]["fill_value"] == vocab.NAN


def test_summary_import_is_light():
    code = (
        "import sys; import nanguard.components.transform.summary, "
        "nanguard.components.transform.config; "
        "print([m for m in ('tensorflow', 'apache_beam', 'tfx', 'tensorflow_transform') "
        "if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_saved_record_loads_as_the_graph_evaluates_it(graph, tmp_path):
    """`load_transform_record` reads the JSON nanguard's Transform wrote (no graph loaded); it
    equals the graph's evaluation, NaN/Inf statistics included, and falls back to it."""
    evaluated = record.read_transform_record(graph)
    loaded = record.load_transform_record(graph)
    assert vocab.dumps(loaded, sort_keys=True) == vocab.dumps(evaluated, sort_keys=True)
    assert any(
        isinstance(v, float) and v != v for e in loaded["features"].values() for v in e.values()
    ), "the fixture holds a NaN statistic, read back as a float"
    copy = str(tmp_path / "graph")  # the fixture's folder is shared by the test workers
    shutil.copytree(graph, copy)
    os.remove(os.path.join(copy, spec.RECORD_FILENAME))
    fallback = record.load_transform_record(copy)
    assert vocab.dumps(fallback, sort_keys=True) == vocab.dumps(evaluated, sort_keys=True)


def test_a_tf1_transform_graph_has_the_same_record_and_outputs(graph):
    """nanguard's Transform runs TFT in TF1 graph mode (`force_tf_compat_v1`, one trace of the
    preprocessing_fn): its saved graph gives the record and the outputs of the TF2 one."""
    rows, _ = _data.make_data()
    _, v1_graph = _data.analyze(rows, force_tf_compat_v1=True)
    # Two Beam analyses batch adaptively (by timing), so a float sum may differ in its last
    # digits (a spread near 1e37 did under load); every key, text and count stays exact.
    v1, v2 = (json.loads(vocab.dumps(record.read_transform_record(g))) for g in (v1_graph, graph))
    assert _same(v1, v2)
    _, res, _ = _data.analyzed()
    layer = tft.TFTransformOutput(v1_graph).transform_features_layer()
    v1_res = {k: v.numpy() for k, v in layer(_data.to_sparse_batch(rows)).items()}
    assert sorted(v1_res) == sorted(res)
    for name, values in res.items():
        got = v1_res[name]
        if np.issubdtype(got.dtype, np.floating):
            # Scaled by those parameters, an output may differ in its last float32 digit (one
            # z-scored output did by 1 ulp in a fresh clone); a wrong fill or scale moves more.
            np.testing.assert_allclose(got, values, rtol=1e-6, atol=1e-12, err_msg=name)
        else:
            np.testing.assert_array_equal(got, values, err_msg=name)


def _same(a, b) -> bool:
    """JSON values equal, floats to 12 significant digits (NaN equal to NaN)."""
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(map(_same, a, b))
    if isinstance(a, float) and isinstance(b, float):
        return (a != a and b != b) or math.isclose(a, b, rel_tol=1e-12)
    return type(a) is type(b) and a == b
