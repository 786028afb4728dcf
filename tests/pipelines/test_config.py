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


def test_task_and_thresholds_have_defaults_and_null_switches_a_threshold_off():
    config = PipelineConfig()
    assert config.task == "auto"
    evaluator = config.evaluator
    assert (evaluator.min_accuracy_over_majority, evaluator.max_mse_ratio) == (0.05, 0.9)
    assert evaluator.min_accuracy is None
    off = PipelineConfig.from_dict({"evaluator": {"min_accuracy": None, "max_mse_ratio": None}})
    assert (off.evaluator.min_accuracy, off.evaluator.max_mse_ratio) == (None, None)
    told = PipelineConfig.from_dict({"task": "regression", "evaluator": {"max_mse_ratio": 0.7}})
    assert (told.task, told.evaluator.max_mse_ratio) == ("regression", 0.7)


@pytest.mark.parametrize(
    "values, message",
    [
        ({"task": "ranking"}, r"task: 'ranking' is not allowed; use one of \['auto'"),
        ({"evaluator": {"min_accuracy": 1.5}}, r"evaluator.min_accuracy: 1.5 is not allowed"),
        ({"evaluator": {"max_mse_ratio": 0}}, r"evaluator.max_mse_ratio: 0 is not allowed"),
        ({"evaluator": {"min_auc": 0.5}}, r"evaluator: unknown key\(s\) \['min_auc'\]"),
    ],
)
def test_bad_task_or_threshold_names_the_key(values, message):
    with pytest.raises(InputError, match=message):
        PipelineConfig.from_dict(values)


def _table(**columns):
    import pyarrow as pa

    return pa.table({k: pa.array(v, pa.string()) for k, v in columns.items()})


def test_with_task_decides_auto_from_the_staged_table():
    table = _table(x=["1", "2", "2", "1"], y=["yes", "no", None, "yes"], z=["1.5", "2", "", "9"])
    assert PipelineConfig.from_dict({"label": "y"}).with_task(table).task == "classification"
    assert PipelineConfig.from_dict({"label": "x"}).with_task(table).task == "classification"
    # "" is what an empty cell reads as with no null token: text, so classification.
    assert PipelineConfig.from_dict({"label": "z"}).with_task(table).task == "classification"
    many = _table(n=[str(i) for i in range(25)])
    assert PipelineConfig.from_dict({"label": "n"}).with_task(many).task == "regression"
    told = PipelineConfig.from_dict({"label": "n", "task": "classification"})
    assert told.with_task(many).task == "classification"  # an explicit task wins
    with pytest.raises(InputError, match=r"task: regression needs a numeric label, and 'y'"):
        PipelineConfig.from_dict({"label": "y", "task": "regression"}).with_task(table)


def test_with_task_reads_local_data_else_the_schema_else_asks(tmp_path):
    csv = tmp_path / "d.csv"
    csv.write_text("a,b\n1.5,x\n2.5,y\n,x\n")
    assert PipelineConfig.from_dict({"label": "a"}).with_task(data=str(csv)).task == "regression"
    assert PipelineConfig.from_dict({"label": "b"}).with_task(data=str(tmp_path)).task == (
        "classification"
    )
    with pytest.raises(InputError, match=r"--label c: not a column of"):
        PipelineConfig.from_dict({"label": "c"}).with_task(data=str(csv))
    schema = os.path.join(os.path.dirname(EXAMPLE), "..", "schemas", "penguins.pbtxt")
    remote = "gs://bucket/data"
    species = PipelineConfig().with_task(schema_path=schema, data=remote)
    assert species.task == "classification"  # BYTES in the schema
    with pytest.raises(
        InputError,
        match=r"task: auto needs the label 'body_mass_g''s values, and the data cannot be read "
        r"here; set `task: classification` or `task: regression` in --config",
    ):
        PipelineConfig.from_dict({"label": "body_mass_g"}).with_task(
            schema_path=schema, data=remote
        )
    told = PipelineConfig.from_dict({"label": "body_mass_g", "task": "regression"})
    assert told.with_task(schema_path=None, data=remote).task == "regression"
