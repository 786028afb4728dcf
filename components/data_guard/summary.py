"""What the data guard found, read back from the files it wrote (any orchestrator, no MLMD).

    summary = summarize(anomalies_artifact.uri)
    summary_line(summary)  # '344 rows: 19 missing, 0 NaN, 0 +Inf, 0 -Inf, 0 huge; pass'

Imports nothing heavy (TensorFlow only for a gs:// URI, inside the read).
"""

from __future__ import annotations

from typing import Any

from nanguard.components.data_guard import outputs

_TOTALS = ("rows", "missing", "nan", "pos_inf", "neg_inf", "huge", "label_rows_to_drop")


def summarize(uri: str) -> dict[str, Any]:
    """JSON-able facts from `<uri>/data_guard_profile.json` (the ExampleAnomalies artifact URI).

    Returns:
      `{"blessed": bool, "rows", "missing", "nan", "pos_inf", "neg_inf", "huge",
      "label_rows_to_drop": int totals over the guarded splits, "violations": int,
      "splits": {split: rows}, "messages": [violation messages], "label_key": str,
      "policy": {config}}`. NaN and Inf are counts here, never values.

    Raises:
      FileNotFoundError: no profile under `uri` (the guard did not run or did not finish).
    """
    document = outputs.read_profile(uri)
    totals = document["totals"]
    splits = document["splits"]
    summary = {key: int(totals[f"num_{key}"]) for key in _TOTALS}
    summary.update(
        blessed=bool(document["blessed"]),
        violations=int(totals["num_violations"]),
        splits={name: int(split["rows"]) for name, split in splits.items()},
        messages=[v["message"] for split in splits.values() for v in split["violations"]],
        label_key=document.get("label_key", ""),
        policy=document.get("policy", {}),
    )
    return summary


def summary_line(summary: dict[str, Any]) -> str:
    """One console line: counts over all splits and the verdict ("pass" or "N violation(s)")."""
    verdict = "pass" if summary["blessed"] else f"{summary['violations']} violation(s)"
    return (
        f"{summary['rows']} rows: {summary['missing']} missing, {summary['nan']} NaN, "
        f"{summary['pos_inf']} +Inf, {summary['neg_inf']} -Inf, {summary['huge']} huge; {verdict}"
    )
