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
import os
from collections.abc import Sequence

import pyarrow as pa
import pyarrow.csv as pacsv

from nanguard.components.errors import InputError

MISSING_TOKENS = ("", "NA", "null", "None")
CSV_SUFFIXES = (".csv",)

__all__ = ["CSV_SUFFIXES", "MISSING_TOKENS", "InputError", "csv_files", "read_csv", "read_header"]


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
        if "Empty CSV file" in str(e):
            raise _not_a_header(path) from e
        raise _arrow_error(path, e) from e
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
    files = csv_files(path, flag)
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
    try:
        table = pa.concat_tables(tables, promote=not strings) if len(tables) > 1 else tables[0]
    except pa.ArrowInvalid as e:
        raise InputError(f"{flag} {path}: the files' columns have different types ({e})") from e
    if table.num_rows == 0:
        raise InputError(f"{flag} {path}: no data rows; pass a CSV with a header and rows")
    return table
