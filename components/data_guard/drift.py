"""Missingness skew and drift: did a feature's missing, NaN or Inf rate move beyond sampling noise?

Plain functions on two split profiles (the `{"rows", "features": {...}}` dicts of `counts.py`),
no TensorFlow, no Beam. The rates compared, per feature:

* ``missing``: rows without a value / rows;
* ``nan``, ``pos_inf``, ``neg_inf``: such values / values present.

The rule: a rate moved when all three hold, so that a tiny rate doubling on a handful of rows and
a large sample's noise are both left alone:

1. ``|new - old| > absolute`` (default 0.01: one percentage point);
2. ``|new - old| > relative * old`` (default 0.5: half the old rate);
3. the two-proportion z-test (pooled) rejects equal rates at ``confidence`` (default 0.999,
   two-sided: ``|z| > 3.29``).

A feature present in only one of the profiles is not compared here (the schema checks say so).
NaN never enters a rate: counts are integers, and a rate over zero values is not compared.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

RATES = ("missing", "nan", "pos_inf", "neg_inf")


@dataclass(frozen=True)
class Tolerance:
    """How far a rate may move before it is a violation (see the module docstring)."""

    absolute: float = 0.01
    relative: float = 0.5
    confidence: float = 0.999

    @property
    def z_critical(self) -> float:
        return NormalDist().inv_cdf(0.5 + self.confidence / 2)


def feature_rates(feature: Mapping[str, Any], rows: int) -> dict[str, tuple[int, int]]:
    """`{rate: (count, out_of)}` for one feature of a split profile."""
    values = int(feature.get("num_values", 0))
    out = {"missing": (int(feature.get("missing", 0)), int(rows))}
    for key in ("nan", "pos_inf", "neg_inf"):
        out[key] = (int(feature.get(key, 0)), values)
    return out


def z_score(k1: int, n1: int, k2: int, n2: int) -> float:
    """Pooled two-proportion z statistic of k2/n2 against k1/n1 (0.0 when it is undefined)."""
    pooled = (k1 + k2) / (n1 + n2)
    variance = pooled * (1 - pooled) * (1 / n1 + 1 / n2)
    if variance <= 0:
        return 0.0
    return (k2 / n2 - k1 / n1) / math.sqrt(variance)


def compare_splits(
    old: Mapping[str, Any],
    new: Mapping[str, Any],
    tolerance: Tolerance = Tolerance(),
    *,
    old_name: str = "train",
    new_name: str = "eval",
) -> list[dict[str, Any]]:
    """Every feature rate of `new` that moved beyond `tolerance` from `old`.

    Args:
      old, new: split profiles (`{"rows": n, "features": {name: counts}}`).
      tolerance: the rule's three thresholds.
      old_name, new_name: how the findings name the two sides (a split, a run, a file).

    Returns:
      One dict per moved rate, sorted by feature then rate: `feature`, `rate` (missing, nan,
      pos_inf or neg_inf), `old` / `new` (names), `old_rate`, `new_rate`, `old_count`,
      `new_count`, `old_out_of`, `new_out_of`, `z`, and `rule` (the thresholds, in words).
    """
    z_crit = tolerance.z_critical
    findings = []
    old_features, new_features = old.get("features", {}), new.get("features", {})
    for name in sorted(set(old_features) & set(new_features)):
        before = feature_rates(old_features[name], old.get("rows", 0))
        after = feature_rates(new_features[name], new.get("rows", 0))
        for rate in RATES:
            (k1, n1), (k2, n2) = before[rate], after[rate]
            if n1 == 0 or n2 == 0:
                continue
            p1, p2 = k1 / n1, k2 / n2
            change = abs(p2 - p1)
            z = z_score(k1, n1, k2, n2)
            if change <= tolerance.absolute or change <= tolerance.relative * p1:
                continue
            if abs(z) <= z_crit:
                continue
            findings.append(
                {
                    "feature": name,
                    "rate": rate,
                    "old": old_name,
                    "new": new_name,
                    "old_rate": p1,
                    "new_rate": p2,
                    "old_count": k1,
                    "new_count": k2,
                    "old_out_of": n1,
                    "new_out_of": n2,
                    "z": z,
                    "rule": (
                        f"|change| > {tolerance.absolute:g} and > {tolerance.relative:g} x the "
                        f"old rate, |z| > {z_crit:.2f} ({tolerance.confidence:g} confidence)"
                    ),
                }
            )
    return findings


def describe(finding: Mapping[str, Any]) -> str:
    """One sentence naming the feature, both rates and the rule."""
    what = {"missing": "missing", "nan": "NaN", "pos_inf": "+Inf", "neg_inf": "-Inf"}
    return (
        f"{finding['feature']}: {what[finding['rate']]} rate {finding['old_rate']:.2%} in "
        f"{finding['old']} ({finding['old_count']} of {finding['old_out_of']}) vs "
        f"{finding['new_rate']:.2%} in {finding['new']} ({finding['new_count']} of "
        f"{finding['new_out_of']}); tolerance: {finding['rule']}"
    )
