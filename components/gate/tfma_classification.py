"""TFMA metrics for classification quality over labelled rows, against the majority baseline.

Use them in an EvalConfig (`gate/eval_config.py::eval_config` does, for `task:
classification`)::

    tfma.MetricConfig(class_name='LabelledAccuracy',
                      module='nanguard.components.gate.tfma_classification')
    tfma.MetricConfig(
        class_name='AccuracyOverMajority',
        module='nanguard.components.gate.tfma_classification',
        threshold=tfma.MetricThreshold(
            value_threshold=tfma.GenericValueThreshold(lower_bound={'value': 0.05})))

The label is the transformed one: a class index, -1 for a row without a label (absent, empty,
NaN or Inf). Stock `SparseCategoricalAccuracy` counts those rows as wrong (with 30% of the labels
missing, a perfect model scores 0.70); these metrics leave them out. The prediction is a vector
of class scores; its argmax is the predicted class. Over the n evaluation rows with a label:

- ``labelled_accuracy`` = rows whose argmax is their label / n;
- ``majority_accuracy`` = the largest share of one class among those rows: the accuracy of the
  best constant prediction there, which no model predicting one class for every row exceeds;
- ``training_majority_accuracy`` = the share of class 0, which is the training split's most
  frequent class (nanguard's transform orders the label's vocabulary by training frequency):
  scikit-learn's ``DummyClassifier(strategy='most_frequent')`` fitted on the training split
  and scored on these rows; at most ``majority_accuracy``;
- ``accuracy_over_majority`` = labelled_accuracy - majority_accuracy: the margin over the
  majority baseline (thresholded: a model that predicts one class for every row scores <= 0);
- ``labelled_example_count`` = n; ``unlabelled_example_count`` = rows left out.

With no labelled row every rate is NaN (a threshold then fails). A NaN or Inf score: argmax
picks whatever NumPy picks; the finite-prediction count reports those rows (`tfma_metric.py`).
Example weights are ignored.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import apache_beam as beam
import numpy as np
from tensorflow_model_analysis.metrics import metric_types

from nanguard.components.gate import tfma_common

LABELLED_ACCURACY_NAME = "labelled_accuracy"
ACCURACY_OVER_MAJORITY_NAME = "accuracy_over_majority"
MAJORITY_ACCURACY_NAME = "majority_accuracy"
TRAINING_MAJORITY_ACCURACY_NAME = "training_majority_accuracy"
LABELLED_COUNT_NAME = "labelled_example_count"
UNLABELLED_COUNT_NAME = "unlabelled_example_count"
# The names each metric reports; the first one is the metric's own (the thresholded one).
OUTPUTS = {
    LABELLED_ACCURACY_NAME: (LABELLED_ACCURACY_NAME, LABELLED_COUNT_NAME, UNLABELLED_COUNT_NAME),
    ACCURACY_OVER_MAJORITY_NAME: (
        ACCURACY_OVER_MAJORITY_NAME,
        MAJORITY_ACCURACY_NAME,
        TRAINING_MAJORITY_ACCURACY_NAME,
    ),
}


class LabelledAccuracy(metric_types.Metric):
    """``labelled_accuracy`` with the labelled and unlabelled row counts."""

    def __init__(self, name: str = LABELLED_ACCURACY_NAME):
        super().__init__(_labelled_accuracy, name=name)

    @property
    def compute_confidence_interval(self) -> bool:
        return False


class AccuracyOverMajority(metric_types.Metric):
    """``accuracy_over_majority`` with ``majority_accuracy`` and
    ``training_majority_accuracy``."""

    def __init__(self, name: str = ACCURACY_OVER_MAJORITY_NAME):
        super().__init__(_accuracy_over_majority, name=name)

    @property
    def compute_confidence_interval(self) -> bool:
        return False


metric_types.register_metric(LabelledAccuracy)
metric_types.register_metric(AccuracyOverMajority)


def _labelled_accuracy(
    name: str = LABELLED_ACCURACY_NAME,
    model_names: list[str] | None = None,
    output_names: list[str] | None = None,
    example_weighted: bool = False,
) -> metric_types.MetricComputations:
    outputs = OUTPUTS[LABELLED_ACCURACY_NAME]
    return tfma_common.computations(
        name, outputs, _ClassCombiner, model_names, output_names, example_weighted
    )


def _accuracy_over_majority(
    name: str = ACCURACY_OVER_MAJORITY_NAME,
    model_names: list[str] | None = None,
    output_names: list[str] | None = None,
    example_weighted: bool = False,
) -> metric_types.MetricComputations:
    outputs = OUTPUTS[ACCURACY_OVER_MAJORITY_NAME]
    return tfma_common.computations(
        name, outputs, _ClassCombiner, model_names, output_names, example_weighted
    )


def class_rates(counts: np.ndarray) -> dict[str, float]:
    """The metrics of one accumulator `[correct, unlabelled, rows of class 0, 1, ...]`."""
    correct, unlabelled, per_class = counts[0], counts[1], counts[2:]
    n = float(per_class.sum())
    nan = float("nan")
    accuracy = correct / n if n else nan
    majority = float(per_class.max()) / n if n else nan
    return {
        LABELLED_ACCURACY_NAME: accuracy,
        ACCURACY_OVER_MAJORITY_NAME: accuracy - majority if n else nan,
        MAJORITY_ACCURACY_NAME: majority,
        TRAINING_MAJORITY_ACCURACY_NAME: float(per_class[0]) / n if n else nan,
        LABELLED_COUNT_NAME: n,
        UNLABELLED_COUNT_NAME: float(unlabelled),
    }


def accumulate(labels: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """`[correct, unlabelled, rows of class 0, 1, ...]` of a batch: class-index labels (< 0: no
    label) and their class scores (one row per label)."""
    labels = np.asarray(labels).reshape(-1)
    scores = np.asarray(scores, np.float64)
    scores = scores.reshape(labels.size, -1) if labels.size else scores.reshape(0, 1)
    if labels.size and scores.shape[0] != labels.size:
        raise ValueError(
            f"LabelledAccuracy needs one score vector per label, got {scores.shape[0]} for "
            f"{labels.size} label(s)"
        )
    labelled = labels >= 0
    known = labels[labelled].astype(np.int64)
    correct = int(np.sum(np.argmax(scores[labelled], axis=1) == known)) if known.size else 0
    per_class = np.bincount(known, minlength=scores.shape[1])
    return np.concatenate([[correct, int(np.sum(~labelled))], per_class]).astype(np.int64)


def _merge(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Two accumulators as one (their class counts padded to the longer)."""
    if a.size < b.size:
        a, b = b, a
    out = a.copy()
    out[: b.size] += b
    return out


class _ClassCombiner(beam.CombineFn):
    """Accumulates [correct, unlabelled, rows per class] over the labelled rows."""

    def __init__(self, keys: dict[str, metric_types.MetricKey], model_name: str, output_name: str):
        self._keys = keys
        self._model_name = model_name
        self._output_name = output_name

    def create_accumulator(self) -> np.ndarray:
        return np.zeros(3, dtype=np.int64)  # one class until a row shows more

    def add_input(
        self, accumulator: np.ndarray, element: metric_types.StandardMetricInputs
    ) -> np.ndarray:
        labels = tfma_common.pick(element.label, self._model_name, self._output_name)
        scores = tfma_common.pick_prediction(
            element.prediction, self._model_name, self._output_name
        )
        return _merge(accumulator, accumulate(labels, scores))

    def merge_accumulators(self, accumulators: Iterable[np.ndarray]) -> np.ndarray:
        result = self.create_accumulator()
        for accumulator in accumulators:
            result = _merge(result, accumulator)
        return result

    def extract_output(self, accumulator: np.ndarray) -> dict[metric_types.MetricKey, Any]:
        rates = class_rates(accumulator)
        return {key: rates[out] for out, key in self._keys.items()}
