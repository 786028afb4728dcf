"""evaluation.py: the Evaluator's failed thresholds in words (metric, value, threshold, NaN)."""

from __future__ import annotations

import math
import os

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_model_analysis as tfma
from tensorflow_model_analysis.proto import validation_result_pb2

from nanguard.components.gate import core, evaluation, testing
from tests.gate.test_executor import (  # noqa: F401 - fixtures used by name
    _model_artifact,
    _run_gate,
    data,
    examples_artifact,
    models,
)

N = 200


def _failure(name, value=None, lower=None, upper=None):
    failure = validation_result_pb2.ValidationFailure()
    failure.metric_key.name = name
    if value is not None:
        failure.metric_value.double_value.value = value
    threshold = failure.metric_threshold.value_threshold
    if lower is not None:
        threshold.lower_bound.value = lower
    if upper is not None:
        threshold.upper_bound.value = upper
    return failure


def _result(*failures):
    result = validation_result_pb2.ValidationResult(validation_ok=not failures)
    if failures:
        result.metric_validations_per_slice.add().failures.extend(failures)
    return result


def test_a_failed_lower_bound_names_metric_value_and_threshold():
    fact = evaluation.describe_failure(_failure("sparse_categorical_accuracy", 0.41666, lower=0.9))
    assert fact == {
        "metric": "sparse_categorical_accuracy",
        "value": 0.41666,
        "lower_bound": 0.9,
        "upper_bound": None,
        "reason": "sparse_categorical_accuracy = 0.4167 is below the threshold 0.9",
    }


def test_a_failed_upper_bound_says_above():
    fact = evaluation.describe_failure(_failure("mse_ratio_to_mean", 1.2345, upper=1.0))
    assert fact["reason"] == "mse_ratio_to_mean = 1.234 is above the threshold 1"


def test_a_nan_metric_says_nan_not_below():
    fact = evaluation.describe_failure(_failure("mse_ratio_to_mean", math.nan, upper=1.0))
    assert math.isnan(fact["value"])
    assert fact["reason"] == "mse_ratio_to_mean is NaN: a NaN metric fails every threshold (<= 1)"
    both = evaluation.describe_failure(_failure("accuracy", math.nan, lower=0.5, upper=1.0))
    assert both["reason"] == "accuracy is NaN: a NaN metric fails every threshold (>= 0.5 and <= 1)"


def test_a_metric_tfma_did_not_find_says_so():
    failure = _failure("mse_ratio_to_mean", upper=1.0)
    failure.message = "Metric not found."
    fact = evaluation.describe_failure(failure)
    assert fact["value"] is None
    assert (
        fact["reason"] == "mse_ratio_to_mean was not computed (Metric not found.); threshold <= 1"
    )


def test_failure_reasons_one_per_failure_and_none_when_ok():
    assert evaluation.failure_reasons(_result()) == []
    reasons = evaluation.failure_reasons(
        _result(_failure("a", 0.1, lower=0.5), _failure("b", math.nan, upper=0.0))
    )
    assert reasons == [
        "a = 0.1 is below the threshold 0.5",
        "b is NaN: a NaN metric fails every threshold (<= 0)",
    ]
    silent = validation_result_pb2.ValidationResult(validation_ok=False)
    assert evaluation.failure_reasons(silent) == [
        "the Evaluator's validation failed without naming a metric"
    ]


def test_the_gate_names_the_evaluators_reasons_instead_of_a_bare_not_blessed():
    report = {"examples": 5, "non_finite": 0, "probe_failures": []}
    bare = core.verdict_reasons(report, ["eval"], upstream_blessed=False)
    assert bare == ["the upstream model_blessing is not blessed"]
    named = core.verdict_reasons(
        report, ["eval"], False, ["sparse_categorical_accuracy = 0.4167 is below the threshold 0.9"]
    )
    assert named == [
        "the Evaluator did not bless the model: sparse_categorical_accuracy = 0.4167 is below "
        "the threshold 0.9"
    ]
    assert core.verdict_reasons(report, ["eval"], True, ["ignored when blessed"]) == []


# ---- The same sentences from real TFMA runs (what the Evaluator writes) --------------------


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory):
    """Evaluation folders: accuracy under a 0.9 bound, and a NaN mean prediction."""
    root = tmp_path_factory.mktemp("evaluation")
    rng = np.random.default_rng(3)
    x = rng.uniform(-3.0, 10.0, N).astype(np.float32)
    n = rng.integers(0, 5, N)
    color = rng.choice(np.array(["red", "blue"]), N)
    label = rng.integers(0, 3, N)  # random classes: accuracy near 1/3
    records = []
    for rec, lab in zip(testing.make_examples(x, n, color), label.tolist(), strict=True):
        example = tf.train.Example.FromString(rec)
        example.features.feature["label"].int64_list.value.append(lab)
        records.append(example.SerializeToString())
    eval_data = testing.write_tfrecord(str(root / "data" / "eval.tfrecord"), records)
    out = {}
    cases = {
        "accuracy": (
            "healthy",
            "SparseCategoricalAccuracy",
            tfma.GenericValueThreshold(lower_bound={"value": 0.9}),
        ),
        "nan": ("nan_prob", "MeanPrediction", tfma.GenericValueThreshold(upper_bound={"value": 1})),
    }
    for case, (kind, metric, bound) in cases.items():
        model = testing.save_model(str(root / kind), kind)
        config = tfma.EvalConfig(
            model_specs=[tfma.ModelSpec(signature_name="serving_default", label_key="label")],
            slicing_specs=[tfma.SlicingSpec()],
            metrics_specs=[
                tfma.MetricsSpec(
                    metrics=[
                        tfma.MetricConfig(class_name="ExampleCount"),
                        tfma.MetricConfig(
                            class_name=metric, threshold=tfma.MetricThreshold(value_threshold=bound)
                        ),
                    ]
                )
            ],
        )
        uri = str(root / case)
        shared = tfma.default_eval_shared_model(eval_saved_model_path=model, eval_config=config)
        result = tfma.run_model_analysis(
            eval_shared_model=shared, eval_config=config, data_location=eval_data, output_path=uri
        )
        # What the Evaluator component writes next to the results (evaluation.py reads it).
        with open(os.path.join(uri, "eval_config.json"), "w") as f:
            f.write(_eval_config_json(config))
        overall = result.slicing_metrics[0][1][""][""]
        out[case] = (uri, {k: v.get("doubleValue") for k, v in overall.items()})
    return out


def _eval_config_json(config) -> str:
    import json

    from google.protobuf import json_format

    return json.dumps({"evalConfig": json_format.MessageToDict(config)})


def test_a_real_failed_accuracy_threshold_reads_back_as_a_reason(evaluated):
    uri, metrics = evaluated["accuracy"]
    accuracy = metrics["sparse_categorical_accuracy"]
    assert accuracy < 0.9
    read = evaluation.read_evaluation(uri)
    assert read["validation_ok"] is False
    assert read["metrics"]["sparse_categorical_accuracy"] == pytest.approx(accuracy)
    assert read["metrics"]["example_count"] == N
    assert read["thresholds"] == {
        "sparse_categorical_accuracy": {"lower_bound": 0.9, "upper_bound": None}
    }
    assert read["reasons"] == [
        f"sparse_categorical_accuracy = {accuracy:.4g} is below the threshold 0.9"
    ]
    (failure,) = read["failures"]
    assert failure["value"] == pytest.approx(accuracy) and failure["lower_bound"] == 0.9


def test_a_real_nan_metric_reads_back_as_nan(evaluated):
    uri, metrics = evaluated["nan"]
    assert math.isnan(float(metrics["mean_prediction"]))
    read = evaluation.read_evaluation(uri)
    assert read["validation_ok"] is False
    assert read["reasons"] == ["mean_prediction is NaN: a NaN metric fails every threshold (<= 1)"]


@pytest.mark.parametrize(
    "case, reason",
    [
        (
            "accuracy",
            r"sparse_categorical_accuracy = 0\.\d+ is below the threshold 0\.9: short by "
            r"0\.\d+; train longer .*",
        ),
        (
            "nan",
            r"mean_prediction is NaN: a NaN metric fails every threshold \(<= 1\) \(the "
            r"model's predictions are NaN or Inf\); lower trainer.learning_rate.*",
        ),
    ],
)
def test_the_gate_executor_writes_the_evaluators_reason(
    tmp_path,
    models,  # noqa: F811 - the fixture
    examples_artifact,  # noqa: F811 - the fixture
    evaluated,
    case,
    reason,  # noqa: F811
):
    import json
    import re

    uri, _ = evaluated[case]
    model = _model_artifact(models["healthy"], 3)
    blessing = _run_gate(
        tmp_path, model, examples_artifact, upstream=0, evaluation_uri=uri, task="classification",
        probe_families=[],
    )  # fmt: skip
    message = blessing.get_string_custom_property("blessing_message")
    assert re.fullmatch("the Evaluator did not bless the model: " + reason, message), message
    assert blessing.get_int_custom_property("blessed") == 0
    with open(os.path.join(blessing.uri, "gate_report.json")) as f:
        report = json.load(f)
    assert report["reasons"] == [message] and report["blessed"] is False
    assert report["task"] == "classification"
    assert report["evaluation"]["validation_ok"] is False
    assert message.split(": ", 1)[1].startswith(report["evaluation"]["reasons"][0])
    (found,) = report["violations"]
    assert found["guard"] == "Evaluator" and found["split"] == "eval"
    assert found["reason"] == ("quality" if case == "accuracy" else "non_finite")
    assert json.loads(blessing.get_string_custom_property("violations")) == report["violations"]
