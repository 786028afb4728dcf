"""create_pipeline's wiring, checked without running it."""

import json

import pytest

from nanguard.components.errors import InputError
from nanguard.pipelines import pipeline as pipeline_lib
from nanguard.pipelines.config import PipelineConfig
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


def test_no_schema_infers_and_hardens(tmp_path):
    c = _build(tmp_path, schema_path=None, config={"label": "species"})
    assert "ImportSchemaGen" not in c and {"SchemaGen", "HardenSchema"} <= set(c)
    assert _producer(c["Transform"].inputs["schema"]) == "HardenSchema"
    assert _producer(c["DataGuard"].inputs["schema"]) == "HardenSchema"


def test_config_reaches_the_components(tmp_path):
    config = {
        "label": "y",
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
    assert transform["label_key"] == "y"
    trainer = json.loads(c["Trainer"].exec_properties["custom_config"])
    assert trainer["learning_rate"] == 0.001 and trainer["label_key"] == "y"
    assert json.loads(c["Trainer"].exec_properties["train_args"]) == {"num_steps": 7}
    assert json.loads(c["Trainer"].exec_properties["eval_args"]) == {"num_steps": 3}
    gate = c["FinitePredictionGate"].exec_properties
    assert gate["max_offending"] == 3 and gate["label_key"] == "y"
    assert json.loads(gate["probe_families"]) == ["nan"]


def test_a_team_function_gets_its_own_keys(tmp_path):
    config = {
        "transform": {"preprocessing_fn": "my.pkg.preprocessing_fn", "my_key": 1},
        "trainer": {"run_fn": "my.pkg.run_fn", "epochs_of_mine": 3},
    }
    c = _build(tmp_path, config=config)
    assert c["Transform"].exec_properties["preprocessing_fn"] == "my.pkg.preprocessing_fn"
    assert json.loads(c["Transform"].exec_properties["custom_config"]) == {
        "label_key": "species",
        "my_key": 1,
    }
    assert c["Trainer"].exec_properties["run_fn"] == "my.pkg.run_fn"
    assert json.loads(c["Trainer"].exec_properties["custom_config"]) == {
        "label_key": "species",
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
