"""The data guard's artifact-free core: per-split profiles in, verdict out.

Shared by the component's executor and by ``nanguard scan``: both count with ``counts`` (in
Beam or in-process) and judge here. Knows nothing of artifacts, Beam or files.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from absl import logging
from tensorflow_metadata.proto.v0 import schema_pb2

from nanguard.components import vocab
from nanguard.components.data_guard import counts, drift, policy, schema
from nanguard.components.data_guard.config import DataGuardConfig
from nanguard.components.data_guard.outputs import INT_TOTAL_PROPERTIES

TRAIN_SPLIT = "train"  # the split every other split's rates are compared with


def judge_splits(
    split_profiles: Mapping[str, dict[str, Any]],
    schema_proto: schema_pb2.Schema | None,
    config: DataGuardConfig,
    label_key: str = vocab.NO_LABEL,
    source: str = "",
    baseline: Mapping[str, Any] | None = None,
    baseline_name: str = "baseline",
) -> dict[str, Any]:
    """Completes and judges per-split profiles.

    With `baseline` (an earlier run's profile document) every split's rates are also compared
    with the same split of it (`drift_violations`).

    Schema features absent from a split are added as 100% missing; NaN counts as missing, Inf
    as ``config.inf`` says, the label as ``config.label`` says; a split with 0 rows and a numeric
    feature holding strings (per the schema) are violations naming the split (and the feature
    and offending value).

    Returns:
      ``{"blessed": bool, "splits": {split: {"rows", "features", "violations",
      "label_rows_to_drop", "anomalies": Anomalies proto}}, "totals": {...}}``.
    """
    kinds = schema.feature_kinds(schema_proto)
    result: dict[str, Any] = {"splits": {}}
    totals = dict.fromkeys(INT_TOTAL_PROPERTIES, 0)
    for profile in split_profiles.values():
        counts.complete_profile(profile, kinds)
    # Rates that moved between splits, or from the baseline: complete profiles on both sides.
    moved = skew_violations(split_profiles, config)
    if baseline:
        for split, found in drift_violations(
            split_profiles, baseline, config, baseline_name
        ).items():
            moved.setdefault(split, []).extend(found)
    for split, profile in split_profiles.items():
        violations = policy.type_violations(profile, kinds, split, config)
        more, to_drop = policy.evaluate(profile, config, label_key, split)
        violations += more + moved.get(split, [])
        anomalies = policy.build_anomalies(profile, violations, config, schema_proto)
        if profile["rows"] == 0:
            logging.warning("DataGuard: split %s of %s is empty (0 rows).", split, source)
        result["splits"][split] = {
            "rows": profile["rows"],
            "features": profile["features"],
            **({"slices": profile["slices"]} if profile.get("slices") else {}),
            "violations": violations,
            "label_rows_to_drop": to_drop,
            "anomalies": anomalies,
        }
        totals["num_rows"] += profile["rows"]
        for feat in profile["features"].values():
            totals["num_missing"] += feat["missing"]
            totals["num_nan"] += feat["nan"]
            totals["num_pos_inf"] += feat["pos_inf"]
            totals["num_neg_inf"] += feat["neg_inf"]
            totals["num_huge"] += feat["huge"]
        totals["num_violations"] += len(violations)
        totals["num_label_rows_to_drop"] += to_drop
    result["totals"] = totals
    result["blessed"] = totals["num_violations"] == 0
    return result


def _pairs(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[tuple[str, Any, Any]]:
    """(slice label, old, new) for the whole split and every slice both profiles hold."""
    pairs = [("", old, new)]
    for slicing, values in sorted((new.get("slices") or {}).items()):
        before = (old.get("slices") or {}).get(slicing, {})
        pairs += [(f"{slicing}={v}", before[v], values[v]) for v in values if v in before]
    return pairs


def _violations(split, kind, old_name, new_name, old, new, tolerance) -> list[dict[str, Any]]:
    found = []
    for where, before, after in _pairs(old, new):
        names = (f"{old_name}[{where}]", f"{new_name}[{where}]") if where else (old_name, new_name)
        for finding in drift.compare_splits(
            before, after, tolerance, old_name=names[0], new_name=names[1]
        ):
            found.append(
                {
                    "split": split,
                    "feature": finding["feature"],
                    "kind": kind,
                    "slice": where or None,
                    "finding": finding,
                    "message": f"{kind}: {drift.describe(finding)}",
                }
            )
    return found


def drift_violations(
    split_profiles: Mapping[str, dict[str, Any]],
    baseline: Mapping[str, Any],
    config: DataGuardConfig,
    baseline_name: str = "baseline",
) -> dict[str, list[dict[str, Any]]]:
    """`{split: [violation]}`: rates of each split (and slice) that moved from the same split of
    `baseline` (a data guard profile document, e.g. of the last pushed run), under
    `config.skew`'s tolerance; kind `drift`. A split the baseline lacks is not compared."""
    if not config.skew.check:
        return {}
    tolerance = config.skew.tolerance()
    out: dict[str, list[dict[str, Any]]] = {}
    for split, profile in split_profiles.items():
        old = (baseline.get("splits") or {}).get(split)
        if not old or not old.get("rows") or not profile.get("rows"):
            continue
        found = _violations(
            split, "drift", f"{baseline_name} {split}", split, old, profile, tolerance
        )
        if found:
            out[split] = found
    return out


def skew_violations(
    split_profiles: Mapping[str, dict[str, Any]], config: DataGuardConfig
) -> dict[str, list[dict[str, Any]]]:
    """`{split: [violation]}`: rates of each split (and each slice) that moved from `train`'s.

    Compared with `drift.compare_splits` under `config.skew`; nothing when `skew.check` is off
    or there is no split named `train`. A slice (`profile["slices"]`, `slices.py`) is compared
    with the same slice of `train`.
    """
    if not config.skew.check or TRAIN_SPLIT not in split_profiles:
        return {}
    tolerance = config.skew.tolerance()
    train = split_profiles[TRAIN_SPLIT]
    out: dict[str, list[dict[str, Any]]] = {}
    for split, profile in split_profiles.items():
        if split == TRAIN_SPLIT or not profile.get("rows") or not train.get("rows"):
            continue
        found = _violations(split, "skew", TRAIN_SPLIT, split, train, profile, tolerance)
        if found:
            out[split] = found
    return out


def blocked_message(result: Mapping[str, Any], limit: int = 20) -> str:
    """One readable message listing the violations (feature, split, counts)."""
    messages = [v["message"] for s in result["splits"].values() for v in s["violations"]]
    more = f" (and {len(messages) - limit} more)" if len(messages) > limit else ""
    return (
        f"DataGuard blocked the run: {len(messages)} policy violation(s): "
        + "; ".join(messages[:limit])
        + more
    )
