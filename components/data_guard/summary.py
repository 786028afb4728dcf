"""What the data guard found, read back from the files it wrote (any orchestrator, no MLMD).

    summary = summarize(anomalies_artifact.uri)
    summary_line(summary)
    # '344 rows (12 without a label, left out): 19 missing, 0 NaN, 0 +Inf, 0 -Inf, 0 huge; pass'

Imports nothing heavy (TensorFlow only for a gs:// URI, inside the read).
"""

from __future__ import annotations

from typing import Any

from nanguard.components import violations as violations_lib
from nanguard.components.data_guard import outputs

_TOTALS = ("rows", "missing", "nan", "pos_inf", "neg_inf", "huge", "label_missing")


def summarize(uri: str) -> dict[str, Any]:
    """JSON-able facts from `<uri>/data_guard_profile.json` (the ExampleAnomalies artifact URI).

    Returns:
      `{"blessed": bool, "rows", "missing", "nan", "pos_inf", "neg_inf", "huge",
      "label_missing": int totals over the guarded splits, "violations": int (blocking),
      "warnings": int, "splits": {split: rows}, "label_missing_by_split": {split: rows without
      a usable label}, "records": [Violation.to_dict()] (every finding, warnings included),
      "messages": [Violation.line()] (the same, as lines), "label_key": str,
      "policy": {config}}`. NaN and Inf are counts here, never values.

    Raises:
      FileNotFoundError: no profile under `uri` (the guard did not run or did not finish).
    """
    document = outputs.read_profile(uri)
    totals = document["totals"]
    splits = document["splits"]
    summary = {key: int(totals.get(f"num_{key}", 0)) for key in _TOTALS}
    records = [
        _record(v)
        for v in document.get("violations")
        or [v for split in splits.values() for v in split["violations"]]
    ]
    summary.update(
        blessed=bool(document["blessed"]),
        violations=int(totals["num_violations"]),
        warnings=int(totals.get("num_warnings", 0)),
        splits={name: int(split["rows"]) for name, split in splits.items()},
        label_missing_by_split={
            name: int(split.get("label_missing", 0)) for name, split in splits.items()
        },
        records=[v.to_dict() for v in records],
        messages=[v.line() for v in records],
        label_key=document.get("label_key", ""),
        policy=document.get("policy", {}),
    )
    return summary


def _record(data: dict[str, Any]) -> violations_lib.Violation:
    """A `Violation` from the profile; a profile written before violations were records (a
    plain dict with `kind`, `feature`, `split`, `message`) is read as one without a key."""
    if "guard" in data and "reason" in data:
        return violations_lib.Violation.from_dict(data)
    return violations_lib.Violation(
        "DataGuard",
        str(data.get("kind", "")),
        "data",
        str(data.get("message", "")),
        feature=str(data.get("feature") or ""),
        split=str(data.get("split") or ""),
    )


def summary_line(summary: dict[str, Any]) -> str:
    """One console line: counts over all splits, rows left out for want of a label, and the
    verdict ("pass", "N violation(s)", plus ", N warning(s)")."""
    verdict = "pass" if summary["blessed"] else f"{summary['violations']} violation(s)"
    if summary.get("warnings"):
        verdict += f", {summary['warnings']} warning(s)"
    left_out = summary.get("label_missing", 0)
    rows = f"{summary['rows']} rows"
    if left_out:
        rows += f" ({left_out} without a label, left out)"
    return (
        f"{rows}: {summary['missing']} missing, {summary['nan']} NaN, "
        f"{summary['pos_inf']} +Inf, {summary['neg_inf']} -Inf, {summary['huge']} huge; {verdict}"
    )
