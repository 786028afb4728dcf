"""ComponentSpec and keys of FinitePredictionGate, and the GateConfig <-> parameters mapping.

The `gate:` section travels as ONE JSON exec property (`config`), validated by `GateConfig` on
both sides, as DataGuard's does: a new gate setting is declared once, in `config.py`, and needs
no edit here. The label and the task travel as `label_key` and `task`, the names every nanguard
component uses (`vocab.LABEL_KEY`, `vocab.TASK_KEY`). Channel keys are TFX's standard names.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tfx import types
from tfx.types import standard_artifacts, standard_component_specs
from tfx.types.component_spec import ChannelParameter, ExecutionParameter

from nanguard.components import vocab
from nanguard.components.gate.config import GateConfig

MODEL_KEY = standard_component_specs.MODEL_KEY  # 'model'
EXAMPLES_KEY = standard_component_specs.EXAMPLES_KEY  # 'examples'
SCHEMA_KEY = standard_component_specs.SCHEMA_KEY  # 'schema'
STATISTICS_KEY = standard_component_specs.STATISTICS_KEY  # 'statistics'
MODEL_BLESSING_KEY = standard_component_specs.MODEL_BLESSING_KEY  # 'model_blessing'
# The Evaluator's ModelEvaluation: why its blessing is negative.
EVALUATION_KEY = standard_component_specs.EVALUATION_KEY  # 'evaluation'
BLESSING_KEY = standard_component_specs.BLESSING_KEY  # 'blessing'

CONFIG_KEY = "config"  # GateConfig.to_json()
LABEL_KEY = vocab.LABEL_KEY  # 'label_key': the feature left out of the probes
TASK_KEY = vocab.TASK_KEY  # classification or regression (components/task.py); reported


class FinitePredictionGateSpec(types.ComponentSpec):
    """ComponentSpec of FinitePredictionGate."""

    PARAMETERS = {
        CONFIG_KEY: ExecutionParameter(type=str),
        LABEL_KEY: ExecutionParameter(type=str, optional=True),
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
    """The spec's PARAMETERS for a GateConfig, the label feature and the task
    ('classification', 'regression'; "" when not stated)."""
    return {
        CONFIG_KEY: GateConfig.from_dict(config).to_json(),
        LABEL_KEY: label_key or vocab.NO_LABEL,
        TASK_KEY: task or "",
    }


def from_parameters(exec_properties: Mapping[str, Any]) -> tuple[GateConfig, str]:
    """``(config, label_key)`` back from the executor's exec_properties.

    The JSON is validated again by ``GateConfig`` (InputError naming the key), so a hand-edited
    compiled pipeline cannot slip a bad value past the component. A missing label is
    ``vocab.NO_LABEL``.
    """
    config = GateConfig.from_json(exec_properties.get(CONFIG_KEY))
    return config, exec_properties.get(LABEL_KEY) or vocab.NO_LABEL
