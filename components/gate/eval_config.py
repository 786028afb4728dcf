"""The stock Evaluator's quality thresholds (`evaluator:` in the YAML) and its `EvalConfig`.

`EvaluatorConfig` is the section; `quality_metrics` turns it into the task's TFMA metrics and
`eval_config` into the Evaluator's whole config (the quality metrics plus, guarded, a count of
non-finite predictions with a threshold of 0). TFMA is imported only when a config is built, so
the CLI can read the section without it.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, ClassVar

from nanguard.components import task as task_lib
from nanguard.components.config import Number, Section, setting
from nanguard.components.errors import InputError

if TYPE_CHECKING:
    import tensorflow_model_analysis as tfma

# The serving signature's prediction (its other outputs are the serving flags).
PREDICTION_KEY = "outputs"
NON_FINITE_METRIC_MODULE = "nanguard.components.gate.tfma_metric"
REGRESSION_METRIC_MODULE = "nanguard.components.gate.tfma_regression"
CLASSIFICATION_METRIC_MODULE = "nanguard.components.gate.tfma_classification"


@dataclasses.dataclass(frozen=True)
class EvaluatorConfig(Section):
    """The stock Evaluator's quality thresholds, one or two per task; null switches one off.

    Every metric counts the evaluation rows that have a label, only.
    Classification (`gate/tfma_classification.py`): `accuracy_over_majority` >=
    `min_accuracy_over_majority`, where the margin is the accuracy minus that of always
    predicting the eval split's majority class (a model predicting one class for every row
    scores <= 0, so it is never blessed while the margin is above 0); `labelled_accuracy` >=
    `min_accuracy` as an absolute floor. Regression (`gate/tfma_regression.py`):
    `mse_ratio_to_mean` <= `max_mse_ratio`, the model's MSE over that of predicting the eval
    rows' mean label (1 - R^2; in the label's own units).
    """

    name: ClassVar[str] = "evaluator"

    min_accuracy_over_majority: float | None = setting(
        0.05,
        Number(0.0, 1.0, none=True),
        "classification: lowest eval accuracy minus the majority class's (null: off)",
    )
    min_accuracy: float | None = setting(
        None,
        Number(0.0, 1.0, none=True),
        "classification: lowest eval accuracy over labelled rows (null: off)",
    )
    max_mse_ratio: float | None = setting(
        0.9,
        Number(0.0, open_low=True, none=True),
        "regression: highest MSE / MSE of predicting the mean label (null: off)",
    )


# The Evaluator's thresholded metrics -> the key that sets each threshold.
THRESHOLD_KEYS = {
    "labelled_accuracy": "evaluator.min_accuracy",
    "accuracy_over_majority": "evaluator.min_accuracy_over_majority",
    "mse_ratio_to_mean": "evaluator.max_mse_ratio",
}


def _threshold(lower: float | None = None, upper: float | None = None) -> tfma.MetricThreshold:
    import tensorflow_model_analysis as tfma

    bounds = {}
    if lower is not None:
        bounds["lower_bound"] = {"value": lower}
    if upper is not None:
        bounds["upper_bound"] = {"value": upper}
    return tfma.MetricThreshold(value_threshold=tfma.GenericValueThreshold(**bounds))


def quality_metrics(task: str, thresholds: EvaluatorConfig) -> list[tfma.MetricConfig]:
    """The task's quality metrics, thresholded by `thresholds` (a null threshold: none).

    classification: `LabelledAccuracy` (lower bound `min_accuracy`) and `AccuracyOverMajority`
    (lower bound `min_accuracy_over_majority`), over the rows with a label
    (`gate/tfma_classification.py`);
    regression: `MseRatioToMean` (`gate/tfma_regression.py`: MSE, MAE, the mean predictor's
    MSE and their ratio over the rows with a finite label; upper bound `max_mse_ratio`).
    """
    import tensorflow_model_analysis as tfma

    if task == task_lib.CLASSIFICATION:
        floor, margin = thresholds.min_accuracy, thresholds.min_accuracy_over_majority
        return [
            tfma.MetricConfig(
                class_name="LabelledAccuracy",
                module=CLASSIFICATION_METRIC_MODULE,
                **({"threshold": _threshold(lower=floor)} if floor is not None else {}),
            ),
            tfma.MetricConfig(
                class_name="AccuracyOverMajority",
                module=CLASSIFICATION_METRIC_MODULE,
                **({"threshold": _threshold(lower=margin)} if margin is not None else {}),
            ),
        ]
    if task == task_lib.REGRESSION:
        threshold = thresholds.max_mse_ratio
        kwargs = {"threshold": _threshold(upper=threshold)} if threshold is not None else {}
        return [
            tfma.MetricConfig(
                class_name="MseRatioToMean", module=REGRESSION_METRIC_MODULE, **kwargs
            )
        ]
    raise InputError(
        f"task: {task!r} must be decided before the pipeline is built; use "
        f"{task_lib.CLASSIFICATION!r} or {task_lib.REGRESSION!r} (PipelineConfig.with_task)"
    )


def eval_config(
    label_key: str,
    guarded: bool = True,
    task: str = task_lib.CLASSIFICATION,
    thresholds: EvaluatorConfig | None = None,
    signature_name: str = "serving_default",
) -> tfma.EvalConfig:
    """The Evaluator's config: the task's quality metrics on the transformed label, over the
    serving contract (`quality_metrics`; thresholds from the `evaluator:` section).

    Guarded, it also counts non-finite predictions with a threshold of 0, so the Evaluator's own
    blessing fails on a model that predicts NaN or Inf (a guard, always on).
    `signature_name`: the signature the evaluation rows go through; `serving_repair` for a
    model exported with `trainer.nonfinite_input: reject`, whose `serving_default` refuses a
    row holding NaN or Inf.
    """
    import tensorflow_model_analysis as tfma

    metrics = [
        tfma.MetricConfig(class_name="ExampleCount"),
        *quality_metrics(task, thresholds or EvaluatorConfig()),
    ]
    if guarded:
        metrics.append(
            tfma.MetricConfig(
                class_name="NonFinitePredictionCount",
                module=NON_FINITE_METRIC_MODULE,
                threshold=_threshold(upper=0),
            )
        )
    return tfma.EvalConfig(
        model_specs=[
            tfma.ModelSpec(
                signature_name=signature_name,
                label_key=label_key,
                prediction_key=PREDICTION_KEY,
                preprocessing_function_names=["transform_features"],
            )
        ],
        slicing_specs=[tfma.SlicingSpec()],
        metrics_specs=[tfma.MetricsSpec(metrics=metrics)],
    )
