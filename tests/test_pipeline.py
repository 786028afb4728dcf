"""create_pipeline's wiring, checked without running it."""

import pytest

from nanguard.pipelines import pipeline as pipeline_lib
from tests.conftest import GUARDED_COMPONENTS

GUARDED = GUARDED_COMPONENTS


def _build(tmp_path, **kwargs):
    kwargs.setdefault("schema_path", "schemas/penguins.pbtxt")
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
    assert "module_file" not in str(c["Trainer"].exec_properties.get("module_file") or "")


def test_baseline_is_the_stock_pipeline(tmp_path):
    c = _build(tmp_path, baseline=True)
    assert sorted(c) == sorted(set(GUARDED) - {"DataGuard", "FinitePredictionGate"})
    assert _producer(c["Pusher"].inputs["model_blessing"]) == "Evaluator"
    assert c["Transform"].exec_properties["preprocessing_fn"] == pipeline_lib.STOCK_PREPROCESSING_FN
    assert c["Trainer"].exec_properties["run_fn"] == pipeline_lib.STOCK_RUN_FN


def test_no_schema_infers_and_hardens(tmp_path):
    c = _build(tmp_path, schema_path=None, label_key="species")
    assert "ImportSchemaGen" not in c and {"SchemaGen", "HardenSchema"} <= set(c)
    assert _producer(c["Transform"].inputs["schema"]) == "HardenSchema"
    assert _producer(c["DataGuard"].inputs["schema"]) == "HardenSchema"


def test_config_reaches_the_components(tmp_path):
    config = {
        "data_guard": {"mode": "warn", "max_missing_fraction": 0.1},
        "transform": {"inf": "clip", "preprocessing_fn": "my.pkg.preprocessing_fn"},
        "trainer": {"learning_rate": 0.001},
        "gate": {"max_offending": 3},
    }
    c = _build(tmp_path, config=config, label_key="y")
    assert '"mode": "warn"' in c["DataGuard"].exec_properties["policy"]
    assert c["Transform"].exec_properties["preprocessing_fn"] == "my.pkg.preprocessing_fn"
    assert '"inf": "clip"' in c["Transform"].exec_properties["custom_config"]
    assert '"label_key": "y"' in c["Trainer"].exec_properties["custom_config"]
    assert c["FinitePredictionGate"].exec_properties["max_offending"] == 3


def test_bad_data_guard_policy_fails_at_build_time(tmp_path):
    with pytest.raises(ValueError, match="inf"):
        _build(tmp_path, config={"data_guard": {"inf": "explode"}})


def test_the_guards_inf_policy_reaches_the_transform(tmp_path):
    c = _build(tmp_path, config={"data_guard": {"inf": "clip"}})
    assert '"inf": "clip"' in c["Transform"].exec_properties["custom_config"]
    c = _build(
        tmp_path, config={"data_guard": {"inf": "clip"}, "transform": {"inf": "treat_as_missing"}}
    )
    assert '"inf": "treat_as_missing"' in c["Transform"].exec_properties["custom_config"]
