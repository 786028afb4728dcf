"""The data guard's policy, its verdict over a profile, and the Anomalies proto it writes."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import Any

from tensorflow_metadata.proto.v0 import anomalies_pb2, schema_pb2

from nanguard.components.data_guard import profile as profile_lib

INF_POLICIES = ("fail", "treat_as_missing", "clip")
LABEL_POLICIES = ("block", "drop")
MODES = ("fail", "warn")
# A BYTES column whose values are at least this fraction numeric is taken as a numeric column
# holding stray strings (only used when no schema says what the column is).
MOSTLY_NUMERIC_FRACTION = 0.9

_Type = anomalies_pb2.AnomalyInfo.Type
_Severity = anomalies_pb2.AnomalyInfo.Severity


@dataclasses.dataclass
class DataGuardPolicy:
    """What the data guard lets through.

    Attributes:
      max_missing_fraction: Largest allowed fraction of rows that are unusable for a feature,
        i.e. ``(missing + nan [+ pos_inf + neg_inf when inf == 'treat_as_missing']) / rows``.
        NaN counts as missing (it will be imputed). Default 0.3.
      max_missing_fraction_by_feature: Per-feature overrides of ``max_missing_fraction``.
      inf: What +/-Inf in a feature means: ``'fail'`` (any Inf is a violation),
        ``'treat_as_missing'`` (counted into the missing fraction) or ``'clip'`` (allowed; the
        transform clips it to the finite range); recorded as an anomaly in every case.
      label: ``'block'``: any missing, NaN or Inf label is a violation; ``'drop'``: such rows are
        counted as ``label_rows_to_drop`` (the guarded trainer filters them), not a violation.
      mode: ``'fail'``: a violation makes the component raise ``GuardBlockedError`` after writing
        its artifact; ``'warn'``: violations are recorded (``blessed = 0``) and the run goes on.
    """

    max_missing_fraction: float = 0.3
    max_missing_fraction_by_feature: dict[str, float] = dataclasses.field(default_factory=dict)
    inf: str = "fail"
    label: str = "block"
    mode: str = "fail"

    def __post_init__(self):
        _check_fraction("max_missing_fraction", self.max_missing_fraction)
        if not isinstance(self.max_missing_fraction_by_feature, Mapping):
            raise ValueError(
                "DataGuardPolicy.max_missing_fraction_by_feature must be a dict "
                f"feature -> fraction, got {self.max_missing_fraction_by_feature!r}."
            )
        for name, value in self.max_missing_fraction_by_feature.items():
            _check_fraction(f"max_missing_fraction_by_feature[{name!r}]", value)
        self.max_missing_fraction_by_feature = dict(self.max_missing_fraction_by_feature)
        for key, allowed in (("inf", INF_POLICIES), ("label", LABEL_POLICIES), ("mode", MODES)):
            value = getattr(self, key)
            if value not in allowed:
                raise ValueError(
                    f"DataGuardPolicy.{key}={value!r} is not allowed; use one of {list(allowed)}."
                )

    @classmethod
    def from_dict(cls, config: Mapping[str, Any] | None) -> DataGuardPolicy:
        """Builds a policy from a dict (e.g. parsed JSON/YAML), rejecting unknown keys by name."""
        if config is not None and not isinstance(config, Mapping):
            raise ValueError(f"A data guard policy is a mapping of keys to values, got {config!r}.")
        config = dict(config or {})
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(config) - known)
        if unknown:
            raise ValueError(
                f"Unknown data guard policy key(s) {unknown}; allowed keys: {sorted(known)}."
            )
        return cls(**config)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    def missing_limit(self, feature: str) -> float:
        return self.max_missing_fraction_by_feature.get(feature, self.max_missing_fraction)


def _check_fraction(key: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        raise ValueError(f"DataGuardPolicy.{key}={value!r} must be a number in [0, 1].")


def as_policy(policy: DataGuardPolicy | Mapping[str, Any] | str | None) -> DataGuardPolicy:
    """Accepts a DataGuardPolicy, a dict, a JSON string or None (defaults)."""
    if isinstance(policy, DataGuardPolicy):
        return policy
    if isinstance(policy, str):
        policy = json.loads(policy) if policy.strip() else {}
    return DataGuardPolicy.from_dict(policy)


def unusable_count(feature: Mapping[str, Any], policy: DataGuardPolicy) -> int:
    """Rows counted against ``max_missing_fraction``: missing + NaN (+ Inf if treated so)."""
    count = feature["missing"] + feature["nan"]
    if policy.inf == "treat_as_missing":
        count += feature["pos_inf"] + feature["neg_inf"]
    return count


def evaluate(
    split_profile: Mapping[str, Any],
    policy: DataGuardPolicy,
    label_key: str = "",
    split: str = "",
) -> tuple[list[dict[str, Any]], int]:
    """Applies the policy to one split's profile.

    NaN counts as missing; Inf is handled as ``policy.inf`` says; the label as ``policy.label``.
    An empty split (0 rows) yields no violations.

    Returns:
      ``(violations, label_rows_to_drop)``; each violation is a dict with ``split``,
      ``feature``, ``kind`` (``'missing'``, ``'inf'`` or ``'label'``), counts and a ``message``.
    """
    rows = split_profile["rows"]
    violations: list[dict[str, Any]] = []
    label_rows_to_drop = 0
    if rows == 0:
        return violations, 0
    for name, feat in split_profile["features"].items():
        inf = feat["pos_inf"] + feat["neg_inf"]
        if label_key and name == label_key:
            bad = min(rows, feat["missing"] + feat["nan"] + inf)
            # With no usable label at all there is nothing to train on, whatever the policy.
            if bad and (policy.label == "block" or bad == rows):
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
        unusable = unusable_count(feat, policy)
        fraction = min(1.0, unusable / rows)
        limit = policy.missing_limit(name)
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
        if inf and policy.inf == "fail":
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


def check_types(
    split_profile: Mapping[str, Any],
    expected_kinds: Mapping[str, str],
    source: str,
) -> None:
    """Raises ValueError naming feature and source when a numeric column holds strings.

    A feature is numeric if the schema says FLOAT/INT (``expected_kinds``), or, without a schema
    entry, if at least ``MOSTLY_NUMERIC_FRACTION`` of its values parse as numbers.
    """
    for name, feat in split_profile["features"].items():
        if feat["type"] != profile_lib.STRING or not feat["num_values"]:
            continue
        expected = expected_kinds.get(name)
        numeric_share = feat["numeric_like"] / feat["num_values"]
        if expected in (profile_lib.FLOAT, profile_lib.INT) or (
            expected is None
            and feat["numeric_like"] < feat["num_values"]
            and numeric_share >= MOSTLY_NUMERIC_FRACTION
        ):
            why = (
                f"the schema says {expected}"
                if expected
                else f"{feat['numeric_like']} of its {feat['num_values']} values are numbers"
            )
            raise ValueError(
                f"Feature {name!r} in {source} holds the string {feat['non_numeric_sample']!r} "
                f"where numbers are expected ({why}). Fix or blank out that value (missing tokens: "
                "empty, NA, null, None; float tokens: nan, inf, -inf, Infinity)."
            )


def build_anomalies(
    split_profile: Mapping[str, Any],
    violations: list[dict[str, Any]],
    policy: DataGuardPolicy,
    schema: schema_pb2.Schema | None = None,
) -> anomalies_pb2.Anomalies:
    """Builds the TFDV Anomalies proto of one split from its profile and violations.

    Per feature with findings: ``FLOAT_TYPE_HAS_NAN`` (any NaN), ``FLOAT_TYPE_HAS_INF`` (any
    Inf), ``FLOAT_TYPE_BIG_FLOAT`` (finite values above ``HUGE_THRESHOLD``),
    ``FEATURE_TYPE_NOT_PRESENT`` (no row has it) or ``FEATURE_TYPE_LOW_FRACTION_PRESENT`` (some
    rows miss it). Severity ERROR when the feature violates the policy, WARNING otherwise, so the
    ``blessed`` property (not the mere presence of anomalies) carries the verdict. An empty
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
    violating = {}
    for v in violations:
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
                    f"{policy.inf!r}).",
                )
            )
        if feat["huge"]:
            reasons.append(
                (
                    _Type.FLOAT_TYPE_BIG_FLOAT,
                    "Huge values",
                    f"{feat['huge']} finite values with |x| > {profile_lib.HUGE_THRESHOLD:.4g} "
                    "(their square overflows float32).",
                )
            )
        if not reasons and name not in violating:
            continue
        info = anomalies.anomaly_info[name]
        info.path.step.append(name)
        info.severity = _Severity.ERROR if name in violating else _Severity.WARNING
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
