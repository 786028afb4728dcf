"""tfma_regression.py: MSE, MAE and the ratio to the mean predictor over labelled rows."""

from __future__ import annotations

import math

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_model_analysis as tfma
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

from nanguard.components.gate import testing, tfma_regression

MODULE = "nanguard.components.gate.tfma_regression"


def _combine(labels, predictions, chunks=3, serving_dict=False):
    (computation,) = tfma_regression._computations()
    combiner = computation.combiner
    accumulators = []
    for part in np.array_split(np.arange(len(labels)), chunks):
        acc = combiner.create_accumulator()
        for i in part:
            prediction = np.array([predictions[i]])
            if serving_dict:  # as the serving signature answers: the flags beside the prediction
                prediction = {
                    "outputs": prediction,
                    "nanguard_repaired": np.array([2]),
                    "nanguard_finite": np.array([True]),
                }
            element = tfma.metrics.StandardMetricInputs(
                labels=np.array([labels[i]]), predictions=prediction
            )
            acc = combiner.add_input(acc, element)
        accumulators.append(acc)
    merged = combiner.merge_accumulators([*accumulators, combiner.create_accumulator()])
    return {key.name: value for key, value in combiner.extract_output(merged).items()}


def test_combiner_matches_scikit_learn_on_the_labelled_rows():
    rng = np.random.default_rng(0)
    labels = rng.normal(150.0, 70.0, 300)
    predictions = labels + rng.normal(0.0, 40.0, 300)
    labels[[5, 17, 200]] = np.nan  # missing labels: the transform makes them NaN
    labels[9] = np.inf
    out = _combine(labels, predictions)
    keep = np.isfinite(labels)
    y, p = labels[keep], predictions[keep]
    assert out["labelled_example_count"] == 296
    assert out["mean_squared_error"] == pytest.approx(mean_squared_error(y, p), rel=1e-12)
    assert out["mean_absolute_error"] == pytest.approx(mean_absolute_error(y, p), rel=1e-12)
    assert out["mean_predictor_mse"] == pytest.approx(np.var(y), rel=1e-12)
    assert out["mse_ratio_to_mean"] == pytest.approx(1.0 - r2_score(y, p), rel=1e-12)


def test_the_serving_signatures_outputs_are_scored_not_its_flags():
    rng = np.random.default_rng(1)
    labels = rng.normal(10.0, 3.0, 60)
    predictions = labels + rng.normal(0.0, 1.0, 60)
    assert _combine(labels, predictions, serving_dict=True) == _combine(labels, predictions)


def test_predicting_the_mean_is_a_ratio_of_one_and_a_nan_prediction_is_nan():
    labels = np.array([1.0, 2.0, 3.0, 6.0])
    assert _combine(labels, np.full(4, labels.mean()), chunks=2)["mse_ratio_to_mean"] == 1.0
    out = _combine(labels, np.array([1.0, np.nan, 3.0, 6.0]), chunks=2)
    assert math.isnan(out["mean_squared_error"]) and math.isnan(out["mse_ratio_to_mean"])


def test_a_classifiers_probabilities_are_refused():
    (computation,) = tfma_regression._computations()
    combiner = computation.combiner
    element = tfma.metrics.StandardMetricInputs(
        labels=np.array([1.0]), predictions=np.array([0.2, 0.5, 0.3])
    )
    with pytest.raises(ValueError, match=r"one prediction per label, got 3 predictions for 1"):
        combiner.add_input(combiner.create_accumulator(), element)


def test_a_constant_label_and_no_label():
    assert _combine(np.full(4, 2.0), np.full(4, 2.0), chunks=2)["mse_ratio_to_mean"] == 0.0
    assert _combine(np.full(4, 2.0), np.full(4, 3.0), chunks=2)["mse_ratio_to_mean"] == math.inf
    none = _combine(np.full(4, np.nan), np.zeros(4), chunks=2)
    assert none["labelled_example_count"] == 0 and math.isnan(none["mse_ratio_to_mean"])


@pytest.fixture(scope="module")
def square_run(tmp_path_factory):
    """The `square` test model (x^2) on labels 2 x^2 + noise, some missing (NaN)."""
    root = tmp_path_factory.mktemp("regression")
    rng = np.random.default_rng(1)
    n = 240
    x = rng.uniform(-3.0, 3.0, n).astype(np.float32)
    label = (2.0 * x.astype(np.float64) ** 2 + rng.normal(0.0, 0.5, n)).astype(np.float32)
    label[::30] = np.nan
    records = []
    for rec, lab in zip(
        testing.make_examples(x, np.zeros(n, int), np.array(["a"] * n)), label, strict=True
    ):
        example = tf.train.Example.FromString(rec)
        example.features.feature["label"].float_list.value.append(float(lab))
        records.append(example.SerializeToString())
    data = testing.write_tfrecord(str(root / "eval.tfrecord"), records)
    model = testing.save_model(str(root / "square"), "square")

    def run(upper: float | None, name: str):
        threshold = (
            {"threshold": tfma.MetricThreshold(
                value_threshold=tfma.GenericValueThreshold(upper_bound={"value": upper})
            )}
            if upper is not None
            else {}
        )  # fmt: skip
        config = tfma.EvalConfig(
            model_specs=[tfma.ModelSpec(signature_name="serving_default", label_key="label")],
            slicing_specs=[tfma.SlicingSpec()],
            metrics_specs=[
                tfma.MetricsSpec(
                    metrics=[
                        tfma.MetricConfig(class_name="MseRatioToMean", module=MODULE, **threshold)
                    ]
                )
            ],
        )
        out = str(root / name)
        shared = tfma.default_eval_shared_model(eval_saved_model_path=model, eval_config=config)
        result = tfma.run_model_analysis(
            eval_shared_model=shared, eval_config=config, data_location=data, output_path=out
        )
        values = {k: v.get("doubleValue") for k, v in result.slicing_metrics[0][1][""][""].items()}
        return values, tfma.load_validation_result(out)

    return x, label, run


def test_in_tfma_it_scores_only_labelled_rows_and_its_threshold_applies(square_run):
    x, label, run = square_run
    keep = np.isfinite(label)
    y = label[keep].astype(np.float64)
    p = (x[keep].astype(np.float64)) ** 2
    expected = mean_squared_error(y, p) / np.var(y)
    values, validation = run(1.0, "passes")
    assert values["labelled_example_count"] == keep.sum()
    assert values["mean_squared_error"] == pytest.approx(mean_squared_error(y, p), rel=1e-5)
    assert values["mse_ratio_to_mean"] == pytest.approx(expected, rel=1e-5)
    assert 0.2 < expected < 1.0 and validation.validation_ok
    _, strict = run(expected / 2, "fails")
    assert not strict.validation_ok
    (failure,) = strict.metric_validations_per_slice[0].failures
    assert failure.metric_key.name == "mse_ratio_to_mean" and failure.message == ""
    assert failure.metric_value.double_value.value == pytest.approx(expected, rel=1e-5)
