"""What the Evaluator found, in words: its metrics and why its validation failed.

TFMA writes a NOT_BLESSED blessing with no reason; its ValidationResult (`validations` under
the ModelEvaluation artifact's URI, read with `tfma.load_validation_result`) holds the failed
thresholds. `failure_reasons` turns each into one sentence naming the metric, its value and the
threshold; a NaN metric fails every threshold (TFMA's `value >= lower and value <= upper` is
False), so it is said to be NaN rather than "below" or "above".

`read_evaluation(uri)` imports TFMA (only the gate's executor calls it); `failure_reasons` and
`describe_failure` work on the proto alone.
"""

from __future__ import annotations

import json
import math
import os
from typing import Any


def _number(value: float) -> str:
    return f"{value:.4g}"


def _bounds(threshold) -> tuple[float | None, float | None]:
    """(lower, upper) of a value threshold (a MetricThreshold proto); None where unset."""
    value = threshold.value_threshold
    lower = value.lower_bound.value if value.HasField("lower_bound") else None
    upper = value.upper_bound.value if value.HasField("upper_bound") else None
    return lower, upper


def describe_failure(failure) -> dict[str, Any]:
    """One failed threshold (a ValidationFailure proto) as facts and a sentence.

    Returns:
      ``metric`` (its name), ``value`` (float, NaN possible; None when TFMA found no value),
      ``lower_bound``/``upper_bound`` (None where unset) and ``reason``, e.g.
      "sparse_categorical_accuracy = 0.4167 is below the threshold 0.9" or
      "mse_ratio_to_mean is NaN: a NaN metric fails every threshold (<= 1)".
    """
    name = failure.metric_key.name
    lower, upper = _bounds(failure.metric_threshold)
    wanted = " and ".join(
        part
        for part in (
            f">= {_number(lower)}" if lower is not None else "",
            f"<= {_number(upper)}" if upper is not None else "",
        )
        if part
    )
    has_value = failure.HasField("metric_value") and failure.metric_value.HasField("double_value")
    value = failure.metric_value.double_value.value if has_value else None
    if failure.metric_threshold.HasField("change_threshold"):
        reason = f"{name} = {_number(value)} failed its change threshold" if has_value else name
    elif value is None:
        reason = f"{name} was not computed ({failure.message or 'no value'}); threshold {wanted}"
    elif math.isnan(value):
        reason = f"{name} is NaN: a NaN metric fails every threshold ({wanted})"
    elif lower is not None and not value >= lower:
        reason = f"{name} = {_number(value)} is below the threshold {_number(lower)}"
    elif upper is not None and not value <= upper:
        reason = f"{name} = {_number(value)} is above the threshold {_number(upper)}"
    else:
        reason = f"{name} = {_number(value)} failed its threshold ({wanted})"
    return {
        "metric": name,
        "value": value,
        "lower_bound": lower,
        "upper_bound": upper,
        "reason": reason,
    }


def failure_reasons(validation) -> list[str]:
    """Why a ValidationResult is not OK, one sentence per failed threshold (empty if OK).

    A result that is not OK with no failed threshold (e.g. a slice with no examples) says
    what TFMA recorded, or that it recorded nothing.
    """
    if validation.validation_ok:
        return []
    reasons = [
        describe_failure(f)["reason"]
        for per_slice in validation.metric_validations_per_slice
        for f in per_slice.failures
    ]
    if validation.missing_slices:
        reasons.append(f"{len(validation.missing_slices)} slice(s) had no examples")
    return reasons or ["the Evaluator's validation failed without naming a metric"]


def read_evaluation(uri: str) -> dict[str, Any]:
    """The Evaluator's overall metrics, thresholds and failures from its ModelEvaluation URI.

    Returns:
      ``validation_ok`` (bool), ``metrics`` ({name: float}, overall slice; NaN kept as NaN),
      ``thresholds`` ({name: {"lower_bound", "upper_bound"}} from its eval_config.json),
      ``failures`` (`describe_failure` of each) and ``reasons`` (`failure_reasons`).
    """
    import tensorflow_model_analysis as tfma

    metrics: dict[str, float] = {}
    for record in tfma.load_metrics(uri):
        if record.slice_key.single_slice_keys:
            continue  # the overall slice only
        for item in record.metric_keys_and_values:
            if item.value.WhichOneof("type") == "double_value":
                metrics[item.key.name] = item.value.double_value.value
    validation = tfma.load_validation_result(uri)
    failures = [
        describe_failure(f)
        for per_slice in validation.metric_validations_per_slice
        for f in per_slice.failures
    ]
    return {
        "validation_ok": bool(validation.validation_ok),
        "metrics": metrics,
        "thresholds": _thresholds(uri),
        "failures": failures,
        "reasons": failure_reasons(validation),
    }


def _thresholds(uri: str) -> dict[str, dict[str, float | None]]:
    """Value thresholds by metric name from the `eval_config.json` the Evaluator writes."""
    import re

    import tensorflow as tf

    path = os.path.join(uri, "eval_config.json")
    if not tf.io.gfile.exists(path):
        return {}
    with tf.io.gfile.GFile(path) as f:
        config = json.load(f).get("evalConfig", {})
    found = {}
    for spec in config.get("metricsSpecs", []):
        for metric in spec.get("metrics", []):
            bounds = metric.get("threshold", {}).get("valueThreshold", {})
            if not bounds:
                continue
            # TFMA's default metric name: `SparseCategoricalAccuracy` -> `sparse_...`
            name = re.sub(r"(?<!^)(?=[A-Z])", "_", metric.get("className", "")).lower()
            found[name] = {
                "lower_bound": bounds.get("lowerBound"),  # proto JSON: a DoubleValue is a number
                "upper_bound": bounds.get("upperBound"),
            }
    return found


# What to try when the model misses its quality bar (quality violations' advice).
QUALITY_ADVICE = (
    "train longer (trainer.epochs, trainer.early_stopping_patience), try another "
    "trainer.learning_rate, or add features that predict the label"
)
NON_FINITE_ADVICE = (
    "lower trainer.learning_rate, or clip or impute extreme inputs (the transform section); "
    "the gate report lists the offending rows"
)
EVALUATOR = "Evaluator"
_PREFIX = "the Evaluator did not bless the model: "


def _floor(value: float) -> float:
    """`value` rounded down to 2 decimals (a lower bound that passes it)."""
    return math.floor(value * 100) / 100


def _ceil(value: float) -> float:
    """`value` rounded up to 2 decimals (an upper bound that passes it)."""
    return math.ceil(value * 100) / 100


def violations(evaluated: dict[str, Any] | None) -> list:
    """The Evaluator's failed thresholds (`read_evaluation`) as `Violation`s, one per failure.

    - `accuracy_over_majority` (classification): kind `baseline`, reason `quality`: names the
      majority baseline, the accuracy and the margin missed; key
      `evaluator.min_accuracy_over_majority` (the margin that would pass, only when the model
      beats the baseline at all);
    - `labelled_accuracy`: kind `threshold`, key `evaluator.min_accuracy`;
    - `mse_ratio_to_mean` (regression): kind `baseline`, names the model's and the mean
      predictor's MSE; key `evaluator.max_mse_ratio` (the ratio that would pass, when < 1);
    - `non_finite_prediction_count`, or a quality metric that is NaN/Inf while labelled rows
      were scored: reason `non_finite` (the model predicted NaN or Inf);
    - a metric with no labelled row to score: reason `data`, kind `label`.
    Empty when the evaluation passed or was not read.
    """
    from nanguard.components.gate.eval_config import THRESHOLD_KEYS
    from nanguard.components.violations import Violation

    if not evaluated or evaluated.get("validation_ok"):
        return []
    metrics = evaluated.get("metrics") or {}
    found = []
    for failure in evaluated.get("failures") or []:
        found.append(_violation(failure, metrics, THRESHOLD_KEYS, Violation))
    if not found:
        for reason in evaluated.get("reasons") or ["the Evaluator's validation failed"]:
            found.append(Violation(EVALUATOR, "threshold", "quality", _PREFIX + reason))
    return found


def _violation(failure: dict[str, Any], metrics: dict[str, Any], keys: dict[str, str], cls):
    name, value = failure["metric"], failure["value"]
    lower, upper = failure["lower_bound"], failure["upper_bound"]
    limit = lower if lower is not None else upper
    common = {"guard": EVALUATOR, "feature": name, "split": "eval", "observed": value}
    common["limit"] = limit
    labelled = metrics.get("labelled_example_count")
    counts = {"labelled_rows": labelled, "unlabelled_rows": metrics.get("unlabelled_example_count")}
    counts = {k: v for k, v in counts.items() if v is not None}
    if name == "non_finite_prediction_count":
        return cls(
            kind="non_finite_prediction",
            reason="non_finite",
            message=_PREFIX + f"{_number(value or 0)} eval row(s) got a NaN or Inf prediction",
            advice=NON_FINITE_ADVICE,
            **common,
        )
    key = keys.get(name, "")
    if value is None or not math.isfinite(value):
        if labelled == 0:
            return cls(
                kind="label",
                reason="data",
                message=_PREFIX + f"{name} could not be scored: no eval row has a label",
                key="data_guard.label",
                advice="give the eval split labelled rows",
                details=counts,
                **common,
            )
        return cls(
            kind="non_finite_prediction",
            reason="non_finite",
            message=_PREFIX + failure["reason"] + " (the model's predictions are NaN or Inf)",
            key=key,
            advice=NON_FINITE_ADVICE,
            details=counts,
            **common,
        )
    rows = f" over {int(labelled)} labelled eval rows" if labelled else ""
    if name == "accuracy_over_majority":
        accuracy = metrics.get("labelled_accuracy", math.nan)
        majority = metrics.get("majority_accuracy", math.nan)
        # "beats ... by -0.081" reads as a win: a model at or under the baseline is said so.
        if value > 0:
            standing = f"beats the majority baseline {_number(majority)} by {_number(value)}"
        elif value == 0:
            standing = f"equals the majority baseline {_number(majority)}"
        else:
            standing = f"is under the majority baseline {_number(majority)} by {_number(-value)}"
        message = (
            f"accuracy {_number(accuracy)}{rows} {standing} (always predicting the most "
            f"frequent class), under the margin {_number(lower)}: short by "
            f"{_number(lower - value)}"
        )
        trained = metrics.get("training_majority_accuracy")
        details = {**counts, "accuracy": accuracy, "majority_accuracy": majority}
        details["training_majority_accuracy"] = trained
        passing = _floor(value) if value > 0 else None
        advice = QUALITY_ADVICE
        if majority >= 1:  # every labelled eval row is of one class: nothing can beat it
            advice = (
                "every labelled eval row is of one class, so no model can beat the majority "
                "there; the hash split sent the other classes' rows to training: add rows of "
                "the rarer classes"
            )
        elif value <= 0:
            advice = "the model is no better than a constant; " + QUALITY_ADVICE
        common_rows = majority * labelled if labelled and math.isfinite(majority) else 0
        if trained is not None and trained * 2 < majority and common_rows >= 20:
            # The splits disagree on a class that is common in eval (20 rows at least; fewer
            # is a label of many rare classes): no training fixes that.
            advice = (
                f"the eval split's class mix is not the training split's: the training "
                f"split's most frequent class is {_number(trained)} of eval rows, the eval "
                f"split's own {_number(majority)}; CsvExampleGen splits by a hash of the whole "
                "row, so a table of repeated rows sends identical rows to one split: add a "
                "column of row numbers (e.g. `row`) and set transform.exclude: [row]; " + advice
            )
        return cls(
            kind="baseline",
            reason="quality",
            message=_PREFIX + message,
            key=key,
            passing_value=passing,
            advice=advice,
            details=details,
            **common,
        )
    if name == "mse_ratio_to_mean":
        mse = metrics.get("mean_squared_error", math.nan)
        baseline = metrics.get("mean_predictor_mse", math.nan)
        message = (
            f"MSE {_number(mse)}{rows} is {_number(value)} of the mean predictor's "
            f"{_number(baseline)} (always predicting the mean label), above the limit "
            f"{_number(upper)}: over by {_number(value - upper)}"
        )
        return cls(
            kind="baseline",
            reason="quality",
            message=_PREFIX + message,
            key=key,
            passing_value=_ceil(value) if value < 1 else None,
            advice=QUALITY_ADVICE if value < 1 else "no better than the mean; " + QUALITY_ADVICE,
            details={**counts, "mse": mse, "mean_predictor_mse": baseline},
            **common,
        )
    if lower is not None:
        passing = _floor(value)
        short = f": short by {_number(lower - value)}"
    else:
        passing = _ceil(value) if upper is not None else None
        short = f": over by {_number(value - upper)}" if upper is not None else ""
    return cls(
        kind="threshold",
        reason="quality",
        message=_PREFIX + failure["reason"] + rows + short,
        key=key,
        passing_value=passing if key else None,
        advice=QUALITY_ADVICE,
        details=counts,
        **common,
    )
