"""`run_record`: a run read once from ML Metadata into a typed record; the outcome, the exit
code, the BLOCKED lines and the advice all come from it (a real MLMD store, files by hand)."""

import json
import os

from nanguard.components import vocab
from nanguard.components.errors import GuardBlockedError
from nanguard.components.violations import Violation, to_json
from nanguard.pipelines import history, mlmd, run_record
from nanguard.pipelines import summary as summary_lib
from tests.pipelines.mlmd_fake import FakeStore, gate_report, guard_profile, write_json

MISSING = Violation(
    guard="DataGuard", kind="missing", reason="data", feature="bill_depth_mm", split="train",
    message="feature 'bill_depth_mm' is 40.00% missing in split train (limit 20.00%)",
    observed=0.4, limit=0.2, key="data_guard.max_missing_fraction", passing_value=0.4,
)  # fmt: skip
LABEL = Violation(
    guard="DataGuard", kind="label", reason="data", feature="species", split="eval",
    message="label 'species' is missing in 60 of 100 rows of split eval",
    observed=0.6, limit=0.5, key="data_guard.max_unlabelled_fraction", passing_value=0.6,
)  # fmt: skip
QUALITY = Violation(
    guard="Evaluator", kind="threshold", reason="quality", feature="sparse_categorical_accuracy",
    message="the Evaluator did not bless the model: sparse_categorical_accuracy = 0.4167 is "
    "below the threshold 0.9", observed=0.4167, limit=0.9, key="evaluator.min_accuracy",
    passing_value=0.41, advice="train longer (trainer.epochs)",
)  # fmt: skip


def _features():
    return {"bill_depth_mm": {"missing": 4, "nan": 1}, "species": {"missing": 3}}


def _pushed_run(fake, run_id, guard=True):
    run = fake.run(run_id)
    outputs = {}
    if guard:
        uri = write_json(
            os.path.join(fake.pipeline_root, "DataGuard", "anomalies", run_id[-1]),
            "data_guard_profile.json",
            guard_profile({"train": {"rows": 10, "features": _features()}}),
        )
        run.execution("DataGuard", outputs={"anomalies": (uri, {"blessed": 1})})
        outputs["guard"] = uri
    dest = f"/serving/{run_id[-1]}"
    run.execution(
        "Pusher",
        outputs={"pushed_model": ("/p", {"pushed": 1, "pushed_destination": dest})},
    )
    return outputs


def test_a_pushed_run_is_read_into_one_record(tmp_path):
    fake = FakeStore(tmp_path)
    run = fake.run("r1")
    uri = write_json(
        tmp_path / "pipeline" / "DataGuard" / "anomalies" / "1",
        "data_guard_profile.json",
        guard_profile(
            {
                "train": {"rows": 10, "features": _features(), "label_missing": 3},
                "eval": {"rows": 5, "features": _features(), "label_missing": 1},
            }
        ),
    )
    run.execution("CsvExampleGen", properties={"input_base": str(tmp_path / "staging" / "s1")})
    run.execution("DataGuard", outputs={"anomalies": (uri, {"blessed": 1, "num_rows": 15})})
    run.execution(
        "Pusher",
        outputs={
            "pushed_model": (
                "/p",
                {"pushed": 1, "pushed_destination": "/srv/7", "pushed_version": "7"},
            )
        },
    )
    write_json(
        tmp_path / "staging",
        "s1.staging.json",  # beside the staged folder, where pipelines.data writes it
        {"missing_spellings": {"sex": {"NA": 9, "": 2}, "year": {"?": 0}}},
    )
    record = run_record.read_run(fake.path, "r1")
    assert [s.node for s in record.stages] == ["CsvExampleGen", "DataGuard", "Pusher"]
    assert {s.state for s in record.stages} == {"COMPLETE"}
    assert record.outcome.status == "pushed" and record.outcome.exit_code == vocab.EXIT_OK
    assert (record.outcome.destination, record.outcome.version) == ("/srv/7", "7")
    assert record.output("DataGuard", "anomalies").properties["num_rows"] == 15
    assert record.summaries["DataGuard"]["rows"] == 30 - 15  # 10 + 5
    assert record.label_rows_left_out == {"eval": 1, "train": 3}
    assert record.data_profile["train"]["features"]["bill_depth_mm"]["nan"] == 1
    lines = summary_lib.summary_lines(record)
    assert lines[0].startswith(
        "  data guard   15 rows (4 without a label, left out): 14 missing, 2 NaN"
    )
    assert "  labels       rows without a label left out: eval 1, train 3" in lines
    assert "  missing      read as missing: sex: (empty) x2, NA x9" in lines
    assert summary_lib.outcome_lines(record.outcome, "LOG") == ["Pushed model: /srv/7"]
    assert summary_lib.advice(record.outcome) == []


def _blocked_guard(fake, run_id, document, kept=True):
    run = fake.run(run_id)
    run.execution("CsvExampleGen")
    execution = run.execution("DataGuard", state="FAILED")
    uri = os.path.join(fake.pipeline_root, "DataGuard", "anomalies", str(execution))
    if document is not None:
        write_json(uri + (".blocked" if kept else ""), "data_guard_profile.json", document)
    return uri


def test_a_blocking_data_guard_gives_one_line_per_violation_from_its_kept_copy(tmp_path):
    fake = FakeStore(tmp_path)
    features = {"rows": 10, "features": _features()}
    uri = _blocked_guard(fake, "r1", guard_profile({"train": features}, [MISSING, LABEL]))
    record = run_record.read_run(fake.path, "r1", fake.pipeline_root)
    outcome = record.outcome
    assert (outcome.status, outcome.stage, outcome.exit_code) == ("blocked", "DataGuard", 3)
    assert outcome.violations == (MISSING, LABEL)
    assert record.output("DataGuard", "anomalies").uri == uri + ".blocked"
    assert not record.output("DataGuard", "anomalies").published
    assert summary_lib.outcome_lines(outcome, "LOG") == [
        "BLOCKED by DataGuard: 2 violations:",
        f"  - {MISSING.message}; set data_guard.max_missing_fraction: 0.4",
        f"  - {LABEL.message}; set data_guard.max_unlabelled_fraction: 0.6",
        "Nothing was pushed. Log: LOG",
    ]
    # Beyond each violation's own fix, the data reason's advice: neither carries advice.
    assert MISSING.fix() == "set data_guard.max_missing_fraction: 0.4"
    advice = summary_lib.advice(outcome)
    assert advice == [summary_lib.REASON_ADVICE["data"]]
    assert not any("NaN/Inf" in a for a in advice)
    # The data guard's summary line is printed for a blocked run too.
    assert summary_lib.summary_lines(record)[0].endswith("2 violation(s)")


def test_a_warning_does_not_block_and_older_outputs_are_read_from_their_fields(tmp_path):
    fake = FakeStore(tmp_path)
    warning = Violation(
        guard="DataGuard", kind="missing", reason="data", message="sex is 30% missing",
        details={"severity": "warning"},
    )  # fmt: skip
    old = {"split": "train", "feature": "x", "kind": "inf", "message": "feature 'x' has +Inf"}
    document = guard_profile({"train": {"rows": 10, "features": _features(), "violations": [old]}})
    _blocked_guard(fake, "old", document)
    record = run_record.read_run(fake.path, "old", fake.pipeline_root)
    (found,) = record.outcome.violations
    assert (found.guard, found.kind, found.reason, found.feature, found.split) == (
        "DataGuard", "inf", "data", "x", "train",
    )  # fmt: skip
    assert summary_lib.outcome_lines(record.outcome, "L")[0] == (
        "BLOCKED by DataGuard: 1 violation: feature 'x' has +Inf"
    )
    _blocked_guard(fake, "warned", guard_profile({"train": {"rows": 1, "features": {}}},
                                                  [warning, MISSING]))  # fmt: skip
    record = run_record.read_run(fake.path, "warned", fake.pipeline_root)
    assert record.outcome.violations == (MISSING,)
    assert record.violations["DataGuard"] == (warning, MISSING)


def test_without_a_kept_copy_the_runners_error_carries_the_violations(tmp_path):
    fake = FakeStore(tmp_path)
    _blocked_guard(fake, "r1", None)
    error = GuardBlockedError("DataGuard blocked the run", violations=[LABEL])
    record = run_record.read_run(fake.path, "r1", fake.pipeline_root, error=error)
    assert record.outcome.status == "blocked" and record.outcome.violations == (LABEL,)
    assert record.outcome.reason == "DataGuard blocked the run"
    assert "no kept copy" in record.errors["DataGuard"]
    # The error's cause chain is followed, as LocalDagRunner may wrap it.
    try:
        try:
            raise error
        except GuardBlockedError as e:
            raise RuntimeError("component failed") from e
    except RuntimeError as wrapped:
        record = run_record.read_run(fake.path, "r1", fake.pipeline_root, error=wrapped)
    assert record.outcome.status == "blocked" and record.outcome.exit_code == 3


def test_a_block_read_from_the_stored_traceback_says_it_without_the_class_path(tmp_path):
    """The Trainer's one-class block, read back from ML Metadata after the run (the report)."""
    fake = FakeStore(tmp_path)
    run = fake.run("r1")
    message = "label 'y' holds 1 class(es) in the training split: a classifier needs two"
    result = {
        "resultMessage": "Traceback ...\nnanguard.components.errors.GuardBlockedError: " + message
    }
    run.execution("Trainer", state="FAILED", properties={mlmd.EXECUTION_RESULT: json.dumps(result)})
    outcome = run_record.read_run(fake.path, "r1").outcome
    assert (outcome.status, outcome.stage, outcome.reason) == ("blocked", "Trainer", message)


def test_a_quality_block_gets_quality_advice_and_never_nan_advice(tmp_path):
    fake = FakeStore(tmp_path)
    run = fake.run("r1")
    report = gate_report(blessed=False, reasons=[QUALITY.message])
    uri = write_json(tmp_path / "gate", "gate_report.json", report)
    props = {"blessed": 0, "blessing_message": QUALITY.message}
    props["violations"] = to_json([QUALITY])
    run.execution("Evaluator", outputs={"blessing": ("/e", {"blessed": 0})})
    run.execution("FinitePredictionGate", outputs={"blessing": (uri, props)})
    run.execution("Pusher", outputs={"pushed_model": ("/p", {"pushed": 0})})
    record = run_record.read_run(fake.path, "r1")
    outcome = record.outcome
    assert (outcome.status, outcome.stage, outcome.blocked_by) == (
        "blocked", "FinitePredictionGate", "Evaluator",
    )  # fmt: skip
    assert outcome.violations == (QUALITY,) and outcome.exit_code == vocab.EXIT_BLOCKED
    assert summary_lib.outcome_lines(outcome, "LOG")[0] == (
        f"BLOCKED by Evaluator: 1 violation: {QUALITY.message}; set evaluator.min_accuracy: "
        "0.41; train longer (trainer.epochs)"
    )
    # Beyond the violation's own fix, the quality reason's advice, and nothing of NaN/Inf.
    advice = summary_lib.advice(outcome)
    assert advice == [summary_lib.REASON_ADVICE["quality"]]
    assert not any("NaN" in a or "lower the learning rate" in a for a in advice)


def test_an_older_gate_report_is_read_as_violations_by_their_fields(tmp_path):
    fake = FakeStore(tmp_path)
    run = fake.run("r1")
    failure = {
        "metric": "sparse_categorical_accuracy",
        "value": 0.41,
        "lower_bound": 0.9,
        "upper_bound": None,
        "reason": "sparse_categorical_accuracy = 0.41 is below",
    }
    report = gate_report(blessed=False, probes_failed=["nan:x"], evaluation={"failures": [failure]})
    uri = write_json(tmp_path / "gate", "gate_report.json", report)
    run.execution("FinitePredictionGate", outputs={"blessing": (uri, {"blessed": 0})})
    run.execution("Pusher", outputs={"pushed_model": ("/p", {"pushed": 0})})
    outcome = run_record.read_run(fake.path, "r1").outcome
    probe, threshold = outcome.violations
    assert (probe.kind, probe.reason) == ("probe", "non_finite")
    assert (threshold.guard, threshold.reason, threshold.key, threshold.observed) == (
        "Evaluator", "quality", "evaluator.min_accuracy", 0.41,
    )  # fmt: skip
    assert summary_lib.reasons(outcome.violations) == ["non_finite", "quality"]
    advice = summary_lib.advice(outcome)
    assert summary_lib.REASON_ADVICE["non_finite"] in advice
    assert all(a.strip() for a in advice)


def test_a_failed_stage_or_a_failure_before_any_stage_exits_1(tmp_path):
    fake = FakeStore(tmp_path)
    run = fake.run("r1")
    run.execution("Transform", state="FAILED")
    record = run_record.read_run(fake.path, "r1", error=ValueError("boom"))
    assert (record.outcome.status, record.outcome.stage) == ("failed", "Transform")
    assert record.outcome.reason == "ValueError: boom" and record.outcome.exit_code == 1
    assert summary_lib.outcome_lines(record.outcome, "LOG") == [
        "FAILED: ValueError: boom",
        "Log: LOG",
    ]
    # An error the runner saw wins over a Pusher output, as the console always had it.
    run.execution("Pusher", outputs={"pushed_model": ("/p", {"pushed": 1})})
    record = run_record.read_run(fake.path, "r1", error=RuntimeError("after the push"))
    assert (record.outcome.status, record.outcome.exit_code) == ("failed", 1)
    record = run_record.read_run(fake.path, "", error=OSError("no disk"))
    assert (record.outcome.status, record.outcome.exit_code, record.stages) == ("failed", 1, ())
    # A store that does not exist: a record with no stage, nothing pushed.
    record = run_record.read_run(str(tmp_path / "none.sqlite"), "r1")
    assert record.outcome.status == "unfinished" and record.outcome.exit_code == 3


def test_the_drift_baseline_is_the_newest_pushed_runs_guard_output(tmp_path):
    fake = FakeStore(tmp_path)
    assert run_record.last_pushed_guard_output(fake.path) is None
    first = _pushed_run(fake, "r1")
    _pushed_run(fake, "r2", guard=False)  # pushed without a data guard (a baseline run)
    _blocked_guard(fake, "r3", None)
    assert run_record.last_pushed_guard_output(fake.path) == ("r1", first["guard"])
    second = _pushed_run(fake, "r4")
    assert run_record.last_pushed_guard_output(fake.path) == ("r4", second["guard"])


def test_history_reads_only_the_data_guards_files(tmp_path):
    fake = FakeStore(tmp_path)
    _pushed_run(fake, "r1")
    run = fake.run("r2")
    # A gate folder with no readable report: history must not try to read it.
    run.execution("FinitePredictionGate", outputs={"blessing": (str(tmp_path / "nope"), {})})
    rows = history.collect_history(str(tmp_path))
    assert [(h["run"], h["outcome"]) for h in rows] == [("r1", "pushed"), ("r2", "unfinished")]
    rates = rows[0]["splits"]["train"]["bill_depth_mm"]
    assert rates["missing"] == 4 / 10 and set(rates) == {"missing", "nan", "pos_inf", "neg_inf"}
    assert rows[1]["splits"] == {}
    assert [h["run"] for h in history.collect_history(str(tmp_path), until="r1")] == ["r1"]
