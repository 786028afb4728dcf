"""nanguard's one typed configuration: sections declared once, validated once, at load.

Each component owns a section (`data_guard/config.py`, `transform/config.py`,
`trainer/config.py`, `gate/config.py`): a frozen dataclass whose fields are declared with
`setting(default, check, doc)`, so a key's default, its allowed values and its documentation
stand in one place (scikit-learn's `_parameter_constraints`, TFX's `standard_component_specs`).
`PipelineConfig` holds the label and the four sections, settles the rules that span sections,
and is what the command line, `create_pipeline` and the components take.

    config = PipelineConfig.load("nanguard.yaml", label="species")   # InputError names the key
    DataGuard(examples=..., config=config.data_guard, label_key=config.label)

Nothing here imports TensorFlow, Beam, TFDV or TFMA: a config error is reported at once.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from nanguard.components import vocab
from nanguard.components.errors import InputError

# ---------------------------------------------------------------------------------------------
# Constraints: each checks one value, returns it normalised, or raises InputError naming `where`.
# ---------------------------------------------------------------------------------------------


class Check:
    """One declared constraint on a config value."""

    def __call__(self, value: Any, where: str) -> Any:
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError

    def fail(self, value: Any, where: str) -> InputError:
        return InputError(f"{where}: {value!r} is not allowed; use {self.describe()}")


class OneOf(Check):
    """A value from a fixed list (strings compared exactly)."""

    def __init__(self, options: Sequence[Any]):
        self.options = tuple(options)

    def __call__(self, value, where):
        if (value is None or isinstance(value, (str, int, float, bool))) and value in self.options:
            return value
        raise self.fail(value, where)

    def describe(self):
        return f"one of {list(self.options)}"


class Number(Check):
    """An int (or float unless `integer`) in `[low, high]`; `open_low`/`open_high` exclude them."""

    def __init__(
        self, low=-math.inf, high=math.inf, integer=False, open_low=False, none=False,
        open_high=False,
    ):  # fmt: skip
        self.low, self.high, self.integer = low, high, integer
        self.open_low, self.open_high, self.none = open_low, open_high, none

    def __call__(self, value, where):
        if value is None and self.none:
            return None
        kinds = (int,) if self.integer else (int, float)
        if isinstance(value, bool) or not isinstance(value, kinds):
            raise self.fail(value, where)
        if not math.isfinite(value) or value > self.high or (self.open_high and value == self.high):
            raise self.fail(value, where)
        if value < self.low or (self.open_low and value == self.low):
            raise self.fail(value, where)
        return value if self.integer else float(value)

    def describe(self):
        kind = "an integer" if self.integer else "a number"
        bounds = []
        if self.low > -math.inf:
            bounds.append(f"{'>' if self.open_low else '>='} {self.low:g}")
        if self.high < math.inf:
            bounds.append(f"{'<' if self.open_high else '<='} {self.high:g}")
        none = " (or null to switch it off)" if self.none else ""
        return f"{kind} {' and '.join(bounds)}{none}".rstrip()


class Flag(Check):
    """true or false."""

    def __call__(self, value, where):
        if isinstance(value, bool):
            return value
        raise self.fail(value, where)

    def describe(self):
        return "true or false"


class Text(Check):
    """A non-empty string, optionally matching `pattern` (described by `what`)."""

    def __init__(self, pattern: str | None = None, what: str = "a non-empty string", none=False):
        self.pattern, self.what, self.none = pattern, what, none

    def __call__(self, value, where):
        if value is None and self.none:
            return None
        if not isinstance(value, str) or not value:
            raise self.fail(value, where)
        if self.pattern and not re.fullmatch(self.pattern, value):
            raise self.fail(value, where)
        return value

    def describe(self):
        return self.what + (" (or null)" if self.none else "")


class ListOf(Check):
    """A list (a YAML sequence, never a bare string) whose items pass `item`."""

    def __init__(self, item: Check, min_len: int = 0, length: int | None = None, none=False):
        self.item, self.min_len, self.length, self.none = item, min_len, length, none

    def __call__(self, value, where):
        if value is None and self.none:
            return None
        if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Sequence):
            raise self.fail(value, where)
        if len(value) < self.min_len or (self.length is not None and len(value) != self.length):
            raise self.fail(value, where)
        return tuple(self.item(v, f"{where}[{i}]") for i, v in enumerate(value))

    def describe(self):
        size = f"{self.length} " if self.length else ("a non-empty " if self.min_len else "a ")
        return f"{size}list of {self.item.describe()}" + (" (or null)" if self.none else "")


class MappingOf(Check):
    """A mapping from non-empty string keys (feature names) to values that pass `value`."""

    def __init__(self, value: Check):
        self.value = value

    def __call__(self, value, where):
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            raise self.fail(value, where)
        out = {}
        for k, v in value.items():
            if not isinstance(k, str) or not k:
                raise InputError(f"{where}: key {k!r} is not a feature name (a non-empty string)")
            out[k] = self.value(v, f"{where}.{k}")
        return out

    def describe(self):
        return f"a mapping of feature name to {self.value.describe()}"


class Nested(Check):
    """A section inside a section (a YAML mapping), checked by that section's own fields."""

    def __init__(self, section: type[Section]):
        self.section = section

    def __call__(self, value, where):
        if isinstance(value, self.section):
            return value
        return self.section.from_dict(value, where)

    def describe(self):
        return f"a mapping with keys {sorted(self.section.keys())}"


def setting(default: Any, check: Check, doc: str) -> Any:
    """Declares one config key: its default, its constraint and one line of documentation."""
    if isinstance(default, (dict, list)) or dataclasses.is_dataclass(default):
        return dataclasses.field(
            default_factory=lambda: default, metadata={"check": check, "doc": doc}
        )
    return dataclasses.field(default=default, metadata={"check": check, "doc": doc})


# ---------------------------------------------------------------------------------------------
# Sections.
# ---------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Section:
    """Base of every config section: a frozen dataclass of `setting(...)` fields.

    `from_dict` is the one validator: unknown keys, wrong types and values outside the declared
    constraints raise InputError naming the key path (e.g. `gate.batch_size`) and what is allowed.
    """

    name: ClassVar[str] = ""

    @classmethod
    def keys(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls) if "check" in f.metadata]

    @classmethod
    def from_dict(cls, values: Mapping[str, Any] | None, where: str | None = None):
        """Validates `values` (e.g. a parsed YAML section) over the defaults."""
        where = cls.name if where is None else where
        if values is None:
            values = {}
        if isinstance(values, cls):
            return values
        if not isinstance(values, Mapping):
            raise InputError(
                f"{where or 'the config'}: expected a mapping of keys to values, got "
                f"{type(values).__name__} {values!r}; allowed keys: {cls.keys()}"
            )
        known = {f.name: f for f in dataclasses.fields(cls) if "check" in f.metadata}
        unknown = sorted(str(k) for k in values if k not in known)
        if unknown:
            raise InputError(
                f"{where or 'the config'}: unknown key(s) {unknown}; allowed: {sorted(known)}"
            )
        checked = {k: known[k].metadata["check"](v, _key(where, k)) for k, v in values.items()}
        section = cls(**checked)
        section.check_together(where)
        return section

    def check_together(self, where: str) -> None:
        """Rules that span several keys of the section; raises InputError naming them."""

    def replace(self, **changes: Any):
        """A copy with `changes`, validated like `from_dict`."""
        return type(self).from_dict({**self.to_dict(), **changes})

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values (tuples as lists, nested sections as dicts)."""
        return {f: _plain(getattr(self, f)) for f in self.keys()}

    def to_json(self) -> str:
        """The section as strict JSON (the form a TFX component parameter carries)."""
        return vocab.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str | None):
        """Reads `to_json` back (an empty string or None gives the defaults)."""
        return cls.from_dict(json.loads(text) if text and text.strip() else {})


def _key(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _plain(value: Any) -> Any:
    if isinstance(value, Section):
        return value.to_dict()
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _yaml_value(value: Any) -> str:
    """JSON text that YAML 1.1 reads back as the same value (`1e-06` would be a string)."""
    text = json.dumps(value)
    return re.sub(r"(?<![\w.])(-?\d+)(e[-+]?\d+)", r"\1.0\2", text)


def yaml_lines(section: type[Section] | Section, indent: int = 0) -> list[str]:
    """The section's keys with their defaults (or values) and docs, as commented YAML lines."""
    instance = section if isinstance(section, Section) else section()
    pad = " " * indent
    lines = []
    for f in dataclasses.fields(instance):
        if "check" not in f.metadata:
            continue
        value = getattr(instance, f.name)
        if isinstance(value, Section):
            lines.append(f"{f'{pad}{f.name}:':<31} # {f.metadata['doc']}")
            lines += yaml_lines(value, indent + 2)
            continue
        text = f"{pad}{f.name}: {_yaml_value(_plain(value))}"
        lines.append(f"{text:<31} # {f.metadata['doc']}")
    return lines


@dataclasses.dataclass(frozen=True)
class FunctionSection(Section):
    """A section of a component that calls a function by dotted path (Transform, Trainer).

    When the YAML names a team's own function under `function_key`, every other key of the
    section is that function's `custom_config`, passed on unchecked as `own_config`.
    """

    function_key: ClassVar[str] = ""
    own_config: dict = dataclasses.field(default_factory=dict)

    @classmethod
    def from_dict(cls, values, where=None):
        if isinstance(values, Mapping) and values.get(cls.function_key):
            rest = {k: v for k, v in values.items() if k != cls.function_key}
            own = super().from_dict({cls.function_key: values[cls.function_key]}, where)
            return dataclasses.replace(own, own_config=rest)
        return super().from_dict(values, where)

    def custom_config(self, label_key: str, task: str = "") -> dict[str, Any]:
        """The component's `custom_config`: the label and the task (`vocab.LABEL_KEY`,
        `vocab.TASK_KEY`, as every nanguard component is told them), and this section or the
        team's keys."""
        own = getattr(self, self.function_key)
        told = {vocab.LABEL_KEY: label_key, **({vocab.TASK_KEY: task} if task else {})}
        return {**told, **(self.own_config if own else self.to_dict())}

    @classmethod
    def from_custom_config(cls, custom_config: Mapping[str, Any] | None):
        """`(label_key, section)` back from `custom_config` (label `vocab.NO_LABEL` if none;
        the task, read where it is used, is not a key of the section)."""
        values = dict(custom_config or {})
        label = values.pop(vocab.LABEL_KEY, None) or vocab.NO_LABEL
        values.pop(vocab.TASK_KEY, None)
        return label, cls.from_dict(values)


DOTTED_PATH = Text(r"[A-Za-z_][\w.]*\.\w+", "a dotted path module.function", none=True)
