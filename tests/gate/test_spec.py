"""spec.py: the GateConfig <-> exec_properties mapping (parse, don't re-validate)."""

from __future__ import annotations

import json

from nanguard.components import vocab
from nanguard.components.gate import spec
from nanguard.components.gate.config import GateConfig


def test_parameters_round_trip():
    config = GateConfig.from_dict(
        {"splits": ["eval", "test"], "probe_families": ["nan"], "batch_size": 7,
         "max_offending": 0, "block_on_probe_error": False, "raise_on_block": True}
    )  # fmt: skip
    params = spec.to_parameters(config, "species", "regression")
    assert set(params) == set(spec.FinitePredictionGateSpec.PARAMETERS)
    assert params[spec.TASK_KEY] == "regression"
    assert spec.to_parameters(config, "species")[spec.TASK_KEY] == ""
    assert json.loads(params[spec.SPLITS_KEY]) == ["eval", "test"]
    assert params[spec.BLOCK_ON_PROBE_ERROR_KEY] == 0 and params[spec.RAISE_ON_BLOCK_KEY] == 1
    assert spec.from_parameters(params) == (config, "species")


def test_no_label_is_one_value():
    params = spec.to_parameters(GateConfig(), vocab.NO_LABEL)
    assert params[spec.LABEL_KEY_KEY] == ""
    assert spec.from_parameters(params) == (GateConfig(), "")
    params[spec.LABEL_KEY_KEY] = None  # an older compiled pipeline
    assert spec.from_parameters(params)[1] == vocab.NO_LABEL
