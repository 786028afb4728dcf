"""Counting non-finite predictions: per batch, merged over batches, totalled over splits.

Plain dicts (cheap for Beam to pickle). Conventions, used in the report, the blessing
properties and the command line:

* ``examples``: number of examples the signature was run on.
* ``non_finite``: number of examples with at least one NaN, +Inf or -Inf value in any
  floating-point output.
* ``nan`` / ``pos_inf`` / ``neg_inf``: number of output *values* that are NaN / +Inf / -Inf,
  summed over all floating-point outputs (a 3-class classifier that returns NaN for one example
  adds 1 to ``non_finite`` and 3 to ``nan``). Per-output counts are under ``outputs``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from nanguard.components import vocab
from nanguard.components.gate.records import example_to_dict

_COUNT_FIELDS = ("total", "nan", "pos_inf", "neg_inf")


def count_non_finite(outputs: Mapping[str, np.ndarray]) -> tuple[dict[str, dict[str, int]], Any]:
    """Counts NaN, +Inf and -Inf values per output, vectorised.

    Non floating-point outputs (class ids, strings) are ignored: they cannot hold NaN or Inf.

    Args:
        outputs: Output name -> array whose first dimension is the batch.

    Returns:
        A pair ``(counts, bad_rows)``: ``counts[name]`` holds ``total`` (number of values),
        ``nan``, ``pos_inf`` and ``neg_inf``; ``bad_rows`` is a boolean array over the batch,
        True where any value of any floating-point output is NaN or +/-Inf (None if there is
        no floating-point output).
    """
    counts: dict[str, dict[str, int]] = {}
    bad_rows = None
    for name, value in outputs.items():
        value = np.asarray(value)
        if not np.issubdtype(value.dtype, np.floating):
            continue
        nan = np.isnan(value)
        pos = np.isposinf(value)
        neg = np.isneginf(value)
        counts[name] = {
            "total": int(value.size),
            "nan": int(nan.sum()),
            "pos_inf": int(pos.sum()),
            "neg_inf": int(neg.sum()),
        }
        if value.ndim == 0:
            continue
        row_bad = (nan | pos | neg).reshape(value.shape[0], -1).any(axis=1)
        bad_rows = row_bad if bad_rows is None else (bad_rows | row_bad)
    return counts, bad_rows


def empty_counts() -> dict[str, Any]:
    """Returns an empty count accumulator."""
    return {"examples": 0, "non_finite": 0, "outputs": {}, "offending": []}


def batch_counts(
    serialized: np.ndarray,
    outputs: Mapping[str, np.ndarray],
    max_offending: int,
    split: str = "",
) -> dict[str, Any]:
    """Builds the count accumulator of one batch.

    Args:
        serialized: The batch of serialized tf.Examples that was fed to the model.
        outputs: The model's outputs for that batch.
        max_offending: Keep at most this many offending examples (feature values and the
            output values, NaN/Inf spelled as in ``vocab.jsonable``) for lineage.
        split: Split name recorded with each offending example.

    Returns:
        The accumulator: ``examples``, ``non_finite`` (examples with any NaN/Inf output value),
        ``outputs`` (per-output value counts) and ``offending`` (at most ``max_offending``).
    """
    counts, bad_rows = count_non_finite(outputs)
    acc = {"examples": int(len(serialized)), "non_finite": 0, "outputs": counts, "offending": []}
    if bad_rows is None:
        return acc
    bad_idx = np.flatnonzero(bad_rows)
    acc["non_finite"] = int(bad_idx.size)
    for i in bad_idx[:max_offending]:
        row_outputs = {}
        bad_names = []
        for name, value in outputs.items():
            value = np.asarray(value)
            if not np.issubdtype(value.dtype, np.floating) or value.ndim == 0:
                continue
            row = value[i]
            row_outputs[name] = vocab.jsonable(row)
            if not np.all(np.isfinite(row)):
                bad_names.append(name)
        acc["offending"].append(
            {
                "split": split,
                "features": example_to_dict(serialized[i]),
                "non_finite_outputs": bad_names,
                "outputs": row_outputs,
            }
        )
    return acc


def merge_counts(accumulators: Iterable[Mapping[str, Any]], max_offending: int) -> dict:
    """Merges count accumulators; keeps the first ``max_offending`` offending examples."""
    result = empty_counts()
    for acc in accumulators:
        result["examples"] += acc["examples"]
        result["non_finite"] += acc["non_finite"]
        for name, counts in acc["outputs"].items():
            target = result["outputs"].setdefault(name, dict.fromkeys(_COUNT_FIELDS, 0))
            for field in _COUNT_FIELDS:
                target[field] += counts[field]
        room = max_offending - len(result["offending"])
        if room > 0:
            result["offending"].extend(acc["offending"][:room])
    return result


def totals(split_counts: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Totals per-split accumulators into the report's top-level counts.

    Returns:
        ``examples``, ``non_finite``, ``nan``, ``pos_inf``, ``neg_inf`` (summed over outputs)
        and ``outputs`` (per-output counts summed over splits).
    """
    merged = merge_counts(split_counts.values(), max_offending=0)
    summed = dict.fromkeys(("nan", "pos_inf", "neg_inf"), 0)
    for counts in merged["outputs"].values():
        for field in summed:
            summed[field] += counts[field]
    return {
        "examples": merged["examples"],
        "non_finite": merged["non_finite"],
        **summed,
        "outputs": merged["outputs"],
    }
