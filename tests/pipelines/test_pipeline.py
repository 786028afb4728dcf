"""create_pipeline's wiring, checked without running it."""

import json

import pytest

from nanguard.components.errors import InputError
from nanguard.components.gate import eval_config as eval_config_lib
from nanguard.pipelines import pipeline as pipeline_lib
from nanguard.pipelines.config import EvaluatorConfig, PipelineConfig
from tests.conftest import GUARDED_COMPONENTS

GUARDED = GUARDED_COMPONENTS


def _build(tmp_path, config=None, **kwargs):
    kwargs.setdefault("schema_path", "schemas/penguins.pbtxt")
    kwargs["config"] = PipelineConfig.from_dict(config or {})
    p = pipeline_lib.create_pipeline(
        pipeline_name="t",
        pipeline_root=str(tmp_path / "root"),
        data_root=str(tmp_path / "data"),
        serving_model_dir=str(tmp_path / "serving"),
        **kwargs,
    )
    return {c.id: c for c in p.components}


def _producer(channel):
    return channel.producer_component_id


def _metrics(evaluator) -> dict:
    """{class_name: its value threshold's bounds} of the Evaluator's eval_config."""
    config = json.loads(evaluator.exec_properties["eval_config"])
    return _bounds(config["metrics_specs"][0]["metrics"])


def _bounds(metrics: list) -> dict:
    out = {}
    for m in metrics:
        bounds = m.get("threshold", {}).get("value_threshold", {})
        out[m["class_name"]] = {
            k: v["value"] if isinstance(v, dict) else v for k, v in bounds.items()
        }
    return out


def _config_metrics(config) -> dict:
    from google.protobuf import json_format

    as_json = json_format.MessageToDict(config, preserving_proto_field_name=True)
    return _bounds(as_json["metrics_specs"][0]["metrics"])


def test_guarded_wiring(tmp_path):
    c = _build(tmp_path, beam_pipeline_args=["--direct_num_workers=2"])
    assert sorted(c) == sorted(GUARDED)
    assert _producer(c["Pusher"].inputs["model_blessing"]) == "FinitePredictionGate"
    assert _producer(c["FinitePredictionGate"].inputs["model_blessing"]) == "Evaluator"
    assert "DataGuard" in {n.id for n in c["Transform"].upstream_nodes}
    assert c["Transform"].exec_properties["preprocessing_fn"] == (
        "nanguard.components.transform.preprocessing.preprocessing_fn"
    )
    assert (
        c["Transform"]
        .exec_properties["stats_options_updater_fn"]
        .endswith("stats_options.stats_options_updater_fn")
    )
    assert c["Trainer"].exec_properties["run_fn"] == "nanguard.components.trainer.run_fn.run_fn"
    # Library code by dotted path, never a module file packaged into a wheel at run time.
    for name in ("Transform", "Trainer"):
        assert c[name].exec_properties.get("module_file") is None, name


def test_baseline_is_the_stock_pipeline(tmp_path):
    c = _build(tmp_path, baseline=True)
    assert sorted(c) == sorted(set(GUARDED) - {"DataGuard", "FinitePredictionGate"})
    assert _producer(c["Pusher"].inputs["model_blessing"]) == "Evaluator"
    assert c["Transform"].exec_properties["preprocessing_fn"] == pipeline_lib.STOCK_PREPROCESSING_FN
    assert c["Trainer"].exec_properties["run_fn"] == pipeline_lib.STOCK_RUN_FN
    # The stock preprocessing makes any label a class index: scored as a classifier, no guard.
    assert set(_metrics(c["Evaluator"])) == {
        "ExampleCount",
        "LabelledAccuracy",
        "AccuracyOverMajority",
    }


def test_no_schema_infers_and_hardens(tmp_path):
    c = _build(tmp_path, schema_path=None, config={"label": "species", "task": "classification"})
    assert "ImportSchemaGen" not in c and {"SchemaGen", "HardenSchema"} <= set(c)
    assert _producer(c["Transform"].inputs["schema"]) == "HardenSchema"
    assert _producer(c["DataGuard"].inputs["schema"]) == "HardenSchema"


def test_config_reaches_the_components(tmp_path):
    config = {
        "label": "y",
        "task": "regression",
        "evaluator": {"max_mse_ratio": 0.8},
        "data_guard": {"mode": "warn", "max_missing_fraction": 0.1},
        "transform": {"inf": "clip", "exclude": ["year"]},
        "trainer": {"learning_rate": 0.001, "train_steps": 7, "eval_steps": 3},
        "gate": {"max_offending": 3, "probe_families": ["nan"]},
    }
    c = _build(tmp_path, config=config)
    guard = json.loads(c["DataGuard"].exec_properties["config"])
    assert guard["mode"] == "warn" and guard["max_missing_fraction"] == 0.1
    assert c["DataGuard"].exec_properties["label_key"] == "y"
    transform = json.loads(c["Transform"].exec_properties["custom_config"])
    assert transform["inf"] == "clip" and transform["exclude"] == ["year"]
    assert transform["label_key"] == "y" and transform["task"] == "regression"
    trainer = json.loads(c["Trainer"].exec_properties["custom_config"])
    assert trainer["learning_rate"] == 0.001 and trainer["label_key"] == "y"
    assert json.loads(c["Trainer"].exec_properties["train_args"]) == {"num_steps": 7}
    assert json.loads(c["Trainer"].exec_properties["eval_args"]) == {"num_steps": 3}
    assert trainer["task"] == "regression"  # the label and the task travel the same way
    gate = c["FinitePredictionGate"].exec_properties
    assert json.loads(gate["config"])["max_offending"] == 3 and gate["label_key"] == "y"
    assert gate["task"] == "regression"
    assert _producer(c["FinitePredictionGate"].inputs["evaluation"]) == "Evaluator"
    metrics = _metrics(c["Evaluator"])
    assert metrics["MseRatioToMean"] == {"upper_bound": 0.8}
    assert json.loads(gate["config"])["probe_families"] == ["nan"]


def test_a_team_function_gets_its_own_keys(tmp_path):
    config = {
        "transform": {"preprocessing_fn": "my.pkg.preprocessing_fn", "my_key": 1},
        "trainer": {"run_fn": "my.pkg.run_fn", "epochs_of_mine": 3},
    }
    c = _build(tmp_path, config=config)
    assert c["Transform"].exec_properties["preprocessing_fn"] == "my.pkg.preprocessing_fn"
    assert json.loads(c["Transform"].exec_properties["custom_config"]) == {
        "label_key": "species",
        "task": "classification",  # decided from the penguins schema: species is BYTES
        "my_key": 1,
    }
    assert c["Trainer"].exec_properties["run_fn"] == "my.pkg.run_fn"
    assert json.loads(c["Trainer"].exec_properties["custom_config"]) == {
        "label_key": "species",
        "task": "classification",  # the label and the task reach every component alike
        "epochs_of_mine": 3,
    }


def test_bad_data_guard_policy_fails_at_load_naming_the_key(tmp_path):
    with pytest.raises(InputError, match=r"data_guard.inf: 'explode' is not allowed"):
        _build(tmp_path, config={"data_guard": {"inf": "explode"}})


def test_the_guards_inf_policy_reaches_the_transform(tmp_path):
    c = _build(tmp_path, config={"data_guard": {"inf": "clip"}})
    assert json.loads(c["Transform"].exec_properties["custom_config"])["inf"] == "clip"
    c = _build(
        tmp_path, config={"data_guard": {"inf": "clip"}, "transform": {"inf": "treat_as_missing"}}
    )
    assert json.loads(c["Transform"].exec_properties["custom_config"])["inf"] == "treat_as_missing"


def test_eval_config_classification_judges_against_the_majority_baseline():
    config = pipeline_lib.eval_config("y", True, "classification", EvaluatorConfig())
    assert _config_metrics(config) == {
        "ExampleCount": {},
        "LabelledAccuracy": {},
        "AccuracyOverMajority": {"lower_bound": 0.05},
        "NonFinitePredictionCount": {"upper_bound": 0.0},
    }
    model_spec = config.model_specs[0]
    assert (model_spec.label_key, model_spec.prediction_key) == ("y", "outputs")
    assert list(model_spec.preprocessing_function_names) == ["transform_features"]
    told = EvaluatorConfig.from_dict({"min_accuracy": 0.9})
    metrics = _config_metrics(pipeline_lib.eval_config("y", True, "classification", told))
    assert metrics["LabelledAccuracy"] == {"lower_bound": 0.9}


def test_eval_config_regression_has_the_mse_ratio_and_no_accuracy():
    config = pipeline_lib.eval_config("y", True, "regression", EvaluatorConfig())
    assert _config_metrics(config) == {
        "ExampleCount": {},
        "MseRatioToMean": {"upper_bound": 0.9},
        "NonFinitePredictionCount": {"upper_bound": 0.0},
    }
    (ratio,) = [m for m in config.metrics_specs[0].metrics if m.class_name == "MseRatioToMean"]
    assert ratio.module == eval_config_lib.REGRESSION_METRIC_MODULE


@pytest.mark.parametrize(
    "task, key",
    [("classification", "min_accuracy_over_majority"), ("regression", "max_mse_ratio")],
)
def test_a_null_threshold_switches_it_off(task, key):
    off = EvaluatorConfig.from_dict({key: None})
    metrics = _config_metrics(pipeline_lib.eval_config("y", True, task, off))
    quality = "AccuracyOverMajority" if task == "classification" else "MseRatioToMean"
    assert metrics[quality] == {}  # still computed and shown, never blocks
    assert metrics["NonFinitePredictionCount"] == {"upper_bound": 0.0}  # the guard stays


def test_the_baseline_eval_config_has_no_non_finite_count():
    metrics = _config_metrics(pipeline_lib.eval_config("y", False, "regression"))
    assert set(metrics) == {"ExampleCount", "MseRatioToMean"}


def test_eval_config_refuses_an_undecided_task():
    with pytest.raises(InputError, match=r"task: 'auto' must be decided"):
        pipeline_lib.eval_config("y", True, "auto")


def test_auto_is_decided_from_local_data(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    rows = "\n".join(f"{i * 0.37},{i % 3},{i * 1.5 + 0.25}" for i in range(30))
    (data / "d.csv").write_text("x,k,y\n" + rows + "\n")
    c = _build(tmp_path, schema_path=None, config={"label": "y"})
    assert json.loads(c["Transform"].exec_properties["custom_config"])["task"] == "regression"
    assert c["FinitePredictionGate"].exec_properties["task"] == "regression"
    assert "MseRatioToMean" in _metrics(c["Evaluator"])
    c = _build(tmp_path, schema_path=None, config={"label": "k"})
    assert c["FinitePredictionGate"].exec_properties["task"] == "classification"
    assert "AccuracyOverMajority" in _metrics(c["Evaluator"])


def test_auto_without_readable_data_or_a_text_label_in_the_schema_asks_for_task(tmp_path):
    with pytest.raises(InputError, match=r"set `task: classification` or `task: regression`"):
        _build(tmp_path, config={"label": "body_mass_g"})  # INT in the schema, no data


@pytest.mark.parametrize(
    "policy, signature", [("repair", "serving_default"), ("reject", "serving_repair")]
)
def test_the_reject_policy_reaches_the_trainer_and_points_the_evaluator_at_serving_repair(
    tmp_path, policy, signature
):
    c = _build(tmp_path, config={"trainer": {"nonfinite_input": policy}})
    assert json.loads(c["Trainer"].exec_properties["custom_config"])["nonfinite_input"] == policy
    spec = json.loads(c["Evaluator"].exec_properties["eval_config"])["model_specs"][0]
    assert spec["signature_name"] == signature


def test_a_bad_nonfinite_input_policy_fails_at_load_naming_the_key():
    with pytest.raises(InputError, match="nonfinite_input"):
        PipelineConfig.from_dict({"trainer": {"nonfinite_input": "drop"}})
