"""spec.py: the `gate:` section travels as one JSON `config` parameter, validated on both sides;
every gate setting is declared once, in config.py."""

from __future__ import annotations

import ast
import dataclasses
import inspect
import json

import pytest

from nanguard.components import vocab
from nanguard.components.config import Number, setting
from nanguard.components.errors import InputError
from nanguard.components.gate import component, spec
from nanguard.components.gate.config import GateConfig


def test_parameters_round_trip():
    config = GateConfig.from_dict(
        {"splits": ["eval", "test"], "probe_families": ["nan"], "batch_size": 7,
         "max_offending": 0, "block_on_probe_error": False, "raise_on_block": True}
    )  # fmt: skip
    params = spec.to_parameters(config, "species", "regression")
    assert set(params) == set(spec.FinitePredictionGateSpec.PARAMETERS) == {
        "config", "label_key", "task",
    }  # fmt: skip
    assert params[spec.TASK_KEY] == "regression"
    assert spec.to_parameters(config, "species")[spec.TASK_KEY] == ""
    assert json.loads(params[spec.CONFIG_KEY]) == config.to_dict()
    assert spec.from_parameters(params) == (config, "species")


def test_no_label_is_one_value():
    params = spec.to_parameters(GateConfig(), vocab.NO_LABEL)
    assert params[spec.LABEL_KEY] == ""
    assert spec.from_parameters(params) == (GateConfig(), "")
    params[spec.LABEL_KEY] = None
    assert spec.from_parameters(params)[1] == vocab.NO_LABEL


def test_the_executor_side_validates_the_json_too():
    params = spec.to_parameters(GateConfig(), "y")
    params[spec.CONFIG_KEY] = json.dumps({"batch_size": 0})
    with pytest.raises(InputError, match=r"gate\.batch_size: 0"):
        spec.from_parameters(params)


def _names_in(module) -> set[str]:
    """Identifiers, keyword names and whole string constants in a module's code."""
    found = set()
    for node in ast.walk(ast.parse(inspect.getsource(module))):
        if isinstance(node, ast.Name):
            found.add(node.id)
        elif isinstance(node, ast.Attribute):
            found.add(node.attr)
        elif isinstance(node, (ast.arg, ast.keyword)) and node.arg:
            found.add(node.arg)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            found.add(node.value)
    return found


def test_every_gate_setting_is_declared_once_in_config_py():
    """Adding a gate setting is one edit in one file: spec.py and component.py name none of
    GateConfig's keys, and a new key reaches the executor's side through the one JSON."""
    keys = set(GateConfig.keys())
    assert keys >= {"signature_name", "splits", "batch_size", "raise_on_block"}
    for module in (spec, component):
        assert not keys & _names_in(module), module.__name__

    @dataclasses.dataclass(frozen=True)
    class Extended(GateConfig):
        new_setting: int = setting(1, Number(1, integer=True), "a setting added later")

    extended = Extended.from_dict({"new_setting": 5, "batch_size": 3})
    params = {spec.CONFIG_KEY: extended.to_json()}
    assert json.loads(params[spec.CONFIG_KEY])["new_setting"] == 5
    assert Extended.from_json(params[spec.CONFIG_KEY]) == extended
