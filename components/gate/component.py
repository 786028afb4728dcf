"""FinitePredictionGate: the thin component (spec, executor, channels, one GateConfig)."""

from __future__ import annotations

from collections.abc import Sequence

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
            config=pipeline_config.gate)        # or the settings as keyword arguments
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
        signature_name: str | None = None,
        splits: Sequence[str] | None = None,
        batch_size: int | None = None,
        probe_families: Sequence[str] | None = None,
        max_offending: int | None = None,
        block_on_probe_error: bool | None = None,
        raise_on_block: bool | None = None,
        label_key: str = vocab.NO_LABEL,
        config: GateConfig | None = None,
        task: str | None = None,
    ):
        """Constructs a FinitePredictionGate.

        The settings are GateConfig's (components/gate/config.py states their defaults and
        allowed values); a keyword argument left at None takes its value from `config`, else
        GateConfig's default. All are validated once, here (InputError naming the key).

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
            signature_name: Signature that takes serialized tf.Example.
            splits: Splits of `examples` to run the model on.
            batch_size: Examples per signature call.
            probe_families: Probe families to run; empty disables probes. Allowed:
                missing, nan, pos_inf, neg_inf, out_of_range, all_missing.
            max_offending: Offending examples kept in the report, per split.
            block_on_probe_error: A probe on which the signature raises blocks too.
            raise_on_block: Raise GuardBlockedError (failing the run) instead of only writing
                a NOT_BLESSED blessing. Off by default: the Pusher simply does not push.
            label_key: Feature excluded from probes; `vocab.NO_LABEL` ("") for none.
            config: A GateConfig (e.g. `PipelineConfig.gate`) the keyword arguments override.
            task: 'classification' or 'regression' (`components/task.py`), written into
                the report for the run summary; None: not stated.

        Raises:
            InputError: a setting outside GateConfig's allowed values (names the key).
        """
        given = {
            "signature_name": signature_name,
            "splits": splits,
            "batch_size": batch_size,
            "probe_families": probe_families,
            "max_offending": max_offending,
            "block_on_probe_error": block_on_probe_error,
            "raise_on_block": raise_on_block,
        }
        values = {k: v for k, v in given.items() if v is not None}
        gate_config = GateConfig.from_dict({**(config.to_dict() if config else {}), **values})
        super().__init__(
            spec=spec.FinitePredictionGateSpec(
                model=model,
                examples=examples,
                schema=schema,
                statistics=statistics,
                model_blessing=model_blessing,
                evaluation=evaluation,
                blessing=types.Channel(type=standard_artifacts.ModelBlessing),
                **spec.to_parameters(gate_config, label_key or vocab.NO_LABEL, task or ""),
            )
        )
