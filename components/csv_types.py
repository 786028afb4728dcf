"""CSV columns typed as CsvExampleGen types them: whole tables, or streamed batch by batch.

tfx-bsl's CSV decoder (CsvExampleGen's) makes a column INT if every value is an int64, else
FLOAT if every value is a float (`nan`, `inf`, `-Infinity` included: NaN/+Inf/-Inf), else
STRING; FLOAT values are stored as float32 (so 1e39 becomes +Inf). The functions here give the
same types and values from the string cells `inputs` reads (missing cells null), for
`nanguard scan` and the checks of `run`'s staging. Imports numpy and pyarrow only.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Mapping, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from nanguard.components.arrow_numpy import as_numpy, from_numpy, string_offsets
from nanguard.components.cells import MISSING_TOKENS, StrayVerdict, column_strays, null_strays
from nanguard.components.csv_dialect import CsvDialect
from nanguard.components.inputs import csv_text_batches, read_ahead

__all__ = [
    "TypesWidened",
    "column_kind",
    "example_gen_batches",
    "example_gen_kinds",
    "example_gen_types",
    "find_strays",
    "widest_kinds",
]

_INT64_TEXT = r"^[-+]?\d+$"


_HEAD = 64  # values cast first by `_casts`


def _casts(values: pa.Array | pa.ChunkedArray, arrow_type: pa.DataType) -> bool:
    """Whether Arrow casts every value to `arrow_type`.

    A failing cast costs Arrow 10 about 0.3 us per value (it goes through all of them, ~4 ms
    per batch of a float column tried as int64); the first `_HEAD` values are tried alone
    first, and a column that is not of the type usually fails there.
    """
    for part in (values.slice(0, _HEAD), values) if len(values) > _HEAD else (values,):
        try:
            pc.cast(part, arrow_type)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return False
    return True


def _column_kind(column: pa.ChunkedArray) -> str:
    """'int', 'float' or 'string', as tfx-bsl's CSV decoder (CsvExampleGen's) infers a column.

    tfx-bsl: INT if every value is an int64 (`int(cell)`), else FLOAT if every value is a float
    (`float(cell)`, so `nan`, `inf`, `-Infinity` count), else STRING. Arrow's casts decide the
    common cases at C++ speed; the distinct values go through Python only when they disagree.
    """
    values = pc.drop_null(column)
    if len(values) == 0:
        return "null"
    for kind, arrow_type in (("int", pa.int64()), ("float", pa.float64())):
        if not _casts(values, arrow_type):
            continue
        if kind == "float":
            integers = pc.filter(values, pc.match_substring_regex(values, _INT64_TEXT))
            try:
                pc.cast(integers, pa.int64())
            except pa.ArrowInvalid:
                break  # an integer beyond int64 (tfx-bsl: STRING) or '+3': ask Python
        return kind
    kinds = set()
    for cell in pc.unique(values).to_pylist():
        try:
            number = int(cell)
            kinds.add("int" if -(2**63) <= number < 2**63 else "string")
        except ValueError:
            try:
                float(cell)
                kinds.add("float")
            except ValueError:
                kinds.add("string")
    return "string" if "string" in kinds else ("float" if "float" in kinds else "int")


def column_kind(column: pa.Array | pa.ChunkedArray) -> str:
    """'int', 'float', 'string' or 'null': the type CsvExampleGen gives a string column."""
    return _column_kind(column)


def _convert(column: pa.Array | pa.ChunkedArray, kind: str) -> pa.Array | pa.ChunkedArray:
    """A string column as `kind` ('int', 'float', 'string', 'null'), as CsvExampleGen types it."""
    if kind == "int":
        try:
            return pc.cast(column, pa.int64())
        except pa.ArrowInvalid:  # " 7" and the like: Python's int() reads them
            return pa.array([None if v is None else int(v) for v in column.to_pylist()], pa.int64())
    if kind == "float":
        try:
            doubles = pc.cast(column, pa.float64())
        except pa.ArrowInvalid:  # "1_0", " 1.5": Python's float() reads them
            doubles = pa.array(
                [None if v is None else float(v) for v in column.to_pylist()], pa.float64()
            )
        # Round to nearest like numpy's astype: 1e39 -> +Inf; nulls (missing) stay null.
        return pc.cast(doubles, pa.float32())
    if kind == "null":
        return pa.nulls(len(column))
    return column


def example_gen_types(table: pa.Table) -> pa.Table:
    """A string table (from `read_csv`) typed as CsvExampleGen types it: int64, float32, text.

    Column types are inferred over the whole table the way tfx-bsl's CSV decoder does (see
    `_column_kind`); FLOAT values are converted to float32, as tf.Example stores them, so
    `nan`, `inf`, `-Infinity` become NaN/+Inf/-Inf and a finite value beyond float32 range
    (1e39) becomes +/-Inf, exactly what the pipeline will see. Nulls (missing) stay null; a
    column with no value at all stays a null column.
    """
    columns = [_convert(column, _column_kind(column)) for column in table.columns]
    return pa.table(columns, names=table.column_names)


def find_strays(
    table: pa.Table,
    schema_kinds: Mapping[str, str] | None = None,
    text_features: Iterable[str] = (),
) -> dict[str, StrayVerdict]:
    """The numeric columns of a string table (missing cells null) holding stray strings.

    Each column's verdict is `cells.column_strays` (the one stray-string rule: the schema says
    FLOAT/INT, or >= 90% of its non-missing cells are numbers; never a `text_features`
    column), confirmed by CsvExampleGen's own typing (which takes e.g. `1_0` as a number).
    """
    schema_kinds = schema_kinds or {}
    text_features = frozenset(text_features)
    found = {}
    for name, column in zip(table.column_names, table.columns, strict=True):
        verdict = column_strays(column, schema_kinds.get(name), name in text_features)
        if verdict is not None and _column_kind(column) == "string":
            found[name] = verdict
    return found


# ---- Streaming: the same types, one record batch at a time (memory flat in the row count) ----

_KIND_RANK = {"null": 0, "int": 1, "float": 2, "string": 3}
# Above this magnitude a float column's text may be an integer beyond int64 (tfx-bsl: STRING).
_INT64_LIMIT = 2.0**63


class TypesWidened(Exception):  # noqa: N818 (a signal, not an error)
    """A later record batch needs a wider type than the earlier ones were typed with.

    Raised by `example_gen_batches` without `kinds`; the caller then computes the kinds over
    all rows (`example_gen_kinds`) and reads again with them.
    """


def _merge_kind(a: str | None, b: str) -> str:
    return b if a is None or _KIND_RANK[b] > _KIND_RANK[a] else a


def _typed_column(column: pa.Array, kind: str | None) -> tuple[str, pa.Array]:
    """`(kind, typed column)` for one batch, given the kind of the batches before it.

    Raises `TypesWidened` when this batch holds a value the earlier batches' type cannot
    (int -> float or string, float -> string); widening from 'null' needs no second pass.
    """
    if kind == "string" or column.null_count == len(column):
        return kind or "null", _convert(column, kind or "null")
    if kind in (None, "null"):
        kind = _column_kind(column)
        return kind, _convert(column, kind)
    if kind == "int":
        try:
            return kind, pc.cast(column, pa.int64())
        except pa.ArrowInvalid:
            if _column_kind(column) != "int":
                raise TypesWidened() from None
            return kind, _convert(column, kind)
    try:
        doubles = pc.cast(column, pa.float64())
    except pa.ArrowInvalid:
        if _column_kind(column) == "string":
            raise TypesWidened() from None
        return kind, _convert(column, kind)
    # Only a value of magnitude >= 2**63 (or Inf: 400 digits) can be an integer text beyond
    # int64, which makes the column STRING as tfx-bsl types it: check those few cells' text.
    data = as_numpy(doubles, dense=False)
    suspects = _long_texts(column, np.flatnonzero(np.abs(data) >= _INT64_LIMIT))
    if suspects.size:
        texts = pc.take(column, from_numpy(suspects))  # rarely digits only
        integers = pc.filter(texts, pc.match_substring_regex(texts, _INT64_TEXT))
        if len(integers) and _column_kind(integers) == "string":
            raise TypesWidened()
    return kind, pc.cast(doubles, pa.float32())


def _long_texts(column: pa.Array, cells: np.ndarray) -> np.ndarray:
    """Those of `cells` whose text is long enough to be an integer of magnitude >= 2**63 (19
    digits): 'inf' and '1e+30' never are, and need no further look."""
    if not cells.size or not (
        pa.types.is_large_string(column.type) or pa.types.is_string(column.type)
    ):
        return cells
    offsets = string_offsets(column)
    return cells[offsets[cells + 1] - offsets[cells] >= 19]


def _strays_nulled(batch: pa.RecordBatch, as_missing: Iterable[str]) -> list[pa.Array]:
    """The batch's columns, those named in `as_missing` with their non-number cells null."""
    as_missing = frozenset(as_missing)
    return [
        null_strays(column) if name in as_missing else column
        for name, column in zip(batch.schema.names, batch.columns, strict=True)
    ]


def example_gen_batches(
    files: Sequence[str],
    names: Sequence[str],
    kinds: Mapping[str, str] | None = None,
    block_size: int = 1 << 20,
    missing: Sequence[str] = MISSING_TOKENS,
    as_missing: Iterable[str] = (),
    dialect: CsvDialect | None = None,
    spellings: dict | None = None,
) -> Iterator[pa.RecordBatch]:
    """Streams CSV rows as record batches typed as CsvExampleGen types them (int64, float32, text).

    The same values as `example_gen_types(read_csv_files(files))`, one batch at a time. The
    types come from `kinds` (`example_gen_kinds`), or, without it, from the first batch, widened
    as later batches need ('null' -> any kind); a batch that needs int -> float or a number ->
    string raises `TypesWidened` (earlier batches were typed narrower): read again with the
    kinds of all rows. NaN/Inf tokens become float NaN/Inf; `missing` tokens stay null, and so
    do the cells that are not numbers in the columns named in `as_missing` (the data guard's
    `stray_strings: treat_as_missing`). `dialect` and `spellings`: see `inputs.read_csv`.

    The typing runs on a worker thread (`inputs.read_ahead`) a few batches ahead of the
    caller, the parsing on another: the caller's counting overlaps both. `spellings` is
    complete once the generator is exhausted or has raised.
    """
    read = (files, names, kinds, block_size, missing, as_missing, dialect, spellings)
    typed = read_ahead(_typed_batches(*read))
    with contextlib.closing(typed):
        yield from typed


def _typed_batches(
    files: Sequence[str],
    names: Sequence[str],
    kinds: Mapping[str, str] | None,
    block_size: int,
    missing: Sequence[str],
    as_missing: Iterable[str],
    dialect: CsvDialect | None,
    spellings: dict | None,
) -> Iterator[pa.RecordBatch]:
    """`example_gen_batches`, on the worker thread of its `read_ahead`."""
    current: dict[str, str | None] = dict(kinds) if kinds else dict.fromkeys(names)
    for batch in csv_text_batches(files, names, block_size, missing, dialect, spellings):
        columns = []
        for name, column in zip(names, _strays_nulled(batch, as_missing), strict=True):
            if kinds:
                columns.append(_convert(column, kinds[name]))
            else:
                current[name], typed = _typed_column(column, current[name])
                columns.append(typed)
        yield pa.RecordBatch.from_arrays(columns, names=list(names))


def widest_kinds(kind_maps: Iterable[Mapping[str, str]]) -> dict[str, str]:
    """Column kinds merged over parts of the data (per file): the widest of each column."""
    merged: dict[str, str] = {}
    for kinds in kind_maps:
        for name, kind in kinds.items():
            merged[name] = _merge_kind(merged.get(name), kind)
    return merged


def example_gen_kinds(
    files: Sequence[str],
    names: Sequence[str],
    block_size: int = 1 << 20,
    missing: Sequence[str] = MISSING_TOKENS,
    as_missing: Iterable[str] = (),
    dialect: CsvDialect | None = None,
    spellings: dict | None = None,
) -> dict[str, str]:
    """The CsvExampleGen type ('int', 'float', 'string', 'null') of each column over all rows.

    One streaming pass (the kind of a column is the widest kind of its batches: tfx-bsl's rule
    holds value by value). The other arguments as in `example_gen_batches`.
    """
    kinds: dict[str, str | None] = dict.fromkeys(names)
    for batch in csv_text_batches(files, names, block_size, missing, dialect, spellings):
        for name, column in zip(names, _strays_nulled(batch, as_missing), strict=True):
            if kinds[name] != "string":
                kinds[name] = _merge_kind(kinds[name], _column_kind(column))
    return {name: kind or "null" for name, kind in kinds.items()}
