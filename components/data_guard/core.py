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
from nanguard.components.data_guard import anomalies, drift, policy, profiling, schema
from nanguard.components.data_guard.config import DataGuardConfig
from nanguard.components.data_guard.outputs import INT_TOTAL_PROPERTIES
from nanguard.components.violations import Violation

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
    as ``config.inf`` says, unlabelled rows as ``config.unlabelled_rows`` says (``policy``); a
    split with 0 rows and a numeric feature holding strings (per the schema) are violations
    naming the split (and the feature and offending value). Features in ``config.exclude`` are
    counted but not judged. A feature with no value at all is judged on the ``train`` split
    (every split when there is none, as in ``scan``); elsewhere its moved rate is ``skew``.

    This is the guard's one judgement: the executor and ``nanguard scan`` (with
    ``--baseline``) both call it.

    Returns:
      ``{"blessed": bool (no blocking violation), "violations": [Violation] (all splits),
      "splits": {split: {"rows", "features", "violations": [Violation], "label_missing",
      "excluded", "anomalies": Anomalies proto}}, "totals": {...}}``.
    """
    kinds = schema.feature_kinds(schema_proto)
    result: dict[str, Any] = {"splits": {}}
    totals = dict.fromkeys(INT_TOTAL_PROPERTIES, 0)
    for profile in split_profiles.values():
        profiling.complete_profile(profile, kinds)
    # Rates that moved between splits, or from the baseline: complete profiles on both sides.
    moved = skew_violations(split_profiles, config)
    if baseline:
        for split, found in drift_violations(
            split_profiles, baseline, config, baseline_name, source
        ).items():
            moved.setdefault(split, []).extend(found)
    everywhere = TRAIN_SPLIT not in split_profiles
    found_all: list[Violation] = []
    for split, profile in split_profiles.items():
        violations = policy.type_violations(profile, kinds, split, config)
        training = everywhere or split == TRAIN_SPLIT
        more, label_missing = policy.evaluate(profile, config, label_key, split, training)
        # (No usable label at all is already a violation of its own.)
        if 0 < label_missing < profile["rows"] and schema.requires_value(schema_proto, label_key):
            more.append(_required_label(label_key, split, label_missing, profile["rows"]))
        violations += more + moved.get(split, [])
        found_all += violations
        proto = anomalies.build_anomalies(profile, violations, config, schema_proto)
        if profile["rows"] == 0:
            logging.warning("DataGuard: split %s of %s is empty (0 rows).", split, source)
        result["splits"][split] = {
            "rows": profile["rows"],
            "features": profile["features"],
            **({"slices": profile["slices"]} if profile.get("slices") else {}),
            "violations": violations,
            "label_missing": label_missing,
            "excluded": sorted(set(config.exclude) & set(profile["features"])),
            "anomalies": proto,
        }
        totals["num_rows"] += profile["rows"]
        for feat in profile["features"].values():
            totals["num_missing"] += feat["missing"]
            totals["num_nan"] += feat["nan"]
            totals["num_pos_inf"] += feat["pos_inf"]
            totals["num_neg_inf"] += feat["neg_inf"]
            totals["num_huge"] += feat["huge"]
        stopping = len(policy.blocking(violations))
        totals["num_violations"] += stopping
        totals["num_warnings"] += len(violations) - stopping
        totals["num_label_missing"] += label_missing
    result["totals"] = totals
    result["violations"] = found_all
    result["blessed"] = totals["num_violations"] == 0
    return result


def _required_label(label_key: str, split: str, count: int, rows: int) -> Violation:
    """Rows without a label where the schema says every row has one: parsing them would fail."""
    return policy.violation(
        "label",
        f"label {label_key!r} in split {split!r}: {count} of {rows} rows have no usable label, "
        "and the schema requires it in every row (a fixed shape)",
        feature=label_key,
        split=split,
        observed=count,
        limit=0,
        advice="remove shape from the label's entry in the schema "
        "(the rows are then left out of training), or fill the labels",
        details={"count": count, "rows": rows},
    )


def _pairs(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[tuple[str, Any, Any]]:
    """(slice label, old, new) for the whole split and every slice both profiles hold."""
    pairs = [("", old, new)]
    for slicing, values in sorted((new.get("slices") or {}).items()):
        before = (old.get("slices") or {}).get(slicing, {})
        pairs += [(f"{slicing}={v}", before[v], values[v]) for v in values if v in before]
    return pairs


def _violations(split, kind, old_name, new_name, old, new, config) -> list[Violation]:
    found = []
    tolerance = config.skew.tolerance()
    for where, before, after in _pairs(old, new):
        names = (f"{old_name}[{where}]", f"{new_name}[{where}]") if where else (old_name, new_name)
        for finding in drift.compare_splits(
            before, after, tolerance, old_name=names[0], new_name=names[1]
        ):
            if finding["feature"] in config.exclude:
                continue
            change = abs(finding["new_rate"] - finding["old_rate"])
            found.append(
                policy.violation(
                    kind,
                    f"{kind}: {drift.describe(finding)}",
                    feature=finding["feature"],
                    split=f"{split}[{where}]" if where else split,
                    observed=finding["new_rate"],
                    limit=config.skew.absolute,
                    key=f"{config.skew.name}.absolute",
                    passing_value=policy.passing_fraction(change),
                    advice=(
                        "a moved rate usually means the data source changed: check it; "
                        f"{config.skew.name}.check: false turns the comparison off"
                    ),
                    details={"slice": where or None, "finding": finding},
                )
            )
    return found


def drift_violations(
    split_profiles: Mapping[str, dict[str, Any]],
    baseline: Mapping[str, Any],
    config: DataGuardConfig,
    baseline_name: str = "baseline",
    source: str = "",
) -> dict[str, list[Violation]]:
    """`{split: [violation]}`: rates of each split (and slice) that moved from the same split of
    `baseline` (a data guard profile document, e.g. of the last pushed run), under
    `config.skew`'s tolerance; kind `drift`. A split the baseline lacks is not compared."""
    if not config.skew.check:
        return {}
    out: dict[str, list[Violation]] = {}
    for split, profile in split_profiles.items():
        old = (baseline.get("splits") or {}).get(split)
        if not old or not old.get("rows") or not profile.get("rows"):
            continue
        # One split with a source (`scan` of a file): name the two files; else the splits.
        if len(split_profiles) == 1 and source:
            names = (baseline_name, source)
        else:
            names = (f"{baseline_name} {split}", split)
        found = _violations(split, "drift", *names, old, profile, config)
        if found:
            out[split] = found
    return out


def skew_violations(
    split_profiles: Mapping[str, dict[str, Any]], config: DataGuardConfig
) -> dict[str, list[Violation]]:
    """`{split: [violation]}`: rates of each split (and each slice) that moved from `train`'s.

    Compared with `drift.compare_splits` under `config.skew`; nothing when `skew.check` is off
    or there is no split named `train`. A slice (`profile["slices"]`, `slices.py`) is compared
    with the same slice of `train`.
    """
    if not config.skew.check or TRAIN_SPLIT not in split_profiles:
        return {}
    train = split_profiles[TRAIN_SPLIT]
    out: dict[str, list[Violation]] = {}
    for split, profile in split_profiles.items():
        if split == TRAIN_SPLIT or not profile.get("rows") or not train.get("rows"):
            continue
        found = _violations(split, "skew", TRAIN_SPLIT, split, train, profile, config)
        if found:
            out[split] = found
    return out


def blocked_message(result: Mapping[str, Any], evidence: str = "") -> str:
    """The blocking violations, one line each (`Violation.line()`), under one header line."""
    lines = [v.line() for v in policy.blocking(result["violations"])]
    where = f"; evidence: {evidence}" if evidence else ""
    return "\n".join([f"DataGuard blocked the run: {len(lines)} violation(s){where}", *lines])
