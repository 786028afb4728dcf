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
