"""FinitePredictionGate: spec and thin component."""

from __future__ import annotations

from collections.abc import Sequence

from tfx import types
from tfx.dsl.components.base import base_beam_component, executor_spec
from tfx.types import standard_artifacts
from tfx.utils import json_utils

from nanguard.components.gate import core, executor, probes
from nanguard.components.gate.spec import FinitePredictionGateSpec


class FinitePredictionGate(base_beam_component.BaseBeamComponent):
    """Blesses a model only if its predictions are finite on the data and on hostile probes.

    Runs the model's serving signature (serialized tf.Example in) over the given splits of
    `examples` in Beam and counts NaN, +Inf and -Inf per output, then sends hostile probes built
    from `schema`/`statistics` (each feature missing, NaN, +/-Inf, 1000x its range, all
    missing). Writes a `ModelBlessing` exactly as the Evaluator does (int custom property
    `blessed`, `current_model`, `current_model_id`, empty BLESSED/NOT_BLESSED file), so the
    stock Pusher honours it, plus `gate_report.json` with counts, the first offending examples
    and the failed probes.

    Example:
        gate = FinitePredictionGate(
            model=trainer.outputs['model'],
            examples=example_gen.outputs['examples'],
            schema=schema_gen.outputs['schema'],
            statistics=statistics_gen.outputs['statistics'],
            model_blessing=evaluator.outputs['blessing'],  # optional
            label_key='species')
        pusher = Pusher(model=trainer.outputs['model'],
                        model_blessing=gate.outputs['blessing'], ...)
    """

    SPEC_CLASS = FinitePredictionGateSpec
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(executor.Executor)

    def __init__(
        self,
        model: types.BaseChannel,
        examples: types.BaseChannel,
        schema: types.BaseChannel | None = None,
        statistics: types.BaseChannel | None = None,
        model_blessing: types.BaseChannel | None = None,
        signature_name: str = core.DEFAULT_SIGNATURE,
        splits: Sequence[str] = ("eval",),
        batch_size: int = core.DEFAULT_BATCH_SIZE,
        probe_families: Sequence[str] = probes.PROBE_FAMILIES,
        max_offending: int = core.DEFAULT_MAX_OFFENDING,
        label_key: str | None = None,
        block_on_probe_error: bool = True,
        raise_on_block: bool = False,
    ):
        """Constructs a FinitePredictionGate.

        Args:
            model: Channel of `Model` (SavedModel under Format-Serving, as the Trainer writes).
            examples: Channel of `Examples` (tf.Example payload).
            schema: Optional channel of `Schema` (raw data); used to build probes.
            statistics: Optional channel of `ExampleStatistics`; gives the probes' typical
                values and observed ranges (train split if present).
            model_blessing: Optional upstream `ModelBlessing` (e.g. the Evaluator's); if it is
                not blessed, the gate does not bless either.
            signature_name: Signature that takes serialized tf.Example.
            splits: Splits of `examples` to run the model on.
            batch_size: Examples per signature call.
            probe_families: Probe families to run; empty disables probes. Allowed:
                missing, nan, pos_inf, neg_inf, out_of_range, all_missing.
            max_offending: Offending examples kept in the report, per split.
            label_key: Feature excluded from probes.
            block_on_probe_error: A probe on which the signature raises blocks too.
            raise_on_block: Raise GuardBlockedError (failing the run) instead of only writing
                a NOT_BLESSED blessing. Off by default: the Pusher simply does not push.
        """
        probes.validate_families(probe_families)
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}.")
        if not splits:
            raise ValueError('splits must name at least one split of examples, e.g. ["eval"].')
        spec = FinitePredictionGateSpec(
            model=model,
            examples=examples,
            schema=schema,
            statistics=statistics,
            model_blessing=model_blessing,
            signature_name=signature_name,
            splits=json_utils.dumps(list(splits)),
            batch_size=batch_size,
            probe_families=json_utils.dumps(list(probe_families)),
            max_offending=max_offending,
            label_key=label_key,
            block_on_probe_error=int(block_on_probe_error),
            raise_on_block=int(raise_on_block),
            blessing=types.Channel(type=standard_artifacts.ModelBlessing),
        )
        super().__init__(spec=spec)
