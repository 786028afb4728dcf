"""The data guard's verdict over a profile, as `Violation` records.

Artifact-free: plain functions on the profile dicts of ``counts`` and a ``DataGuardConfig``.
Every finding is a ``nanguard.components.violations.Violation`` (guard ``DataGuard``, reason
``data``) naming the dotted config key that governs it and, where one exists, a value of that
key that would let it through (re-judging with it gives no such violation: the tests check).
A finding that does not stop the run carries ``details["severity"] == "warning"``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from nanguard.components import cells, vocab
from nanguard.components.data_guard import counts
from nanguard.components.data_guard.config import DataGuardConfig
from nanguard.components.violations import Violation

GUARD = "DataGuard"
WARNING = "warning"  # details["severity"] of a finding that does not block
# The mostly-numeric rule's share, spelled once in `cells`; kept here for existing imports.
MOSTLY_NUMERIC_FRACTION = cells.MOSTLY_NUMERIC_FRACTION
_SECTION = DataGuardConfig.name


def violation(
    kind: str, message: str, *, warning: bool = False, details: Mapping[str, Any] = (), **fields
) -> Violation:
    """A data guard `Violation` (reason `data`); `warning` marks it as not blocking."""
    details = dict(details)
    if warning:
        details["severity"] = WARNING
    return Violation(GUARD, kind, "data", message, details=details, **fields)


def is_warning(finding: Violation) -> bool:
    return finding.details.get("severity") == WARNING


def blocking(findings: Iterable[Violation]) -> list[Violation]:
    """The findings that stop the run (the rest are warnings)."""
    return [v for v in findings if not is_warning(v)]


def passing_fraction(observed: float) -> float:
    """The smallest 4-decimal fraction >= `observed` (a limit `fraction > limit` lets pass)."""
    value = math.ceil(observed * 10_000) / 10_000
    return min(1.0, value if value >= observed else value + 1e-4)


def unusable_count(feature: Mapping[str, Any], config: DataGuardConfig) -> int:
    """Rows counted as gaps: missing + NaN (+ Inf if ``inf: treat_as_missing``)."""
    count = feature["missing"] + feature["nan"]
    if config.inf == "treat_as_missing":
        count += feature["pos_inf"] + feature["neg_inf"]
    return count


def evaluate(
    split_profile: Mapping[str, Any],
    config: DataGuardConfig,
    label_key: str = vocab.NO_LABEL,
    split: str = "",
    training: bool = True,
) -> tuple[list[Violation], int]:
    """Applies the policy to one split's profile.

    NaN counts as missing; Inf is handled as ``config.inf`` says. Features in ``config.exclude``
    (left out of the model) are not judged. Per feature: no value in any row of a ``training``
    split -> ``all_missing`` (blocks under ``all_missing: block``, a warning under ``exclude``);
    an unusable fraction above an absolute limit (``max_missing_fraction[_by_feature]``, off by
    default) -> ``missing``; above ``warn_missing_fraction`` in a ``training`` split -> a
    ``missing`` warning (imputed);
    any Inf under ``inf: fail`` -> ``inf``. The label: rows with a missing/NaN/Inf label are
    counted and left out (``unlabelled_rows: drop``); a split with more than
    ``max_unlabelled_fraction`` of them, or with no usable label at all, or any of them under
    ``block``, is a ``label`` violation naming the split and counts. An empty split (0 rows) is
    one violation of kind ``empty``.

    Returns:
      ``(violations, label_missing)``: the findings (warnings included) and the number of rows
      of the split without a usable label.
    """
    rows = split_profile["rows"]
    if rows == 0:
        found = violation(
            "empty",
            f"split {split!r} holds no rows (a header-only CSV or an empty split)",
            split=split,
            observed=0,
            advice="give it data rows or exclude the split",
            details={"count": 0, "rows": 0},
        )
        return [found], 0
    features = split_profile["features"]
    findings: list[Violation] = []
    label_missing = 0
    for name, feat in features.items():
        if name in config.exclude:
            continue
        if label_key and name == label_key:
            label_missing = _label_missing(feat, rows)
            findings += _label(name, feat, rows, label_missing, config, split)
            continue
        findings += _gaps(name, feat, rows, config, split, training)
        inf = feat["pos_inf"] + feat["neg_inf"]
        if inf and config.inf == "fail":
            findings.append(
                violation(
                    "inf",
                    f"feature {name!r} in split {split!r} holds {inf} Inf value(s) "
                    f"(+Inf {feat['pos_inf']}, -Inf {feat['neg_inf']}) under inf: fail",
                    feature=name,
                    split=split,
                    observed=inf,
                    limit=0,
                    key=f"{_SECTION}.inf",
                    passing_value="treat_as_missing",
                    advice="or clip (to the training range); Inf usually means an overflow or "
                    "a division by zero upstream: fix the source if it should not be there",
                    details={"count": inf, "rows": rows},
                )
            )
    if label_key and label_key not in features and label_key not in config.exclude:
        findings.append(
            violation(
                "label",
                f"label {label_key!r} is absent from split {split!r} ({rows} rows)",
                feature=label_key,
                split=split,
                observed=rows,
                key="label",
                advice="name the column to predict (--label)",
                details={"count": rows, "rows": rows},
            )
        )
        label_missing = rows
    return findings, label_missing


def _label_missing(feat: Mapping[str, Any], rows: int) -> int:
    return min(rows, feat["missing"] + feat["nan"] + feat["pos_inf"] + feat["neg_inf"])


def _label(name, feat, rows, bad, config, split) -> list[Violation]:
    """The label's findings: nothing to train on, mostly unlabelled, or `block`."""
    if not bad:
        return []
    fraction = bad / rows
    what = (
        f"label {name!r} in split {split!r}: {bad} of {rows} rows have no usable label "
        f"(missing {feat['missing']}, NaN {feat['nan']}, Inf {feat['pos_inf'] + feat['neg_inf']})"
    )
    details = {"count": bad, "rows": rows}
    common = dict(feature=name, split=split, observed=fraction, details=details)
    if bad == rows:
        return [
            violation(
                "label",
                what,
                limit=config.max_unlabelled_fraction,
                key=f"{_SECTION}.max_unlabelled_fraction",
                advice="nothing to train or evaluate on: give the split labelled rows, or "
                "name the column to predict (--label)",
                **common,
            )
        ]
    if config.unlabelled_rows == "block":
        return [
            violation(
                "label",
                what,
                limit=0,
                key=f"{_SECTION}.unlabelled_rows",
                passing_value="drop",
                advice="those rows are then left out of training and evaluation",
                **common,
            )
        ]
    if fraction > config.max_unlabelled_fraction:
        return [
            violation(
                "label",
                f"{what}: {fraction:.1%}, more than {config.max_unlabelled_fraction:g} of the "
                "split",
                limit=config.max_unlabelled_fraction,
                key=f"{_SECTION}.max_unlabelled_fraction",
                passing_value=passing_fraction(fraction),
                advice="a mostly unlabelled split usually means a broken join or export: check "
                "the label column",
                **common,
            )
        ]
    return []


def _gaps(name, feat, rows, config, split, training) -> list[Violation]:
    """A feature's gap findings: all missing, over an absolute limit, or many (a warning)."""
    unusable = unusable_count(feat, config)
    fraction = min(1.0, unusable / rows)
    counted = (
        f"{unusable} of {rows} rows unusable (missing {feat['missing']}, NaN {feat['nan']}"
        + (
            f", Inf {feat['pos_inf'] + feat['neg_inf']})"
            if config.inf == "treat_as_missing"
            else ")"
        )
    )
    details = {"count": unusable, "rows": rows}
    common = dict(feature=name, split=split, observed=fraction, details=details)
    if training and unusable >= rows:
        message = f"feature {name!r} has no value in any row of split {split!r}: {counted}"
        if config.all_missing == "exclude":
            return [
                violation(
                    "all_missing",
                    f"{message}; left out of the model (all_missing: exclude)",
                    warning=True,
                    key="transform.exclude",
                    advice="the pipeline lists such a column in transform.exclude when it "
                    "finds it empty in the whole data; otherwise it is imputed as a constant",
                    **common,
                )
            ]
        return [
            violation(
                "all_missing",
                message,
                limit=1.0,
                key=f"{_SECTION}.all_missing",
                passing_value="exclude",
                advice=f"or list {name!r} in transform.exclude; or fix the source of the column",
                **common,
            )
        ]
    limit, key = config.missing_limit(name)
    if limit is not None and fraction > limit:
        return [
            violation(
                "missing",
                f"feature {name!r} in split {split!r}: {counted}, fraction {fraction:.4f} over "
                f"the limit {limit:g}",
                limit=limit,
                key=key,
                passing_value=passing_fraction(fraction),
                advice="or fix the data; gaps are imputed with a missing indicator",
                **common,
            )
        ]
    # The imputation is learned on the training split: its gaps are the ones worth a warning
    # (another split's moved rate is `skew`).
    if training and unusable and fraction > config.warn_missing_fraction:
        return [
            violation(
                "missing",
                f"feature {name!r} in split {split!r}: {counted} ({fraction:.1%}); imputed, "
                "with its missing indicator",
                warning=True,
                limit=config.warn_missing_fraction,
                key=f"{_SECTION}.max_missing_fraction",
                advice="set it to block on such a gap",
                **common,
            )
        ]
    return []


def type_violations(
    split_profile: Mapping[str, Any],
    expected_kinds: Mapping[str, str],
    split: str = "",
    config: DataGuardConfig | None = None,
) -> list[Violation]:
    """Violations of kind ``'type'``: a numeric feature holding strings, naming its tokens.

    A STRING feature is numeric if the schema says FLOAT/INT (``expected_kinds``), or else
    (no entry, or BYTES: what SchemaGen infers for such a column) if it is mostly numeric
    (``cells.is_mostly_numeric``: at least 90% of its values that are not missing tokens parse
    as numbers; ``nan``, ``inf`` and ``Infinity`` are numbers), unless it is one of
    ``config.text_features`` or ``config.exclude``. Its other values are the offending tokens:
    values spelled as a missing token (``config.missing_values()``: a pipeline whose
    ExampleGen read ``?`` as text) and stray strings, each with its count. Each violation's
    ``details`` carry ``tokens`` (``{token: count}``, the most frequent
    ``counts.TOP_K_BUCKETS``), ``tokens_exact``, ``count`` and the first one seen as ``value``.
    The passing value ``stray_strings: treat_as_missing`` is offered only where it is not
    already set (a column already typed as text cannot be retyped here).
    """
    missing = set(config.missing_values() if config else cells.MISSING_TOKENS)
    text = set(config.text_features if config else ())
    excluded = set(config.exclude if config else ())
    findings = []
    for name, feat in split_profile["features"].items():
        if feat["type"] != counts.STRING or not feat["num_values"] or name in text | excluded:
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
        value = feat.get("non_numeric_sample") or next(iter(tokens), None)  # the smallest
        already = config is not None and config.stray_strings == "treat_as_missing"
        findings.append(
            violation(
                "type",
                f"feature {name!r} in split {split!r} holds {others} value(s) that are not "
                f"numbers where numbers are expected ({why}): {named}"
                f"{'' if exact else ' (counts approximate)'}",
                feature=name,
                split=split,
                observed=others,
                limit=0,
                key=f"{_SECTION}.stray_strings",
                passing_value=None if already else "treat_as_missing",
                advice=(
                    "the column was typed as text before the guard: let nanguard read the CSV "
                    "(run's staging, scan), or fix or blank those cells"
                    if already
                    else "applied where nanguard reads the CSV (run's staging, scan); or fix or "
                    f"blank those cells, or add a missing spelling to {_SECTION}.missing_tokens"
                ),
                details={
                    "count": others,
                    "rows": split_profile["rows"],
                    "value": value,
                    "tokens": dict(tokens),
                    "tokens_exact": exact,
                },
            )
        )
    return findings
