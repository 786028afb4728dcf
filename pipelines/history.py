"""`nanguard history ROOT`: each feature's missing, NaN and Inf rates across the recorded runs.

Reads ML Metadata under ROOT (every pipeline_run context, oldest first) and, for each run, the
data guard's profile the report reads too (`report_data.collect`: the published artifact, or the
copy a blocking guard kept). Rates: missing / rows, NaN and +-Inf / values present, per split.
A run whose guard never ran or whose profile cannot be read is listed with its outcome only.
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
    Only those runs are read."""
    from nanguard.pipelines import report_data

    metadata = os.path.join(root, "metadata.sqlite")
    if not os.path.exists(metadata):
        raise InputError(
            f"ROOT {root}: no metadata.sqlite; pass the --root of an earlier `nanguard run`."
        )
    history = []
    with report_data._quiet("absl", "tensorflow"):
        ids = report_data.run_ids(metadata)
        if until in ids:
            ids = ids[: ids.index(until) + 1]
        for run_id in ids[-last:] if last else ids:
            facts = report_data.collect(metadata, run_id, log_dir=os.path.join(root, "logs"))
            guard = facts["guards"].get("DataGuard") or {}
            splits = {}
            for split, profile in sorted((guard.get("profile") or {}).items()):
                splits[split] = {
                    name: {
                        rate: (k / n if n else None)
                        for rate, (k, n) in feature_rates(feature, profile.get("rows", 0)).items()
                    }
                    for name, feature in sorted(profile.get("features", {}).items())
                }
            history.append(
                {
                    "run": run_id,
                    "outcome": facts["outcome"].get("status"),
                    "stage": facts["outcome"].get("stage"),
                    "splits": splits,
                }
            )
    return history


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
