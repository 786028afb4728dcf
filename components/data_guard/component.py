"""DataGuard: a TFX component that counts NaN/Inf/missing exactly and can stop the pipeline."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

from tfx import types
from tfx.dsl.components.base import base_beam_component, executor_spec
from tfx.types import standard_artifacts
from tfx.utils import json_utils

from nanguard.components import vocab
from nanguard.components.data_guard import executor
from nanguard.components.data_guard.config import DataGuardConfig
from nanguard.components.data_guard.spec import DataGuardSpec


class DataGuard(base_beam_component.BaseBeamComponent):
    """Counts missing, NaN, +Inf, -Inf and huge values per feature and split, and judges them.

    Outputs ``anomalies`` (ExampleAnomalies): ``Split-<split>/SchemaDiff.pb`` as ExampleValidator
    writes it (FLOAT_TYPE_HAS_NAN, FLOAT_TYPE_HAS_INF, FEATURE_TYPE_LOW_FRACTION_PRESENT, ...),
    ``data_guard_profile.json``, and the custom properties ``blessed`` (int 1/0, gate with
    ``tfx.dsl.Cond``), ``profile_<split>`` (JSON), ``violations`` (JSON), ``policy`` (JSON of the
    config) and int totals ``num_rows``, ``num_missing``, ``num_nan``, ``num_pos_inf``,
    ``num_neg_inf``, ``num_huge``, ``num_violations`` (blocking), ``num_warnings``,
    ``num_label_missing`` (rows without a usable label, left out under
    ``unlabelled_rows: drop``).

    Example:
      ```python
      guard = DataGuard(
          examples=example_gen.outputs['examples'],
          schema=schema_importer.outputs['schema'],
          label_key='species',
          config={'max_missing_fraction': 0.2, 'inf': 'treat_as_missing', 'mode': 'fail'},
      )
      ```
    """

    SPEC_CLASS = DataGuardSpec
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(executor.Executor)

    def __init__(
        self,
        examples: types.BaseChannel,
        schema: types.BaseChannel | None = None,
        label_key: str = vocab.NO_LABEL,
        config: DataGuardConfig | Mapping[str, Any] | None = None,
        exclude_splits: list[str] | None = None,
        policy: DataGuardConfig | Mapping[str, Any] | None = None,
        baseline: types.BaseChannel | None = None,
    ):
        """Constructs a DataGuard.

        Args:
          examples: Examples channel (tf.Example records, e.g. from CsvExampleGen).
          schema: Optional Schema channel: its features absent from the data are 100% missing,
            and a FLOAT/INT feature holding strings is a violation.
          label_key: The label feature (``vocab.NO_LABEL`` for none); rows with a missing/NaN/Inf
            label follow ``config.unlabelled_rows`` and ``config.max_unlabelled_fraction``.
          config: A DataGuardConfig or a dict of its keys (``mode``, ``max_missing_fraction``,
            ``max_missing_fraction_by_feature``, ``inf``, ``unlabelled_rows``, ...); validated
            here, at pipeline build time (InputError naming the key).
          exclude_splits: Split names not to guard.
          policy: Deprecated name of ``config``.
          baseline: Optional ExampleAnomalies channel of an earlier DataGuard run (e.g. the
            last pushed run's, through ``tfx.dsl.Importer``): each split's missing/NaN/Inf
            rates (and slices) that moved from the same split of it beyond ``config.skew``
            are ``drift`` violations.
        """
        if policy is not None:
            warnings.warn(
                "DataGuard(policy=...) is deprecated; use config=", DeprecationWarning, stacklevel=2
            )
            config = policy if config is None else config
        spec = DataGuardSpec(
            examples=examples,
            schema=schema,
            baseline=baseline,
            label_key=label_key,
            config=DataGuardConfig.from_dict(config).to_json(),
            exclude_splits=json_utils.dumps(exclude_splits or []),
            anomalies=types.Channel(type=standard_artifacts.ExampleAnomalies),
        )
        super().__init__(spec=spec)
