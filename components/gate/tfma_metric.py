"""TFMA metrics counting non-finite predictions, for teams that keep the stock Evaluator.

Use in an EvalConfig so that the Evaluator's own blessing fails on any NaN/Inf prediction::

    tfma.MetricConfig(
        class_name='NonFinitePredictionCount',
        module='nanguard.components.gate.tfma_metric',
        threshold=tfma.MetricThreshold(
            value_threshold=tfma.GenericValueThreshold(upper_bound={'value': 0})))

What the stock TFMA 0.47 does with non-finite predictions (tested in tests/test_gate_tfma.py):

* it has no metric for them; ``MeanPrediction`` becomes NaN (a NaN metric fails any value
  threshold, as the comparison is false, but nothing says why) and is +Inf with Inf predictions;
* with a calibration-histogram-based metric (``AUC``, ``Calibration``, ...) a NaN prediction
  makes the whole evaluation fail (``int()`` of a NaN bucket index in
  ``metrics/calibration_histogram.py``), so the Evaluator crashes and the run stops before any
  push; Inf predictions are clamped into the edge buckets silently.

These metrics count an example as non-finite when any value of any prediction output (for the
configured model and output) is NaN, +Inf or -Inf; example weights are ignored (every example
counts 1): one bad prediction is one too many, whatever its weight.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import apache_beam as beam
import numpy as np
from tensorflow_model_analysis import constants
from tensorflow_model_analysis.metrics import metric_types

from nanguard.components.gate import tfma_common

NON_FINITE_PREDICTION_COUNT_NAME = "non_finite_prediction_count"
NON_FINITE_PREDICTION_RATE_NAME = "non_finite_prediction_rate"


class NonFinitePredictionCount(metric_types.Metric):
    """Number of examples with at least one NaN, +Inf or -Inf prediction value.

    With a threshold ``upper_bound: 0`` the Evaluator does not bless a model that predicts NaN
    or Inf for any evaluation example.
    """

    def __init__(self, name: str = NON_FINITE_PREDICTION_COUNT_NAME):
        super().__init__(_non_finite_count, name=name)

    @property
    def compute_confidence_interval(self) -> bool:
        """A count of bad predictions needs no confidence interval."""
        return False


class NonFinitePredictionRate(metric_types.Metric):
    """Fraction of examples with at least one NaN, +Inf or -Inf prediction value (0 if none)."""

    def __init__(self, name: str = NON_FINITE_PREDICTION_RATE_NAME):
        super().__init__(_non_finite_rate, name=name)

    @property
    def compute_confidence_interval(self) -> bool:
        """Confidence intervals are not computed for the rate either."""
        return False


metric_types.register_metric(NonFinitePredictionCount)
metric_types.register_metric(NonFinitePredictionRate)


def _computations(
    name: str,
    rate: bool,
    model_names: list[str] | None,
    output_names: list[str] | None,
    example_weighted: bool,
) -> metric_types.MetricComputations:
    def combiner(keys, model_name, output_name):
        return _NonFiniteCombiner(keys[name], model_name, output_name, rate)

    only_predictions = metric_types.StandardMetricInputsPreprocessor(
        include_filter={constants.PREDICTIONS_KEY: {}}, include_default_inputs=False
    )
    return tfma_common.computations(
        name, (name,), combiner, model_names, output_names, example_weighted, only_predictions
    )


def _non_finite_count(
    name: str = NON_FINITE_PREDICTION_COUNT_NAME,
    model_names: list[str] | None = None,
    output_names: list[str] | None = None,
    example_weighted: bool = False,
) -> metric_types.MetricComputations:
    """Computations of the non-finite prediction count (NaN, +Inf, -Inf all count)."""
    return _computations(name, False, model_names, output_names, example_weighted)


def _non_finite_rate(
    name: str = NON_FINITE_PREDICTION_RATE_NAME,
    model_names: list[str] | None = None,
    output_names: list[str] | None = None,
    example_weighted: bool = False,
) -> metric_types.MetricComputations:
    """Computations of the non-finite prediction rate (NaN, +Inf, -Inf all count)."""
    return _computations(name, True, model_names, output_names, example_weighted)


def _is_non_finite(prediction: Any) -> bool:
    if prediction is None:
        return False
    if isinstance(prediction, dict):
        return any(_is_non_finite(v) for v in prediction.values())
    array = np.asarray(prediction)
    if not np.issubdtype(array.dtype, np.floating):
        return False
    return not bool(np.all(np.isfinite(array)))


class _NonFiniteCombiner(beam.CombineFn):
    """Accumulates [non-finite examples, examples]."""

    def __init__(self, key: metric_types.MetricKey, model_name: str, output_name: str, rate: bool):
        self._key = key
        self._model_name = model_name
        self._output_name = output_name
        self._rate = rate

    def create_accumulator(self) -> np.ndarray:
        return np.zeros(2, dtype=np.int64)

    def add_input(
        self, accumulator: np.ndarray, element: metric_types.StandardMetricInputs
    ) -> np.ndarray:
        prediction = tfma_common.pick_prediction(
            element.prediction, self._model_name, self._output_name
        )
        accumulator[0] += int(_is_non_finite(prediction))
        accumulator[1] += 1
        return accumulator

    def merge_accumulators(self, accumulators: Iterable[np.ndarray]) -> np.ndarray:
        result = self.create_accumulator()
        for accumulator in accumulators:
            result += accumulator
        return result

    def extract_output(self, accumulator: np.ndarray) -> dict[metric_types.MetricKey, Any]:
        if self._rate:
            value = float(accumulator[0]) / accumulator[1] if accumulator[1] else 0.0
        else:
            value = float(accumulator[0])
        return {self._key: value}
