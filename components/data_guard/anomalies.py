"""The TFDV Anomalies proto the data guard writes per split (ExampleValidator's layout)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from tensorflow_metadata.proto.v0 import anomalies_pb2, schema_pb2

from nanguard.components import cells
from nanguard.components.data_guard import counts, policy
from nanguard.components.data_guard.config import DataGuardConfig
from nanguard.components.violations import Violation

_Type = anomalies_pb2.AnomalyInfo.Type
_Severity = anomalies_pb2.AnomalyInfo.Severity


def build_anomalies(
    split_profile: Mapping[str, Any],
    violations: Sequence[Violation],
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
    violating, skewed, warned = {}, {}, {}
    typed = {v.feature: v.details for v in violations if v.kind == "type"}
    for v in violations:
        if policy.is_warning(v):
            warned.setdefault(v.feature, []).append(v.line())
        elif v.kind in ("skew", "drift"):  # own reason below, not repeated in the policy one
            skewed.setdefault(v.feature, []).append(v.line())
        else:
            violating.setdefault(v.feature, []).append(v.line())
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
        if name in warned:
            reasons.append((_Type.UNKNOWN_TYPE, "Data guard warning", " ".join(warned[name])))
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
