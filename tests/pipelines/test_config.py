"""PipelineConfig: the label and four sections, loaded once; the example YAML is generated."""

import os

import pytest
import yaml

from nanguard.components.errors import InputError
from nanguard.pipelines import cli
from nanguard.pipelines.config import PipelineConfig, example_yaml

EXAMPLE = os.path.join(os.path.dirname(cli.__file__), "nanguard.example.yaml")


def test_the_shipped_example_is_the_generated_one():
    # `nanguard config > pipelines/nanguard.example.yaml` regenerates it; it cannot drift.
    with open(EXAMPLE) as f:
        assert f.read() == example_yaml()
    assert PipelineConfig.from_dict(yaml.safe_load(example_yaml())) == PipelineConfig()


def test_nanguard_config_prints_it_and_checks_a_file(tmp_path, capsys):
    assert cli.main(["config"]) == 0
    assert capsys.readouterr().out == example_yaml()
    good = tmp_path / "c.yaml"
    good.write_text("label: y\ngate: {max_offending: 1}\n")
    assert cli.main(["config", "--check", str(good)]) == 0
    assert "valid; label 'y'" in capsys.readouterr().out


def test_label_flag_wins_over_the_file(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("label: from_file\n")
    assert PipelineConfig.load(str(path)).label == "from_file"
    assert PipelineConfig.load(str(path), label="from_flag").label == "from_flag"
    assert PipelineConfig.load(None).label == "species"


def test_the_transform_follows_the_guards_inf_policy_unless_told_otherwise():
    assert PipelineConfig().transform.inf == "treat_as_missing"
    assert PipelineConfig.from_dict({"data_guard": {"inf": "clip"}}).transform.inf == "clip"
    told = {"data_guard": {"inf": "clip"}, "transform": {"inf": "treat_as_missing"}}
    assert PipelineConfig.from_dict(told).transform.inf == "treat_as_missing"


def test_steps_from_the_command_line_override_the_trainer_section():
    config = PipelineConfig.from_dict({"trainer": {"train_steps": 9}})
    assert config.with_trainer_steps(None, None).trainer.train_steps == 9
    changed = config.with_trainer_steps(60, 4).trainer
    assert (changed.train_steps, changed.eval_steps) == (60, 4)


def test_a_missing_file_names_the_flag(tmp_path):
    with pytest.raises(InputError, match=f"--config {tmp_path}/none.yaml: no such file"):
        PipelineConfig.load(str(tmp_path / "none.yaml"))


def test_a_numeric_only_strategy_for_string_features_is_refused_at_load():
    with pytest.raises(InputError, match=r"transform.defaults.string.strategy: 'mean' is not"):
        PipelineConfig.from_dict({"transform": {"defaults": {"string": {"strategy": "mean"}}}})
