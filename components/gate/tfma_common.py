"""What the gate's TFMA metrics share: one computation per (model, output), and picking its value.

TFMA hands a metric every model's and output's labels and predictions, nested in dicts when
there is more than one; `pick` takes the one a computation is for. Values pass through as
they are: NaN and Inf reach the combiner, which decides what they mean.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import apache_beam as beam
from tensorflow_model_analysis.metrics import metric_types
from tensorflow_model_analysis.utils import util

from nanguard.components.gate.eval_config import PREDICTION_KEY

# (keys by output name, model name, output name) -> the combiner of one computation.
MakeCombiner = Callable[[dict[str, metric_types.MetricKey], str, str], beam.CombineFn]


def computations(
    name: str,
    outputs: tuple[str, ...],
    make_combiner: MakeCombiner,
    model_names: list[str] | None = None,
    output_names: list[str] | None = None,
    example_weighted: bool = False,
    preprocessor: metric_types.Preprocessor | None = None,
) -> metric_types.MetricComputations:
    """One `MetricComputation` per model and output, reporting `outputs`.

    The first of `outputs` is the metric's own value and is keyed by `name` (the name the
    EvalConfig thresholds); the others keep their own names.
    """
    result = []
    for model_name in model_names or [""]:
        for output_name in output_names or [""]:
            keys = {
                out: metric_types.MetricKey(
                    name=name if out == outputs[0] else out,
                    model_name=model_name,
                    output_name=output_name,
                    example_weighted=example_weighted,
                )
                for out in outputs
            }
            result.append(
                metric_types.MetricComputation(
                    keys=list(keys.values()),
                    preprocessors=[preprocessor or metric_types.StandardMetricInputsPreprocessor()],
                    combiner=make_combiner(keys, model_name, output_name),
                )
            )
    return result


def pick(value: Any, model_name: str, output_name: str) -> Any:
    """The part of a label or prediction for one model and output (as is when not nested)."""
    if isinstance(value, dict) and model_name:
        picked = util.get_by_keys(value, [model_name], optional=True)
        value = value if picked is None else picked
    if isinstance(value, dict) and output_name:
        value = util.get_by_keys(value, [output_name])
    return value


def pick_prediction(value: Any, model_name: str, output_name: str) -> Any:
    """`pick` for a prediction: from the serving signature's dict of outputs, the model spec's
    `prediction_key` (TFMA's own metrics apply it; a custom combiner must), not the serving
    flags beside it."""
    value = pick(value, model_name, output_name)
    if isinstance(value, dict) and PREDICTION_KEY in value:
        value = value[PREDICTION_KEY]
    return value
