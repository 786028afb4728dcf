"""DataGuard's keys and ComponentSpec (TFX style: `tfx/types/standard_component_specs.py`)."""

from __future__ import annotations

from tfx.types import standard_artifacts, standard_component_specs
from tfx.types.component_spec import ChannelParameter, ComponentSpec, ExecutionParameter

# Keys of the component spec.
EXAMPLES_KEY = standard_component_specs.EXAMPLES_KEY  # 'examples'
SCHEMA_KEY = standard_component_specs.SCHEMA_KEY  # 'schema'
ANOMALIES_KEY = standard_component_specs.ANOMALIES_KEY  # 'anomalies'
EXCLUDE_SPLITS_KEY = standard_component_specs.EXCLUDE_SPLITS_KEY  # 'exclude_splits'
LABEL_KEY = "label_key"  # str, vocab.NO_LABEL for none
CONFIG_KEY = "config"  # DataGuardConfig.to_json()
# An earlier run's ExampleAnomalies of this component (e.g. the last pushed run's, imported):
# every split's rates are compared with the same split of it.
BASELINE_KEY = "baseline"


class DataGuardSpec(ComponentSpec):
    """DataGuard component spec: examples (+ optional schema) in, ExampleAnomalies out."""

    PARAMETERS = {
        LABEL_KEY: ExecutionParameter(type=str, optional=True),
        CONFIG_KEY: ExecutionParameter(type=str, optional=True),
        EXCLUDE_SPLITS_KEY: ExecutionParameter(type=str, optional=True),
    }
    INPUTS = {
        EXAMPLES_KEY: ChannelParameter(type=standard_artifacts.Examples),
        SCHEMA_KEY: ChannelParameter(type=standard_artifacts.Schema, optional=True),
        BASELINE_KEY: ChannelParameter(type=standard_artifacts.ExampleAnomalies, optional=True),
    }
    OUTPUTS = {
        ANOMALIES_KEY: ChannelParameter(type=standard_artifacts.ExampleAnomalies),
    }
