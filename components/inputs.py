"""The one input layer: how nanguard finds and reads CSV files into Arrow, and what is missing.

CSV convention (every entry point: `run`, `scan`, `check-model`): a cell spelled as one of
`cells.MISSING_TOKENS` (empty, `NA`, `null`, `None`, `?`, `-`, `n/a`, `N/A`, `#N/A`, `NULL`,
`missing`, a lone space; plus the data guard's `missing_tokens`) means **missing**; `nan`,
`NaN`, `inf`, `-inf` and `Infinity` are float values (NaN and +/-Inf), as tfx-bsl's CSV decoder
(the one CsvExampleGen uses) reads them. A UTF-8 byte-order mark is skipped; quoted fields may
hold commas, quotes and newlines. A `.csv.gz` file is read as its decompressed text.

Every problem with an input is an `InputError` naming the file (and column) and what to do.
The column types CsvExampleGen gives these cells are in `csv_types`. Imports pyarrow only,
never TensorFlow or Beam.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import os
from collections.abc import Iterator, Sequence

import pyarrow as pa
import pyarrow.csv as pacsv

from nanguard.components.cells import MISSING_TOKENS
from nanguard.components.errors import InputError

CSV_SUFFIXES = (".csv", ".csv.gz")

__all__ = [
    "CSV_SUFFIXES",
    "MISSING_TOKENS",
    "HeaderError",
    "InputError",
    "csv_files",
    "csv_header",
    "csv_text_batches",
    "is_gzip",
    "open_bytes",
    "open_text",
    "read_csv",
    "read_csv_files",
    "read_header",
]


class HeaderError(InputError):
    """A CSV header that was read but cannot be used: an empty or a repeated column name."""


def csv_files(path: str, flag: str = "--data") -> list[str]:
    """The CSV files at `path`: the file itself, or every `*.csv` / `*.csv.gz` in the folder.

    Sorted by name; all of them must share one header (`csv_header`).

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
    if _looks_binary(path):
        return InputError(f"{path}: not a text file (it holds control bytes); pass a CSV")
    # Arrow quotes the offending row: keep its printable characters only, never raw bytes.
    text = "".join(c if c.isprintable() else "?" for c in text)
    return InputError(f"{path}: cannot be read as CSV ({text}); pass a UTF-8 CSV with a header")


def is_gzip(path: str) -> bool:
    """A `.gz` name: the file is read through gzip (pyarrow decides by the name, too)."""
    return path.lower().endswith(".gz")


def open_bytes(path: str):
    """The file's bytes, decompressed for a `.gz` name."""
    return gzip.open(path, "rb") if is_gzip(path) else open(path, "rb")  # noqa: SIM115


def open_text(path: str) -> io.TextIOWrapper:
    """The file as UTF-8 text for `csv.reader` (a byte-order mark skipped, `.gz` decompressed)."""
    return io.TextIOWrapper(open_bytes(path), encoding="utf-8-sig", newline="")


def _head(path: str) -> bytes:
    """The first 64 KiB of the file's (decompressed) bytes."""
    with open_bytes(path) as f:
        return f.read(1 << 16)


def _looks_binary(path: str) -> bool:
    """A NUL byte or other control bytes (besides tab, CR, LF, FF) in the first 64 KiB."""
    try:
        head = _head(path)
    except (OSError, EOFError):
        return False
    return any(b < 32 and b not in (9, 10, 12, 13) for b in head)


def _not_a_header(path: str) -> InputError:
    """Why Arrow found no header: an empty file, a binary file, or no line to read."""
    head = _head(path)
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
    try:
        head = _head(path)
    except (OSError, EOFError):
        return None
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
      HeaderError: naming the file and the column position (1-based) of an empty or repeated
        name (CsvExampleGen would keep only the last column of a repeated name, silently).
      InputError: naming the file, for anything unreadable.
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
            raise HeaderError(
                f"{path}: column {position} of the header has no name; name every column"
            )
        if name in seen:
            raise HeaderError(
                f"{path}: columns {seen[name]} and {position} are both named {name!r}; "
                "give every column its own name"
            )
        seen[name] = position
    return names


def _read_one(path: str, names: Sequence[str], strings: bool, missing: Sequence[str]) -> pa.Table:
    if _lone_header_line(path) is not None:  # a header with no line break: no rows
        return pa.table({n: pa.array([], pa.string()) for n in names})
    convert = pacsv.ConvertOptions(
        null_values=list(missing),
        strings_can_be_null=True,
        column_types={n: pa.string() for n in names} if strings else None,
    )
    parse = pacsv.ParseOptions(newlines_in_values=True)
    try:
        return pacsv.read_csv(path, parse_options=parse, convert_options=convert)
    except (pa.ArrowInvalid, UnicodeDecodeError, OSError) as e:
        raise _arrow_error(path, e) from e


def read_csv(
    path: str,
    *,
    strings: bool = True,
    flag: str = "--data",
    missing: Sequence[str] = MISSING_TOKENS,
) -> pa.Table:
    """Reads the CSV file(s) at `path` (a file or a folder of `*.csv`) into one Arrow table.

    Cells spelled as one of `missing` (default: `cells.MISSING_TOKENS`) become nulls. With
    `strings` (the default) every column stays a string column, cell text as written (what
    staging for CsvExampleGen needs); otherwise Arrow infers each column's type, and
    `nan`/`inf` cells are float NaN/Inf.

    Raises:
      InputError: naming the file: unreadable, not UTF-8, a bad header, headers that differ
        between files, a ragged row, or no data row at all.
    """
    files = csv_files(path, flag)
    return read_csv_files(files, strings=strings, flag=flag, where=path, missing=missing)


def read_csv_files(
    files: Sequence[str],
    *,
    strings: bool = True,
    flag: str = "--data",
    where: str | None = None,
    allow_empty: bool = False,
    missing: Sequence[str] = MISSING_TOKENS,
) -> pa.Table:
    """Reads CSV files that share one header into one Arrow table (see `read_csv`).

    Args:
      files: The CSV files, in order.
      strings: Keep every column as text (else Arrow infers the types per file).
      flag: The flag the files came from, for messages.
      where: The path the user gave, for messages (default: the first file).
      allow_empty: Return a table with no rows (string columns) for header-only files instead
        of raising; the caller judges an empty input.
      missing: The cell spellings read as null (missing).

    Raises:
      InputError: naming the file: unreadable, not UTF-8, a bad header, headers that differ
        between files, a ragged row, or (unless `allow_empty`) no data row at all.
    """
    first = csv_header(files, flag=flag, where=where)
    where = where or files[0]
    tables = [_read_one(file, first, strings, missing) for file in files]
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


def csv_header(files: Sequence[str], *, flag: str = "--data", where: str | None = None):
    """The header the CSV `files` share (checked as `read_header` checks it).

    Raises:
      InputError: no file, a bad header, or headers that differ between files.
    """
    if not files:
        raise InputError(f"{flag} {where}: no CSV file to read")
    first = read_header(files[0])
    for file in files[1:]:
        header = read_header(file)
        if header != first:
            raise InputError(
                f"{file}: header {header} differs from {first} in {files[0]}; all CSVs must "
                "share one header"
            )
    return first


def csv_text_batches(
    files: Sequence[str],
    names: Sequence[str],
    block_size: int = 1 << 20,
    missing: Sequence[str] = MISSING_TOKENS,
) -> Iterator[pa.RecordBatch]:
    """Streams the rows of CSV files sharing the header `names` as string record batches.

    pyarrow's streaming reader (parsing ahead on its own thread), about `block_size` bytes per
    batch: memory does not grow with the row count. Cells spelled as one of `missing` are
    nulls; other cell text is kept. `.csv.gz` files are decompressed as they stream.

    Raises:
      InputError: naming the file: unreadable, not UTF-8, a ragged row.
    """
    read = pacsv.ReadOptions(block_size=block_size, use_threads=True)
    parse = pacsv.ParseOptions(newlines_in_values=True)
    convert = pacsv.ConvertOptions(
        null_values=list(missing),
        strings_can_be_null=True,
        column_types={n: pa.string() for n in names},
    )
    for path in files:
        if _lone_header_line(path) is not None:  # a header with no line break: no rows
            continue
        try:
            with pacsv.open_csv(
                path, read_options=read, parse_options=parse, convert_options=convert
            ) as reader:
                yield from reader
        except (pa.ArrowInvalid, UnicodeDecodeError, OSError) as e:
            raise _arrow_error(path, e) from e
