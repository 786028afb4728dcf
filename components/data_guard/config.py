"""The data guard's config section (`data_guard:` in the YAML): what the guard lets through."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import ClassVar

from absl import logging

from nanguard.components import cells, vocab
from nanguard.components.config import (
    Flag,
    ListOf,
    MappingOf,
    Nested,
    Number,
    OneOf,
    Section,
    Text,
    setting,
)

FRACTION = Number(0.0, 1.0)
# The old name of `unlabelled_rows`, read (with a warning) for one release.
DEPRECATED_LABEL_KEY = "label"
# The keys that say how a CSV file is read (recorded by staging, taken by `check-model --run`).
READING_KEYS = (
    "csv_delimiter",
    "csv_decimal",
    "csv_encoding",
    "missing_tokens",
    "default_missing_tokens",
    "stray_strings",
    "text_features",
)
# What the guard does with a numeric column holding stray strings (`cells.stray_verdict`).
STRAY_STRING_POLICIES = ("block", "treat_as_missing")
# A missing token may be any cell text but a NaN/Inf spelling (those are float values).
_TOKEN = Text(
    r"(?is)(?!\s*[-+]?(nan|inf|infinity)\s*$).+",
    "a cell text (not a NaN/Inf spelling such as nan, inf, -inf, Infinity)",
)


@dataclasses.dataclass(frozen=True)
class SkewConfig(Section):
    """When a missing/NaN/Inf rate differs between the training split and another split (or
    a slice of them) beyond sampling noise: all three bounds exceeded (`drift.py`)."""

    name: ClassVar[str] = "data_guard.skew"

    check: bool = setting(True, Flag(), "compare every split's rates with the training split's")
    absolute: float = setting(0.01, FRACTION, "tolerated change of a rate, in rate units")
    relative: float = setting(0.5, Number(0.0), "tolerated change, as a multiple of the old rate")
    confidence: float = setting(
        0.999,
        Number(0.5, 1.0, open_high=True),
        "two-proportion z-test confidence (two-sided) a change must pass to count",
    )

    def tolerance(self):
        """The thresholds as `drift.Tolerance`."""
        from nanguard.components.data_guard.drift import Tolerance

        return Tolerance(self.absolute, self.relative, self.confidence)


@dataclasses.dataclass(frozen=True)
class DataGuardConfig(Section):
    """What the data guard lets through, and what it does about the rest.

    The defaults fit real tables and still catch broken data. A gap is data, not a fault: a
    feature's missing values are imputed with a missing indicator (the transform), and a feature
    with more than `warn_missing_fraction` of its rows unusable is a warning. What blocks is
    what cannot be repaired or what signals a broken source: a feature with no value in any
    training row (`all_missing`), any Inf under `inf: fail` (an overflow or a division by zero
    upstream; `treat_as_missing` or `clip` repair it on request), a split mostly unlabelled
    (`max_unlabelled_fraction`), and, once there is an earlier pushed run, a missing/NaN/Inf
    rate that moved from it (`skew`). Rows without a label are left out of training and
    evaluation and counted (`unlabelled_rows: drop`). Absolute limits
    (`max_missing_fraction`, `max_missing_fraction_by_feature`) are off unless set.

    A row is unusable for a feature when the value is missing or NaN (NaN counts as missing: it
    will be imputed), or +/-Inf under `inf: treat_as_missing`. A cell is missing when it is
    empty or spelled as a missing token (`cells.MISSING_TOKENS` plus `missing_tokens`); `nan`,
    `inf`, `-inf`, `Infinity` are float NaN/Inf, never missing tokens.

    Stray strings (`stray_strings`): a column whose schema says FLOAT/INT, or (no schema entry)
    whose non-missing cells are at least 90% numbers (`cells.MOSTLY_NUMERIC_FRACTION`; a BYTES
    schema entry does not exempt it: SchemaGen infers BYTES for such a column), but
    that holds other cells (`12,5`, `abc`, `>100`), is reported naming the feature, the tokens
    and their counts. `treat_as_missing` (default: a real table's `rotary` among cylinder
    counts): where the CSV is read (`run`'s staging, `scan`) those cells become missing (then
    imputed) and the column stays numeric; the run prints a note naming them. `block`: a
    violation (`nanguard run` stops before the pipeline, exit 3; `scan --check` exits 3). Inside a
    pipeline the guard cannot retype a column ExampleGen already typed as text, so there it is
    a violation under either policy (clean the file, or stage it with `pipelines.data`).
    `text_features` names the columns that are text on purpose (codes): never checked.

    Reading (`csv_delimiter`, `csv_decimal`, `csv_encoding`, `default_missing_tokens`): how
    `run`'s staging, `scan` and `check-model` read a CSV file (`components/csv_dialect.py`).
    """

    name: ClassVar[str] = "data_guard"

    mode: str = setting(
        "fail", OneOf(vocab.GUARD_MODES), "fail: stop the run on a violation (exit 3); warn: go on"
    )
    max_missing_fraction: float | None = setting(
        None,
        Number(0.0, 1.0, none=True),
        "absolute limit on a feature's unusable fraction (missing + NaN [+ Inf]); null: none",
    )
    max_missing_fraction_by_feature: dict = setting(
        {}, MappingOf(FRACTION), "per-feature absolute limits, e.g. {sex: 0.1} (even when null)"
    )
    warn_missing_fraction: float = setting(
        0.3,
        FRACTION,
        "a larger unusable fraction in training is a warning (imputed, with an indicator)",
    )
    all_missing: str = setting(
        "block",
        OneOf(vocab.ALL_MISSING_POLICIES),
        "a feature with no value in any training row: block: a violation; exclude: left out "
        "of the model",
    )
    inf: str = setting(
        "fail",
        OneOf(vocab.INF_POLICIES),
        "fail: any Inf is a violation; treat_as_missing: imputed; clip: to the training range",
    )
    unlabelled_rows: str = setting(
        "drop",
        OneOf(vocab.UNLABELLED_ROWS_POLICIES),
        "rows without a usable label: drop: left out of training and evaluation, counted; "
        "block: any stops the run",
    )
    max_unlabelled_fraction: float = setting(
        0.5,
        FRACTION,
        "a split with a larger fraction of its rows unlabelled stops the run",
    )
    exclude: tuple = setting(
        (),
        ListOf(Text()),
        "features not judged (the pipeline adds transform.exclude)",
    )

    missing_tokens: tuple = setting(
        (),
        ListOf(_TOKEN),
        "cells read as missing besides the defaults (empty NA null None ? - n/a N/A #N/A NULL "
        "missing ' '), e.g. ['-999', '.']",
    )
    default_missing_tokens: bool = setting(
        True,
        Flag(),
        "false: only the empty cell and missing_tokens are missing (keep a real category "
        "spelled None or NA as a value)",
    )
    csv_delimiter: str = setting(
        "auto",
        OneOf(("auto", ",", ";", "\t", "tab", "|", " ", "space")),
        "the CSV cell separator: auto (detected per file among , ; tab | and, last, a space) "
        "or one of them",
    )
    csv_decimal: str = setting(
        "auto",
        OneOf(("auto", ".", ",")),
        "the decimal mark: auto (a comma only in ;- or tab-separated files whose numbers all "
        "use it) or . or , (decimal commas are read as points)",
    )
    csv_encoding: str = setting(
        "auto",
        OneOf(("auto", "utf-8", "cp1252", "latin-1")),
        "the text encoding: auto (UTF-8 with or without BOM if the bytes are UTF-8, else "
        "cp1252, else latin-1) or one of them",
    )
    text_features: tuple = setting(
        (),
        ListOf(Text()),
        "columns kept as text even when mostly numbers (codes such as 01234)",
    )
    stray_strings: str = setting(
        "treat_as_missing",
        OneOf(STRAY_STRING_POLICIES),
        "a numeric (or >= 90% numeric) column with other strings: treat_as_missing: read them "
        "as missing, with a note naming them; block: a violation naming them",
    )

    skew: SkewConfig = setting(
        SkewConfig(),
        Nested(SkewConfig),
        "missing/NaN/Inf rates of each split (and slice) against the training split's: a "
        "change beyond these bounds is a violation",
    )
    slice_by: tuple = setting(
        (),
        ListOf(Text()),
        "categorical features whose values each get their own counts, e.g. [island]",
    )
    max_slices: int = setting(
        20, Number(1, integer=True), "values per slicing feature kept (the rest: __other__)"
    )

    @classmethod
    def from_dict(cls, values, where=None):
        """`Section.from_dict`, reading the old key `label` as `unlabelled_rows` (a warning).

        `label` (`block`/`drop`) named the label's gap policy like the label column itself;
        it is read for one more release.
        """
        if isinstance(values, Mapping) and DEPRECATED_LABEL_KEY in values:
            values = dict(values)
            old = values.pop(DEPRECATED_LABEL_KEY)
            where_ = cls.name if where is None else where
            logging.warning(
                "%s.%s is deprecated; it is read as %s.unlabelled_rows (set that instead).",
                where_,
                DEPRECATED_LABEL_KEY,
                where_,
            )
            values.setdefault("unlabelled_rows", old)
        return super().from_dict(values, where)

    def missing_values(self) -> tuple[str, ...]:
        """Every cell spelling read as missing: the empty cell, the default set (unless
        `default_missing_tokens` is false), then `missing_tokens`."""
        return cells.missing_tokens(self.missing_tokens, self.default_missing_tokens)

    def dialect(self):
        """The CSV dialect the `csv_*` keys ask for (`csv_dialect.CsvDialect`; auto detects)."""
        from nanguard.components.csv_dialect import CsvDialect

        return CsvDialect(self.csv_delimiter, self.csv_decimal, self.csv_encoding)

    def missing_limit(self, feature: str) -> tuple[float | None, str]:
        """`(limit, key)`: the absolute unusable fraction allowed for `feature` (None: no
        limit) and the dotted config key that sets it."""
        if feature in self.max_missing_fraction_by_feature:
            key = f"{self.name}.max_missing_fraction_by_feature.{feature}"
            return self.max_missing_fraction_by_feature[feature], key
        return self.max_missing_fraction, f"{self.name}.max_missing_fraction"

    def with_excluded(self, names: Iterable[str]) -> DataGuardConfig:
        """A copy whose `exclude` also holds `names` (e.g. `transform.exclude`)."""
        merged = tuple(dict.fromkeys((*self.exclude, *names)))
        return dataclasses.replace(self, exclude=merged)
