"""A run record in words: the console's summary and outcome lines, the advice per violation.

    lines = summary_lines(record)           # one line per guard, written by its own summary
    lines = outcome_lines(record, log_path) # "Pushed model: ..." or the BLOCKED block
    items = advice(record.outcome, record.staging)  # what to change, per violation's reason

Reads only the record (`run_record.RunRecord`) and its `Violation`s (`Violation.line()`); no
message text is parsed. Light: imports no TensorFlow, Beam, TFDV or TFMA.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Mapping
from typing import Any

from nanguard.components.violations import Violation
from nanguard.pipelines.run_record import GUARDS, Outcome, RunRecord

# What to try, per violation reason, after the violations' own keys. Only `non_finite` speaks
# of NaN/Inf in predictions or weights.
REASON_ADVICE = {
    "data": "The data guard's limits are keys of the data_guard section of --config "
    "(`nanguard config` lists them); `nanguard scan` shows every finding on the CSV at once.",
    "training": "Training did not converge to a usable model: lower trainer.learning_rate, "
    "clip or impute extreme inputs (transform section), or set trainer.nonfinite_policy to "
    "'recover'; the training section below names the steps and layers.",
    "quality": "The training section below shows the loss per epoch: an evaluation loss "
    "still falling at the last epoch asks for more trainer.epochs (or a longer "
    "trainer.early_stopping_patience); one lowest in the first epochs, for a lower "
    "trainer.learning_rate; one that barely moved, for features that predict the label.",
    "non_finite": "The model predicts NaN/Inf on the data or on a probe: see the offending "
    "examples and probes below; impute or clip the features named there (transform section), "
    "or retrain with a lower trainer.learning_rate.",
}


def summary_lines(record: RunRecord) -> list[str]:
    """One console line per guard that was read, in pipeline order, each from the guard's own
    `summary_line`; then the rows left out for a missing label and the missing spellings."""
    lines = []
    for node, (label, _, module, _) in GUARDS.items():
        if node in record.summaries:
            try:
                line = importlib.import_module(module).summary_line(record.summaries[node])
            except Exception:  # noqa: BLE001 - a summary must never hide the outcome
                line = "(not readable; see the log)"
        elif node in record.errors and record.output(node, GUARDS[node][1]) is not None:
            line = "(not readable; see the log)"
        else:
            continue
        lines.append(f"  {label:<12} {line}")
    left_out = label_rows_text(record.label_rows_left_out)
    if left_out:
        lines.append(f"  {'labels':<12} {left_out}")
    spellings = missing_spellings(record.staging)
    if spellings:
        text = "; ".join(f"{col}: {_counts(found)}" for col, found in sorted(spellings.items()))
        lines.append(f"  {'missing':<12} read as missing: {text}")
    return lines


def label_rows_text(left_out: Mapping[str, int]) -> str:
    """ "rows without a label left out: train 3, eval 1" ("" when none was left out)."""
    if not any(left_out.values()):
        return ""
    return "rows without a label left out: " + ", ".join(
        f"{split} {rows:,}" for split, rows in sorted(left_out.items())
    )


def missing_spellings(staging: Mapping[str, Any]) -> dict[str, dict[str, int]]:
    """`{column: {spelling: count}}` from the staging record (`staging.json`), {} if absent.

    The record's `missing_spellings` is that mapping (a spelling `""` is an empty cell).
    """
    found = staging.get("missing_spellings") if isinstance(staging, Mapping) else None
    if not isinstance(found, Mapping):
        return {}
    return {
        str(column): {str(k): int(v) for k, v in counts.items() if isinstance(v, int) and v}
        for column, counts in found.items()
        if isinstance(counts, Mapping) and any(isinstance(v, int) and v for v in counts.values())
    }


def _counts(found: Mapping[str, int]) -> str:
    return ", ".join(f"{spelling or '(empty)'!s} x{n:,}" for spelling, n in sorted(found.items()))


def outcome_lines(outcome: Outcome, log_path: str) -> list[str]:
    """What the console prints after the summary: the pushed model, or the BLOCKED block (one
    violation per line, each naming its key and the value that would pass), or FAILED."""
    if outcome.status == "pushed":
        return [f"Pushed model: {outcome.destination}"]
    if outcome.status == "failed":
        return [f"FAILED: {outcome.reason}", f"Log: {log_path}"]
    if not outcome.violations:
        return [f"BLOCKED: {outcome.reason}; nothing was pushed. Log: {log_path}"]
    count = len(outcome.violations)
    head = f"BLOCKED by {outcome.blocked_by or 'a guard'}: {count} violation{'s' * (count > 1)}"
    return [
        f"{head}:" if count > 1 else f"{head}: {outcome.violations[0].line()}",
        *([f"  - {v.line()}" for v in outcome.violations] if count > 1 else []),
        f"Nothing was pushed. Log: {log_path}",
    ]


def advice(outcome: Outcome, staging: Mapping[str, Any] | None = None) -> list[str]:
    """What else to try, beyond each violation's own fix (`Violation.fix()`, which the report
    shows beside its message): one item per reason among the violations (`REASON_ADVICE`),
    then `task_advice`; never an empty item."""
    if outcome.status not in ("blocked", "failed"):
        return []
    items = [REASON_ADVICE[r] for r in reasons(outcome.violations)]
    items += task_advice(outcome, staging)
    if not outcome.violations and outcome.status == "failed" and outcome.reason:
        items.append(f"The stage {outcome.stage or '?'} failed; its log has the traceback.")
    return [i for i in dict.fromkeys(items) if i.strip()]


def task_advice(outcome: Outcome, staging: Mapping[str, Any] | None) -> list[str]:
    """For a quality block, the staging record's notes on the label: `label_as_classes` (a
    numeric label `task: auto` read as classes; it names `task: regression`: a 1-7 scale read
    as 7 classes can miss the majority margin that the same label as a number meets) and
    `rare_classes` (too few rows per class: no training setting fixes that)."""
    if outcome.status != "blocked" or "quality" not in reasons(outcome.violations):
        return []
    notes = [(staging or {}).get(key) for key in ("label_as_classes", "rare_classes")]
    return [f"The {note}." for note in notes if note]


def reasons(violations: Iterable[Violation]) -> list[str]:
    """The distinct reasons of `violations`, in the order they first appear."""
    return list(dict.fromkeys(v.reason for v in violations))
