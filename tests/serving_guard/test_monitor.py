"""The monitor of served traffic on logs written as TF Serving and endpoint loggers write them:
exact counts against a pandas reference, the drift rule of drift.py, the exit codes, and the
report's section."""

import json
import math
import os

import numpy as np
import pandas as pd
import pytest

from nanguard.components.data_guard import drift
from nanguard.components.serving_guard import monitor, served_logs
from nanguard.pipelines.cli import main
from tests.serving_guard import logs

N = 3000


def pandas_reference(rows: list[dict]) -> dict:
    """Per feature, the counts the monitor reports, computed with pandas on the same rows."""
    df = pd.DataFrame(rows, columns=list(logs.KINDS), dtype=object)
    sent = pd.DataFrame([dict.fromkeys(r, True) for r in rows], columns=list(logs.KINDS)).notna()
    out = {}
    for name, kind in logs.KINDS.items():
        values = df.loc[sent[name], name]
        is_str = values.map(lambda v: isinstance(v, str)).astype(bool)
        numbers = values[~is_str].astype(float).to_numpy()
        wrong = int(is_str.sum()) if kind != "STRING" else int((~is_str).sum())
        counted = numbers if kind != "STRING" else np.empty(0)
        out[name] = {
            "present": int(sent[name].sum()),
            "missing": int((~sent[name]).sum()),
            "num_values": len(values),
            "nan": int(np.isnan(counted).sum()),
            "pos_inf": int((counted == np.inf).sum()),
            "neg_inf": int((counted == -np.inf).sum()),
            "wrong_type": wrong,
        }
        out[name]["repaired"] = out[name]["missing"] + sum(
            out[name][k] for k in ("nan", "pos_inf", "neg_inf")
        )
    return out


@pytest.fixture(scope="module")
def served():
    rows = logs.rows(N)
    predictions = np.random.default_rng(1).normal(size=(N, 2))
    predictions[::97, 0] = np.nan
    predictions[5, 1] = np.inf
    predictions[6, :] = -np.inf
    return rows, predictions


def _count(path, kinds=logs.KINDS, fmt="auto"):
    counts = monitor.ServedCounts(kinds)
    for chunk in served_logs.read_logs(str(path), fmt, chunk=512):
        counts.add_chunk(chunk)
    return counts


def _predict_logs(rows, predictions, fields=True):
    out, i = [], 0
    while i < len(rows):  # 1, 2 or 3 examples per request
        k = 1 + i % 3
        out.append(logs.predict_log(rows[i : i + k], predictions[i : i + k], fields))
        i += k
    return out


def _non_finite_rows(predictions):
    return int((~np.isfinite(predictions)).any(axis=1).sum())


@pytest.mark.parametrize("fields", [True, False], ids=["val_fields", "tensor_content"])
def test_predict_logs_count_exactly_as_pandas(served, tmp_path, fields):
    """Responses as TF Serving writes them (*_val fields: decoded in batches by
    served_protos) and as make_tensor_proto writes them (tensor_content: one by one)."""
    rows, predictions = served
    records = _predict_logs(rows, predictions, fields)
    path = logs.write_tfrecord(tmp_path / "requests.log", records)
    counts = _count(path)
    profile = counts.profile()
    assert counts.requests == len(records) and counts.rows == N
    reference = pandas_reference(rows)
    for name in logs.KINDS:
        got = {k: profile["features"][name][k] for k in reference[name]}
        assert got == reference[name], name
    p = counts.prediction_counts()
    assert p["examples"] == N and p["values"] == 2 * N
    assert p["non_finite"] == _non_finite_rows(predictions) == p["flagged_not_finite"]
    assert p["nan"] == int(np.isnan(predictions).sum()) == len(range(0, N, 97))
    assert (p["pos_inf"], p["neg_inf"]) == (1, 2)
    assert p["repaired_values"] == sum(logs.repaired(r) for r in rows)
    assert p["repaired_examples"] == sum(1 for r in rows if logs.repaired(r))


def test_crafted_request_counts(tmp_path):
    rows = [
        {"x": math.nan, "n": 1, "color": "red"},
        {"x": math.inf, "color": "blue"},
        {"x": -math.inf, "n": 2},
        {"x": "oops", "n": 3, "color": "red"},
        {"x": 1.5, "n": 4, "color": 7.0},
        {},
    ]
    path = logs.write_tfrecord(
        tmp_path / "log", [logs.predict_log(rows, [[0.1], [math.nan], [1], [2], [math.inf], [3]])]
    )
    counts = _count(path)
    x, n, color = (counts.profile()["features"][k] for k in ("x", "n", "color"))
    assert (x["present"], x["missing"], x["nan"], x["pos_inf"], x["neg_inf"]) == (5, 1, 1, 1, 1)
    assert (x["wrong_type"], x["repaired"]) == (1, 4)
    assert (n["missing"], n["wrong_type"], color["missing"], color["wrong_type"]) == (2, 0, 2, 1)
    p = counts.prediction_counts()
    assert (p["non_finite"], p["nan"], p["pos_inf"], p["flagged_not_finite"]) == (2, 1, 1, 2)


def test_regress_and_classify_logs(tmp_path):
    rows = [{"x": 1.0, "n": 1, "color": "red"}, {"x": math.nan}, {"n": 2}]
    path = logs.write_tfrecord(
        tmp_path / "log",
        [
            logs.regress_log(rows, [0.5, math.nan, 1.0]),
            logs.classify_log(rows[:2], [[0.2, 0.8], [math.inf, 0.1]]),
        ],
    )
    counts = _count(path)
    x = counts.profile()["features"]["x"]
    assert (counts.requests, counts.rows, x["missing"], x["nan"]) == (2, 5, 1, 2)
    p = counts.prediction_counts()
    assert (p["examples"], p["values"], p["non_finite"], p["nan"], p["pos_inf"]) == (5, 7, 2, 1, 1)


def test_json_lines_count_as_the_tfrecords_do(served, tmp_path):
    rows, predictions = served
    records = []
    for i in range(0, N, 2):  # instances as dicts, as b64 examples, and BigQuery's payloads
        batch, preds = rows[i : i + 2], predictions[i : i + 2].tolist()
        if i % 6 == 0:
            records.append({"instances": [logs.b64(r) for r in batch], "predictions": preds})
        elif i % 6 == 2:
            records.append(
                {
                    "request_payload": [json.dumps(r) for r in batch],
                    "response_payload": [json.dumps(p) for p in preds],
                }
            )
        else:
            records.append({"instances": batch, "predictions": preds})
    path = logs.write_jsonl(tmp_path / "requests.jsonl", records)
    assert "NaN" in open(path).read() and "Infinity" in open(path).read()
    counts = _count(path)
    reference = pandas_reference(rows)
    profile = counts.profile()
    for name in logs.KINDS:
        assert {k: profile["features"][name][k] for k in reference[name]} == reference[name]
    p = counts.prediction_counts()
    assert (p["examples"], p["non_finite"]) == (N, _non_finite_rows(predictions))
    assert counts.requests == len(records)


def test_json_strings_in_numbers_and_kserve_lines(tmp_path):
    path = logs.write_jsonl(
        tmp_path / "kserve.json",
        [
            {"instances": [{"x": "NaN", "n": 1}, {"x": [1.0, math.nan], "n": None}]},
            {"predictions": [{"outputs": [0.1], "nanguard_finite": True, "nanguard_repaired": 0}]},
            {"predictions": ["NaN", {"outputs": [1.0], "nanguard_finite": False}]},
        ],
    )
    counts = _count(path)
    x, n = counts.profile()["features"]["x"], counts.profile()["features"]["n"]
    # a quoted "NaN" is a string: wrong type; the bare token is a NaN value
    assert (x["present"], x["num_values"], x["wrong_type"], x["nan"]) == (2, 3, 1, 1)
    assert (n["present"], n["missing"]) == (1, 1)
    p = counts.prediction_counts()
    assert (p["examples"], p["non_finite"], p["flagged"], p["flagged_not_finite"]) == (3, 1, 2, 1)


def _instances(n_rows, x_missing, seed=0):
    """Rows with x missing at `x_missing`, n at 4% and color at 2% (the training rates)."""
    rng = np.random.default_rng(seed)
    rows = [{"x": 0.5, "n": 1, "color": "red"} for _ in range(n_rows)]
    for name, rate in (("x", x_missing), ("n", 0.04), ("color", 0.02)):
        for i in np.flatnonzero(rng.permutation(n_rows) < round(n_rows * rate)):
            del rows[i][name]
    return rows


@pytest.mark.parametrize("x_missing,moved", [(0.056, []), (0.15, [("x", "missing")])])
def test_the_drift_rule_is_drift_py_s(x_missing, moved):
    document = logs.profile_document(nan=0, pos_inf=0, neg_inf=0)
    reference = monitor.reference_split(document)
    counts = monitor.ServedCounts(monitor.kinds_of(reference))
    counts.add_instances(_instances(4000, x_missing))
    result = monitor.judge(counts, reference, monitor.tolerance_of(document))
    expected = drift.compare_splits(
        reference, counts.profile(), old_name="train", new_name="served"
    )
    assert result["drift"] == expected
    assert [(f["feature"], f["rate"]) for f in result["drift"]] == moved
    assert result["ok"] == (not moved)
    assert result["features"]["x"]["rates"]["missing"] == pytest.approx(x_missing)
    assert result["features"]["x"]["train_rates"]["missing"] == pytest.approx(0.05)
    assert "species" not in result["features"]  # the label is not served


def _cli(*argv):
    return main(["monitor", *map(str, argv)])


def _clean_log(tmp_path, rows=2000, nan_prediction=False):
    """Requests at the training rates (x 5%, n 4%, color 2% missing), finite answers unless
    `nan_prediction`."""
    predictions = np.zeros((rows, 1))
    if nan_prediction:
        predictions[7, 0] = np.nan
    batch = _instances(rows, 0.05, seed=3)
    return logs.write_tfrecord(tmp_path / "clean.log", _predict_logs(batch, predictions))


def _profile(tmp_path, **rates):
    path = tmp_path / "data_guard_profile.json"
    path.write_text(json.dumps(logs.profile_document(nan=0, pos_inf=0, neg_inf=0, **rates)))
    return path


def test_exit_codes(tmp_path, capsys):
    profile = _profile(tmp_path)
    out = tmp_path / "result.json"
    assert _cli(_clean_log(tmp_path), "--profile", profile, "--output", out) == 0
    result = json.loads(out.read_text())
    assert result["ok"] and result["examples"] == 2000 and result["violations"] == []
    assert "ok=true" in capsys.readouterr().out
    # one NaN prediction is a violation
    (tmp_path / "nan").mkdir()
    assert _cli(_clean_log(tmp_path / "nan", nan_prediction=True), "--profile", profile) == 3
    assert "1 served example(s) answered with a NaN or Inf" in capsys.readouterr().out
    # the missing rate of x moved from 50% in training to 5% served
    assert _cli(_clean_log(tmp_path), "--profile", _profile(tmp_path, missing=0.5)) == 3
    assert "x: missing rate 50.00% in train" in capsys.readouterr().out
    # bad input: exit 2, the message names the file or flag
    assert _cli(tmp_path / "nope.log", "--profile", profile) == 2
    assert "nope.log: no such file" in capsys.readouterr().err
    assert _cli(_clean_log(tmp_path), "--profile", tmp_path / "none.json") == 2
    assert "--profile" in capsys.readouterr().err
    (tmp_path / "garbage.log").write_bytes(b"\x00not a tfrecord at all")
    assert _cli(tmp_path / "garbage.log", "--profile", profile) == 2
    assert "not a TFRecord file of PredictionLog" in capsys.readouterr().err
    assert _cli(_clean_log(tmp_path), "--profile", profile, "--format", "jsonl") == 2
    assert _cli(_clean_log(tmp_path)) == 2
    assert "--run and --profile" in capsys.readouterr().err


def test_wrong_type_values_are_a_violation(tmp_path, capsys):
    rows = [{"x": 1.0, "n": 1, "color": "red"}] * 99 + [{"x": "oops", "n": 1, "color": "red"}]
    path = logs.write_jsonl(tmp_path / "r.jsonl", [{"instances": rows}])
    assert _cli(path, "--profile", _profile(tmp_path)) == 3
    assert "x: 1 served value(s) of the wrong type" in capsys.readouterr().out


def test_run_root_result_and_report_section(tmp_path, capsys):
    from nanguard.pipelines import report_data
    from tests.pipelines.mlmd_fake import FakeStore, write_json

    fake = FakeStore(tmp_path / "root")
    run = fake.run("run-1")
    document = logs.profile_document(nan=0, pos_inf=0, neg_inf=0)
    document["totals"] = {}
    uri = write_json(
        os.path.join(fake.pipeline_root, "DataGuard", "anomalies", "1"),
        "data_guard_profile.json",
        document,
    )
    run.execution("DataGuard", outputs={"anomalies": (uri, {"blessed": 1})})
    run.execution("Pusher", outputs={"pushed_model": ("/p", {"pushed": 1})})
    fake.run("run-2")  # a later run that pushed nothing: not the served model's
    log = _clean_log(tmp_path, nan_prediction=True)
    assert _cli(log, "--run", fake.root) == 3
    printed = capsys.readouterr().out
    assert "Result: " in printed and os.path.join("served", "run-1") in printed
    page = open(report_data.write_report(fake.root, "run-1")).read()
    assert '<section id="served">' in page and "Served traffic" in page
    assert 'Non-finite predictions: <span class="bad">1</span> of 2000' in page
    assert '<td class="num">5.00% (5.00%)</td>' in page  # x missing, served (training)
    page2 = open(report_data.write_report(fake.root, "run-2")).read()
    assert '<section id="served">' not in page2
    assert _cli(log, "--run", fake.root, "--run-id", "nope") == 2


def test_tensor_values_reads_every_encoding():
    import tensorflow as tf
    from tensorflow.core.framework import tensor_pb2

    content = tf.make_tensor_proto(np.array([[1.0, np.nan]], np.float32))  # tensor_content
    assert content.tensor_content
    np.testing.assert_array_equal(served_logs.tensor_values(content), [1.0, np.nan])
    listed = tensor_pb2.TensorProto(dtype=1, float_val=[np.inf, 2.0])  # float_val
    assert list(served_logs.tensor_values(listed)) == [np.inf, 2.0]
    one = tensor_pb2.TensorProto(dtype=2, double_val=[np.nan])  # one value fills the shape
    one.tensor_shape.dim.add().size = 3
    assert np.isnan(served_logs.tensor_values(one)).sum() == 3
    half = tf.make_tensor_proto(np.array([np.inf], np.float16))
    half.tensor_content = b""
    half.half_val[:] = [np.array([np.inf], np.float16).view(np.uint16)[0]]
    assert list(served_logs.tensor_values(half)) == [np.inf]
    assert len(served_logs.tensor_values(tf.make_tensor_proto([b"a"]))) == 0


def test_a_folder_of_both_formats_and_an_undecodable_example(tmp_path):
    folder = tmp_path / "logs"
    folder.mkdir()
    rows = [{"x": math.nan, "n": 1, "color": "red"}, {"x": 1.0}]
    logs.write_tfrecord(folder / "a", [logs.predict_log(rows, [[0.0], [1.0]])])
    logs.write_jsonl(folder / "b.jsonl", [{"instances": rows, "predictions": [0.0, math.inf]}])
    broken = logs.predict_log(rows[:1], [[0.0]])
    broken.predict_log.request.inputs["examples"].string_val[:] = [b"\xff\xffnot an example"]
    logs.write_tfrecord(folder / "c", [broken])
    counts = _count(folder)
    x = counts.profile()["features"]["x"]
    assert (counts.requests, counts.rows, counts.undecodable) == (3, 4, 1)
    assert (x["nan"], x["missing"]) == (2, 0)
    assert counts.prediction_counts()["non_finite"] == 1


def test_out_of_range_values_count_as_repaired_when_the_ranges_are_known(tmp_path):
    """The transform clips a finite value outside its raw range: with the run's ranges, the
    monitor counts it (`out_of_range`) and adds it to `repaired`, as `nanguard_repaired`
    does per example; NaN and Inf are not out of range, they are NaN and Inf."""
    xs = [1.5, 100.0, -50.0, math.nan, math.inf, None, 10.0, -10.0]
    rows = [{"x": v, "n": 1} if v is not None else {"n": 1} for v in xs]
    path = logs.write_tfrecord(tmp_path / "log", [logs.predict_log(rows, [[0.0]] * len(rows))])
    counts = monitor.ServedCounts(logs.KINDS, {"x": (-10.0, 10.0), "n": None})
    for chunk in served_logs.read_logs(str(path)):
        counts.add_chunk(chunk)
    x = counts.profile()["features"]["x"]
    finite = np.array([v for v in xs if v is not None and math.isfinite(v)])
    expected = int(((finite < -10.0) | (finite > 10.0)).sum())  # the ends are kept
    assert x["out_of_range"] == expected == 2
    assert x["repaired"] == x["missing"] + x["nan"] + x["pos_inf"] + x["neg_inf"] + 2 == 5
    assert _count(path).profile()["features"]["x"]["out_of_range"] == 0  # no ranges known


def test_the_ranges_come_from_the_run_s_transform_graph(tmp_path, monkeypatch):
    from nanguard.components import transform_record
    from nanguard.components.serving_guard import results
    from tests.pipelines.mlmd_fake import FakeStore

    fake = FakeStore(tmp_path / "root")
    run = fake.run("run-1")
    graph = str(tmp_path / "graph")
    run.execution("Transform", outputs={"transform_graph": (graph, {})})
    fake.run("run-2")
    seen = []
    monkeypatch.setattr(
        transform_record, "repair_ranges", lambda uri: seen.append(uri) or {"x": (0.0, 1.0)}
    )
    assert results.ranges_from_run(fake.root, "run-1") == {"x": (0.0, 1.0)} and seen == [graph]
    assert results.ranges_from_run(fake.root, "run-2") == {}  # no transform graph
