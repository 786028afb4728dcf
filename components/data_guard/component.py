"""DataGuard: a TFX component that counts NaN/Inf/missing exactly and can stop the pipeline."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tfx import types
from tfx.dsl.components.base import base_beam_component, executor_spec
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter, ComponentSpec, ExecutionParameter
from tfx.utils import json_utils

from nanguard.components.data_guard import executor
from nanguard.components.data_guard import policy as policy_lib


class DataGuardSpec(ComponentSpec):
    """DataGuard component spec."""

    PARAMETERS = {
        executor.LABEL_KEY: ExecutionParameter(type=str, optional=True),
        executor.POLICY_KEY: ExecutionParameter(type=str, optional=True),
        executor.EXCLUDE_SPLITS_KEY: ExecutionParameter(type=str, optional=True),
    }
    INPUTS = {
        executor.EXAMPLES_KEY: ChannelParameter(type=standard_artifacts.Examples),
        executor.SCHEMA_KEY: ChannelParameter(type=standard_artifacts.Schema, optional=True),
    }
    OUTPUTS = {
        executor.ANOMALIES_KEY: ChannelParameter(type=standard_artifacts.ExampleAnomalies),
    }


class DataGuard(base_beam_component.BaseBeamComponent):
    """Counts missing, NaN, +Inf, -Inf and huge values per feature and split, and judges them.

    Outputs ``anomalies`` (ExampleAnomalies): ``Split-<split>/SchemaDiff.pb`` as ExampleValidator
    writes it (FLOAT_TYPE_HAS_NAN, FLOAT_TYPE_HAS_INF, FEATURE_TYPE_LOW_FRACTION_PRESENT, ...),
    ``data_guard_profile.json``, and the custom properties ``blessed`` (int 1/0, gate with
    ``tfx.dsl.Cond``), ``profile_<split>`` (JSON), ``violations`` (JSON), ``policy`` (JSON) and
    int totals ``num_rows``, ``num_missing``, ``num_nan``, ``num_pos_inf``, ``num_neg_inf``,
    ``num_huge``, ``num_violations``, ``num_label_rows_to_drop``.

    Example:
      ```python
      guard = DataGuard(
          examples=example_gen.outputs['examples'],
          schema=schema_importer.outputs['schema'],
          label_key='species',
          policy={'max_missing_fraction': 0.2, 'inf': 'treat_as_missing'},
          mode='fail',
      )
      ```
    """

    SPEC_CLASS = DataGuardSpec
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(executor.Executor)

    def __init__(
        self,
        examples: types.BaseChannel,
        schema: types.BaseChannel | None = None,
        label_key: str = "",
        policy: policy_lib.DataGuardPolicy | Mapping[str, Any] | None = None,
        mode: str | None = None,
        exclude_splits: list[str] | None = None,
    ):
        """Constructs a DataGuard.

        Args:
          examples: Examples channel (tf.Example records, e.g. from CsvExampleGen).
          schema: Optional Schema channel: its features absent from the data are 100% missing,
            and a FLOAT/INT feature holding strings is an error.
          label_key: The label feature ('' for none); missing/NaN/Inf labels follow
            ``policy.label``.
          policy: A DataGuardPolicy or a dict of its fields; validated here, at pipeline build time.
          mode: ``'fail'`` or ``'warn'``; overrides ``policy.mode`` when given.
          exclude_splits: Split names not to guard.
        """
        policy = policy_lib.as_policy(policy)
        if mode is not None:
            policy = policy_lib.DataGuardPolicy.from_dict({**policy.__dict__, "mode": mode})
        spec = DataGuardSpec(
            examples=examples,
            schema=schema,
            label_key=label_key,
            policy=policy.to_json(),
            exclude_splits=json_utils.dumps(exclude_splits or []),
            anomalies=types.Channel(type=standard_artifacts.ExampleAnomalies),
        )
        super().__init__(spec=spec)
