"""tfma_metric.py: the TFMA non-finite prediction metrics, and what stock TFMA does with NaN."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_model_analysis as tfma

from nanguard.components.gate import testing, tfma_metric

N = 300
MODULE = "nanguard.components.gate.tfma_metric"


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("tfma")
    rng = np.random.default_rng(1)
    x = rng.uniform(-3.0, 10.0, N).astype(np.float32)
    x[::40] = np.nan
    n = rng.integers(0, 5, N)
    color = rng.choice(np.array(["red", "blue"]), N)
    label = (x > 4).astype(np.int64)
    records = []
    for rec, lab in zip(testing.make_examples(x, n, color), label.tolist(), strict=True):
        ex = tf.train.Example.FromString(rec)
        ex.features.feature["label"].int64_list.value.append(lab)
        records.append(ex.SerializeToString())
    data = testing.write_tfrecord(str(root / "data" / "eval.tfrecord"), records)
    models = {k: testing.save_model(str(root / k), k) for k in ("healthy", "nan_prob")}
    return {"x": x, "data": data, "models": models, "root": root}


def _eval_config(metrics):
    return tfma.EvalConfig(
        model_specs=[tfma.ModelSpec(signature_name="serving_default", label_key="label")],
        slicing_specs=[tfma.SlicingSpec()],
        metrics_specs=[tfma.MetricsSpec(metrics=metrics)],
    )


def _non_finite_metric_configs():
    return [
        tfma.MetricConfig(
            class_name="NonFinitePredictionCount",
            module=MODULE,
            threshold=tfma.MetricThreshold(
                value_threshold=tfma.GenericValueThreshold(upper_bound={"value": 0})
            ),
        ),
        tfma.MetricConfig(class_name="NonFinitePredictionRate", module=MODULE),
        tfma.MetricConfig(class_name="ExampleCount"),
    ]


def _run(setup, model, metrics, name):
    config = _eval_config(metrics)
    out = str(setup["root"] / name)
    shared = tfma.default_eval_shared_model(
        eval_saved_model_path=setup["models"][model], eval_config=config
    )
    result = tfma.run_model_analysis(
        eval_shared_model=shared, eval_config=config, data_location=setup["data"], output_path=out
    )
    metrics = result.slicing_metrics[0][1][""][""]
    values = {k: v.get("doubleValue") for k, v in metrics.items()}
    return values, tfma.load_validation_result(out)


def test_metric_counts_nan_predictions_and_fails_evaluator_blessing(setup):
    values, validation = _run(setup, "nan_prob", _non_finite_metric_configs(), "nan")
    with np.errstate(invalid="ignore"):
        expected = int(np.sum(~np.isfinite(np.log(setup["x"] - np.float32(1.0)))))
    assert expected > 0
    assert values["non_finite_prediction_count"] == expected
    assert values["non_finite_prediction_rate"] == pytest.approx(expected / N)
    assert values["example_count"] == N
    assert validation.validation_ok is False


def test_metric_zero_on_healthy_model_and_blessing_passes(setup):
    values, validation = _run(setup, "healthy", _non_finite_metric_configs(), "healthy")
    assert values["non_finite_prediction_count"] == 0
    assert values["non_finite_prediction_rate"] == 0
    assert validation.validation_ok is True


def test_stock_tfma_mean_prediction_is_nan_without_a_count(setup):
    values, _ = _run(setup, "nan_prob", [tfma.MetricConfig(class_name="MeanPrediction")], "mean")
    assert np.isnan(float(values["mean_prediction"])), values


def test_stock_tfma_crashes_on_nan_with_auc(setup):
    """Documents NAN_FACTS: a NaN prediction makes a calibration-histogram metric crash.

    Beam wraps the combiner's error in a RuntimeError naming the combiner and the NaN input;
    the root cause is `int()` of a NaN bucket index.
    """
    with pytest.raises(
        RuntimeError,
        match=r"(?s)add_input failed on \"<tensorflow_model_analysis\.metrics\."
        r"calibration_histogram\._CalibrationHistogramCombiner .*'predictions': array\(\[nan\]",
    ) as info:
        _run(setup, "nan_prob", [tfma.MetricConfig(class_name="AUC")], "auc")
    causes = []
    error = info.value
    while error is not None:
        causes.append(error)
        error = error.__cause__ or error.__context__
    root = causes[-1]
    assert type(root) is ValueError and str(root) == "cannot convert float NaN to integer"


def test_combiner_directly():
    (computation,) = tfma_metric._non_finite_count()
    combiner = computation.combiner
    acc = combiner.create_accumulator()
    preds = [np.array([0.2]), np.array([np.nan]), {"a": np.array([1.0]), "b": np.array([np.inf])}]
    for p in preds:
        acc = combiner.add_input(acc, tfma.metrics.StandardMetricInputs(predictions=p))
    merged = combiner.merge_accumulators([acc, combiner.create_accumulator()])
    assert list(combiner.extract_output(merged).values()) == [2.0]
