"""What a CSV cell means: the missing-value spellings, numbers, and stray strings in numbers.

The one place these rules are written; the CSV reader (`inputs`), the staging of `nanguard
run`, `nanguard scan` and the data guard's policy all use them. Imports pyarrow only.

* **Missing**: a cell spelled exactly as one of `MISSING_TOKENS` (case-sensitive, whole cell),
  plus the data guard's `missing_tokens` config key. The cell becomes a null (CSV staging: an
  empty cell).
* **Numbers**: a cell matching `NUMBER_REGEX` (what Python's `float()` reads, surrounding
  spaces allowed). `nan`, `NaN`, `inf`, `-inf`, `Infinity` are numbers: float NaN/+Inf/-Inf,
  counted as NaN/Inf by the guard, never as missing.
* **Stray strings**: the cells of a column that are neither missing nor numbers, when the
  column is numeric: its schema says FLOAT/INT, or (no schema entry) it is **mostly numeric**,
  i.e. at least `MOSTLY_NUMERIC_FRACTION` (90%) of its non-missing cells are numbers and at
  least one is not. Such a column (`12,5`, `abc`, `>100` among numbers) is reported with its
  stray tokens and their counts; the data guard's `stray_strings` policy then blocks it or
  reads those cells as missing. It is never silently made a text (vocabulary) column.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import pyarrow as pa
import pyarrow.compute as pc

# Missing cells, as real files write them; `nan`/`inf` spellings are numbers, not listed here.
MISSING_TOKENS = ("", "NA", "null", "None", "?", "-", "n/a", "N/A", "#N/A", "NULL", "missing", " ")
# A cell Python's float() reads as a number, including the NaN/Inf spellings it accepts.
NUMBER_REGEX = r"(?i)^\s*[-+]?((\d+\.?\d*|\.\d+)(e[-+]?\d+)?|nan|inf|infinity)\s*$"
# A column is mostly numeric when at least this share of its non-missing cells are numbers.
MOSTLY_NUMERIC_FRACTION = 0.9
# The stray tokens named per column (the most frequent first); the count of all is exact.
MAX_NAMED_TOKENS = 16


def missing_tokens(extra: Iterable[str] = ()) -> tuple[str, ...]:
    """The default `MISSING_TOKENS` followed by `extra` (a config's `missing_tokens`), deduped."""
    return tuple(dict.fromkeys((*MISSING_TOKENS, *extra)))


def is_number(values: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """Per cell: True where the text is a number (NaN/Inf spellings included); null stays null."""
    return pc.match_substring_regex(values, NUMBER_REGEX)


def is_mostly_numeric(numbers: int, non_missing: int) -> bool:
    """`numbers` of `non_missing` cells parse as numbers: at least one, and at least 90%."""
    return 0 < numbers and numbers >= MOSTLY_NUMERIC_FRACTION * non_missing


def token_counts(
    values: pa.Array | pa.ChunkedArray, limit: int | None = MAX_NAMED_TOKENS
) -> dict[str, int]:
    """`{token: count}` of the (non-null) cells, most frequent first (ties by token).

    At most `limit` tokens (None: all); the sort runs in Arrow, only those reach Python.
    """
    values = pc.drop_null(values)
    if len(values) == 0:
        return {}
    counted = pc.value_counts(values)
    table = pa.table({"token": counted.field("values"), "count": counted.field("counts")})
    order = pc.sort_indices(table, [("count", "descending"), ("token", "ascending")])
    top = table.take(order[:limit] if limit is not None else order)
    tokens, counts = top.column("token").to_pylist(), top.column("count").to_pylist()
    return dict(zip(tokens, counts, strict=True))


def stray_tokens(
    column: pa.Array | pa.ChunkedArray, numeric: bool | None = None
) -> tuple[dict[str, int], int]:
    """The stray strings of a string column (nulls are missing): `({token: count}, total)`.

    Args:
      column: Cell texts, missing cells already null.
      numeric: True when a schema says the column is FLOAT/INT (any non-number is stray);
        None to decide by the mostly-numeric rule; False: a text column, never stray.

    Returns:
      The cells that are not numbers, most frequent first (at most `MAX_NAMED_TOKENS` named),
      and how many there are in all; `({}, 0)` when the column is not numeric (or holds no
      stray string).
    """
    if numeric is False:
        return {}, 0
    numbers = is_number(column)
    count = pc.sum(numbers).as_py() or 0
    non_missing = len(column) - column.null_count
    if count == non_missing or not (numeric or is_mostly_numeric(count, non_missing)):
        return {}, 0
    strays = pc.filter(column, pc.invert(numbers))
    return token_counts(strays), len(strays)


def null_strays(column: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """The column with every cell that is not a number made null (read as missing)."""
    return pc.if_else(is_number(column), column, pa.scalar(None, column.type))


def describe_tokens(tokens: Mapping[str, int], total: int | None = None) -> str:
    """`"'abc' x1, '12,5' x2"`, at most `MAX_NAMED_TOKENS` named; `total`: all stray cells."""
    named = list(tokens.items())[:MAX_NAMED_TOKENS]
    text = ", ".join(f"{token!r} x{count}" for token, count in named)
    rest = (total if total is not None else sum(tokens.values())) - sum(c for _, c in named)
    return text + (f" and {rest} more cell(s)" if rest > 0 else "")
