"""ComponentSpec and keys of FinitePredictionGate."""

from tfx import types
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter, ExecutionParameter

MODEL_KEY = "model"
EXAMPLES_KEY = "examples"
SCHEMA_KEY = "schema"
STATISTICS_KEY = "statistics"
MODEL_BLESSING_KEY = "model_blessing"
BLESSING_KEY = "blessing"

SIGNATURE_NAME_KEY = "signature_name"
SPLITS_KEY = "splits"
BATCH_SIZE_KEY = "batch_size"
PROBE_FAMILIES_KEY = "probe_families"
MAX_OFFENDING_KEY = "max_offending"
LABEL_KEY_KEY = "label_key"
BLOCK_ON_PROBE_ERROR_KEY = "block_on_probe_error"
RAISE_ON_BLOCK_KEY = "raise_on_block"


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
    }
    INPUTS = {
        MODEL_KEY: ChannelParameter(type=standard_artifacts.Model),
        EXAMPLES_KEY: ChannelParameter(type=standard_artifacts.Examples),
        SCHEMA_KEY: ChannelParameter(type=standard_artifacts.Schema, optional=True),
        STATISTICS_KEY: ChannelParameter(type=standard_artifacts.ExampleStatistics, optional=True),
        MODEL_BLESSING_KEY: ChannelParameter(type=standard_artifacts.ModelBlessing, optional=True),
    }
    OUTPUTS = {
        BLESSING_KEY: ChannelParameter(type=standard_artifacts.ModelBlessing),
    }
