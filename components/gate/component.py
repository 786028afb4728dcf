"""FinitePredictionGate: the thin component (spec, executor, channels, one GateConfig)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tfx import types
from tfx.dsl.components.base import base_beam_component, executor_spec
from tfx.types import standard_artifacts

from nanguard.components import vocab
from nanguard.components.gate import executor, spec
from nanguard.components.gate.config import GateConfig


class FinitePredictionGate(base_beam_component.BaseBeamComponent):
    """Blesses a model only if its predictions are finite on the data and on hostile probes.

    Runs the model's serving signature (serialized tf.Example in) over the given splits of
    `examples` in Beam and counts NaN, +Inf and -Inf per output, then sends hostile probes built
    from `schema`/`statistics` (each feature missing, NaN, +/-Inf, 1000x its range, all
    missing). Writes a `ModelBlessing` exactly as the Evaluator does (int custom property
    `blessed`, `current_model`, `current_model_id`, empty BLESSED/NOT_BLESSED file), so the
    stock Pusher honours it, plus `gate_report.json` with counts, the first offending examples
    and the failed probes (NaN/Inf spelled "NaN"/"Infinity"/"-Infinity").

    Example:
        gate = FinitePredictionGate(
            model=trainer.outputs['model'],
            examples=example_gen.outputs['examples'],
            schema=schema_gen.outputs['schema'],
            statistics=statistics_gen.outputs['statistics'],
            model_blessing=evaluator.outputs['blessing'],  # optional
            evaluation=evaluator.outputs['evaluation'],    # optional: the reasons
            label_key='species',
            config=pipeline_config.gate)        # or GateConfig keys as keyword arguments
        pusher = Pusher(model=trainer.outputs['model'],
                        model_blessing=gate.outputs['blessing'], ...)
    """

    SPEC_CLASS = spec.FinitePredictionGateSpec
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(executor.Executor)

    def __init__(
        self,
        model: types.BaseChannel,
        examples: types.BaseChannel,
        schema: types.BaseChannel | None = None,
        statistics: types.BaseChannel | None = None,
        model_blessing: types.BaseChannel | None = None,
        evaluation: types.BaseChannel | None = None,
        label_key: str = vocab.NO_LABEL,
        config: GateConfig | Mapping[str, Any] | None = None,
        task: str | None = None,
        **settings: Any,
    ):
        """Constructs a FinitePredictionGate.

        The settings are GateConfig's (`config.py` declares each one's default, allowed values
        and meaning; `nanguard config` prints them): pass a GateConfig or a dict as `config`,
        and override any of them as a keyword argument (`batch_size=64`). All are validated
        once, here, into the one JSON `config` parameter (InputError naming the key).

        Args:
            model: Channel of `Model` (SavedModel under Format-Serving, as the Trainer writes).
            examples: Channel of `Examples` (tf.Example payload).
            schema: Optional channel of `Schema` (raw data); used to build probes.
            statistics: Optional channel of `ExampleStatistics`; gives the probes' typical
                values and observed ranges (train split if present).
            model_blessing: Optional upstream `ModelBlessing` (e.g. the Evaluator's); if it is
                not blessed, the gate does not bless either.
            evaluation: Optional `ModelEvaluation` of the Evaluator that wrote
                `model_blessing`: its failed thresholds become the gate's reasons (metric,
                value, threshold), and its metrics go into gate_report.json.
            label_key: Feature excluded from probes; `vocab.NO_LABEL` ("") for none.
            config: A GateConfig (e.g. `PipelineConfig.gate`) or a dict of its keys.
            task: 'classification' or 'regression' (`components/task.py`), written into
                the report for the run summary; None: not stated.
            **settings: GateConfig keys, overriding `config`'s.

        Raises:
            InputError: an unknown key or a value outside GateConfig's allowed ones.
        """
        base = GateConfig.from_dict(config).to_dict() if config is not None else {}
        given = {k: v for k, v in settings.items() if v is not None}
        gate_config = GateConfig.from_dict({**base, **given})
        super().__init__(
            spec=spec.FinitePredictionGateSpec(
                model=model,
                examples=examples,
                schema=schema,
                statistics=statistics,
                model_blessing=model_blessing,
                evaluation=evaluation,
                blessing=types.Channel(type=standard_artifacts.ModelBlessing),
                **spec.to_parameters(gate_config, label_key, task or ""),
            )
        )
