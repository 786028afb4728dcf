"""What a CSV cell means: the missing-value spellings, numbers, and stray strings in numbers.

The one place these rules are written; the CSV reader (`inputs`), the staging of `nanguard
run`, `nanguard scan` and the data guard's policy all use them. Imports pyarrow only.

* **Missing**: a cell spelled exactly as one of `MISSING_TOKENS` (case-sensitive, whole cell;
  `default_missing_tokens: false` keeps only the empty cell), plus the data guard's
  `missing_tokens` config key. The cell becomes a null (CSV staging: an empty cell);
  `read_missing` counts which spellings were read, per column.
* **Numbers**: a cell matching `NUMBER_REGEX` (what Python's `float()` reads, surrounding
  spaces allowed). `nan`, `NaN`, `inf`, `-inf`, `Infinity` are numbers: float NaN/+Inf/-Inf,
  counted as NaN/Inf by the guard, never as missing.
* **Stray strings**: the cells of a column that are neither missing nor numbers, when the
  column is numeric: its schema says FLOAT/INT, or (no schema entry) it is **mostly numeric**,
  i.e. at least `MOSTLY_NUMERIC_FRACTION` (90%) of its non-missing cells are numbers and at
  least one is not. Such a column (`12,5`, `abc`, `>100` among numbers) is reported with its
  stray tokens and their counts; the data guard's `stray_strings` policy then blocks it or
  reads those cells as missing. It is never silently made a text (vocabulary) column. The
  rule is `stray_verdict`, the one function staging, `scan`, `check-model` and the data
  guard's policy call (on a column: `column_strays`; on counts: the policy).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from nanguard.components.arrow_numpy import (
    as_numpy,
    from_numpy,
    null_of,
    string_array,
    string_offsets,
)

# Missing cells, as real files write them; `nan`/`inf` spellings are numbers, not listed here.
MISSING_TOKENS = ("", "NA", "null", "None", "?", "-", "n/a", "N/A", "#N/A", "NULL", "missing", " ")
# A cell Python's float() reads as a number, including the NaN/Inf spellings it accepts.
NUMBER_REGEX = r"(?i)^\s*[-+]?((\d+\.?\d*|\.\d+)(e[-+]?\d+)?|nan|inf|infinity)\s*$"
# A column is mostly numeric when at least this share of its non-missing cells are numbers.
MOSTLY_NUMERIC_FRACTION = 0.9
# The stray tokens named per column (the most frequent first); the count of all is exact.
MAX_NAMED_TOKENS = 16


def missing_tokens(extra: Iterable[str] = (), defaults: bool = True) -> tuple[str, ...]:
    """The cell spellings read as missing: the empty cell, `MISSING_TOKENS` (unless `defaults`
    is False: a config's `default_missing_tokens: false`), then `extra` (`missing_tokens`)."""
    return tuple(dict.fromkeys(("", *(MISSING_TOKENS if defaults else ()), *extra)))


def read_missing(
    column: pa.Array | pa.ChunkedArray, missing: Sequence[str], null_spelling: str | None = None
) -> tuple[pa.Array | pa.ChunkedArray, dict[str, int]]:
    """A string column with its cells spelled as one of `missing` made null, and how often each
    spelling was read: `(column, {spelling: count})`, most frequent first (ties by spelling).
    Vectorised (Arrow's hash lookup and value counts); cells that are already null stay null
    and are not counted, unless `null_spelling` names the spelling they had (the CSV reader
    made the empty cells null itself): then they count as that spelling.

    Only the cells whose byte length and first byte are those of a spelling go through the
    lookup (numpy on the offsets and first bytes: number cells rarely do), and the nulls are
    written into a new validity bitmap over the same text buffers, not a copy of the column.
    """
    if isinstance(column, pa.ChunkedArray):
        read = [read_missing(chunk, missing, null_spelling) for chunk in column.chunks]
        found: dict[str, int] = {}
        for _, counted in read:
            for token, count in counted.items():
                found[token] = found.get(token, 0) + count
        return pa.chunked_array([c for c, _ in read], column.type), _most_frequent(found)
    found = {}
    if null_spelling is not None and column.null_count:
        found[null_spelling] = column.null_count
    missing = tuple(m for m in missing if m != null_spelling)
    column, read = _read_spellings(column, missing) if missing else (column, {})
    for token, count in read.items():
        found[token] = found.get(token, 0) + count
    return column, _most_frequent(found)


def _most_frequent(found: Mapping[str, int]) -> dict[str, int]:
    return dict(sorted(found.items(), key=lambda item: (-item[1], item[0])))


def _read_spellings(column: pa.Array, missing: tuple[str, ...]) -> tuple[pa.Array, dict]:
    """`read_missing` of one array (no cell counted as already missing)."""
    value_set = _spelling_table(missing)[3]
    candidates = _candidates(column, missing)
    if candidates is None:  # not a plain string array: the lookup over every cell
        hits = pc.is_in(column, value_set=value_set)
        if not pc.any(hits).as_py():
            return column, {}
        found = token_counts(pc.filter(column, hits), limit=None)
        return pc.if_else(hits, null_of(column.type), column), found
    if candidates.size == 0:
        return column, {}
    maybe = pc.take(column, from_numpy(candidates))
    matched = as_numpy(pc.indices_nonzero(pc.is_in(maybe, value_set=value_set)))
    if matched.size == 0:
        return column, {}
    found = token_counts(pc.take(maybe, from_numpy(matched)), limit=None)
    valid = np.ones(len(column), dtype=bool)
    valid[candidates[matched]] = False
    if column.null_count:
        bits = np.frombuffer(column.buffers()[0], np.uint8)
        valid &= np.unpackbits(bits, count=len(column), bitorder="little").astype(bool)
    validity = pa.py_buffer(np.packbits(valid, bitorder="little"))
    buffers = column.buffers()
    return pa.Array.from_buffers(column.type, len(column), [validity, *buffers[1:]]), found


@functools.lru_cache(maxsize=16)
def _spelling_table(missing: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray, int, pa.Array]:
    """`(firsts, table, width, value set)` of the spellings' UTF-8 bytes: `firsts[b]` is True
    when a non-empty spelling starts with byte `b`; `table[(min(length, width) * 256 + b) *
    256 + e]` when one has that length, first byte `b` and last byte `e` (any bytes for
    length 0, when "" is a spelling)."""
    encoded = [m.encode("utf-8") for m in missing]
    width = max((len(e) for e in encoded), default=0) + 1  # the row of longer cells: all False
    table = np.zeros((width + 1, 256, 256), dtype=bool)
    firsts = np.zeros(256, dtype=bool)
    for e in encoded:
        if e:
            table[len(e), e[0], e[-1]] = True
            firsts[e[0]] = True
        else:
            table[0] = True  # an empty cell has no first or last byte
    return firsts, table.ravel(), width, string_array(missing)


def _candidates(column: pa.Array, missing: tuple[str, ...]) -> np.ndarray | None:
    """Indexes of the cells that may be one of `missing` (a superset of the matches: same byte
    length, first and last byte), or None for an array other than an unsliced (large) string
    array."""
    large = pa.types.is_large_string(column.type)
    if column.offset or not (large or pa.types.is_string(column.type)):
        return None
    n = len(column)
    if n == 0:
        return np.empty(0, np.int64)
    data = column.buffers()[2]
    offsets = string_offsets(column)
    firsts, table, width, _ = _spelling_table(missing)
    if data is None or data.size == 0:
        text = np.zeros(1, np.uint8)
    else:
        text = np.frombuffer(data, np.uint8)
    first = np.take(text, offsets[:-1], mode="clip")  # any bytes for an empty cell
    if "" in missing:  # every cell's length and last byte
        some, starts, ends = None, offsets[:-1], offsets[1:]
    else:  # the cells starting as a spelling starts, then the length and last byte of those
        some = np.flatnonzero(firsts[first])
        first, starts, ends = first[some], offsets[some], offsets[some + 1]
    last = np.take(text, ends - 1, mode="clip").astype(np.int64)
    rows = np.minimum(ends - starts, width)
    hits = np.flatnonzero(table[(rows * 256 + first) * 256 + last])
    return hits if some is None else some[hits]


def missing_in_table(
    table, missing: Sequence[str], spellings: dict | None = None, null_spelling: str | None = None
):
    """A string table (or record batch) with its missing spellings null (`read_missing`; the
    cells already null spelled `null_spelling`, if given), their counts added into `spellings`
    (`{column: {spelling: count}}`) when given."""
    columns = []
    for name, column in zip(table.schema.names, table.columns, strict=True):
        column, found = read_missing(column, missing, null_spelling)
        if spellings is not None:
            counts = spellings.setdefault(name, {})
            for token, count in found.items():
                counts[token] = counts.get(token, 0) + count
        columns.append(column)
    return type(table).from_arrays(columns, names=table.schema.names)


@dataclasses.dataclass(frozen=True)
class StrayVerdict:
    """A numeric column holding stray strings (`stray_verdict`'s answer).

    Attributes:
      count: The stray cells (not missing, not numbers), all of them.
      numbers: The cells that are numbers (NaN/Inf spellings included).
      non_missing: The cells that are not missing.
      tokens: `{token: count}`, the most frequent first (perhaps not all: see `exact`).
      exact: Whether `tokens` holds every stray cell.
      why: Why the column is numeric: "the schema says FLOAT" or "28 of its 31 ...".
    """

    count: int
    numbers: int
    non_missing: int
    tokens: dict = dataclasses.field(default_factory=dict)
    exact: bool = True
    why: str = ""

    def describe(self) -> str:
        """`"'abc' x1, '12,5' x2"` (see `describe_tokens`)."""
        return describe_tokens(self.tokens, self.count if self.exact else None)


def stray_verdict(
    numbers: int,
    non_missing: int,
    *,
    count: int | None = None,
    tokens: Mapping[str, int] | None = None,
    schema_kind: str | None = None,
    text: bool = False,
    exact: bool = True,
    unit: str = "cells",
) -> StrayVerdict | None:
    """THE stray-string rule (staging, `scan`, `check-model` and the data guard's policy).

    A column is numeric when `schema_kind` is FLOAT/INT, or else when it is mostly numeric
    (`is_mostly_numeric`: at least 90% of its `non_missing` cells are `numbers`), unless it is
    a `text` column (`data_guard.text_features`). A numeric column with `count` (default:
    `non_missing - numbers`) other cells holds stray strings.

    Returns:
      The verdict, or None: the column is text, or holds no stray string.
    """
    if text:
        return None
    count = non_missing - numbers if count is None else count
    by_schema = schema_kind in ("FLOAT", "INT")
    if count <= 0 or not (by_schema or is_mostly_numeric(numbers, non_missing)):
        return None
    why = (
        f"the schema says {schema_kind}"
        if by_schema
        else f"{numbers} of its {non_missing} non-missing {unit} are numbers"
    )
    return StrayVerdict(count, numbers, non_missing, dict(tokens or {}), exact, why)


def column_strays(
    column: pa.Array | pa.ChunkedArray, schema_kind: str | None = None, text: bool = False
) -> StrayVerdict | None:
    """`stray_verdict` of a string column (missing cells null), its tokens counted in Arrow."""
    numbers_mask = is_number(column)
    numbers = pc.sum(numbers_mask).as_py() or 0
    verdict = stray_verdict(
        numbers, len(column) - column.null_count, schema_kind=schema_kind, text=text
    )
    if verdict is None:
        return None
    strays = pc.filter(column, pc.invert(numbers_mask))
    return dataclasses.replace(verdict, tokens=token_counts(strays))


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
    tokens, counts = counted.field("values"), counted.field("counts")
    table = pa.Table.from_arrays([tokens, counts], names=["token", "count"])
    order = pc.sort_indices(table, [("count", "descending"), ("token", "ascending")])
    order = order.slice(0, limit) if limit is not None else order
    # Array takes, not Table.take: that imports pandas (about a second) on first use.
    tokens, counts = pc.take(tokens, order).to_pylist(), pc.take(counts, order).to_pylist()
    return dict(zip(tokens, counts, strict=True))


def stray_tokens(
    column: pa.Array | pa.ChunkedArray, numeric: bool | None = None
) -> tuple[dict[str, int], int]:
    """`({token: count}, total)` of a string column's stray strings (`column_strays`).

    `numeric`: True when a schema says FLOAT/INT, None to decide by the mostly-numeric rule,
    False for a text column (never stray). `({}, 0)` when the column holds no stray string.
    """
    verdict = column_strays(column, "FLOAT" if numeric else None, text=numeric is False)
    return (verdict.tokens, verdict.count) if verdict else ({}, 0)


def null_strays(column: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """The column with every cell that is not a number made null (read as missing)."""
    return pc.if_else(is_number(column), column, null_of(column.type))


def describe_tokens(tokens: Mapping[str, int], total: int | None = None) -> str:
    """`"'abc' x1, '12,5' x2"`, at most `MAX_NAMED_TOKENS` named; `total`: all stray cells."""
    named = list(tokens.items())[:MAX_NAMED_TOKENS]
    text = ", ".join(f"{token!r} x{count}" for token, count in named)
    rest = (total if total is not None else sum(tokens.values())) - sum(c for _, c in named)
    return text + (f" and {rest} more cell(s)" if rest > 0 else "")
