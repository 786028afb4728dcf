"""A run's facts for the HTML report: its `RunRecord` (stages, outcome, violations, each guard's
summary) plus the details the report draws: the data guard's profile and TFDV anomalies, the
training health report, the gate's report, the Evaluator's metrics from TFMA.

    facts = collect(metadata_path, run_id)      # a JSON-able dict; `report.render(facts)`

Nothing here decides how the run ended (the record does) or raises for an unreadable section:
its error goes into `facts["errors"]`. Imports are light (ML Metadata; TFMA only inside
`evaluation`).
"""

from __future__ import annotations

import datetime
import json
import logging
import os
import re
from collections.abc import Mapping
from typing import Any

from nanguard.components.errors import InputError
from nanguard.pipelines import local_runner, mlmd, run_record
from nanguard.pipelines import summary as summary_lib


def _details(node: str, uri: str, record: run_record.RunRecord) -> dict[str, Any]:
    """What the report draws beyond the guard's summary (the files under `uri`)."""
    found: dict[str, Any] = {}
    if node == "DataGuard":
        found["profile"] = dict(record.data_profile)
        found["anomalies"] = _anomalies(uri, record.data_profile)
    elif node == "Trainer":
        from nanguard.components.trainer.health import read_health_report

        found["health"] = read_health_report(uri) or {}
    elif node == "FinitePredictionGate":
        from nanguard.components.gate import summary as gate_summary

        found["report"] = _read_json(os.path.join(uri, gate_summary.REPORT_FILE_NAME))
    return found


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
      run_id: a run id ML Metadata records (`mlmd.run_ids`).
      pipeline_root: where the run's artifacts live; None: read off the published URIs.
      log_dir: the local runs' logs, read for the error of a stage that raised.
    """
    if run_id not in mlmd.run_ids(metadata_path):
        recent = ", ".join(mlmd.run_ids(metadata_path)[-5:]) or "none"
        raise InputError(f"--run {run_id}: no such run in {metadata_path} (latest: {recent})")
    record = run_record.read_run(metadata_path, run_id, pipeline_root, log_dir)
    facts: dict[str, Any] = {
        "run_id": run_id,
        "generated": datetime.datetime.now().isoformat(timespec="seconds"),
        "stages": [
            {"node": s.node, "state": s.state, "seconds": s.seconds, "error": s.error}
            for s in record.stages
        ],
        "guards": {},
        "errors": dict(record.errors),
        "outcome": outcome_facts(record.outcome, record.staging),
        "violations": {n: [v.to_dict() for v in found] for n, found in record.violations.items()},
        "label_rows_left_out": dict(record.label_rows_left_out),
        "missing_spellings": summary_lib.missing_spellings(record.staging),
        "reading_notes": list((record.staging or {}).get("notes") or []),
    }
    for node, summary in record.summaries.items():
        output = record.output(node, run_record.GUARDS[node][1])
        try:
            details = _details(node, output.uri, record)
        except Exception as e:  # noqa: BLE001 - a section that cannot be read says why
            facts["errors"][node] = f"{output.uri}: {type(e).__name__}: {e}"
            details = {}
        facts["guards"][node] = {
            **summary,
            **details,
            "uri": output.uri,
            "from_failed_execution": not output.published,
        }
    evaluated = record.output("Evaluator", "evaluation")
    if evaluated is not None:
        try:
            facts["evaluation"] = evaluation(evaluated.uri)
        except Exception as e:  # noqa: BLE001
            facts["errors"]["Evaluator"] = f"metrics not readable: {type(e).__name__}: {e}"
    return facts


def outcome_facts(
    outcome: run_record.Outcome, staging: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The outcome as the report shows it: status, stage, reason, violations, advice, and the
    staging record's cautions (features that give the label away, numbers read as text)."""
    return {
        "status": outcome.status,
        "stage": outcome.stage,
        "blocked_by": outcome.blocked_by,
        "reason": outcome.reason,
        "destination": outcome.destination,
        "version": outcome.version,
        "violations": [v.to_dict() for v in outcome.violations],
        "lines": [v.line() for v in outcome.violations],
        "fixes": [v.fix() for v in outcome.violations],
        "advice": summary_lib.advice(outcome, staging),
        "cautions": list((staging or {}).get("cautions") or []),
    }


def default_path(root: str, run_id: str) -> str:
    """`<root>/reports/<run id>.html`, the run id made safe for a file name."""
    return os.path.join(root, "reports", re.sub(r"[^A-Za-z0-9._-]", "_", run_id) + ".html")


def write_report(root: str, run_id: str | None = None, output: str | None = None) -> str:
    """Collects the facts of `run_id` (default: the latest) under a local `root`, writes the page.

    Returns the page's path (`output`, default `default_path(root, run_id)`).
    """
    from nanguard.pipelines import report

    layout = local_runner.Layout(root=root, serving_dir="")
    with mlmd.quiet("absl", "tensorflow"):
        run_id = run_id or mlmd.latest_run(layout.metadata_path)
        facts = collect(layout.metadata_path, run_id, layout.pipeline_root, layout.log_dir)
        facts["history"] = _history(root, run_id)
        facts["served"] = _served(root, run_id)
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


def _served(root: str, run_id: str) -> dict[str, Any] | None:
    """The newest `nanguard monitor --run` result of `run_id`, None if none or unreadable."""
    from nanguard.components.serving_guard.results import latest_result

    try:
        return latest_result(root, run_id)
    except Exception:  # noqa: BLE001 - an optional section
        logging.exception("The served traffic result could not be read")
        return None
