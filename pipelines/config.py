"""`PipelineConfig`: the label, the task and the component sections, loaded and checked once.

The `--config` YAML has a top-level `label` and `task` and one mapping per section
(`data_guard`, `transform`, `trainer`, `evaluator`, `gate`); every key is optional.
`nanguard config` prints the defaults with one line of documentation per key (that text is
`pipelines/nanguard.example.yaml`).
Rules that span sections are settled here, once:

- the label is one value (`label`, or `--label`, which wins), handed to every component;
- the task (`task`: auto, classification or regression) is one decision, made before the
  pipeline is built (`with_task`, rule in `components/task.py`) and handed to the transform,
  the Evaluator's config, the gate and the run summary;
- the transform repairs what the data guard lets through: with `data_guard.inf` set to
  `treat_as_missing` or `clip` and no `transform.inf`, the transform follows the guard.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from typing import Any, ClassVar

import pyarrow as pa

from nanguard.components import task as task_lib
from nanguard.components.config import Nested, OneOf, Section, Text, setting, yaml_lines
from nanguard.components.data_guard.config import DataGuardConfig
from nanguard.components.errors import InputError
from nanguard.components.gate.config import GateConfig
from nanguard.components.gate.eval_config import EvaluatorConfig
from nanguard.components.trainer.config import TrainerConfig
from nanguard.components.transform.config import TransformConfig

DEFAULT_LABEL = "species"  # the bundled penguins' label


@dataclasses.dataclass(frozen=True)
class PipelineConfig(Section):
    """Everything `create_pipeline` can be told besides where things are."""

    label: str = setting(DEFAULT_LABEL, Text(), "the label column (--label overrides it)")
    task: str = setting(
        task_lib.AUTO,
        OneOf(task_lib.TASKS),
        "auto: from the label (text or <= 20 distinct whole numbers: classification)",
    )
    data_guard: DataGuardConfig = setting(
        DataGuardConfig(), Nested(DataGuardConfig), "components/data_guard/README.md"
    )
    transform: TransformConfig = setting(
        TransformConfig(), Nested(TransformConfig), "components/transform/README.md"
    )
    trainer: TrainerConfig = setting(
        TrainerConfig(), Nested(TrainerConfig), "components/trainer/README.md"
    )
    evaluator: EvaluatorConfig = setting(
        EvaluatorConfig(), Nested(EvaluatorConfig), "quality thresholds of the task"
    )
    gate: GateConfig = setting(GateConfig(), Nested(GateConfig), "components/gate/README.md")

    name: ClassVar[str] = ""  # top-level keys are named as they are: `gate.batch_size`

    @classmethod
    def from_dict(cls, values: Mapping[str, Any] | None, where: str | None = None):
        values = dict(values or {}) if isinstance(values, Mapping) or values is None else values
        if isinstance(values, dict):
            guard_inf = (
                (values.get("data_guard") or {}).get("inf")
                if isinstance(values.get("data_guard"), Mapping)
                else None
            )
            transform = values.get("transform")
            if guard_inf in ("treat_as_missing", "clip") and (
                transform is None or (isinstance(transform, Mapping) and "inf" not in transform)
            ):
                values["transform"] = {**(transform or {}), "inf": guard_inf}
        config = super().from_dict(values, where)
        if config.label and config.label in config.transform.exclude:  # Transform would drop it
            raise InputError(
                f"transform.exclude: names the label {config.label!r}, which the model needs as "
                "its target; take it out of transform.exclude (the label is never a feature)"
            )
        return config

    @classmethod
    def load(cls, path: str | None, **overrides: Any) -> PipelineConfig:
        """Reads the YAML at `path` (None: the defaults) and applies `overrides` (e.g. label).

        Raises:
          InputError: naming `--config PATH` and the key, for anything that cannot be used.
        """
        values: dict[str, Any] = {}
        if path:
            values = read_yaml(path)
        values.update({k: v for k, v in overrides.items() if v is not None})
        try:
            return cls.from_dict(values)
        except InputError as e:
            raise InputError(f"--config {path}: {e}" if path else str(e)) from e

    def with_trainer_steps(self, train_steps: int | None, eval_steps: int | None):
        """A copy with the command line's step counts (None keeps the config's)."""
        steps = {"train_steps": train_steps, "eval_steps": eval_steps}
        steps = {k: v for k, v in steps.items() if v is not None}
        if not steps:
            return self
        return dataclasses.replace(self, trainer=self.trainer.replace(**steps))

    def with_task(
        self, column: Any = None, schema_path: str | None = None, data: str | None = None
    ) -> PipelineConfig:
        """A copy whose `task` is decided: classification or regression, never auto.

        The label's values decide `task: auto` (`components/task.py`): `column` (the label
        column of the staged table, as `nanguard run` has it), else the CSV file(s) at `data`
        when that is a local path; else a label that the schema at `schema_path` (a local
        file) declares BYTES is classification. An explicit task is checked against the values
        when they are at hand (regression on text labels is refused).

        Raises:
          InputError: the task cannot be decided (names the key `task` to set), or does not
            fit the label.
        """
        if column is None and data and "://" not in data and os.path.exists(data):
            from nanguard.components.inputs import read_csv

            reading = self.data_guard  # read as `run` reads it: dialect and missing spellings
            table = read_csv(data, missing=reading.missing_values(), dialect=reading.dialect())
            if self.label not in table.column_names:
                raise InputError(
                    f"--label {self.label}: not a column of {data} (columns: "
                    f"{table.column_names}); pass --label with the column to predict"
                )
            column = table.select([self.label])
        if column is not None:
            if isinstance(column, pa.Table):
                from nanguard.components.csv_types import example_gen_types

                column = example_gen_types(column.select([self.label])).column(0)
            decided = task_lib.decide_task(self.task, column, self.label)
        elif self.task != task_lib.AUTO:
            decided = self.task
        else:
            decided = _task_from_schema(schema_path, self.label)
        return dataclasses.replace(self, task=decided)


def _task_from_schema(schema_path: str | None, label: str) -> str:
    """The task a local schema's label type implies; InputError (naming `task`) if none."""
    declared = None
    if schema_path and "://" not in schema_path and os.path.isfile(schema_path):
        from google.protobuf import text_format
        from tensorflow_metadata.proto.v0 import schema_pb2

        with open(schema_path, encoding="utf-8") as f:
            schema = text_format.Parse(f.read(), schema_pb2.Schema())
        types = {f.name: schema_pb2.FeatureType.Name(f.type) for f in schema.feature}
        declared = task_lib.task_from_schema_type(types.get(label, ""))
    if declared is None:
        raise InputError(
            f"task: auto needs the label {label!r}'s values, and the data cannot be read "
            "here; set `task: classification` or `task: regression` in --config"
        )
    return declared


def read_yaml(path: str) -> dict[str, Any]:
    """The mapping in a YAML file; InputError names the file for anything else."""
    import yaml

    try:
        with open(path, encoding="utf-8") as f:
            values = yaml.safe_load(f)
    except FileNotFoundError as e:
        raise InputError(f"--config {path}: no such file") from e
    except IsADirectoryError as e:
        raise InputError(f"--config {path}: is a folder; pass a YAML file") from e
    except OSError as e:
        raise InputError(f"--config {path}: cannot be read ({e.strerror})") from e
    except UnicodeDecodeError as e:
        raise InputError(f"--config {path}: not a UTF-8 text file; pass a YAML file") from e
    except yaml.YAMLError as e:
        raise InputError(f"--config {path}: not valid YAML ({e})") from e
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise InputError(
            f"--config {path}: expected a mapping with the keys {PipelineConfig.keys()}, "
            f"got {type(values).__name__}"
        )
    return values


def example_yaml() -> str:
    """The defaults of every key, documented: what `nanguard config` prints."""
    head = [
        "# nanguard run --config nanguard.yaml   (generated by `nanguard config`: the defaults)",
        "# Every key is optional.",
    ]
    return "\n".join(head + yaml_lines(PipelineConfig)) + "\n"
