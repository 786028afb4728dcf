"""A TFMA metric for regression quality: MSE, MAE and the ratio to predicting the mean label.

Use it in an EvalConfig (`pipelines/pipeline.py::eval_config` does, for `task: regression`)::

    tfma.MetricConfig(
        class_name='MseRatioToMean',
        module='nanguard.components.gate.tfma_regression',
        threshold=tfma.MetricThreshold(
            value_threshold=tfma.GenericValueThreshold(upper_bound={'value': 1.0})))

Over the evaluation rows whose label is finite (a missing label arrives from the transform as
NaN; the trainer drops those rows, so does this metric: stock TFMA's MeanSquaredError would be
NaN), with label y_i and prediction p_i, n rows, mean label m = sum(y_i) / n:

- ``mean_squared_error`` = sum((y_i - p_i)^2) / n; ``mean_absolute_error`` = sum(|y_i - p_i|) / n;
- ``mean_predictor_mse`` = sum((y_i - m)^2) / n: the MSE of always predicting the mean label of
  those same rows (their population variance);
- ``mse_ratio_to_mean`` = mean_squared_error / mean_predictor_mse (= 1 - R^2): below 1 the
  model beats the constant; 0/0 is 0, x/0 (a constant label the model misses) is +Inf;
- ``labelled_example_count`` = n.

The evaluation rows' own mean is the best constant for those rows, so it is at least as hard to
beat as the training mean: a model under a threshold here is under it against the training
mean too. A NaN or Inf prediction on a labelled row makes the errors NaN or Inf (a threshold
then fails; the gate's reason says the metric is NaN). Example weights are ignored.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import apache_beam as beam
import numpy as np
from tensorflow_model_analysis.metrics import metric_types

from nanguard.components.gate import tfma_common

MSE_RATIO_NAME = "mse_ratio_to_mean"
MSE_NAME = "mean_squared_error"
MAE_NAME = "mean_absolute_error"
MEAN_PREDICTOR_MSE_NAME = "mean_predictor_mse"
LABELLED_COUNT_NAME = "labelled_example_count"
OUTPUT_NAMES = (MSE_RATIO_NAME, MSE_NAME, MAE_NAME, MEAN_PREDICTOR_MSE_NAME, LABELLED_COUNT_NAME)


class MseRatioToMean(metric_types.Metric):
    """``mse_ratio_to_mean`` (thresholded), with MSE, MAE, the mean predictor's MSE and n."""

    def __init__(self, name: str = MSE_RATIO_NAME):
        super().__init__(_computations, name=name)

    @property
    def compute_confidence_interval(self) -> bool:
        return False


metric_types.register_metric(MseRatioToMean)


def _computations(
    name: str = MSE_RATIO_NAME,
    model_names: list[str] | None = None,
    output_names: list[str] | None = None,
    example_weighted: bool = False,
) -> metric_types.MetricComputations:
    return tfma_common.computations(
        name, OUTPUT_NAMES, _RegressionCombiner, model_names, output_names, example_weighted
    )


class _RegressionCombiner(beam.CombineFn):
    """Accumulates [n, mean label, sum of squared deviations (Chan et al.), SSE, SAE]."""

    def __init__(self, keys: dict[str, metric_types.MetricKey], model_name: str, output_name: str):
        self._keys = keys
        self._model_name = model_name
        self._output_name = output_name

    def create_accumulator(self) -> np.ndarray:
        return np.zeros(5, dtype=np.float64)

    def add_input(
        self, accumulator: np.ndarray, element: metric_types.StandardMetricInputs
    ) -> np.ndarray:
        labels = np.asarray(
            tfma_common.pick(element.label, self._model_name, self._output_name), np.float64
        )
        predictions = np.asarray(
            tfma_common.pick_prediction(element.prediction, self._model_name, self._output_name),
            np.float64,
        )
        labels, predictions = labels.reshape(-1), predictions.reshape(-1)
        if labels.size != predictions.size:
            raise ValueError(
                f"MseRatioToMean needs one prediction per label, got {predictions.size} "
                f"predictions for {labels.size} label(s): is the model a classifier?"
            )
        keep = np.isfinite(labels)  # a missing label is NaN: that row is not scored
        labels, predictions = labels[keep], predictions[keep]
        if not labels.size:
            return accumulator
        errors = labels - predictions
        batch = np.array(
            [
                labels.size,
                labels.mean(),
                float(np.sum((labels - labels.mean()) ** 2)),
                float(np.sum(errors**2)),
                float(np.sum(np.abs(errors))),
            ]
        )
        return _merge(accumulator, batch)

    def merge_accumulators(self, accumulators: Iterable[np.ndarray]) -> np.ndarray:
        result = self.create_accumulator()
        for accumulator in accumulators:
            result = _merge(result, accumulator)
        return result

    def extract_output(self, accumulator: np.ndarray) -> dict[metric_types.MetricKey, Any]:
        n, _, m2, sse, sae = accumulator
        nan = float("nan")
        mse = sse / n if n else nan
        baseline = m2 / n if n else nan
        with np.errstate(divide="ignore", invalid="ignore"):
            if n and baseline == 0:
                ratio = 0.0 if mse == 0 else float("inf")
            else:
                ratio = float(np.float64(mse) / np.float64(baseline))
        return {
            self._keys[MSE_RATIO_NAME]: ratio,
            self._keys[MSE_NAME]: mse,
            self._keys[MAE_NAME]: sae / n if n else nan,
            self._keys[MEAN_PREDICTOR_MSE_NAME]: baseline,
            self._keys[LABELLED_COUNT_NAME]: float(n),
        }


def _merge(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Two [n, mean, M2, SSE, SAE] accumulators as one (Chan et al.'s pairwise update)."""
    if not b[0]:
        return a
    if not a[0]:
        return b.copy()
    n = a[0] + b[0]
    delta = b[1] - a[1]
    mean = a[1] + delta * b[0] / n
    m2 = a[2] + b[2] + delta**2 * a[0] * b[0] / n
    return np.array([n, mean, m2, a[3] + b[3], a[4] + b[4]])
