"""executor.py: the DataGuard executor on TFRecords: counts, artifacts, verdicts, storage."""

from __future__ import annotations

import json
import os
import tempfile
import traceback

import pandas as pd
import pytest
from tensorflow_data_validation.utils import anomalies_util
from tensorflow_metadata.proto.v0 import anomalies_pb2, schema_pb2
from tfx.types import artifact_utils
from tfx.utils import io_utils

import nanguard.components
from nanguard.components import violations as violations_lib
from nanguard.components.data_guard import outputs as guard_outputs
from nanguard.components.errors import GuardBlockedError, InputError
from tests.data_guard.helpers import (
    CRAFTED,
    MULTI_PROCESS,
    PENGUINS,
    T,
    artifacts,
    crafted_schema,
    csv_rows,
    executor,
    reference_counts,
)
from tests.data_guard.helpers import assert_feature_matches as _assert_feature_matches

_T = T


def test_executor_warn_multiprocess_writes_standard_anomalies(tmp_path):
    rows = csv_rows(CRAFTED)
    inputs, outputs = artifacts(tmp_path, rows, [], crafted_schema())
    props = {"label_key": "label", "config": json.dumps({"mode": "warn"}), "exclude_splits": "[]"}
    executor(tmp_path, MULTI_PROCESS).Do(inputs, outputs, props)  # warn: no raise

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
    # Blocking: Inf in x and y, z and ghost with no value (train), the empty eval split; a
    # warning: x's 37.5% gaps; 2 rows without a label are left out (counted, not a violation).
    assert artifact.get_int_custom_property("num_violations") == 5
    assert artifact.get_int_custom_property("num_warnings") == 1
    assert artifact.get_int_custom_property("num_label_missing") == 2
    records = violations_lib.from_json(artifact.get_string_custom_property("violations"))
    got = [(v.split, v.feature, v.kind, v.key, v.passing_value) for v in records]
    assert sorted(got, key=str) == sorted(
        [
            ("train", "x", "missing", "data_guard.max_missing_fraction", None),
            ("train", "x", "inf", "data_guard.inf", "treat_as_missing"),
            ("train", "y", "inf", "data_guard.inf", "treat_as_missing"),
            ("train", "z", "all_missing", "data_guard.all_missing", "exclude"),
            ("train", "ghost", "all_missing", "data_guard.all_missing", "exclude"),
            ("eval", "", "empty", "", None),
        ],
        key=str,
    )
    assert all(v.guard == "DataGuard" and v.reason == "data" for v in records)
    (warning,) = [v for v in records if v.details.get("severity") == "warning"]
    assert (warning.feature, warning.observed, warning.details["count"]) == ("x", 0.375, 6)
    assert not os.path.exists(os.path.join(artifact.uri, guard_outputs.TMP_DIR_NAME))
    train = json.loads(artifact.get_string_custom_property("profile_train"))
    for name, r in ref.items():
        if name == "z":  # all-empty column: absent from every tf.Example
            continue
        _assert_feature_matches(train["features"][name], r)
    assert train["features"]["z"]["missing"] == 16
    on_disk = json.load(open(os.path.join(artifact.uri, guard_outputs.PROFILE_FILE_NAME)))
    assert on_disk["splits"]["train"]["features"] == train["features"]
    # The same records in the profile document, and per split.
    assert [violations_lib.Violation.from_dict(v) for v in on_disk["violations"]] == records
    assert on_disk["splits"]["train"]["label_missing"] == 2 == train["label_missing"]
    assert len(on_disk["splits"]["train"]["violations"]) == 5
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
    rows = csv_rows(CRAFTED)
    inputs, outputs = artifacts(tmp_path / "bad", rows, rows[:4], crafted_schema())
    props = {"label_key": "label", "config": json.dumps({"mode": "fail"})}
    with pytest.raises(GuardBlockedError, match=r"feature 'x' in split 'train' holds 4 Inf") as e:
        executor(tmp_path).Do(inputs, outputs, props)
    artifact = outputs["anomalies"][0]
    assert artifact.get_int_custom_property("blessed") == 0
    # Every finding at once, as records; the message is one line per blocking one.
    records = violations_lib.from_json(artifact.get_string_custom_property("violations"))
    assert e.value.violations == records and len(records) == 5  # 4 blocking, 1 warning
    lines = str(e.value).splitlines()
    assert lines[0].startswith("DataGuard blocked the run: 4 violation(s); evidence: ")
    assert lines[1:] == [v.line() for v in records if v.details.get("severity") != "warning"]
    assert os.path.exists(os.path.join(artifact.uri, "Split-eval", "SchemaDiff.pb"))

    penguins = csv_rows(PENGUINS)
    ps = schema_pb2.Schema()
    for name, value in penguins[0].items():
        ps.feature.add(
            name=name, type=schema_pb2.BYTES if isinstance(value, str) else schema_pb2.FLOAT
        )
    inputs, outputs = artifacts(tmp_path / "good", penguins[:300], penguins[300:], ps)
    executor(tmp_path).Do(inputs, outputs, {"label_key": "species", "config": "{}"})
    artifact = outputs["anomalies"][0]
    assert artifact.get_int_custom_property("blessed") == 1
    assert artifact.get_int_custom_property("num_rows") == 344
    df = pd.read_csv(PENGUINS)
    assert artifact.get_int_custom_property("num_missing") == int(df.isna().sum().sum())
    assert artifact.get_int_custom_property("num_nan") == 0


def test_executor_with_unwritable_temp_dir_and_multiprocess_beam(tmp_path, monkeypatch):
    """Beam results travel through the artifact URI, never through a launcher temp folder.

    TMPDIR is a read-only folder (the multi-process Beam workers inherit it), and every temp
    folder or file made in this (launcher) process is traced: none may come from nanguard.
    Beam's own `Pipeline()` makes a local scratch folder and TFX's BaseBeamExecutor packages
    TFX into one when built with Beam args; both are theirs, and neither carries results.
    """
    readonly = tmp_path / "readonly_tmp"
    readonly.mkdir(mode=0o500)
    monkeypatch.setenv("TMPDIR", str(readonly))
    ours = os.path.dirname(nanguard.components.__file__)
    made_by_nanguard = []

    def traced(original):
        def wrapper(*args, **kwargs):
            callers = [
                f.filename
                for f in traceback.extract_stack()[:-1]
                if f.filename not in (__file__, tempfile.__file__)
            ]
            if callers[-1].startswith(ours):  # the code that asked for the temp path
                made_by_nanguard.append(callers[-1])
            return original(*args, **kwargs)

        return wrapper

    for name in ("mkdtemp", "mkstemp", "NamedTemporaryFile", "TemporaryDirectory"):
        monkeypatch.setattr(tempfile, name, traced(getattr(tempfile, name)))
    rows = csv_rows(CRAFTED)
    inputs, outputs_ = artifacts(tmp_path / "run", rows, rows[:5], crafted_schema())
    props = {"label_key": "label", "config": json.dumps({"mode": "warn"})}
    try:
        executor(tmp_path / "run", MULTI_PROCESS).Do(inputs, outputs_, props)
    finally:
        readonly.chmod(0o700)
    assert made_by_nanguard == []
    artifact = outputs_["anomalies"][0]
    ref = reference_counts(CRAFTED)
    assert artifact.get_int_custom_property("num_rows") == 16 + 5
    train = json.loads(artifact.get_string_custom_property("profile_train"))
    for name, r in ref.items():
        if name != "z":
            _assert_feature_matches(train["features"][name], r)
    assert artifact.get_int_custom_property("blessed") == 0
    kinds = {(v["split"], v["feature"], v["kind"]) for v in train["violations"]}
    assert kinds == {
        ("train", "x", "missing"),  # a warning
        ("train", "x", "inf"),
        ("train", "y", "inf"),
        ("train", "z", "all_missing"),
        ("train", "ghost", "all_missing"),
    }
    assert not os.path.exists(os.path.join(artifact.uri, guard_outputs.TMP_DIR_NAME))


def test_string_in_numeric_feature_is_a_violation_naming_feature_split_token(tmp_path):
    rows = [{"x": 1.0, "s": "a"}, {"x": "oops", "s": "b"}, {"x": 2.0, "s": "c"}]
    rows = [{k: (str(v) if k == "x" else v) for k, v in r.items()} for r in rows]  # x is BYTES
    s = schema_pb2.Schema()
    s.feature.add(name="x", type=schema_pb2.FLOAT)
    s.feature.add(name="s", type=schema_pb2.BYTES)
    inputs, outputs_ = artifacts(tmp_path / "fail", rows, rows, s)
    with pytest.raises(GuardBlockedError) as info:
        executor(tmp_path).Do(inputs, outputs_, {"config": "{}"})
    message = str(info.value)
    assert "feature 'x' in split 'train'" in message and "'oops'" in message
    assert "feature 'x' in split 'eval'" in message
    assert outputs_["anomalies"][0].get_int_custom_property("blessed") == 0
    # TFX deletes a failed execution's outputs; the guard keeps a copy for the report.
    kept = outputs_["anomalies"][0].uri + guard_outputs.KEPT_SUFFIX
    assert f"evidence: {kept}" in message
    with open(os.path.join(kept, guard_outputs.PROFILE_FILE_NAME)) as f:
        assert json.load(f)["splits"]["train"]["features"]["x"]["type"]
    inputs, outputs_ = artifacts(tmp_path / "warn", rows, rows, s)
    executor(tmp_path).Do(inputs, outputs_, {"config": json.dumps({"mode": "warn"})})
    artifact = outputs_["anomalies"][0]
    violations = json.loads(artifact.get_string_custom_property("violations"))
    assert [(v["split"], v["feature"], v["kind"], v["details"]["value"]) for v in violations] == [
        ("train", "x", "type", "oops"),
        ("eval", "x", "type", "oops"),
    ]
    train = anomalies_util.load_anomalies_binary(
        io_utils.get_only_uri_in_dir(artifact_utils.get_split_uri([artifact], "train"))
    )
    assert T.UNEXPECTED_DATA_TYPE in {r.type for r in train.anomaly_info["x"].reason}


def test_bad_exclude_splits_and_nothing_to_guard_are_input_errors(tmp_path):
    rows = csv_rows(CRAFTED)
    inputs, outputs_ = artifacts(tmp_path, rows, rows, crafted_schema())
    with pytest.raises(InputError, match="exclude_splits"):
        executor(tmp_path).Do(inputs, outputs_, {"exclude_splits": '"train"'})
    with pytest.raises(InputError, match="No splits to guard"):
        executor(tmp_path).Do(inputs, outputs_, {"exclude_splits": '["train", "eval"]'})


def test_mostly_numeric_bytes_feature_is_flagged_naming_tokens_and_counts(tmp_path):
    """A pipeline's own ExampleGen typed x as BYTES (30 numbers, 2 '?', 1 'abc') and SchemaGen
    inferred BYTES: the guard flags it under either stray_strings policy (it cannot retype a
    column), naming the tokens and their counts; a real text column and text_features pass."""
    numbers = [{"x": f"{i}.5", "s": "a", "code": f"{i:05d}"} for i in range(30)]
    odd = [{"x": "?", "s": "b", "code": "A1"}, {"x": "abc", "s": "c", "code": "00001"}]
    rows = numbers + odd + [{"x": "?", "s": "d", "code": "00002"}]
    s = schema_pb2.Schema()
    for name in ("x", "s", "code"):
        s.feature.add(name=name, type=schema_pb2.BYTES)
    for policy_name in ("block", "treat_as_missing"):
        config = {"mode": "warn", "stray_strings": policy_name, "text_features": ["code"]}
        inputs, outputs_ = artifacts(tmp_path / policy_name, rows, rows[:5], s)
        executor(tmp_path).Do(inputs, outputs_, {"config": json.dumps(config)})
        artifact = outputs_["anomalies"][0]
        assert artifact.get_int_custom_property("blessed") == 0
        violations = json.loads(artifact.get_string_custom_property("violations"))
        got = [
            (v["split"], v["feature"], v["observed"], v["details"]["tokens"]) for v in violations
        ]
        assert got == [("train", "x", 3, {"?": 2, "abc": 1})]
        # Already treat_as_missing: no value of the key lets a text-typed column through here.
        passing = None if policy_name == "treat_as_missing" else "treat_as_missing"
        assert violations[0]["passing_value"] == passing
        assert (
            "30 of its 31 non-missing values are numbers): '?' x2, 'abc' x1"
            in (violations[0]["message"])
        )
        train = anomalies_util.load_anomalies_binary(
            io_utils.get_only_uri_in_dir(artifact_utils.get_split_uri([artifact], "train"))
        )
        info = train.anomaly_info["x"]
        assert info.severity == anomalies_pb2.AnomalyInfo.ERROR
        assert "3 values are not numbers: '?' x2, 'abc' x1." in [
            r.description for r in info.reason if r.type == T.UNEXPECTED_DATA_TYPE
        ]
        assert "code" not in train.anomaly_info and "s" not in train.anomaly_info
    # Without text_features the codes column (31 of 33 numbers, 'A1') is flagged too.
    inputs, outputs_ = artifacts(tmp_path / "codes", rows, rows[:5], s)
    with pytest.raises(GuardBlockedError, match=r"feature 'code' in split 'train'.*'A1' x1"):
        executor(tmp_path).Do(inputs, outputs_, {"config": "{}"})


def test_skew_per_split_and_slice_is_a_named_violation_and_stats_are_written(tmp_path):
    """Penguins split in two; in eval, half of Torgersen's bill_length_mm become NaN."""
    import math

    from tensorflow_metadata.proto.v0 import statistics_pb2

    from nanguard.components.data_guard import stats_format

    rows = csv_rows(PENGUINS)
    train, evaluation = rows[::2], [dict(r) for r in rows[1::2]]
    torgersen = [r for r in evaluation if r["island"] == "Torgersen"]
    for r in torgersen[::2]:
        r["bill_length_mm"] = math.nan
    ps = schema_pb2.Schema()
    for name, value in rows[0].items():
        ps.feature.add(
            name=name, type=schema_pb2.BYTES if isinstance(value, str) else schema_pb2.FLOAT
        )
    inputs, outputs = artifacts(tmp_path, train, evaluation, ps)
    config = {"mode": "warn", "slice_by": ["island"], "max_missing_fraction": 0.9}
    executor(tmp_path).Do(inputs, outputs, {"label_key": "species", "config": json.dumps(config)})
    artifact = outputs["anomalies"][0]
    assert artifact.get_int_custom_property("blessed") == 0
    violations = json.loads(artifact.get_string_custom_property("violations"))
    skew = {(v["feature"], v["details"]["slice"]): v for v in violations if v["kind"] == "skew"}
    assert skew[("bill_length_mm", "island=Torgersen")]["split"] == "eval[island=Torgersen]"
    assert ("bill_length_mm", "island=Torgersen") in skew
    assert {f for f, _ in skew} == {"bill_length_mm"}  # nothing else moved
    finding = skew[("bill_length_mm", "island=Torgersen")]["details"]["finding"]
    n_nan = len(torgersen[::2])
    assert (finding["rate"], finding["old_count"], finding["new_count"]) == ("nan", 0, n_nan)
    assert finding["new_out_of"] == sum(1 for r in torgersen if r["bill_length_mm"] is not None)
    message = skew[("bill_length_mm", "island=Torgersen")]["message"]
    assert "in train[island=Torgersen] (0 of" in message and "eval[island=Torgersen]" in message
    # The slice counts are in the profile document, per split.
    doc = json.load(open(os.path.join(artifact.uri, guard_outputs.PROFILE_FILE_NAME)))
    slices = doc["splits"]["eval"]["slices"]["island"]
    assert slices["Torgersen"]["features"]["bill_length_mm"]["nan"] == n_nan
    assert sum(s["rows"] for s in slices.values()) == len(evaluation)
    # The standard anomaly: COMPARATOR_L_INFTY_HIGH on the feature, in the eval split's file.
    eval_file = io_utils.get_only_uri_in_dir(artifact_utils.get_split_uri([artifact], "eval"))
    info = anomalies_util.load_anomalies_binary(eval_file).anomaly_info["bill_length_mm"]
    assert _T.COMPARATOR_L_INFTY_HIGH in {r.type for r in info.reason}
    # TFDV statistics with the exact NaN count.
    stats = statistics_pb2.DatasetFeatureStatisticsList()
    with open(os.path.join(artifact.uri, stats_format.STATS_FILE_NAME), "rb") as f:
        stats.ParseFromString(f.read())
    eval_stats = next(d for d in stats.datasets if d.name == "eval")
    bill = next(f for f in eval_stats.features if f.path.step[0] == "bill_length_mm")
    assert bill.num_stats.histograms[0].num_nan == n_nan
    assert eval_stats.num_examples == len(evaluation)
