"""The data guard's verdict over a profile, and the Anomalies proto it writes.

Artifact-free: plain functions on the profile dicts of ``counts`` and a ``DataGuardConfig``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tensorflow_metadata.proto.v0 import anomalies_pb2, schema_pb2

from nanguard.components import cells, vocab
from nanguard.components.data_guard import counts
from nanguard.components.data_guard.config import DataGuardConfig

# The mostly-numeric rule's share, spelled once in `cells`; kept here for existing imports.
MOSTLY_NUMERIC_FRACTION = cells.MOSTLY_NUMERIC_FRACTION

_Type = anomalies_pb2.AnomalyInfo.Type
_Severity = anomalies_pb2.AnomalyInfo.Severity


def unusable_count(feature: Mapping[str, Any], config: DataGuardConfig) -> int:
    """Rows counted against ``max_missing_fraction``: missing + NaN (+ Inf if treated so)."""
    count = feature["missing"] + feature["nan"]
    if config.inf == "treat_as_missing":
        count += feature["pos_inf"] + feature["neg_inf"]
    return count


def evaluate(
    split_profile: Mapping[str, Any],
    config: DataGuardConfig,
    label_key: str = vocab.NO_LABEL,
    split: str = "",
) -> tuple[list[dict[str, Any]], int]:
    """Applies the policy to one split's profile.

    NaN counts as missing; Inf is handled as ``config.inf`` says; the label as ``config.label``.
    An empty split (0 rows: a header-only CSV, an empty shard) is one violation of kind
    ``'empty'`` naming the split: nothing can be trained or evaluated on it.

    Returns:
      ``(violations, label_rows_to_drop)``; each violation is a dict with ``split``,
      ``feature``, ``kind`` (``'empty'``, ``'missing'``, ``'inf'`` or ``'label'``), counts and a
      ``message``.
    """
    rows = split_profile["rows"]
    violations: list[dict[str, Any]] = []
    label_rows_to_drop = 0
    if rows == 0:
        violations.append(
            {
                "split": split,
                "feature": "",
                "kind": "empty",
                "count": 0,
                "rows": 0,
                "message": (
                    f"split {split!r} holds no rows (a header-only CSV or an empty split); "
                    "give it data rows or exclude the split."
                ),
            }
        )
        return violations, 0
    for name, feat in split_profile["features"].items():
        inf = feat["pos_inf"] + feat["neg_inf"]
        if label_key and name == label_key:
            bad = min(rows, feat["missing"] + feat["nan"] + inf)
            # With no usable label at all there is nothing to train on, whatever the policy.
            if bad and (config.label == "block" or bad == rows):
                violations.append(
                    {
                        "split": split,
                        "feature": name,
                        "kind": "label",
                        "count": bad,
                        "rows": rows,
                        "message": (
                            f"label {name!r} in split {split!r}: {bad} of {rows} rows "
                            f"have no usable label (missing={feat['missing']}, nan={feat['nan']}, "
                            f"inf={inf}); clean the "
                            "labels or set the label policy to 'drop'."
                        ),
                    }
                )
            elif bad:
                label_rows_to_drop = bad
            continue
        unusable = unusable_count(feat, config)
        fraction = min(1.0, unusable / rows)
        limit = config.missing_limit(name)
        if fraction > limit:
            violations.append(
                {
                    "split": split,
                    "feature": name,
                    "kind": "missing",
                    "count": unusable,
                    "rows": rows,
                    "fraction": fraction,
                    "limit": limit,
                    "message": (
                        f"feature {name!r} in split {split!r}: {unusable} of {rows} rows unusable "
                        f"(missing={feat['missing']}, nan={feat['nan']}, "
                        f"pos_inf={feat['pos_inf']}, neg_inf={feat['neg_inf']}), "
                        f"fraction {fraction:.4f} > limit {limit}; "
                        "fix the data or raise max_missing_fraction for this feature."
                    ),
                }
            )
        if inf and config.inf == "fail":
            violations.append(
                {
                    "split": split,
                    "feature": name,
                    "kind": "inf",
                    "count": inf,
                    "rows": rows,
                    "message": (
                        f"feature {name!r} in split {split!r}: {inf} Inf values "
                        f"(pos_inf={feat['pos_inf']}, neg_inf={feat['neg_inf']}) with inf policy "
                        "'fail'; fix the data or set inf to 'treat_as_missing' or 'clip'."
                    ),
                }
            )
    if label_key and label_key not in split_profile["features"]:
        violations.append(
            {
                "split": split,
                "feature": label_key,
                "kind": "label",
                "count": rows,
                "rows": rows,
                "message": (
                    f"label {label_key!r} is absent from split {split!r} ({rows} rows); "
                    "check label_key."
                ),
            }
        )
    return violations, label_rows_to_drop


def type_violations(
    split_profile: Mapping[str, Any],
    expected_kinds: Mapping[str, str],
    split: str = "",
    config: DataGuardConfig | None = None,
) -> list[dict[str, Any]]:
    """Violations of kind ``'type'``: a numeric feature holding strings, naming its tokens.

    A STRING feature is numeric if the schema says FLOAT/INT (``expected_kinds``), or else
    (no entry, or BYTES: what SchemaGen infers for such a column) if it is mostly numeric
    (``cells.is_mostly_numeric``: at least 90% of its values that are not missing tokens parse
    as numbers; ``nan``, ``inf`` and ``Infinity`` are numbers), unless it is one of
    ``config.text_features``. Its other values are the offending tokens: values spelled as a
    missing token (``config.missing_values()``: a pipeline whose ExampleGen read ``?`` as
    text) and stray strings, each with its count. Each violation carries ``tokens``
    (``{token: count}``, the most frequent ``counts.TOP_K_BUCKETS``), ``tokens_exact`` and the
    first one seen as ``value``.
    """
    missing = set(config.missing_values() if config else cells.MISSING_TOKENS)
    text = set(config.text_features if config else ())
    violations = []
    for name, feat in split_profile["features"].items():
        if feat["type"] != counts.STRING or not feat["num_values"] or name in text:
            continue
        others = feat["num_values"] - feat["numeric_like"]
        tokens = feat.get("non_numeric") or {}
        spelled_missing = sum(c for t, c in tokens.items() if t in missing)
        verdict = cells.stray_verdict(  # the one stray-string rule (staging and scan use it)
            feat["numeric_like"],
            feat["num_values"] - spelled_missing,
            count=others,
            schema_kind=expected_kinds.get(name),
            unit="values",
        )
        if verdict is None:
            continue
        why = verdict.why
        exact = feat.get("non_numeric_exact", True)
        named = (
            cells.describe_tokens(tokens, others if exact else None)
            if tokens
            else f"e.g. {feat.get('non_numeric_sample')!r}"  # no value is a number
        )
        if spelled_missing:
            named += f" (missing tokens among them: {spelled_missing} cell(s))"
        value = feat.get("non_numeric_sample") or next(iter(tokens), None)  # the first seen
        violations.append(
            {
                "split": split,
                "feature": name,
                "kind": "type",
                "count": others,
                "rows": split_profile["rows"],
                "value": value,
                "tokens": dict(tokens),
                "tokens_exact": exact,
                "message": (
                    f"feature {name!r} in split {split!r} holds {others} value(s) that are not "
                    f"numbers where numbers are expected ({why}): {named}"
                    f"{'' if exact else ' (counts approximate)'}; fix or blank those cells, "
                    "add a missing spelling to missing_tokens, or set stray_strings: "
                    "treat_as_missing (applied where nanguard reads the CSV: run's staging, scan)."
                ),
            }
        )
    return violations


def build_anomalies(
    split_profile: Mapping[str, Any],
    violations: list[dict[str, Any]],
    config: DataGuardConfig,
    schema: schema_pb2.Schema | None = None,
) -> anomalies_pb2.Anomalies:
    """Builds the TFDV Anomalies proto of one split from its profile and violations.

    Per feature with findings: ``FLOAT_TYPE_HAS_NAN`` (any NaN), ``FLOAT_TYPE_HAS_INF`` (any
    Inf), ``FLOAT_TYPE_BIG_FLOAT`` (finite values above ``HUGE_THRESHOLD``),
    ``FEATURE_TYPE_NOT_PRESENT`` (no row has it) or ``FEATURE_TYPE_LOW_FRACTION_PRESENT`` (some
    rows miss it), ``COMPARATOR_L_INFTY_HIGH`` (a ``skew`` violation: a missing/NaN/Inf rate
    moved from the training split's, the description names both rates and the tolerance).
    Severity ERROR when the feature violates the policy, WARNING otherwise, so the ``blessed``
    property (not the mere presence of anomalies) carries the verdict. An empty
    split sets ``data_missing``.
    """
    anomalies = anomalies_pb2.Anomalies()
    if schema is not None:
        anomalies.baseline.CopyFrom(schema)
    anomalies.anomaly_name_format = anomalies_pb2.Anomalies.SERIALIZED_PATH
    rows = split_profile["rows"]
    if rows == 0:
        anomalies.data_missing = True
        return anomalies
    violating, skewed = {}, {}
    typed = {v["feature"]: v for v in violations if v["kind"] == "type"}
    for v in violations:
        if v["kind"] in ("skew", "drift"):  # own reason below, not repeated in the policy one
            skewed.setdefault(v["feature"], []).append(v["message"])
        else:
            violating.setdefault(v["feature"], []).append(v["message"])
    for name, feat in split_profile["features"].items():
        reasons = []
        if feat["present"] == 0:
            reasons.append(
                (
                    _Type.FEATURE_TYPE_NOT_PRESENT,
                    "Column dropped",
                    f"The feature is absent from all {rows} rows.",
                )
            )
        elif feat["missing"]:
            reasons.append(
                (
                    _Type.FEATURE_TYPE_LOW_FRACTION_PRESENT,
                    "Missing values",
                    f"{feat['missing']} of {rows} rows ({feat['missing'] / rows:.2%}) "
                    "miss the feature.",
                )
            )
        if feat["nan"]:
            reasons.append(
                (
                    _Type.FLOAT_TYPE_HAS_NAN,
                    "Invalid values",
                    f"{feat['nan']} NaN values.",
                )
            )
        if feat["pos_inf"] or feat["neg_inf"]:
            reasons.append(
                (
                    _Type.FLOAT_TYPE_HAS_INF,
                    "Invalid values",
                    f"{feat['pos_inf']} +Inf and {feat['neg_inf']} -Inf values (inf policy "
                    f"{config.inf!r}).",
                )
            )
        if name in typed:
            reasons.append(
                (
                    _Type.UNEXPECTED_DATA_TYPE,
                    "Strings in a numeric feature",
                    f"{typed[name]['count']} values are not numbers: "
                    + (
                        cells.describe_tokens(typed[name]["tokens"], typed[name]["count"])
                        if typed[name]["tokens"]
                        else f"e.g. {typed[name]['value']!r}"
                    )
                    + ".",
                )
            )
        if feat["huge"]:
            reasons.append(
                (
                    _Type.FLOAT_TYPE_BIG_FLOAT,
                    "Huge values",
                    f"{feat['huge']} finite values with |x| > {counts.HUGE_THRESHOLD:.4g} "
                    "(their square overflows float32).",
                )
            )
        if name in skewed:
            # The L-infinity distance of two Bernoulli distributions is |p_train - p_split|.
            reasons.append(
                (_Type.COMPARATOR_L_INFTY_HIGH, "Missingness moved", " ".join(skewed[name]))
            )
        if not reasons and name not in violating:
            continue
        info = anomalies.anomaly_info[name]
        info.path.step.append(name)
        info.severity = (
            _Severity.ERROR if name in violating or name in skewed else _Severity.WARNING
        )
        for anomaly_type, short, description in reasons:
            reason = info.reason.add()
            reason.type = anomaly_type
            reason.short_description = short
            reason.description = description
        if name in violating:
            reason = info.reason.add()
            reason.type = _Type.UNKNOWN_TYPE if not reasons else reasons[0][0]
            reason.short_description = "Data guard policy violated"
            reason.description = " ".join(violating[name])
        if len(info.reason) == 1:
            info.short_description = info.reason[0].short_description
            info.description = info.reason[0].description
        else:
            info.short_description = "Multiple errors"
            info.description = " ".join(r.description for r in info.reason)
    return anomalies
