"""A run's facts for the HTML report: what ran and what it published from ML Metadata, what each
guard found from the files it wrote (its `summary` module), the Evaluator's metrics from TFMA.

    facts = collect(metadata_path, run_id)      # a JSON-able dict; `report.render(facts)`

A guard that fails the run publishes no output artifact, but ML Metadata keeps the FAILED
execution; TFX names its output URI `<pipeline_root>/<node id>/<output key>/<execution id>`
(`tfx.orchestration.portable.outputs_utils`) and deletes that folder when the executor raises,
so a guard's evidence is read from there or from the copy `<that URI>.blocked` (KEPT_SUFFIX) the
guard keeps before raising. TFX stores no message for an executor that raised: the reason is
read from the run's log. Nothing here raises for an unreadable section: its error goes into
`facts["errors"]`. Imports are light (ML Metadata; TFMA only inside `evaluation`).
"""

from __future__ import annotations

import contextlib
import datetime
import importlib
import json
import logging
import os
import re
from typing import Any

from ml_metadata.proto import metadata_store_pb2

from nanguard.components.data_guard import outputs as guard_outputs
from nanguard.components.errors import InputError
from nanguard.pipelines import local_runner
from nanguard.pipelines.summary import GUARDS

# Set by TFX on executions (tfx/orchestration/portable/mlmd/execution_lib.py, outputs_utils.py).
EXECUTION_RESULT = "__execution_result__"
# A guard that fails the run keeps a copy of its files here (TFX deletes the output URI).
KEPT_SUFFIX = guard_outputs.KEPT_SUFFIX
_STATES = metadata_store_pb2.Execution.State


def run_ids(metadata_path: str) -> list[str]:
    """The run ids ML Metadata records (TFX's pipeline_run contexts), oldest first."""
    if not os.path.exists(metadata_path):
        return []
    store = local_runner._store(metadata_path)
    contexts = store.get_contexts_by_type(local_runner.PIPELINE_RUN_CONTEXT)
    return [c.name for c in sorted(contexts, key=lambda c: (c.create_time_since_epoch, c.id))]


def latest_run(metadata_path: str) -> str:
    """The newest run id (InputError if the store holds none)."""
    if not os.path.exists(metadata_path):
        raise InputError(f"{metadata_path}: no ML Metadata here; pass the root of a nanguard run")
    runs = run_ids(metadata_path)
    if not runs:
        raise InputError(f"{metadata_path}: ML Metadata records no run yet")
    return runs[-1]


def executions(metadata_path: str, run_id: str) -> list[dict[str, Any]]:
    """Every execution of `run_id` in the order they started: node, id, state, seconds, error."""
    store = local_runner._store(metadata_path)
    node_type = store.get_context_type(local_runner.NODE_CONTEXT).id
    found = []
    for context in store.get_contexts_by_type(local_runner.PIPELINE_RUN_CONTEXT):
        if context.name != run_id:
            continue
        for execution in store.get_executions_by_context(context.id):
            nodes = [
                c.name.split(".", 1)[-1]
                for c in store.get_contexts_by_execution(execution.id)
                if c.type_id == node_type
            ]
            props = execution.custom_properties
            found.append(
                {
                    "node": nodes[0] if nodes else str(execution.id),
                    "id": execution.id,
                    "state": _STATES.Name(execution.last_known_state),
                    "seconds": max(
                        0.0,
                        (execution.last_update_time_since_epoch - execution.create_time_since_epoch)
                        / 1000,
                    ),
                    "error": _error_line(props[EXECUTION_RESULT].string_value)
                    if EXECUTION_RESULT in props
                    else "",
                }
            )
    return sorted(found, key=lambda e: e["id"])


def _error_line(result_json: str) -> str:
    """The exception line(s) at the end of the traceback TFX stores as the execution result."""
    try:
        message = json.loads(result_json).get("resultMessage", "")
    except ValueError:
        message = result_json
    # The last "SomeError: message" line starts the final exception; keep it and what follows.
    matches = list(re.finditer(r"^[\w.]*(?:Error|Exception|Exit)\b.*$", message, re.M))
    return message[matches[-1].start() :].strip() if matches else message.strip()[-2000:]


def error_from_logs(log_dir: str, run_id: str) -> str:
    """The last exception line of the newest log in `log_dir` that mentions `run_id` ("" if none).

    TFX stores no message for an executor that raised (only for a non-zero ExecutorOutput), so
    for local runs the reason is read from the run's log, which holds the traceback.
    """
    if not os.path.isdir(log_dir):
        return ""
    logs = [os.path.join(log_dir, n) for n in os.listdir(log_dir) if n.endswith(".log")]
    for path in sorted(logs, key=os.path.getmtime, reverse=True):
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
        if run_id in text:
            lines = re.findall(r"^[\w.]*(?:Error|Exception)\b: .*$", text, re.M)
            return lines[-1] if lines else ""
    return ""


def _pipeline_root(outputs: dict) -> str | None:
    """`<pipeline_root>` from any published URI `<pipeline_root>/<node>/<key>/<execution id>`."""
    for node, keys in outputs.items():
        for key, artifacts in keys.items():
            for artifact in artifacts:
                parts = artifact.uri.rstrip("/").rsplit("/", 3)
                if len(parts) == 4 and parts[1:3] == [node, key]:
                    return parts[0]
    return None


def _guard_uris(node, key, execution, pipeline_root) -> list[str]:
    """Where a FAILED execution's guard may have left its files.

    TFX names the output URI `<pipeline_root>/<node>/<key>/<execution id>` but deletes that
    folder when the executor raises (`outputs_utils.remove_output_dirs`); a guard that keeps its
    evidence copies it to the sibling `<that URI>KEPT_SUFFIX` before raising.
    """
    if not pipeline_root:
        return []
    uri = os.path.join(pipeline_root, node, key, str(execution["id"]))
    return [uri, uri + KEPT_SUFFIX]


def _read_guard(node: str, uri: str) -> dict[str, Any]:
    """The guard's summary plus the details the report draws (the files under `uri`)."""
    summary = importlib.import_module(GUARDS[node][2]).summarize(uri)
    if node == "DataGuard":
        from nanguard.components.data_guard import outputs as guard_outputs

        profile = guard_outputs.read_profile(uri)
        summary["profile"] = profile["splits"]
        summary["anomalies"] = _anomalies(uri, profile["splits"])
    elif node == "Trainer":
        from nanguard.components.trainer.health import read_health_report

        summary["health"] = read_health_report(uri) or {}
    elif node == "FinitePredictionGate":
        from nanguard.components.gate import summary as gate_summary

        summary["report"] = _read_json(os.path.join(uri, gate_summary.REPORT_FILE_NAME))
    summary["uri"] = uri
    return summary


def _anomalies(uri: str, splits: dict) -> dict[str, list[dict[str, str]]]:
    """Per split, the anomalies in the TFDV proto the guard wrote (`Split-<s>/SchemaDiff.pb`)."""
    from tensorflow_metadata.proto.v0 import anomalies_pb2

    from nanguard.components.data_guard.outputs import ANOMALIES_FILE_NAME

    found = {}
    for split in splits:
        path = os.path.join(uri, f"Split-{split}", ANOMALIES_FILE_NAME)
        if not os.path.exists(path):
            continue
        proto = anomalies_pb2.Anomalies()
        with open(path, "rb") as f:
            proto.ParseFromString(f.read())
        found[split] = [
            {
                "feature": name,
                "severity": anomalies_pb2.AnomalyInfo.Severity.Name(info.severity),
                "short": info.short_description,
                "description": info.description,
            }
            for name, info in sorted(proto.anomaly_info.items())
        ]
    return found


def _read_json(path: str) -> Any:
    if "://" in path:
        import tensorflow as tf

        with tf.io.gfile.GFile(path) as f:
            return json.load(f)
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def evaluation(uri: str) -> dict[str, Any]:
    """The Evaluator's metrics (overall slice) and validation result, read with TFMA."""
    import tensorflow_model_analysis as tfma

    metrics = []
    for record in tfma.load_metrics(uri):
        if record.slice_key.single_slice_keys:
            continue  # the overall slice only
        for item in record.metric_keys_and_values:
            value = item.value
            kind = value.WhichOneof("type")
            number = value.double_value.value if kind == "double_value" else None
            metrics.append({"name": item.key.name, "value": number})
    thresholds, failures = {}, []
    validation = tfma.load_validation_result(uri)
    for failure in validation.metric_validations_per_slice:
        for f in failure.failures:
            failures.append(f"{f.metric_key.name}: {f.message}")
    for spec_metric in _thresholds(uri):
        thresholds[spec_metric["name"]] = spec_metric
    for m in metrics:
        m.update({k: v for k, v in thresholds.get(m["name"], {}).items() if k != "name"})
    return {
        "metrics": metrics,
        "validation_ok": bool(validation.validation_ok),
        "failures": failures,
    }


def _thresholds(uri: str) -> list[dict[str, Any]]:
    """Lower/upper value thresholds from the eval_config.json the Evaluator writes."""
    path = os.path.join(uri, "eval_config.json")
    if not os.path.exists(path):
        return []
    config = _read_json(path).get("evalConfig", {})
    found = []
    for spec in config.get("metricsSpecs", []):
        for metric in spec.get("metrics", []):
            bounds = metric.get("threshold", {}).get("valueThreshold", {})
            found.append(
                {
                    "name": _metric_name(metric.get("className", "")),
                    "lower": bounds.get("lowerBound"),
                    "upper": bounds.get("upperBound"),
                }
            )
    return found


def _metric_name(class_name: str) -> str:
    """TFMA's default metric name: `SparseCategoricalAccuracy` -> `sparse_categorical_accuracy`."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", class_name).lower()


def collect(
    metadata_path: str, run_id: str, pipeline_root: str | None = None, log_dir: str | None = None
) -> dict[str, Any]:
    """Every fact of `run_id` the report shows, JSON-able (see `report.render`).

    Args:
      metadata_path: the run's ML Metadata (SQLite).
      run_id: a run id ML Metadata records (`run_ids`).
      pipeline_root: where the run's artifacts live; None: read off the published URIs.
      log_dir: the local runs' logs, read for the error of a stage that raised.
    """
    if run_id not in run_ids(metadata_path):
        recent = ", ".join(run_ids(metadata_path)[-5:]) or "none"
        raise InputError(f"--run {run_id}: no such run in {metadata_path} (latest: {recent})")
    ran = executions(metadata_path, run_id)
    for e in ran:
        if e["state"] == "FAILED" and not e["error"] and log_dir:
            e["error"] = error_from_logs(log_dir, run_id)
    outputs = local_runner.run_outputs(metadata_path, run_id)
    pipeline_root = pipeline_root or _pipeline_root(outputs)
    facts: dict[str, Any] = {
        "run_id": run_id,
        "generated": datetime.datetime.now().isoformat(timespec="seconds"),
        "stages": [{k: e[k] for k in ("node", "state", "seconds", "error")} for e in ran],
        "guards": {},
        "errors": {},
    }
    by_node = {e["node"]: e for e in ran}
    for node, (_, key, _) in GUARDS.items():
        artifacts = outputs.get(node, {}).get(key)
        if artifacts:
            uris = [artifacts[0].uri]
        elif by_node.get(node, {}).get("state") == "FAILED":
            uris = _guard_uris(node, key, by_node[node], pipeline_root)
        else:
            continue
        problems = []
        for uri in uris:
            try:
                facts["guards"][node] = _read_guard(node, uri)
                facts["guards"][node]["from_failed_execution"] = not artifacts
                break
            except Exception as e:  # noqa: BLE001 - a section that cannot be read says why
                problems.append(f"{uri}: {type(e).__name__}: {e}")
        else:
            facts["errors"][node] = (
                "the stage stopped the run and TFX deleted its output folder; no kept copy at "
                + " or ".join(uris[1:] or ["<output URI>" + KEPT_SUFFIX])
                if not artifacts
                else "; ".join(problems)
            )
    evaluation_artifacts = outputs.get("Evaluator", {}).get("evaluation")
    if evaluation_artifacts:
        try:
            facts["evaluation"] = evaluation(evaluation_artifacts[0].uri)
        except Exception as e:  # noqa: BLE001
            facts["errors"]["Evaluator"] = f"metrics not readable: {type(e).__name__}: {e}"
    facts["outcome"] = outcome(ran, outputs, facts["guards"])
    return facts


def outcome(ran: list[dict], outputs: dict, guards: dict) -> dict[str, Any]:
    """Pushed (where, which version) or blocked (by which stage, why, what to change)."""
    prop = local_runner.custom_property
    pushed = (outputs.get("Pusher", {}).get("pushed_model") or [None])[0]
    if prop(pushed, "pushed") == 1:
        return {
            "status": "pushed",
            "stage": "Pusher",
            "destination": prop(pushed, "pushed_destination") or "",
            "version": str(prop(pushed, "pushed_version") or ""),
            "reason": "every guard passed and the gate blessed the model",
            "advice": [],
        }
    failed = next((e for e in ran if e["state"] == "FAILED"), None)
    if failed is not None:
        blocked = "GuardBlockedError" in failed["error"]
        return {
            "status": "blocked" if blocked else "failed",
            "stage": failed["node"],
            "reason": failed["error"] or "the stage failed (see the run's log)",
            "advice": _advice(failed["node"], guards.get(failed["node"], {}), failed["error"]),
        }
    if pushed is not None:
        gate = guards.get("FinitePredictionGate")
        blessing = (outputs.get("Evaluator", {}).get("blessing") or [None])[0]
        if gate is not None and not gate.get("blessed"):
            stage, reason = "FinitePredictionGate", "; ".join(gate.get("reasons") or [])
        elif blessing is not None and prop(blessing, "blessed") != 1:
            stage, reason = "Evaluator", "the Evaluator did not bless the model"
        else:
            stage, reason = "Pusher", "the model was not pushed"
        return {
            "status": "blocked",
            "stage": stage,
            "reason": reason or "the model was not blessed",
            "advice": _advice(stage, guards.get(stage, {}), reason),
        }
    running = [e["node"] for e in ran if e["state"] in ("NEW", "RUNNING")]
    return {
        "status": "unfinished",
        "stage": running[0] if running else "",
        "reason": "the run has not finished (or stopped before the Pusher ran)",
        "advice": [],
    }


def _advice(stage: str, guard: dict, error: str) -> list[str]:
    """What to change, stage by stage; each guard's messages already name the fix."""
    messages = guard.get("messages")
    if stage == "DataGuard" and not messages and "policy violation(s): " in error:
        # "DataGuard blocked the run: N policy violation(s): m1; m2": each message ends in "."
        listed = error.split("policy violation(s): ", 1)[1]
        messages = [m if m.endswith(".") else m + "." for m in listed.split(".; ")]
    if stage == "DataGuard" and messages:
        return [
            *messages,
            "The data guard's thresholds are keys of the data_guard section of --config "
            "(`nanguard config` lists them).",
        ]
    if stage == "Trainer":
        return [
            "Lower trainer.learning_rate, clip or impute extreme inputs (transform section), or "
            "set trainer.nonfinite_policy to 'recover'; the non-finite events below name the "
            "layer and the inputs."
        ]
    if stage == "FinitePredictionGate":
        return [
            "The model predicts NaN/Inf on the data or on a probe: see the offending examples "
            "and probes below; retrain with a lower learning rate or impute/clip the features "
            "named there."
        ]
    if stage == "Evaluator":
        return ["The model misses the Evaluator's thresholds: see the metrics below."]
    return [error] if error else []


def default_path(root: str, run_id: str) -> str:
    """`<root>/reports/<run id>.html`, the run id made safe for a file name."""
    return os.path.join(root, "reports", re.sub(r"[^A-Za-z0-9._-]", "_", run_id) + ".html")


def write_report(root: str, run_id: str | None = None, output: str | None = None) -> str:
    """Collects the facts of `run_id` (default: the latest) under a local `root`, writes the page.

    Returns the page's path (`output`, default `default_path(root, run_id)`).
    """
    from nanguard.pipelines import report

    layout = local_runner.Layout(root=root, serving_dir="")
    with _quiet("absl", "tensorflow"):
        run_id = run_id or latest_run(layout.metadata_path)
        facts = collect(layout.metadata_path, run_id, layout.pipeline_root, layout.log_dir)
        facts["history"] = _history(root, run_id)
    return report.write(facts, output or default_path(root, run_id))


def _history(root: str, run_id: str, runs: int = 8) -> list[dict[str, Any]]:
    """The data guard's rates of the last `runs` runs up to `run_id` (`history.py`); [] if
    they cannot be read (the report stands without them)."""
    from nanguard.pipelines import history

    try:
        return history.collect_history(root, until=run_id, last=runs)
    except Exception:  # noqa: BLE001 - an optional section
        logging.exception("The rate history could not be read")
        return []


@contextlib.contextmanager
def _quiet(*names: str):
    """Silences INFO/WARNING of these loggers (ML Metadata's connection lines, TFMA's notes)."""
    loggers = [logging.getLogger(n) for n in names]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)
