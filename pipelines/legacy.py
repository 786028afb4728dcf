"""Violation records from guard outputs written before guards wrote them (`violations.py`).

A guard's output carries its findings as `Violation` records (the `violations` custom property,
or `"violations"` in its JSON report). An older output holds structured dicts instead: the data
guard's per-split `{split, feature, kind, message, ...}`, the gate's counts, failed probes and
the Evaluator's failed thresholds (`{metric, value, lower_bound, upper_bound, reason}`). They are
turned into records here from those fields, never from message text, so every renderer reads
one shape. Light: no TensorFlow.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from nanguard.components.violations import Violation

# The Evaluator's metrics and the config keys of their thresholds (pipelines' `evaluator:`).
THRESHOLD_KEYS = {
    "sparse_categorical_accuracy": ("evaluator.min_accuracy", "quality"),
    "mse_ratio_to_mean": ("evaluator.max_mse_ratio", "quality"),
    "non_finite_prediction_count": ("", "non_finite"),
}


def parse_violations(node: str, items: Sequence[Any]) -> list[Violation] | None:
    """`Violation`s from a list of their dicts; the old data guard dicts (no `reason`) are
    read from their fields; None when `items` is not a list of dicts."""
    if not isinstance(items, list) or not all(isinstance(i, Mapping) for i in items):
        return None
    return [
        Violation.from_dict(i) if "reason" in i and "guard" in i else _old_guard_dict(node, i)
        for i in items
    ]


def _old_guard_dict(node: str, item: Mapping[str, Any]) -> Violation:
    details = {k: v for k, v in item.items() if k not in ("feature", "split", "kind", "message")}
    return Violation(
        guard=node,
        kind=str(item.get("kind") or "violation"),
        reason="data",
        message=str(item.get("message") or item.get("kind") or "violation"),
        feature=str(item.get("feature") or ""),
        split=str(item.get("split") or ""),
        details=details,
    )


def violations_from(
    node: str, document: Mapping[str, Any], summary: Mapping[str, Any]
) -> list[Violation]:
    """The violations an older output of `node` implies (its report file and its summary)."""
    if node == "DataGuard":
        return [
            _old_guard_dict(node, v)
            for split in (document.get("splits") or {}).values()
            for v in split.get("violations") or []
        ]
    if node == "FinitePredictionGate":
        return _gate(document, summary)
    return []


def _gate(report: Mapping[str, Any], summary: Mapping[str, Any]) -> list[Violation]:
    found = []
    guard = "FinitePredictionGate"
    examples = summary.get("examples") or 0
    if not examples and "examples" in summary:
        found.append(
            Violation(
                guard,
                "empty",
                "data",
                f"no examples were read from splits {sorted(report.get('splits') or {})}",
                key="gate.splits",
            )
        )
    if summary.get("non_finite"):
        found.append(
            Violation(
                guard,
                "non_finite_prediction",
                "non_finite",
                f"{summary['non_finite']} of {examples} examples got non-finite predictions "
                f"(nan={summary.get('nan')}, +inf={summary.get('pos_inf')}, "
                f"-inf={summary.get('neg_inf')})",
                observed=summary["non_finite"],
                limit=0,
            )
        )
    probes = summary.get("probes_failed") or []
    if probes:
        found.append(
            Violation(
                guard,
                "probe",
                "non_finite",
                f"{len(probes)} probe(s) failed: {', '.join(probes[:10])}",
                observed=len(probes),
                limit=0,
                key="gate.probe_families",
            )
        )
    evaluation = report.get("evaluation") or {}
    for failure in evaluation.get("failures") or []:
        metric = failure.get("metric", "")
        key, reason = THRESHOLD_KEYS.get(metric, ("", "quality"))
        bound = failure.get("lower_bound")
        found.append(
            Violation(
                "Evaluator",
                "threshold",
                reason,
                f"the Evaluator did not bless the model: {failure.get('reason') or metric}",
                feature=metric,
                observed=failure.get("value"),
                limit=bound if bound is not None else failure.get("upper_bound"),
                key=key,
            )
        )
    if not found and summary.get("blessed") is False:
        found.append(
            Violation(guard, "not_blessed", "quality", "the upstream blessing is not blessed")
        )
    return found


def label_rows_left_out(document: Mapping[str, Any]) -> dict[str, int]:
    """`{split: rows}` left out for a missing label, from the data guard's profile document."""
    out = {}
    for split, profile in sorted((document.get("splits") or {}).items()):
        rows = profile.get(
            "label_missing", profile.get("label_rows_left_out", profile.get("label_rows_to_drop"))
        )
        if isinstance(rows, int):
            out[split] = rows
    return out
