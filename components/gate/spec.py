"""ComponentSpec and keys of FinitePredictionGate, and the GateConfig <-> parameters mapping."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from tfx import types
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter, ExecutionParameter

from nanguard.components import vocab
from nanguard.components.gate.config import GateConfig

MODEL_KEY = "model"
EXAMPLES_KEY = "examples"
SCHEMA_KEY = "schema"
STATISTICS_KEY = "statistics"
MODEL_BLESSING_KEY = "model_blessing"
EVALUATION_KEY = "evaluation"  # the Evaluator's ModelEvaluation: why its blessing is negative
BLESSING_KEY = "blessing"

SIGNATURE_NAME_KEY = "signature_name"
SPLITS_KEY = "splits"
BATCH_SIZE_KEY = "batch_size"
PROBE_FAMILIES_KEY = "probe_families"
MAX_OFFENDING_KEY = "max_offending"
LABEL_KEY_KEY = "label_key"
BLOCK_ON_PROBE_ERROR_KEY = "block_on_probe_error"
RAISE_ON_BLOCK_KEY = "raise_on_block"
TASK_KEY = "task"  # classification or regression (components/task.py); reported, not checked


class FinitePredictionGateSpec(types.ComponentSpec):
    """ComponentSpec of FinitePredictionGate."""

    PARAMETERS = {
        SIGNATURE_NAME_KEY: ExecutionParameter(type=str),
        SPLITS_KEY: ExecutionParameter(type=str),  # JSON list of split names.
        BATCH_SIZE_KEY: ExecutionParameter(type=int),
        PROBE_FAMILIES_KEY: ExecutionParameter(type=str),  # JSON list of probe families.
        MAX_OFFENDING_KEY: ExecutionParameter(type=int),
        LABEL_KEY_KEY: ExecutionParameter(type=str, optional=True),
        BLOCK_ON_PROBE_ERROR_KEY: ExecutionParameter(type=int),
        RAISE_ON_BLOCK_KEY: ExecutionParameter(type=int),
        TASK_KEY: ExecutionParameter(type=str, optional=True),
    }
    INPUTS = {
        MODEL_KEY: ChannelParameter(type=standard_artifacts.Model),
        EXAMPLES_KEY: ChannelParameter(type=standard_artifacts.Examples),
        SCHEMA_KEY: ChannelParameter(type=standard_artifacts.Schema, optional=True),
        STATISTICS_KEY: ChannelParameter(type=standard_artifacts.ExampleStatistics, optional=True),
        MODEL_BLESSING_KEY: ChannelParameter(type=standard_artifacts.ModelBlessing, optional=True),
        EVALUATION_KEY: ChannelParameter(type=standard_artifacts.ModelEvaluation, optional=True),
    }
    OUTPUTS = {
        BLESSING_KEY: ChannelParameter(type=standard_artifacts.ModelBlessing),
    }


def to_parameters(config: GateConfig, label_key: str, task: str = "") -> dict[str, Any]:
    """The spec's PARAMETERS for a (validated) GateConfig, the label feature and the task
    ('classification', 'regression'; "" when not stated)."""
    return {
        SIGNATURE_NAME_KEY: config.signature_name,
        SPLITS_KEY: json.dumps(list(config.splits)),
        BATCH_SIZE_KEY: config.batch_size,
        PROBE_FAMILIES_KEY: json.dumps(list(config.probe_families)),
        MAX_OFFENDING_KEY: config.max_offending,
        LABEL_KEY_KEY: label_key,
        BLOCK_ON_PROBE_ERROR_KEY: int(config.block_on_probe_error),
        RAISE_ON_BLOCK_KEY: int(config.raise_on_block),
        TASK_KEY: task,
    }


def from_parameters(exec_properties: Mapping[str, Any]) -> tuple[GateConfig, str]:
    """``(config, label_key)`` back from the executor's exec_properties.

    Parses, does not re-validate: the component validated the values (``GateConfig.from_dict``)
    before they were written into the spec. A missing label is ``vocab.NO_LABEL``.
    """
    config = GateConfig(
        signature_name=exec_properties[SIGNATURE_NAME_KEY],
        splits=tuple(json.loads(exec_properties[SPLITS_KEY])),
        batch_size=int(exec_properties[BATCH_SIZE_KEY]),
        probe_families=tuple(json.loads(exec_properties[PROBE_FAMILIES_KEY])),
        max_offending=int(exec_properties[MAX_OFFENDING_KEY]),
        block_on_probe_error=bool(exec_properties[BLOCK_ON_PROBE_ERROR_KEY]),
        raise_on_block=bool(exec_properties[RAISE_ON_BLOCK_KEY]),
    )
    return config, exec_properties.get(LABEL_KEY_KEY) or vocab.NO_LABEL
