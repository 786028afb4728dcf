"""FinitePredictionGate: the thin component builds one validated GateConfig into its spec."""

from __future__ import annotations

import json

import pytest
from tfx.types import channel_utils, standard_artifacts

from nanguard.components.errors import InputError
from nanguard.components.gate import spec
from nanguard.components.gate.component import FinitePredictionGate
from nanguard.components.gate.config import GateConfig


def _channels():
    return {
        "model": channel_utils.as_channel([standard_artifacts.Model()]),
        "examples": channel_utils.as_channel([standard_artifacts.Examples()]),
    }


def test_component_builds_spec():
    gate = FinitePredictionGate(
        **_channels(), label_key="species", probe_families=["nan", "all_missing"]
    )
    assert gate.outputs["blessing"].type == standard_artifacts.ModelBlessing
    sent = json.loads(gate.exec_properties["config"])  # the one JSON parameter
    assert sent["probe_families"] == ["nan", "all_missing"] and sent["splits"] == ["eval"]
    assert gate.exec_properties["label_key"] == "species"
    config, label = spec.from_parameters(gate.exec_properties)
    assert config == GateConfig().replace(probe_families=["nan", "all_missing"])
    assert label == "species"


def test_defaults_are_gate_configs_and_no_label_is_empty():
    gate = FinitePredictionGate(**_channels())
    assert spec.from_parameters(gate.exec_properties) == (GateConfig(), "")


def test_config_section_and_keyword_overrides():
    section = GateConfig.from_dict({"batch_size": 64, "splits": ["test"]})
    gate = FinitePredictionGate(**_channels(), config=section, max_offending=2)
    config, _ = spec.from_parameters(gate.exec_properties)
    assert (config.batch_size, config.splits, config.max_offending) == (64, ("test",), 2)


@pytest.mark.parametrize(
    "kwargs, needle",
    [
        ({"probe_families": ["bogus"]}, r"gate\.probe_families\[0\]: 'bogus'"),
        ({"batch_size": 0}, r"gate\.batch_size: 0"),
        ({"splits": []}, r"gate\.splits: \[\]"),
        ({"bogus_key": 1}, r"gate: unknown key\(s\) \['bogus_key'\]"),
    ],
)
def test_bad_settings_raise_input_error(kwargs, needle):
    with pytest.raises(InputError, match=needle):
        FinitePredictionGate(**_channels(), **kwargs)
