"""What a guard found, as data: one `Violation` per finding, rendered by whoever shows it.

Every guard (the data guard, the trainer's export check, the Evaluator's thresholds as the gate
reads them, the gate's NaN/Inf counts) returns its findings as `Violation`s. The BLOCKED lines,
the HTML report and `scan` render them with `Violation.line()`; no code parses a message.

A violation crosses a TFX artifact as JSON (`to_json` / `from_json`: the strict JSON of
`vocab.dumps`, so a NaN or Inf observation is written "NaN" / "Infinity" and read back as float).

Imports nothing heavy: the command line renders violations before TensorFlow is loaded.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping
from typing import Any

from nanguard.components import vocab

# What a violation is about; the report's advice follows it. `non_finite` is the only reason
# whose advice speaks of NaN/Inf in predictions or weights.
REASONS = ("data", "training", "quality", "non_finite")


@dataclasses.dataclass(frozen=True)
class Violation:
    """One finding of one guard, with what would let it through.

    Attributes:
      guard: the component that found it (`DataGuard`, `Trainer`, `Evaluator`,
        `FinitePredictionGate`).
      kind: what was found (`missing`, `label`, `inf`, `type`, `empty`, `skew`, `drift`,
        `all_missing`, `baseline`, `threshold`, `non_finite_prediction`, `probe`,
        `non_finite_weight`, ...).
      reason: one of `REASONS`.
      message: one sentence naming what was found, without the fix.
      feature: the feature (or metric) it is about; '' for none.
      split: the split (or slice, `train[island=Dream]`); '' for none.
      observed: the value measured (a fraction, a count, a metric); NaN/Inf allowed.
      limit: the bound it broke.
      key: the dotted config key that governs it (`data_guard.max_missing_fraction`).
      passing_value: a value of `key` that would let this finding through (None: none would).
      advice: what to try beyond the key, one sentence ('' for none).
      details: counts and the rest, JSON-able.
    """

    guard: str
    kind: str
    reason: str
    message: str
    feature: str = ""
    split: str = ""
    observed: Any = None
    limit: Any = None
    key: str = ""
    passing_value: Any = None
    advice: str = ""
    details: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        if self.reason not in REASONS:
            raise ValueError(f"Violation.reason {self.reason!r} is not one of {list(REASONS)}")

    def fix(self) -> str:
        """The fix as one clause: the key and the value that would pass, then the advice."""
        parts = []
        if self.key and self.passing_value is not None:
            parts.append(f"set {self.key}: {_yaml_value(self.passing_value)}")
        elif self.key:
            parts.append(f"see {self.key}")
        if self.advice:
            parts.append(self.advice)
        return "; ".join(parts)

    def line(self) -> str:
        """One line: the message, then the fix (`nanguard run`'s BLOCKED lines, `scan`)."""
        fix = self.fix()
        return f"{self.message}; {fix}" if fix else self.message

    def to_dict(self) -> dict[str, Any]:
        return vocab.jsonable(dataclasses.asdict(self))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Violation:
        fields = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in fields}
        for name in ("observed", "limit", "passing_value"):
            if name in values:
                values[name] = vocab.as_float(values[name])
        values["details"] = dict(values.get("details") or {})
        return cls(**values)


def to_json(violations: Iterable[Violation]) -> str:
    """Strict JSON of a list of violations (NaN/Inf spelled as `vocab` spells them)."""
    return vocab.dumps([v.to_dict() for v in violations])


def from_json(text: str) -> list[Violation]:
    """Reads back `to_json`; '' or 'null' is no violation."""
    if not text or not text.strip():
        return []
    return [Violation.from_dict(d) for d in (json.loads(text) or [])]


def lines(violations: Iterable[Violation]) -> list[str]:
    """One line per violation, in order: what a BLOCKED message lists."""
    return [v.line() for v in violations]


def _yaml_value(value: Any) -> str:
    """How the value is written in the YAML config (`true`, `null`, a number, a list)."""
    if isinstance(value, str) and value:
        return value
    return json.dumps(vocab.jsonable(value))
