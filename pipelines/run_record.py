"""A finished run as data: read once from ML Metadata into a `RunRecord`.

    record = read_run(metadata_path, run_id, pipeline_root=..., log_dir=..., error=e)
    record.outcome.status       # pushed | blocked | failed | unfinished
    record.outcome.violations   # what blocked it, as `Violation` records
    record.outcome.exit_code    # what `nanguard run` returns

The console summary, the report, `history`, the drift-baseline lookup and the exit code all read
this record; none decides the outcome again (`_outcome` is the one place that does).

What is read: the run's executions (node, state, wall seconds, error) and their output artifacts
through ML Metadata's lineage; each guard's summary (its own `summary.summarize(uri)`); the
violations every guard's output carries (the `violations` custom property, JSON of
`violations.to_json`, or the same list under `"violations"` in its JSON report file). A guard
that fails the run publishes no artifact: TFX names its output URI
`<pipeline_root>/<node id>/<output key>/<execution id>` and deletes that folder when the
executor raises, so its evidence is read from the copy `<uri>.blocked` the guard keeps. TFX
stores no message for an executor that raised: the reason is the in-process error when the
runner hands it over, else the run's log.

Older outputs without violation records are read as records too (`legacy.py`, from their
structured fields, never from message text). Imports are light: ML Metadata, no TensorFlow.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import logging
import os
import re
from collections.abc import Collection, Mapping
from typing import Any

from nanguard.components import vocab
from nanguard.components.data_guard.outputs import KEPT_SUFFIX
from nanguard.components.errors import guard_block
from nanguard.components.violations import Violation
from nanguard.pipelines import legacy, mlmd
from nanguard.pipelines.mlmd import Output, Stage, run_ids

# The custom property every guard's output carries: JSON of `violations.to_json`.
VIOLATIONS_PROPERTY = "violations"
__all__ = ["GUARDS", "Outcome", "Output", "RunRecord", "Stage", "read_run", "read_runs"]


# node id -> (console label, output key, module with summarize(uri) and summary_line(summary),
# the JSON file under the output's URI that holds its "violations")
GUARDS = {
    "DataGuard": (
        "data guard",
        "anomalies",
        "nanguard.components.data_guard.summary",
        "data_guard_profile.json",
    ),
    "Transform": ("transform", "transform_graph", "nanguard.components.transform.summary", ""),
    "Trainer": ("trainer", "model_run", "nanguard.components.trainer.summary", ""),
    "FinitePredictionGate": (
        "gate",
        "blessing",
        "nanguard.components.gate.summary",
        "gate_report.json",
    ),
}
STATUSES = ("pushed", "blocked", "failed", "unfinished")


@dataclasses.dataclass(frozen=True)
class Outcome:
    """How the run ended: pushed (where), blocked (by which stage, which violations), failed."""

    status: str
    stage: str = ""
    reason: str = ""
    violations: tuple[Violation, ...] = ()
    destination: str = ""
    version: str = ""

    @property
    def blocked_by(self) -> str:
        """The guards whose violations blocked the run (`Evaluator, FinitePredictionGate`),
        else the stage that stopped it."""
        guards = dict.fromkeys(v.guard for v in self.violations if v.guard)
        return ", ".join(guards) or self.stage

    @property
    def exit_code(self) -> int:
        """0 pushed; 3 blocked or not pushed without an error; 1 failed."""
        if self.status == "pushed":
            return vocab.EXIT_OK
        if self.status == "failed":
            return vocab.EXIT_ERROR
        return vocab.EXIT_BLOCKED


@dataclasses.dataclass(frozen=True)
class RunRecord:
    """Everything one run left in ML Metadata and in its guards' files, read once.

    Attributes:
      run_id: the pipeline_run context's name ('' when no run was recorded).
      stages: executions in the order they started.
      outputs: `{node: {output key: (Output, ...)}}`, kept copies of failed guards included.
      outcome: the one verdict of the run.
      summaries: `{node: its summary.summarize(uri)}` for the guards that were read.
      errors: `{node: why its summary or files could not be read}`.
      violations: `{node: (Violation, ...)}` every guard's findings (warnings included).
      label_rows_left_out: `{split: rows}` without a label, left out (the data guard's profile).
      data_profile: the data guard's counts, `{split: {"rows", "features": {name: counts}}}`.
      staging: the staging record (`staging.json` of the staged CSV's folder), {} if none.
      pipeline_root: where the artifacts live.
    """

    run_id: str
    stages: tuple[Stage, ...] = ()
    outputs: Mapping[str, Mapping[str, tuple[Output, ...]]] = dataclasses.field(
        default_factory=dict
    )
    outcome: Outcome = Outcome("unfinished")
    summaries: Mapping[str, Mapping[str, Any]] = dataclasses.field(default_factory=dict)
    errors: Mapping[str, str] = dataclasses.field(default_factory=dict)
    violations: Mapping[str, tuple[Violation, ...]] = dataclasses.field(default_factory=dict)
    label_rows_left_out: Mapping[str, int] = dataclasses.field(default_factory=dict)
    data_profile: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    staging: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    pipeline_root: str | None = None

    def output(self, node: str, key: str) -> Output | None:
        """The first output `key` of `node`, or None."""
        found = self.outputs.get(node, {}).get(key) or ()
        return found[0] if found else None

    def stage(self, node: str) -> Stage | None:
        return next((s for s in self.stages if s.node == node), None)


# ---------------------------------------------------------------------------------------------
# ML Metadata.
# ---------------------------------------------------------------------------------------------
def _pipeline_root(outputs: Mapping[str, Mapping[str, list[Output]]]) -> str | None:
    """`<pipeline_root>` from any published URI `<pipeline_root>/<node>/<key>/<execution id>`."""
    for node, keys in outputs.items():
        for key, found in keys.items():
            for output in found:
                parts = output.uri.rstrip("/").rsplit("/", 3)
                if len(parts) == 4 and parts[1:3] == [node, key]:
                    return parts[0]
    return None


def _exists(path: str) -> bool:
    if "://" not in path:
        return os.path.exists(path)
    import tensorflow as tf

    return tf.io.gfile.exists(path)


def _read_json(path: str) -> Any:
    if "://" in path:
        import tensorflow as tf

        with tf.io.gfile.GFile(path) as f:
            return json.load(f)
    with open(path, encoding="utf-8") as f:
        return json.load(f)


# ---------------------------------------------------------------------------------------------
# The record.
# ---------------------------------------------------------------------------------------------


def read_run(
    metadata_path: str,
    run_id: str,
    pipeline_root: str | None = None,
    log_dir: str | None = None,
    error: BaseException | None = None,
    read: Collection[str] | None = None,
) -> RunRecord:
    """Reads `run_id` from ML Metadata (and its guards' files) into a `RunRecord`.

    Args:
      metadata_path: the run's ML Metadata (SQLite).
      run_id: a run id ML Metadata records; '' or an unknown one gives a record with no stages.
      pipeline_root: where the run's artifacts live; None: read off the published URIs.
      log_dir: the local runs' logs, read for the error of a stage that raised.
      error: the exception the runner saw, if any (its `GuardBlockedError.violations` are the
        blocking stage's violations when its files hold none).
      read: the guards (GUARDS' node ids) whose summaries and files are read; None: all.
        Nothing else is read from files: `()` reads ML Metadata only.
    """
    read = GUARDS if read is None else read
    stages, outputs, exec_props = [], {}, {}
    if run_id and os.path.exists(metadata_path):
        store = mlmd.store(metadata_path)
        for context in mlmd.run_contexts(store):
            if context.name == run_id:
                stages, outputs, exec_props = mlmd.read_executions(store, context)
    pipeline_root = pipeline_root or _pipeline_root(outputs)
    if any(s.state == "FAILED" and not s.error for s in stages):
        logged = mlmd.error_from_logs(log_dir, run_id)
        stages = [
            dataclasses.replace(s, error=logged) if s.state == "FAILED" and not s.error else s
            for s in stages
        ]
    summaries, errors, violations, left_out, profile = {}, {}, {}, {}, {}
    for node in (n for n in GUARDS if n in read):
        output = _guard_output(node, outputs, stages, pipeline_root)
        if output is None:
            continue
        outputs.setdefault(node, {}).setdefault(output.key, [output])
        try:
            summaries[node] = importlib.import_module(GUARDS[node][2]).summarize(output.uri)
            document = _report_file(node, output.uri)
            violations[node] = _violations(node, output, document, summaries[node])
            if node == "DataGuard":
                left_out = legacy.label_rows_left_out(document)
                profile = {
                    split: {k: p[k] for k in ("rows", "features", "slices") if k in p}
                    for split, p in (document.get("splits") or {}).items()
                }
        except Exception as e:  # noqa: BLE001 - a section that cannot be read says why
            errors[node] = f"{output.uri}: {type(e).__name__}: {e}"
    for node in (s.node for s in stages if s.state == "FAILED"):
        if node in GUARDS and node not in summaries and node not in errors and node in read:
            errors[node] = (
                "the stage stopped the run and TFX deleted its output folder; no kept copy at "
                f"<output URI>{KEPT_SUFFIX}"
            )
    record = RunRecord(
        run_id=run_id,
        stages=tuple(stages),
        outputs={n: {k: tuple(v) for k, v in keys.items()} for n, keys in outputs.items()},
        summaries=summaries,
        errors=errors,
        violations=violations,
        label_rows_left_out=left_out,
        data_profile=profile,
        staging=_staging(exec_props.get("CsvExampleGen", {}).get("input_base")),
        pipeline_root=pipeline_root,
    )
    return dataclasses.replace(record, outcome=_outcome(record, error))


def _guard_output(node, outputs, stages, pipeline_root) -> Output | None:
    """The guard's published output, else the kept copy (or folder) of its failed execution."""
    key = GUARDS[node][1]
    published = outputs.get(node, {}).get(key)
    if published:
        return published[0]
    failed = next((s for s in stages if s.node == node and s.state == "FAILED"), None)
    if failed is None or not pipeline_root:
        return None
    uri = f"{pipeline_root.rstrip('/')}/{node}/{key}/{failed.execution_id}"
    for candidate in (uri, uri + KEPT_SUFFIX):
        if _exists(candidate):
            return Output(node=node, key=key, uri=candidate, published=False)
    return None


def _report_file(node: str, uri: str) -> dict[str, Any]:
    name = GUARDS[node][3]
    path = f"{uri.rstrip('/')}/{name}" if name else ""
    return _read_json(path) if path and _exists(path) else {}


def _violations(node, output: Output, document, summary) -> tuple[Violation, ...]:
    """The guard's violations: its `violations` property, else its report file's, else read
    from the structured fields of an older output (`legacy`)."""
    text = output.properties.get(VIOLATIONS_PROPERTY)
    if isinstance(text, str) and text.strip():
        found = legacy.parse_violations(node, json.loads(text))
        if found is not None:
            return tuple(found)
    if isinstance(document.get("violations"), list):
        found = legacy.parse_violations(node, document["violations"])
        if found is not None:
            return tuple(found)
    return tuple(legacy.violations_from(node, document, summary))


def _staging(input_base: Any) -> dict[str, Any]:
    """The staging record of the staged folder CsvExampleGen's `input_base` names (beside it,
    `<folder>.staging.json`: inside it CsvExampleGen would read it as a CSV), {} if none or
    unreadable."""
    from nanguard.pipelines.data import STAGING_RECORD

    if not isinstance(input_base, str) or not input_base:
        return {}
    base = input_base.rstrip("/")
    paths = [base + STAGING_RECORD]
    path = next((p for p in paths if _exists(p)), "")
    try:
        found = _read_json(path) if path else {}
    except (OSError, ValueError):
        logging.exception("The staging record %s could not be read", path)
        return {}
    return found if isinstance(found, dict) else {}


def _outcome(record: RunRecord, error: BaseException | None) -> Outcome:
    """The one decision of how a run ended (see `Outcome`)."""
    pushed = record.output("Pusher", "pushed_model")
    if error is None and pushed is not None and pushed.properties.get("pushed") == 1:
        return Outcome(
            "pushed",
            stage="Pusher",
            reason="every guard passed and the gate blessed the model",
            destination=str(pushed.properties.get("pushed_destination") or ""),
            version=str(pushed.properties.get("pushed_version") or ""),
        )
    blocked_error = guard_block(error)
    failed = next((s for s in record.stages if s.state == "FAILED"), None)
    if failed is not None or error is not None:
        stage = failed.node if failed is not None else ""
        found = tuple(v for v in record.violations.get(stage, ()) if _blocks(v))
        if not found and blocked_error is not None:
            found = tuple(blocked_error.violations)
        text = failed.error if failed is not None else ""
        if error is not None:  # what the runner saw is the most exact account
            text = str(error) if blocked_error else f"{type(error).__name__}: {error}"
        blocked = bool(found) or blocked_error is not None or "GuardBlockedError" in text
        if blocked:  # the refusal's words, without the class path of the stored traceback
            text = re.sub(r"^[\w.]*GuardBlockedError: ", "", text)
        return Outcome(
            "blocked" if blocked else "failed",
            stage=stage,
            reason=text or "the stage failed (see the run's log)",
            violations=found,
        )
    if pushed is not None:
        gate = record.output("FinitePredictionGate", "blessing")
        evaluator = record.output("Evaluator", "blessing")
        if gate is not None and gate.properties.get("blessed") != 1:
            stage, blessing = "FinitePredictionGate", gate
        elif evaluator is not None and evaluator.properties.get("blessed") != 1:
            stage, blessing = "Evaluator", evaluator
        else:
            stage, blessing = "Pusher", None
        reason = (blessing.properties.get("blessing_message") if blessing else "") or (
            "the model was not blessed" if blessing else "the model was not pushed"
        )
        found = tuple(v for v in record.violations.get(stage, ()) if _blocks(v))
        return Outcome("blocked", stage=stage, reason=reason, violations=found)
    running = [s.node for s in record.stages if s.state in ("NEW", "RUNNING")]
    return Outcome(
        "unfinished",
        stage=running[0] if running else "",
        reason="the run has not finished (or stopped before the Pusher ran)"
        if record.stages
        else "no Pusher output found",
    )


def _blocks(violation: Violation) -> bool:
    return (violation.details or {}).get("severity") != "warning"


# ---------------------------------------------------------------------------------------------
# Across runs.
# ---------------------------------------------------------------------------------------------


def read_runs(
    metadata_path: str, until: str | None = None, last: int | None = None, **kwargs: Any
) -> list[RunRecord]:
    """`read_run` of each recorded run, oldest first; `until`: stop at that run id (included);
    `last`: only that many runs (ending at `until`). Only those runs are read."""
    ids = run_ids(metadata_path)
    if until in ids:
        ids = ids[: ids.index(until) + 1]
    return [read_run(metadata_path, run_id, **kwargs) for run_id in (ids[-last:] if last else ids)]


def last_pushed_guard_output(metadata_path: str) -> tuple[str, str] | None:
    """`(run_id, uri)` of the DataGuard output of the newest run that pushed a model, or None:
    the drift baseline of the next run. Reads ML Metadata only, newest run first."""
    for run_id in reversed(run_ids(metadata_path)):
        record = read_run(metadata_path, run_id, read=())
        guard = record.output("DataGuard", "anomalies")
        if record.outcome.status == "pushed" and guard is not None:
            return run_id, guard.uri
    return None
