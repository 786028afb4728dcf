"""summary.py: the gate's facts and console line, read back from its blessing folder."""

from __future__ import annotations

import subprocess
import sys

import pytest
from tfx.types import standard_artifacts

from nanguard.components.errors import InputError
from nanguard.components.gate import executor, summary


def _blessing(tmp_path, **report):
    base = {"examples": 80, "non_finite": 0, "nan": 0, "pos_inf": 0, "neg_inf": 0,
            "outputs": {"p": {"total": 240, "nan": 0, "pos_inf": 0, "neg_inf": 0}},
            "probes_run": 10, "probes_failed": [], "probe_failures": [], "reasons": [],
            "probes_rejected": ["nan:x"],
            "blessed": True, "offending_examples": []}  # fmt: skip
    model = standard_artifacts.Model()
    model.uri, model.id = str(tmp_path / "model"), 7
    blessing = standard_artifacts.ModelBlessing()
    blessing.uri = str(tmp_path / "blessing")
    executor.write_blessing(blessing, model, {**base, **report})
    return blessing.uri


def test_blessed(tmp_path):
    facts = summary.summarize(_blessing(tmp_path))
    assert facts == {
        "examples": 80, "non_finite": 0, "nan": 0, "pos_inf": 0, "neg_inf": 0, "probes_run": 10,
        "probes_failed": [], "probes_rejected": ["nan:x"], "blessed": True, "reasons": [],
        "violations": [],
        "outputs": {"p": {"total": 240, "nan": 0, "pos_inf": 0, "neg_inf": 0}},
        "uri": str(tmp_path / "blessing"), "task": "", "quality": {},
    }  # fmt: skip
    assert summary.summary_line(facts) == "80 examples, 0 non-finite, 0 probe(s) failed: blessed"


def test_not_blessed(tmp_path):
    uri = _blessing(
        tmp_path, non_finite=3, nan=3, blessed=False, probes_failed=["nan:x", "all_missing"],
        reasons=["3 of 80 examples got non-finite predictions", "2 probe(s) failed: nan:x"],
    )  # fmt: skip
    line = summary.summary_line(summary.summarize(uri))
    assert line == (
        "80 examples, 3 non-finite, 2 probe(s) failed: NOT blessed (3 of 80 examples got "
        "non-finite predictions; 2 probe(s) failed: nan:x)"
    )


def _evaluation(metrics, thresholds, reasons=()):
    return {"validation_ok": not reasons, "metrics": metrics, "thresholds": thresholds,
            "failures": [], "reasons": list(reasons)}  # fmt: skip


def test_classification_quality_next_to_the_counts(tmp_path):
    evaluation = _evaluation(
        {"labelled_accuracy": 0.97619, "majority_accuracy": 0.44048,
         "accuracy_over_majority": 0.53571, "example_count": 84.0},
        {"accuracy_over_majority": {"lower_bound": 0.05, "upper_bound": None}},
    )  # fmt: skip
    facts = summary.summarize(_blessing(tmp_path, task="classification", evaluation=evaluation))
    assert facts["task"] == "classification"
    none = {"lower_bound": None, "upper_bound": None}
    assert facts["quality"] == {
        "labelled_accuracy": {"value": 0.97619, **none},
        "majority_accuracy": {"value": 0.44048, **none},
        "accuracy_over_majority": {"value": 0.53571, "lower_bound": 0.05, "upper_bound": None},
    }  # the task's metrics only
    assert summary.summary_line(facts) == (
        "classification: accuracy 0.9762, majority class's 0.4405, margin 0.5357 (>= 0.05); "
        "80 examples, 0 non-finite, 0 probe(s) failed: blessed"
    )


def test_regression_quality_and_a_nan_metric_read_back(tmp_path):
    evaluation = _evaluation(
        {"mean_squared_error": 2901.4, "mean_absolute_error": 43.21, "mse_ratio_to_mean": 0.51234,
         "mean_predictor_mse": 5663.0, "labelled_example_count": 133.0},
        {"mse_ratio_to_mean": {"lower_bound": None, "upper_bound": 1.0}},
    )  # fmt: skip
    facts = summary.summarize(_blessing(tmp_path, task="regression", evaluation=evaluation))
    assert summary.summary_line(facts) == (
        "regression: MSE 2901, MAE 43.21, MSE / mean predictor's 0.5123 (<= 1); 80 examples, "
        "0 non-finite, 0 probe(s) failed: blessed"
    )
    nan = _evaluation(
        {"mean_squared_error": float("nan"), "mse_ratio_to_mean": float("nan")},
        {"mse_ratio_to_mean": {"lower_bound": None, "upper_bound": 1.0}},
        ["mse_ratio_to_mean is NaN: a NaN metric fails every threshold (<= 1)"],
    )
    reason = "the Evaluator did not bless the model: " + nan["reasons"][0]
    uri = _blessing(tmp_path / "nan", task="regression", evaluation=nan, blessed=False,
                    reasons=[reason])  # fmt: skip
    facts = summary.summarize(uri)
    assert facts["quality"]["mse_ratio_to_mean"]["value"] == "NaN"  # vocab's JSON spelling
    assert summary.summary_line(facts) == (
        "regression: MSE NaN, MSE / mean predictor's NaN (<= 1); 80 examples, 0 non-finite, "
        f"0 probe(s) failed: NOT blessed ({reason})"
    )


def test_the_blessing_carries_the_evaluators_reason(tmp_path):
    reason = (
        "the Evaluator did not bless the model: sparse_categorical_accuracy = 0.4167 is below "
        "the threshold 0.9"
    )
    model = standard_artifacts.Model()
    model.uri, model.id = str(tmp_path / "model"), 7
    blessing = standard_artifacts.ModelBlessing()
    blessing.uri = str(tmp_path / "blessing")
    base = {"examples": 80, "non_finite": 0, "nan": 0, "pos_inf": 0, "neg_inf": 0, "outputs": {},
            "probes_run": 0, "probes_failed": [], "probe_failures": [], "reasons": [reason],
            "blessed": False, "offending_examples": []}  # fmt: skip
    executor.write_blessing(blessing, model, base)
    assert blessing.get_string_custom_property("blessing_message") == reason
    assert blessing.get_int_custom_property("blessed") == 0
    assert summary.summarize(blessing.uri)["reasons"] == [reason]


def test_missing_report_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match=r"gate_report\.json: no readable gate report"):
        summary.summarize(str(tmp_path))


def test_summary_module_imports_nothing_heavy():
    code = (
        "import sys; import nanguard.components.gate.summary; "
        "print([m for m in ('tensorflow', 'apache_beam', 'tensorflow_data_validation', "
        "'tensorflow_model_analysis') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
