"""`PipelineConfig`: the label and the four component sections, loaded and checked once.

The `--config` YAML has a top-level `label` and one mapping per section (`data_guard`,
`transform`, `trainer`, `gate`); every key is optional. `nanguard config` prints the defaults
with one line of documentation per key (that text is `pipelines/nanguard.example.yaml`).
Rules that span sections are settled here, once:

- the label is one value (`label`, or `--label`, which wins), handed to every component;
- the transform repairs what the data guard lets through: with `data_guard.inf` set to
  `treat_as_missing` or `clip` and no `transform.inf`, the transform follows the guard.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, ClassVar

from nanguard.components.config import Nested, Section, Text, setting, yaml_lines
from nanguard.components.data_guard.config import DataGuardConfig
from nanguard.components.errors import InputError
from nanguard.components.gate.config import GateConfig
from nanguard.components.trainer.config import TrainerConfig
from nanguard.components.transform.config import TransformConfig

DEFAULT_LABEL = "species"  # the bundled penguins' label


@dataclasses.dataclass(frozen=True)
class PipelineConfig(Section):
    """Everything `create_pipeline` can be told besides where things are."""

    label: str = setting(DEFAULT_LABEL, Text(), "the label column (--label overrides it)")
    data_guard: DataGuardConfig = setting(
        DataGuardConfig(), Nested(DataGuardConfig), "components/data_guard/README.md"
    )
    transform: TransformConfig = setting(
        TransformConfig(), Nested(TransformConfig), "components/transform/README.md"
    )
    trainer: TrainerConfig = setting(
        TrainerConfig(), Nested(TrainerConfig), "components/trainer/README.md"
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
        return super().from_dict(values, where)

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
