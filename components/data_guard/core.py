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
) -> dict[str, Any]:
    """Completes and judges per-split profiles.

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
    for split, profile in split_profiles.items():
        counts.complete_profile(profile, kinds)
        violations = policy.type_violations(profile, kinds, split, config)
        more, to_drop = policy.evaluate(profile, config, label_key, split)
        violations += more
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
    skew = skew_violations(split_profiles, config)
    for split, found in skew.items():
        entry = result["splits"][split]
        entry["violations"] += found
        entry["anomalies"] = policy.build_anomalies(
            split_profiles[split], entry["violations"], config, schema_proto
        )
        totals["num_violations"] += len(found)
    result["totals"] = totals
    result["blessed"] = totals["num_violations"] == 0
    return result


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
        pairs = [("", train, profile)]
        for slicing, values in sorted((profile.get("slices") or {}).items()):
            before = (train.get("slices") or {}).get(slicing, {})
            pairs += [
                (f"{slicing}={value}", before[value], values[value])
                for value in values
                if value in before
            ]
        for where, old, new in pairs:
            names = (
                (f"{TRAIN_SPLIT}[{where}]", f"{split}[{where}]") if where else (TRAIN_SPLIT, split)
            )
            for finding in drift.compare_splits(
                old, new, tolerance, old_name=names[0], new_name=names[1]
            ):
                out.setdefault(split, []).append(
                    {
                        "split": split,
                        "feature": finding["feature"],
                        "kind": "skew",
                        "slice": where or None,
                        "finding": finding,
                        "message": f"skew: {drift.describe(finding)}",
                    }
                )
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
