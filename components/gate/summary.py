"""What the gate decided, read back from its ModelBlessing folder (no ML Metadata needed).

Light (no TensorFlow, Beam, TFDV or TFMA at import): a local folder is read with `open`; a
URI with a scheme (`gs://...`) with `tf.io.gfile`, imported only then.
"""

from __future__ import annotations

import json
import os
from typing import Any

from nanguard.components import vocab
from nanguard.components.errors import InputError

REPORT_FILE_NAME = "gate_report.json"


def summarize(uri: str) -> dict[str, Any]:
    """The gate's facts from ``<uri>/gate_report.json`` (``uri``: the ModelBlessing artifact's).

    Returns:
        ``examples``, ``non_finite``, ``nan``, ``pos_inf``, ``neg_inf`` (ints), ``probes_run``,
        ``probes_failed`` (the failed probes' names), ``probes_rejected`` (the probes the
        signature refused, as it should: a number sent as bytes, or NaN/Inf under the
        ``reject`` policy), ``blessed`` (bool), ``reasons`` (why not
        blessed, one line each), ``violations`` (the same as ``Violation.to_dict()`` records;
        ``violations.Violation.from_dict`` reads one back), ``outputs`` (per-output counts),
        ``uri``, ``task`` ('classification',
        'regression' or '' if not stated) and ``quality``: the Evaluator's overall metrics of
        the task with their thresholds (``{name: {"value", "lower_bound", "upper_bound"}}``,
        empty without an evaluation input). JSON-able: a NaN metric is the string "NaN".

    Raises:
        InputError: the folder holds no readable gate_report.json (names the file).
    """
    path = os.path.join(uri, REPORT_FILE_NAME)
    try:
        report = json.loads(_read_text(path))
    except (OSError, ValueError) as e:
        raise InputError(f"{path}: no readable gate report ({e}); is {uri} a gate blessing?") from e
    keys = ("examples", "non_finite", "nan", "pos_inf", "neg_inf", "probes_run")
    facts = {k: report[k] for k in keys}
    facts.update(
        probes_failed=list(report["probes_failed"]),
        probes_rejected=list(report.get("probes_rejected") or []),
        blessed=bool(report["blessed"]),
        reasons=list(report["reasons"]),
        violations=list(report.get("violations") or []),
        outputs=report["outputs"],
        uri=uri,
        task=report.get("task") or "",
        quality=_quality(report.get("evaluation") or {}),
    )
    return vocab.jsonable(facts)


# The metrics the summary line shows per task, in order, with their console names.
QUALITY = {
    "classification": (
        ("labelled_accuracy", "accuracy"),
        ("majority_accuracy", "majority class's"),
        ("accuracy_over_majority", "margin"),
    ),
    "regression": (
        ("mean_squared_error", "MSE"),
        ("mean_absolute_error", "MAE"),
        ("mse_ratio_to_mean", "MSE / mean predictor's"),
    ),
}


def _quality(evaluation: dict[str, Any]) -> dict[str, dict[str, Any]]:
    metrics = evaluation.get("metrics") or {}
    thresholds = evaluation.get("thresholds") or {}
    names = [name for shown in QUALITY.values() for name, _ in shown]
    return {
        name: {
            "value": vocab.as_float(metrics[name]),
            **thresholds.get(name, {"lower_bound": None, "upper_bound": None}),
        }
        for name in names
        if name in metrics
    }


def quality_text(summary: dict[str, Any]) -> str:
    """The task's metrics in words, e.g. "accuracy 0.9762, majority class's 0.4405, margin
    0.5357 (>= 0.05)" or
    "MSE 2901, MAE 43.2, MSE / mean predictor's 0.5123 (<= 1)"; "" when none was read."""
    quality = summary.get("quality") or {}
    parts = []
    for name, shown in QUALITY.get(summary.get("task") or "", ()) or [
        item for items in QUALITY.values() for item in items
    ]:
        if name not in quality:
            continue
        fact = quality[name]
        value = vocab.as_float(fact["value"])
        bounds = [
            f"{sign} {vocab.as_float(fact[key]):.4g}"
            for key, sign in (("lower_bound", ">="), ("upper_bound", "<="))
            if fact.get(key) is not None
        ]
        text = "NaN" if value != value else f"{value:.4g}"  # NaN != NaN
        parts.append(f"{shown} {text}" + (f" ({' and '.join(bounds)})" if bounds else ""))
    return ", ".join(parts)


def _read_text(path: str) -> str:
    if "://" not in path:
        with open(path, encoding="utf-8") as f:
            return f.read()
    import tensorflow as tf

    try:
        with tf.io.gfile.GFile(path) as f:
            return f.read()
    except tf.errors.OpError as e:
        raise OSError(e.message) from e


def summary_line(summary: dict[str, Any]) -> str:
    """One console line: the task's quality, then the counts and the verdict, e.g.
    "classification: accuracy 0.9762, majority class's 0.4405, margin 0.5357 (>= 0.05); 80
    examples, 0 non-finite, 0 probe(s) failed:
    blessed" (the quality part only when the report holds the Evaluator's metrics)."""
    verdict = "blessed" if summary["blessed"] else f"NOT blessed ({'; '.join(summary['reasons'])})"
    quality = quality_text(summary)
    task = summary.get("task") or ""
    head = f"{task}: {quality}; " if quality and task else (f"{quality}; " if quality else "")
    return (
        f"{head}{summary['examples']} examples, {summary['non_finite']} non-finite, "
        f"{len(summary['probes_failed'])} probe(s) failed: {verdict}"
    )
