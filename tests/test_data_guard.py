"""Tests of the data guard: exact counts, anomalies artifact, verdict, schema hardening, CLI."""

from __future__ import annotations

import argparse
import csv
import json
import os
import warnings

import apache_beam as beam
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import tensorflow as tf
import tensorflow_data_validation as tfdv
from tensorflow_data_validation.utils import anomalies_util
from tensorflow_metadata.proto.v0 import anomalies_pb2, schema_pb2
from tfx.dsl.components.base import base_beam_executor
from tfx.types import artifact_utils, standard_artifacts
from tfx.utils import io_utils
from tfx_bsl.public import tfxio as tfxio_lib

from nanguard.components.data_guard import cli, policy, profile, scan, schema
from nanguard.components.data_guard import executor as guard_executor
from nanguard.components.errors import GuardBlockedError

HERE = os.path.dirname(__file__)
CRAFTED = os.path.join(HERE, "data", "guard_crafted.csv")
PENGUINS = os.path.join(
    os.path.dirname(pd.__file__), "..", "palmerpenguins", "data", "penguins.csv"
)
MISSING_TOKENS = {"", "NA", "null", "None"}
MULTI_PROCESS = ["--direct_running_mode=multi_processing", "--direct_num_workers=2"]
_T = anomalies_pb2.AnomalyInfo.Type


def reference_counts(path: str) -> dict[str, dict]:
    """Independent reference: csv module + float() + numpy float32, per column."""
    with open(path) as f:
        rows = list(csv.DictReader(f))
    out = {}
    for name in rows[0]:
        cells = [r[name].strip() for r in rows]
        present = [c for c in cells if c not in MISSING_TOKENS]
        ref = {"rows": len(cells), "present": len(present), "missing": len(cells) - len(present)}
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # float32 overflow of 1e39 -> inf
                values = np.array([float(c) for c in present], dtype=np.float32)
        except ValueError:
            ref.update(kind="STRING", top=pd.Series(present).value_counts().index[0])
            out[name] = ref
            continue
        finite = values[np.isfinite(values)].astype(np.float64)
        ref.update(
            kind="FLOAT",
            nan=int(np.isnan(values).sum()),
            pos_inf=int(np.isposinf(values).sum()),
            neg_inf=int(np.isneginf(values).sum()),
            huge=int((np.abs(finite) > np.sqrt(np.finfo(np.float32).max)).sum()),
            finite=finite,
        )
        out[name] = ref
    return out


def assert_feature_matches(feat: dict, ref: dict) -> None:
    for key in ("rows", "present", "missing"):
        assert feat[key] == ref[key], (key, feat, ref)
    if ref.get("kind") == "STRING":
        assert feat["type"] == "STRING"
        assert feat["top_value"] == ref["top"]
        return
    if ref["present"] == 0:
        assert feat["num_values"] == 0 and feat["mean"] is None
        return
    for key in ("nan", "pos_inf", "neg_inf", "huge"):
        assert feat[key] == ref[key], (key, feat, ref)
    finite = ref["finite"]
    assert feat["finite"] == finite.size
    np.testing.assert_allclose(feat["mean"], finite.mean(), rtol=1e-9)
    np.testing.assert_allclose(feat["std"], finite.std(), rtol=1e-9)
    assert feat["min"] == finite.min() and feat["max"] == finite.max()
    # The median comes from a quantiles sketch; on this little data it is one of the middle values.
    s = np.sort(finite)
    assert s[(s.size - 1) // 2] <= feat["median"] <= s[s.size // 2]
    expected_skew = 3 * (finite.mean() - feat["median"]) / finite.std()
    np.testing.assert_allclose(feat["skewness"], expected_skew, rtol=1e-9)


# ---------------------------------------------------------------- profile (no Beam)


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
    result = profile.profile_record_batches(batches)
    x = result["features"]["x"]
    v = values[present]
    finite = v[np.isfinite(v)].astype(np.float64)
    assert result["rows"] == n
    assert x["present"] == present.sum() and x["missing"] == n - present.sum()
    assert x["nan"] == np.isnan(v).sum()
    assert x["pos_inf"] == np.isposinf(v).sum() and x["neg_inf"] == np.isneginf(v).sum()
    assert x["huge"] == (np.abs(finite) > profile.HUGE_THRESHOLD).sum() == 2 - (not present[1])
    np.testing.assert_allclose(x["mean"], finite.mean(), rtol=1e-9)
    np.testing.assert_allclose(x["std"], finite.std(), rtol=1e-9)
    # Approximate median: rank error within the documented epsilon.
    rank = np.searchsorted(np.sort(finite), x["median"])
    assert abs(rank - finite.size / 2) <= profile.QUANTILES_EPSILON * finite.size + 1
    w = result["features"]["w"]
    assert (w["present"], w["missing"], w["top_value"], w["top_count"]) == (
        3 * n // 4,
        n // 4,
        "a",
        n // 2,
    )
    assert w["nan"] == w["pos_inf"] == 0


def test_normalize_missing_tokens():
    line = 'NA,1,null,"None",nan,NaN,NAB,inf,None'
    assert scan.normalize_missing_tokens(line) == ",1,,,nan,NaN,NAB,inf,"
    assert scan.normalize_missing_tokens("NA,NA,NA") == ",,"


# ---------------------------------------------------------------- policy


def test_policy_validation_names_key_and_allowed_values():
    with pytest.raises(ValueError, match=r"inf='drop'.*'fail', 'treat_as_missing', 'clip'"):
        policy.DataGuardPolicy(inf="drop")
    with pytest.raises(ValueError, match=r"mode='stop'"):
        policy.as_policy({"mode": "stop"})
    with pytest.raises(ValueError, match=r"Unknown data guard policy key\(s\) \['max_nan'\]"):
        policy.as_policy({"max_nan": 0.1})
    with pytest.raises(ValueError, match=r"max_missing_fraction_by_feature\['x'\]"):
        policy.as_policy({"max_missing_fraction_by_feature": {"x": 1.5}})


def _feat(**counts):
    base = dict(missing=0, nan=0, pos_inf=0, neg_inf=0, present=10, rows=10)
    base.update(counts)
    return base


def test_policy_inf_and_label_modes():
    split = {"rows": 10, "features": {"x": _feat(pos_inf=2, nan=1), "y": _feat(missing=3, nan=1)}}
    split["features"]["label"] = _feat(missing=1, neg_inf=1)
    fail = policy.DataGuardPolicy(max_missing_fraction=0.35)
    v, drop = policy.evaluate(split, fail, "label", "train")
    assert sorted((x["feature"], x["kind"], x["count"]) for x in v) == [
        ("label", "label", 2),
        ("x", "inf", 2),
        ("y", "missing", 4),
    ]
    assert drop == 0
    treat = policy.DataGuardPolicy(
        max_missing_fraction=0.35,
        inf="treat_as_missing",
        label="drop",
        max_missing_fraction_by_feature={"y": 0.4},
    )
    v, drop = policy.evaluate(split, treat, "label", "train")
    assert v == [] and drop == 2  # x: 3/10 <= 0.35; y: 4/10 <= 0.4
    clip = policy.DataGuardPolicy(max_missing_fraction=0.35, inf="clip", label="drop")
    v, _ = policy.evaluate(split, clip, "label", "train")
    assert [(x["feature"], x["kind"]) for x in v] == [("y", "missing")]
    assert (
        "'y'" in v[0]["message"] and "'train'" in v[0]["message"] and "4 of 10" in v[0]["message"]
    )


# ---------------------------------------------------------------- schema hardening


def _schema() -> schema_pb2.Schema:
    s = schema_pb2.Schema()
    s.feature.add(name="a", type=schema_pb2.FLOAT)
    s.feature.add(name="b", type=schema_pb2.FLOAT)
    s.feature.add(name="c", type=schema_pb2.BYTES)
    s.feature.add(name="i", type=schema_pb2.INT)
    s.feature.add(name="g", type=schema_pb2.FLOAT, domain="gdom")
    s.float_domain.add(name="gdom", min=0.0)
    return s


def test_harden_schema_sets_flags_on_float_features_only():
    original = _schema()
    hardened = schema.harden_schema(original, exclude=["b"])
    by_name = {f.name: f for f in hardened.feature}
    assert by_name["a"].float_domain.disallow_nan and by_name["a"].float_domain.disallow_inf
    assert not by_name["b"].HasField("float_domain")
    assert not by_name["c"].HasField("float_domain") and not by_name["i"].HasField("float_domain")
    assert hardened.float_domain[0].disallow_nan and hardened.float_domain[0].disallow_inf
    assert not original.feature[0].HasField("float_domain")  # input untouched
    with pytest.raises(ValueError, match=r"\['c'\] are not FLOAT features"):
        schema.harden_schema(original, exclude=["c"])


def test_hardened_schema_makes_tfdv_report_nan_and_inf():
    batch = pa.RecordBatch.from_arrays(
        [pa.array([[1.0], [np.nan], [2.0]]), pa.array([[1.0], [np.inf], [3.0]])], ["a", "b"]
    )
    from tensorflow_data_validation.statistics import stats_impl

    stats = stats_impl.generate_statistics_in_memory(batch)
    inferred = tfdv.infer_schema(stats)
    assert not tfdv.validate_statistics(stats, inferred).anomaly_info  # the stock gap
    hardened = schema.harden_schema(inferred)
    reasons = {
        name: {r.type for r in info.reason}
        for name, info in tfdv.validate_statistics(stats, hardened).anomaly_info.items()
    }
    assert _T.FLOAT_TYPE_HAS_NAN in reasons["a"]
    assert _T.FLOAT_TYPE_HAS_INF in reasons["b"]


def test_harden_schema_cli(tmp_path):
    src, dst = str(tmp_path / "in.pbtxt"), str(tmp_path / "out.pbtxt")
    tfdv.write_schema_text(_schema(), src)
    assert _run_cli(["harden-schema", src, dst, "--exclude", "a"]) == 0
    out = {f.name: f for f in tfdv.load_schema_text(dst).feature}
    assert out["b"].float_domain.disallow_nan and not out["a"].HasField("float_domain")
    assert _run_cli(["harden-schema", str(tmp_path / "nope.pbtxt"), dst]) == 2


# ---------------------------------------------------------------- scan (Beam, CSV)


def _run_cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="nanguard")
    cli.add_parsers(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


def test_scan_crafted_csv_exact_counts_and_check_exit_3(tmp_path, capsys):
    schema_path = str(tmp_path / "schema.pbtxt")
    s = schema_pb2.Schema()
    s.feature.add(name="ghost", type=schema_pb2.FLOAT)  # in the schema, not in the data
    s.feature.add(name="x", type=schema_pb2.FLOAT)
    tfdv.write_schema_text(s, schema_path)
    out = str(tmp_path / "scan.json")
    code = _run_cli(
        ["scan", CRAFTED, "--schema", schema_path, "--json", out, "--check", "--label", "label"]
    )
    assert code == 3
    table = capsys.readouterr().out
    assert "VIOLATION" in table and "ghost" in table
    result = json.load(open(out))
    ref = reference_counts(CRAFTED)
    assert result["rows"] == 16
    assert set(result["features"]) == {"x", "y", "s", "label", "z", "ghost"}
    for name, r in ref.items():
        assert_feature_matches(result["features"][name], r)
    # Literal checks on the crafted file, so the reference itself is pinned down.
    x = result["features"]["x"]
    assert (x["missing"], x["nan"], x["pos_inf"], x["neg_inf"], x["huge"]) == (4, 2, 3, 1, 2)
    ghost = result["features"]["ghost"]
    assert (ghost["present"], ghost["missing"], ghost["missing_fraction"]) == (0, 16, 1.0)
    kinds = {(v["feature"], v["kind"]) for v in result["violations"]}
    assert kinds == {
        ("x", "missing"),
        ("x", "inf"),
        ("y", "inf"),
        ("label", "label"),
        ("z", "missing"),
        ("ghost", "missing"),
    }
    # Without --check the same scan exits 0; with a lenient policy --check exits 0 too.
    assert _run_cli(["scan", CRAFTED]) == 0
    lenient = json.dumps(
        {
            "inf": "clip",
            "label": "drop",
            "max_missing_fraction": 0.4,
            "max_missing_fraction_by_feature": {"z": 1.0},
        }
    )
    assert _run_cli(["scan", CRAFTED, "--check", "--label", "label", "--policy", lenient]) == 0


def test_scan_bad_inputs_exit_2_naming_file_or_feature(tmp_path, capsys):
    junk = tmp_path / "junk.bin"
    junk.write_bytes(bytes(range(256)) * 4)
    assert _run_cli(["scan", str(junk)]) == 2
    assert str(junk) in capsys.readouterr().err
    assert _run_cli(["scan", str(tmp_path / "missing.csv")]) == 2
    assert "missing.csv" in capsys.readouterr().err
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n" + "".join(f"{i}.5,x{i}\n" for i in range(30)) + "abc,y\n")
    assert _run_cli(["scan", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "Feature 'a'" in err and f"{bad} (line 32)" in err and "'abc'" in err
    assert _run_cli(["scan", str(tmp_path), "--policy", '{"inf": "nope"}']) == 2


def test_scan_empty_csv_and_folder_of_csvs(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "e.csv").write_text("a,b\n")
    result = scan.scan_path(str(empty))
    assert result["rows"] == 0 and result["violations"] == [] and result["blessed"]
    assert result["features"]["a"]["present"] == 0
    folder = tmp_path / "two"
    folder.mkdir()
    (folder / "p1.csv").write_text("a,b\n1,NA\nnan,2\n")
    (folder / "p2.csv").write_text("a,b\n-inf,3\n,4\n")
    result = scan.scan_path(str(folder))
    a, b = result["features"]["a"], result["features"]["b"]
    assert result["rows"] == 4
    assert (a["present"], a["missing"], a["nan"], a["neg_inf"], a["finite"]) == (3, 1, 1, 1, 1)
    assert (b["present"], b["missing"], b["mean"]) == (3, 1, 3.0)


def test_scan_penguins_passes_check():
    result = scan.scan_path(PENGUINS, label_key="species")
    df = pd.read_csv(PENGUINS)  # pandas reads NA as missing: the independent reference
    assert result["rows"] == len(df) == 344
    for name in df.columns:
        feat = result["features"][name]
        assert feat["missing"] == df[name].isna().sum(), name
        if df[name].dtype.kind == "f":
            np.testing.assert_allclose(feat["mean"], df[name].mean(), rtol=1e-6)
            np.testing.assert_allclose(feat["std"], df[name].std(ddof=0), rtol=1e-5)
    assert result["blessed"] and result["violations"] == []
    assert _run_cli(["scan", PENGUINS, "--check", "--label", "species"]) == 0


# ---------------------------------------------------------------- executor (TFRecords)


def _write_examples(path: str, rows: list[dict]) -> None:
    """Writes rows as gzip TFRecords of tf.Example; None or a missing key = absent feature."""
    tf.io.gfile.makedirs(os.path.dirname(path))
    with tf.io.TFRecordWriter(path, options="GZIP") as writer:
        for row in rows:
            features = {}
            for name, value in row.items():
                if value is None:
                    continue
                if isinstance(value, str):
                    features[name] = tf.train.Feature(
                        bytes_list=tf.train.BytesList(value=[value.encode()])
                    )
                else:
                    features[name] = tf.train.Feature(float_list=tf.train.FloatList(value=[value]))
            writer.write(
                tf.train.Example(features=tf.train.Features(feature=features)).SerializeToString()
            )


def _csv_rows(path: str) -> list[dict]:
    rows = []
    with open(path) as f:
        for r in csv.DictReader(f):
            row = {}
            for name, cell in r.items():
                cell = cell.strip()
                if cell in MISSING_TOKENS:
                    row[name] = None
                else:
                    try:
                        row[name] = float(cell)
                    except ValueError:
                        row[name] = cell
            rows.append(row)
    return rows


def _artifacts(tmp_path, train_rows, eval_rows, schema_proto):
    examples = standard_artifacts.Examples()
    examples.uri = str(tmp_path / "examples")
    examples.split_names = artifact_utils.encode_split_names(["train", "eval"])
    _write_examples(os.path.join(examples.uri, "Split-train", "data-00000.gz"), train_rows)
    _write_examples(os.path.join(examples.uri, "Split-eval", "data-00000.gz"), eval_rows)
    schema_artifact = standard_artifacts.Schema()
    schema_artifact.uri = str(tmp_path / "schema")
    tf.io.gfile.makedirs(schema_artifact.uri)
    tfdv.write_schema_text(schema_proto, os.path.join(schema_artifact.uri, "schema.pbtxt"))
    anomalies = standard_artifacts.ExampleAnomalies()
    anomalies.uri = str(tmp_path / "anomalies")
    return {"examples": [examples], "schema": [schema_artifact]}, {"anomalies": [anomalies]}


def _crafted_schema() -> schema_pb2.Schema:
    s = schema_pb2.Schema()
    for name in ("x", "y", "label", "z", "ghost"):
        s.feature.add(name=name, type=schema_pb2.FLOAT)
    s.feature.add(name="s", type=schema_pb2.BYTES)
    return s


def _executor(tmp_path, beam_args=()):
    context = base_beam_executor.BaseBeamExecutor.Context(
        beam_pipeline_args=list(beam_args), tmp_dir=str(tmp_path / "tmp")
    )
    return guard_executor.Executor(context)


def test_executor_warn_multiprocess_writes_standard_anomalies(tmp_path):
    rows = _csv_rows(CRAFTED)
    inputs, outputs = _artifacts(tmp_path, rows, [], _crafted_schema())
    props = {"label_key": "label", "policy": json.dumps({"mode": "warn"}), "exclude_splits": "[]"}
    _executor(tmp_path, MULTI_PROCESS).Do(inputs, outputs, props)  # warn: no raise

    artifact = outputs["anomalies"][0]
    assert artifact_utils.decode_split_names(artifact.split_names) == ["train", "eval"]
    assert artifact.get_int_custom_property("blessed") == 0
    ref = reference_counts(CRAFTED)
    ref_nan = sum(r.get("nan", 0) for r in ref.values())
    assert artifact.get_int_custom_property("num_rows") == 16
    assert artifact.get_int_custom_property("num_nan") == ref_nan == 3
    assert artifact.get_int_custom_property("num_pos_inf") == sum(
        r.get("pos_inf", 0) for r in ref.values()
    )
    assert artifact.get_int_custom_property("num_violations") == 6
    train = json.loads(artifact.get_string_custom_property("profile_train"))
    for name, r in ref.items():
        if name == "z":  # all-empty column: absent from every tf.Example
            continue
        assert_feature_matches(train["features"][name], r)
    assert train["features"]["z"]["missing"] == 16
    on_disk = json.load(open(os.path.join(artifact.uri, guard_executor.PROFILE_FILE_NAME)))
    assert on_disk["splits"]["train"]["features"] == train["features"]
    assert on_disk["splits"]["eval"]["rows"] == 0  # the empty split is reported

    # Read back with TFX's own path logic and TFDV's reader.
    train_file = io_utils.get_only_uri_in_dir(artifact_utils.get_split_uri([artifact], "train"))
    assert os.path.basename(train_file) == "SchemaDiff.pb"
    anomalies = anomalies_util.load_anomalies_binary(train_file)
    types = {n: {r.type for r in info.reason} for n, info in anomalies.anomaly_info.items()}
    assert _T.FLOAT_TYPE_HAS_NAN in types["x"] and _T.FLOAT_TYPE_HAS_INF in types["x"]
    assert _T.FLOAT_TYPE_BIG_FLOAT in types["x"]
    assert _T.FEATURE_TYPE_LOW_FRACTION_PRESENT in types["x"]
    assert _T.FEATURE_TYPE_NOT_PRESENT in types["ghost"]
    assert _T.FLOAT_TYPE_HAS_NAN in types["label"]
    assert types.keys() == {"x", "y", "s", "label", "z", "ghost"}
    severity = anomalies_pb2.AnomalyInfo.Severity
    assert anomalies.anomaly_info["x"].severity == severity.ERROR
    assert anomalies.anomaly_info["s"].severity == severity.WARNING  # 3/16 missing: allowed
    eval_file = io_utils.get_only_uri_in_dir(artifact_utils.get_split_uri([artifact], "eval"))
    assert anomalies_util.load_anomalies_binary(eval_file).data_missing


def test_executor_fail_raises_after_writing_and_passes_on_penguins(tmp_path):
    rows = _csv_rows(CRAFTED)
    inputs, outputs = _artifacts(tmp_path / "bad", rows, rows[:4], _crafted_schema())
    props = {"label_key": "label", "policy": json.dumps({"mode": "fail"})}
    with pytest.raises(GuardBlockedError, match=r"feature 'x' in split 'train': 6 of 16 rows"):
        _executor(tmp_path).Do(inputs, outputs, props)
    artifact = outputs["anomalies"][0]
    assert artifact.get_int_custom_property("blessed") == 0
    assert os.path.exists(os.path.join(artifact.uri, "Split-eval", "SchemaDiff.pb"))

    penguins = _csv_rows(PENGUINS)
    ps = schema_pb2.Schema()
    for name, value in penguins[0].items():
        ps.feature.add(
            name=name, type=schema_pb2.BYTES if isinstance(value, str) else schema_pb2.FLOAT
        )
    inputs, outputs = _artifacts(tmp_path / "good", penguins[:300], penguins[300:], ps)
    _executor(tmp_path).Do(inputs, outputs, {"label_key": "species", "policy": "{}"})
    artifact = outputs["anomalies"][0]
    assert artifact.get_int_custom_property("blessed") == 1
    assert artifact.get_int_custom_property("num_rows") == 344
    df = pd.read_csv(PENGUINS)
    assert artifact.get_int_custom_property("num_missing") == int(df.isna().sum().sum())
    assert artifact.get_int_custom_property("num_nan") == 0


# ---------------------------------------------------------------- batched TFRecord reader


def _example(x: float | None, k: int | None, s: str | None) -> bytes:
    feature = {}
    if x is not None:
        feature["x"] = tf.train.Feature(float_list=tf.train.FloatList(value=[x]))
    if k is not None:
        feature["k"] = tf.train.Feature(int64_list=tf.train.Int64List(value=[k]))
    if s is not None:
        feature["s"] = tf.train.Feature(bytes_list=tf.train.BytesList(value=[s.encode()]))
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def _write_records(path: str, records: list[bytes], gzip: bool) -> None:
    with tf.io.TFRecordWriter(path, options="GZIP" if gzip else None) as writer:
        for record in records:
            writer.write(record)


def test_batched_reader_matches_tfxio_and_numpy_on_multi_file_input(tmp_path):
    """ReadTFExampleFiles (small batches) == TFXIO BeamSource == numpy.

    In-process runner to stay fast: the multi-process DirectRunner reads through
    ReadTFExampleFiles in test_executor_warn_multiprocess_writes_standard_anomalies.
    """
    rng = np.random.default_rng(7)
    n = 1100
    x = rng.normal(5.0, 3.0, n).astype(np.float32)
    u = rng.random(n)
    x[u < 0.05] = np.nan
    x[(u >= 0.05) & (u < 0.08)] = np.inf
    x[(u >= 0.08) & (u < 0.1)] = -np.inf
    x[(u >= 0.1) & (u < 0.11)] = 4e19
    x_present = rng.random(n) > 0.15
    k = rng.integers(-50, 50, n)
    k_present = rng.random(n) > 0.3
    s = rng.choice(["a", "b", "c"], n, p=[0.6, 0.3, 0.1])
    s_present = rng.random(n) > 0.2
    s_present[600:] = False  # the second file never holds 's' (null-typed column there)
    records = [
        _example(
            float(x[i]) if x_present[i] else None,
            int(k[i]) if k_present[i] else None,
            str(s[i]) if s_present[i] else None,
        )
        for i in range(n)
    ]
    folder = tmp_path / "Split-train"
    folder.mkdir()
    _write_records(str(folder / "data-00000-of-00003.gz"), records[:600], gzip=True)
    _write_records(str(folder / "data-00001-of-00003"), records[600:], gzip=False)
    _write_records(str(folder / "data-00002-of-00003.gz"), [], gzip=True)  # empty shard
    pattern = str(folder / "*")

    sources = {
        "batched": profile.ReadTFExampleFiles(pattern, read_batch_size=64),
        "tfxio": tfxio_lib.TFExampleRecord(file_pattern=pattern).BeamSource(),
    }
    with beam.Pipeline() as pipeline:
        paths = scan.add_profile_steps(pipeline, sources, str(tmp_path / "out"))
    batched, stock = (profile.read_json(paths[name]) for name in ("batched", "tfxio"))

    assert batched["rows"] == stock["rows"] == n
    assert batched["features"].keys() == stock["features"].keys() == {"x", "k", "s"}
    exact = ("type", *profile.COUNT_KEYS, "min", "max", "top_value", "top_count")
    for name, feat in batched["features"].items():
        for key in exact:
            assert feat.get(key) == stock["features"][name].get(key), (name, key)
        for key in ("mean", "std"):
            if feat.get(key) is not None:
                np.testing.assert_allclose(feat[key], stock["features"][name][key], rtol=1e-9)

    # Independent numpy reference.
    fx = batched["features"]["x"]
    v = x[x_present]
    finite = v[np.isfinite(v)].astype(np.float64)
    assert (fx["type"], fx["present"], fx["missing"]) == (
        "FLOAT",
        x_present.sum(),
        n - x_present.sum(),
    )
    assert fx["nan"] == np.isnan(v).sum() and fx["pos_inf"] == np.isposinf(v).sum()
    assert fx["neg_inf"] == np.isneginf(v).sum()
    assert fx["huge"] == (np.abs(finite) > profile.HUGE_THRESHOLD).sum() > 0
    np.testing.assert_allclose(fx["mean"], finite.mean(), rtol=1e-9)
    np.testing.assert_allclose(fx["std"], finite.std(), rtol=1e-9)
    assert (fx["min"], fx["max"]) == (finite.min(), finite.max())
    rank = np.searchsorted(np.sort(finite), fx["median"])
    assert abs(rank - finite.size / 2) <= profile.QUANTILES_EPSILON * finite.size + 1
    fk = batched["features"]["k"]
    assert (fk["type"], fk["present"], fk["finite"]) == ("INT", k_present.sum(), k_present.sum())
    np.testing.assert_allclose(fk["mean"], k[k_present].mean(), rtol=1e-9)
    assert (fk["min"], fk["max"]) == (k[k_present].min(), k[k_present].max())
    fs = batched["features"]["s"]
    top = pd.Series(s[s_present]).value_counts()
    assert (fs["type"], fs["present"], fs["missing"]) == (
        "STRING",
        s_present.sum(),
        n - s_present.sum(),
    )
    assert (fs["top_value"], fs["top_count"]) == (top.index[0], top.iloc[0])


def test_read_tfexample_file_batches_gzip_without_suffix_and_names_bad_files(tmp_path):
    records = [_example(float(i), i, None) for i in range(10)]
    path = str(tmp_path / "shard")  # gzip without a .gz suffix: found by its magic bytes
    _write_records(path, records, gzip=True)
    assert profile.tfrecord_compression(path) == "GZIP"
    batches = list(profile.read_tfexample_file(path, read_batch_size=4))
    assert [b.num_rows for b in batches] == [4, 4, 2]
    got = np.concatenate([b.column("x").flatten().to_numpy() for b in batches])
    np.testing.assert_array_equal(got, np.arange(10, dtype=np.float32))
    bad = tmp_path / "bad.gz"
    bad.write_bytes(b"not a tfrecord")
    with pytest.raises(ValueError, match="bad.gz"):
        list(profile.read_tfexample_file(str(bad)))
    with pytest.raises(ValueError, match="nothing-here"):
        profile.list_tfrecord_files(str(tmp_path / "nothing-here" / "*"))


def test_label_missing_in_every_row_blocks_even_under_drop():
    split = {"rows": 10, "features": {"label": _feat(missing=7, nan=3, present=3)}}
    drop = policy.DataGuardPolicy(label="drop")
    violations, to_drop = policy.evaluate(split, drop, "label", "train")
    assert [(v["feature"], v["kind"], v["count"]) for v in violations] == [("label", "label", 10)]
    split["features"]["label"] = _feat(missing=9, present=1)
    assert policy.evaluate(split, drop, "label", "train") == ([], 9)
