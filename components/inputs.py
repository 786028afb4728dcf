"""The one input layer: how nanguard finds and reads CSV files into Arrow, and what is missing.

CSV convention (every entry point: `run`, `scan`, `check-model`): an empty cell and the tokens
`NA`, `null` and `None` mean **missing**; `nan`, `NaN`, `inf`, `-inf` and `Infinity` are float
values (NaN and +/-Inf), as tfx-bsl's CSV decoder (the one CsvExampleGen uses) reads them. A
UTF-8 byte-order mark is skipped; quoted fields may hold commas, quotes and newlines.

Every problem with an input is an `InputError` naming the file (and column) and what to do.
Imports pyarrow only, never TensorFlow or Beam.
"""

from __future__ import annotations

import codecs
import csv
import io
import os
from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from nanguard.components.errors import InputError

MISSING_TOKENS = ("", "NA", "null", "None")
CSV_SUFFIXES = (".csv",)

__all__ = [
    "CSV_SUFFIXES",
    "MISSING_TOKENS",
    "InputError",
    "csv_files",
    "example_gen_types",
    "read_csv",
    "read_csv_files",
    "read_header",
]


def csv_files(path: str, flag: str = "--data") -> list[str]:
    """The CSV files at `path`: the file itself, or every `*.csv` in the folder, sorted.

    Raises:
      InputError: `path` does not exist, or is a folder that holds no `.csv` file.
    """
    if os.path.isdir(path):
        files = sorted(
            os.path.join(path, f)
            for f in os.listdir(path)
            if f.lower().endswith(CSV_SUFFIXES) and os.path.isfile(os.path.join(path, f))
        )
        if not files:
            raise InputError(f"{flag} {path}: the folder holds no .csv file")
        return files
    if not os.path.isfile(path):
        raise InputError(f"{flag} {path}: no such file or folder")
    return [path]


def _arrow_error(path: str, error: Exception) -> InputError:
    text = str(error)
    if isinstance(error, UnicodeDecodeError) or "UTF8" in text or "utf-8" in text.lower():
        return InputError(f"{path}: not a UTF-8 text file; pass a CSV with a header row")
    if isinstance(error, OSError) and getattr(error, "strerror", None):
        return InputError(f"{path}: cannot be read ({error.strerror})")
    return InputError(f"{path}: cannot be read as CSV ({text}); pass a UTF-8 CSV with a header")


def _not_a_header(path: str) -> InputError:
    """Why Arrow found no header: an empty file, a binary file, or no line to read."""
    with open(path, "rb") as f:
        head = f.read(1 << 16)
    if not head.strip():
        return InputError(f"{path}: the file is empty; pass a CSV with a header row")
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return InputError(f"{path}: not a UTF-8 text file; pass a CSV with a header row")
    if b"\x00" in head:
        return InputError(f"{path}: not a text file (it holds NUL bytes); pass a CSV")
    return InputError(f"{path}: a header but no data rows; pass a CSV with a header and rows")


def _lone_header_line(path: str) -> list[str] | None:
    """The names in a file that is one header line with no line break (Arrow reads no rows)."""
    with open(path, "rb") as f:
        head = f.read(1 << 16)
    try:
        text = head.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None
    if not text.strip() or "\x00" in text or "\n" in text or "\r" in text:
        return None
    return next(csv.reader(io.StringIO(text)))


def read_header(path: str) -> list[str]:
    """The column names of one CSV file, checked: none empty, none repeated.

    Raises:
      InputError: naming the file and the column position (1-based) of an empty or repeated
        name, or the file for anything unreadable.
    """
    try:
        with pacsv.open_csv(
            path, convert_options=pacsv.ConvertOptions(include_columns=[])
        ) as reader:
            names = reader.schema.names
    except StopIteration:
        names = []
    except (pa.ArrowInvalid, UnicodeDecodeError, OSError) as e:
        if "Empty CSV file" not in str(e):
            raise _arrow_error(path, e) from e
        names = _lone_header_line(path)
        if names is None:
            raise _not_a_header(path) from e
    if not names:
        raise InputError(f"{path}: the file is empty; pass a CSV with a header row")
    seen: dict[str, int] = {}
    for position, name in enumerate(names, start=1):
        if not name.strip():
            raise InputError(
                f"{path}: column {position} of the header has no name; name every column"
            )
        if name in seen:
            raise InputError(
                f"{path}: columns {seen[name]} and {position} are both named {name!r}; "
                "give every column its own name"
            )
        seen[name] = position
    return names


def _read_one(path: str, names: Sequence[str], strings: bool) -> pa.Table:
    if _lone_header_line(path) is not None:  # a header with no line break: no rows
        return pa.table({n: pa.array([], pa.string()) for n in names})
    convert = pacsv.ConvertOptions(
        null_values=list(MISSING_TOKENS),
        strings_can_be_null=True,
        column_types={n: pa.string() for n in names} if strings else None,
    )
    parse = pacsv.ParseOptions(newlines_in_values=True)
    try:
        return pacsv.read_csv(path, parse_options=parse, convert_options=convert)
    except (pa.ArrowInvalid, UnicodeDecodeError, OSError) as e:
        raise _arrow_error(path, e) from e


def read_csv(path: str, *, strings: bool = True, flag: str = "--data") -> pa.Table:
    """Reads the CSV file(s) at `path` (a file or a folder of `*.csv`) into one Arrow table.

    Missing tokens become nulls. With `strings` (the default) every column stays a string
    column, cell text as written (what staging for CsvExampleGen needs); otherwise Arrow infers
    each column's type, and `nan`/`inf` cells are float NaN/Inf.

    Raises:
      InputError: naming the file: unreadable, not UTF-8, a bad header, headers that differ
        between files, a ragged row, or no data row at all.
    """
    return read_csv_files(csv_files(path, flag), strings=strings, flag=flag, where=path)


def read_csv_files(
    files: Sequence[str],
    *,
    strings: bool = True,
    flag: str = "--data",
    where: str | None = None,
    allow_empty: bool = False,
) -> pa.Table:
    """Reads CSV files that share one header into one Arrow table (see `read_csv`).

    Args:
      files: The CSV files, in order.
      strings: Keep every column as text (else Arrow infers the types per file).
      flag: The flag the files came from, for messages.
      where: The path the user gave, for messages (default: the first file).
      allow_empty: Return a table with no rows (string columns) for header-only files instead
        of raising; the caller judges an empty input (`nanguard scan` makes it a violation).

    Raises:
      InputError: naming the file: unreadable, not UTF-8, a bad header, headers that differ
        between files, a ragged row, or (unless `allow_empty`) no data row at all.
    """
    if not files:
        raise InputError(f"{flag} {where}: no CSV file to read")
    where = where or files[0]
    first = read_header(files[0])
    tables = []
    for file in files:
        header = read_header(file) if file != files[0] else first
        if header != first:
            raise InputError(
                f"{file}: header {header} differs from {first} in {files[0]}; all CSVs must "
                "share one header"
            )
        tables.append(_read_one(file, header, strings))
    if allow_empty:
        tables = [t for t in tables if t.num_rows] or [
            pa.table({n: pa.array([], pa.string()) for n in first})
        ]
    try:
        table = pa.concat_tables(tables, promote=not strings) if len(tables) > 1 else tables[0]
    except pa.ArrowInvalid as e:
        raise InputError(f"{flag} {where}: the files' columns have different types ({e})") from e
    if table.num_rows == 0 and not allow_empty:
        raise InputError(f"{flag} {where}: no data rows; pass a CSV with a header and rows")
    return table


_INT64_TEXT = r"^[-+]?\d+$"


def _column_kind(column: pa.ChunkedArray) -> str:
    """'int', 'float' or 'string', as tfx-bsl's CSV decoder (CsvExampleGen's) infers a column.

    tfx-bsl: INT if every value is an int64 (`int(cell)`), else FLOAT if every value is a float
    (`float(cell)`, so `nan`, `inf`, `-Infinity` count), else STRING. Arrow's casts decide the
    common cases at C++ speed; the distinct values go through Python only when they disagree.
    """
    values = column.drop_null()
    if len(values) == 0:
        return "null"
    for kind, arrow_type in (("int", pa.int64()), ("float", pa.float64())):
        try:
            pc.cast(values, arrow_type)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            continue
        if kind == "float":
            integers = values.filter(pc.match_substring_regex(values, _INT64_TEXT))
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


def example_gen_types(table: pa.Table) -> pa.Table:
    """A string table (from `read_csv`) typed as CsvExampleGen types it: int64, float32, text.

    Column types are inferred over the whole table the way tfx-bsl's CSV decoder does (see
    `_column_kind`); FLOAT values are converted to float32, as tf.Example stores them, so
    `nan`, `inf`, `-Infinity` become NaN/+Inf/-Inf and a finite value beyond float32 range
    (1e39) becomes +/-Inf, exactly what the pipeline will see. Nulls (missing) stay null; a
    column with no value at all stays a null column.
    """
    columns = []
    for column in table.columns:
        kind = _column_kind(column)
        if kind == "int":
            try:
                column = pc.cast(column, pa.int64())
            except pa.ArrowInvalid:  # " 7" and the like: Python's int() reads them
                column = pa.array(
                    [None if v is None else int(v) for v in column.to_pylist()], pa.int64()
                )
        elif kind == "float":
            try:
                doubles = pc.cast(column, pa.float64())
            except pa.ArrowInvalid:
                doubles = pa.array(
                    [None if v is None else float(v) for v in column.to_pylist()], pa.float64()
                )
            doubles = doubles.combine_chunks() if isinstance(doubles, pa.ChunkedArray) else doubles
            mask = doubles.is_null().to_numpy(zero_copy_only=False)
            with np.errstate(over="ignore"):
                values = doubles.fill_null(0.0).to_numpy().astype(np.float32)
            column = pa.array(values, pa.float32(), mask=mask)
        elif kind == "null":
            column = pa.nulls(len(column))
        columns.append(column)
    return pa.table(columns, names=table.column_names)
