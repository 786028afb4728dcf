"""`nanguard history ROOT`: each feature's missing, NaN and Inf rates across the recorded runs.

Reads each run's record (`run_record.read_run`, oldest first) with only the data guard's files:
its profile (the published artifact, or the copy a blocking guard kept) and the run's outcome.
Rates: missing / rows, NaN and +-Inf / values present, per split. A run whose guard never ran
or whose profile cannot be read is listed with its outcome only.
"""

from __future__ import annotations

import os
from typing import Any

from nanguard.components.data_guard.drift import RATES, feature_rates
from nanguard.components.errors import InputError

_HEADS = {"missing": "missing", "nan": "NaN", "pos_inf": "+Inf", "neg_inf": "-Inf"}


def collect_history(
    root: str, until: str | None = None, last: int | None = None
) -> list[dict[str, Any]]:
    """`[{run, outcome, stage, splits: {split: {feature: {rate: value}}}}]`, oldest run first.

    `until`: stop at that run id (included); `last`: only that many runs (ending at `until`).
    Only those runs are read, and of each only ML Metadata and the data guard's profile."""
    from nanguard.pipelines import mlmd, run_record

    metadata = os.path.join(root, "metadata.sqlite")
    if not os.path.exists(metadata):
        raise InputError(
            f"ROOT {root}: no metadata.sqlite; pass the --root of an earlier `nanguard run`."
        )
    with mlmd.quiet("absl", "tensorflow"):
        records = run_record.read_runs(
            metadata, until, last, log_dir=os.path.join(root, "logs"), read=("DataGuard",)
        )
    return [
        {
            "run": record.run_id,
            "outcome": record.outcome.status,
            "stage": record.outcome.stage,
            "splits": rates(record.data_profile),
        }
        for record in records
    ]


def rates(profile: dict[str, Any]) -> dict[str, dict[str, dict[str, float | None]]]:
    """`{split: {feature: {rate: value}}}` of a data guard profile (`RunRecord.data_profile`)."""
    return {
        split: {
            name: {
                rate: (k / n if n else None)
                for rate, (k, n) in feature_rates(feature, counts.get("rows", 0)).items()
            }
            for name, feature in sorted(counts.get("features", {}).items())
        }
        for split, counts in sorted(profile.items())
    }


def rate_texts(rates: dict[str, float | None] | None) -> list[str]:
    """The four rates of one feature in one run as percentages (RATES order); n/a when absent."""
    return [_pct(rates.get(r)) if rates else "n/a" for r in RATES]


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.2%}"


def format_history(history: list[dict[str, Any]], split: str = "train") -> str:
    """A block per feature: one line per run with its outcome and the `split`'s four rates."""
    features = sorted({f for h in history for f in h["splits"].get(split, {})})
    if not features:
        return f"no data guard profile of split {split!r} in {len(history)} run(s)"
    width = max(len(h["run"]) for h in history)
    head = f"  {'run':{width}s}  {'outcome':9s}" + "".join(f"{_HEADS[r]:>9s}" for r in RATES)
    lines = []
    for feature in features:
        lines += [f"{feature} ({split})", head]
        for h in history:
            rates = h["splits"].get(split, {}).get(feature)
            cells = "".join(f"{text:>9s}" for text in rate_texts(rates))
            lines.append(f"  {h['run']:{width}s}  {h['outcome'] or '?':9s}{cells}")
    return "\n".join(lines)
