"""The one input layer: how nanguard finds and reads CSV files into Arrow, and what is missing.

CSV convention (every entry point: `run`, `scan`, `check-model`): a cell spelled as one of
`cells.MISSING_TOKENS` (empty, `NA`, `null`, `None`, `?`, `-`, `n/a`, `N/A`, `#N/A`, `NULL`,
`missing`, a lone space; `data_guard.default_missing_tokens: false` keeps only the empty cell;
plus the data guard's `missing_tokens`) means **missing**; `nan`, `NaN`, `inf`, `-inf` and
`Infinity` are float values (NaN and +/-Inf), as tfx-bsl's CSV decoder (the one CsvExampleGen
uses) reads them. Quoted fields may hold the delimiter, quotes and newlines. A `.csv.gz` file is
read as its decompressed text. The delimiter (`,` `;` tab `|`), the decimal mark and the
encoding (UTF-8 with or without a byte-order mark, cp1252, latin-1) are detected per file or
forced (`csv_dialect.CsvDialect`, the data guard's `csv_*` keys); decimal commas are read as
decimal points. Given a `spellings` dict, the readers count per column which missing spellings
they read and how often (`{column: {spelling: count}}`, vectorised).

Every problem with an input is an `InputError` naming the file (and column) and what to do.
The column types CsvExampleGen gives these cells are in `csv_types`. Imports pyarrow only,
never TensorFlow or Beam.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
import os
from collections.abc import Iterator, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv

from nanguard.components import csv_dialect
from nanguard.components.cells import MISSING_TOKENS, missing_in_table
from nanguard.components.csv_dialect import CsvDialect, is_gzip, open_bytes, points_in_table
from nanguard.components.errors import InputError

CSV_SUFFIXES = (".csv", ".csv.gz")

__all__ = [
    "CSV_SUFFIXES",
    "MISSING_TOKENS",
    "CsvDialect",
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


def _arrow_error(path: str, error: Exception, dialect: CsvDialect | None = None) -> InputError:
    text = str(error)
    if isinstance(error, UnicodeDecodeError) or "UTF8" in text or "utf-8" in text.lower():
        return InputError(
            f"{path}: not UTF-8 text; set data_guard.csv_encoding (cp1252, latin-1, or auto) "
            "or pass a UTF-8 CSV with a header row"
        )
    if isinstance(error, OSError) and getattr(error, "strerror", None):
        return InputError(f"{path}: cannot be read ({error.strerror})")
    if _looks_binary(path):
        return InputError(f"{path}: not a text file (it holds control bytes); pass a CSV")
    # Arrow quotes the offending row: keep its printable characters only, never raw bytes.
    text = "".join(c if c.isprintable() else "?" for c in text)
    read = f" read as {dialect.describe()}" if dialect else ""
    note = dialect and csv_dialect.first_line_note(path, dialect)
    return InputError(
        f"{path}: cannot be read as CSV{read} ({text}); "
        + (f"{note.split(': ', 1)[1]}" if note else "pass a CSV with a header, or set "
           "data_guard.csv_delimiter / csv_encoding")
    )  # fmt: skip


def open_text(path: str, dialect: CsvDialect | None = None) -> io.TextIOWrapper:
    """The file as text for `csv.reader` (`delimiter=dialect(path).delimiter`): decoded in the
    file's encoding (`dialect`, detected when auto), a byte-order mark skipped, `.gz` read."""
    encoding = csv_dialect.resolve(path, dialect).encoding
    encoding = "utf-8-sig" if encoding == "utf-8" else encoding
    return io.TextIOWrapper(open_bytes(path), encoding=encoding, newline="")


def dialect_of(path: str, dialect: CsvDialect | None = None) -> CsvDialect:
    """The file's dialect: `dialect`'s forced fields, the `auto` ones detected (cached)."""
    return csv_dialect.resolve(path, dialect)


def _head(path: str) -> bytes:
    """The first 64 KiB of the file's (decompressed) bytes."""
    with open_bytes(path) as f:
        return f.read(1 << 16)


def _looks_binary(path: str) -> bool:
    """A NUL byte or other control bytes (besides tab, CR, LF, FF) in the first 64 KiB."""
    try:
        return csv_dialect.is_binary(_head(path))
    except (OSError, EOFError):
        return False


def _not_a_header(path: str, dialect: CsvDialect) -> InputError:
    """Why Arrow found no header: an empty file, a binary file, or no line to read."""
    head = _head(path)
    if not head.strip():
        return InputError(f"{path}: the file is empty; pass a CSV with a header row")
    if csv_dialect.is_binary(head):
        return InputError(f"{path}: not a text file (it holds control bytes); pass a CSV")
    if dialect.encoding == "utf-8":
        try:
            codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
        except UnicodeDecodeError:
            return _arrow_error(path, UnicodeDecodeError("utf-8", b"", 0, 1, "invalid"))
    return InputError(f"{path}: a header but no data rows; pass a CSV with a header and rows")


def _lone_header_line(path: str, dialect: CsvDialect) -> list[str] | None:
    """The names in a file that is one header line with no line break (Arrow reads no rows)."""
    try:
        head = _head(path)
    except (OSError, EOFError):
        return None
    encoding = "utf-8-sig" if dialect.encoding == "utf-8" else dialect.encoding
    try:
        text = head.decode(encoding)
    except UnicodeDecodeError:
        return None
    if not text.strip() or "\x00" in text or "\n" in text or "\r" in text:
        return None
    return next(csv.reader(io.StringIO(text), delimiter=dialect.delimiter))


@contextlib.contextmanager
def _arrow_source(
    path: str, dialect: CsvDialect, block_size: int | None = None
) -> Iterator[tuple[Any, pacsv.ReadOptions, pacsv.ParseOptions]]:
    """What pyarrow reads: `(source, read options, parse options)` for the file in `dialect`.

    A UTF-8 file is read by path (Arrow skips a byte-order mark, decompresses `.gz`). Any other
    encoding is transcoded to UTF-8 here, block by block in C (`codecs`), and handed to Arrow
    as a stream: Arrow's own transcoding reader hangs at close on large files (seen with
    pyarrow 10 and a 13 MB cp1252 file).
    """
    read = pacsv.ReadOptions(encoding="utf8", use_threads=True)
    if block_size:
        read.block_size = block_size
    parse = pacsv.ParseOptions(delimiter=dialect.delimiter, newlines_in_values=True)
    if dialect.encoding == "utf-8":
        yield path, read, parse
        return
    with open_bytes(path) as raw:
        recoded = codecs.EncodedFile(raw, data_encoding="utf-8", file_encoding=dialect.encoding)
        yield pa.PythonFile(recoded, mode="r"), read, parse


def read_header(path: str, dialect: CsvDialect | None = None) -> list[str]:
    """The column names of one CSV file (in its `dialect`), checked: none empty, none repeated.

    Raises:
      HeaderError: naming the file and the column position (1-based) of an empty or repeated
        name (CsvExampleGen would keep only the last column of a repeated name, silently).
      InputError: naming the file, for anything unreadable.
    """
    dialect = dialect_of(path, dialect)
    if dialect.encoding != "utf-8":
        # The first record only, decoded by Python: Arrow reading a transcoded stream must be
        # read to its end (closing it early waits on its read-ahead thread, which waits on
        # the GIL).
        try:
            with open_text(path, dialect) as f:
                names = next(csv.reader(f, delimiter=dialect.delimiter), [])
        except (UnicodeDecodeError, OSError, csv.Error) as e:
            raise _arrow_error(path, e, dialect) from e
        return _checked_names(path, names)
    try:
        with (
            _arrow_source(path, dialect) as (source, read, parse),
            pacsv.open_csv(
                source,
                read_options=read,
                parse_options=parse,
                convert_options=pacsv.ConvertOptions(include_columns=[]),
            ) as reader,
        ):
            names = reader.schema.names
    except StopIteration:
        names = []
    except (pa.ArrowInvalid, UnicodeDecodeError, OSError) as e:
        if "Empty CSV file" not in str(e):
            raise _arrow_error(path, e, dialect) from e
        names = _lone_header_line(path, dialect)
        if names is None:
            raise _not_a_header(path, dialect) from e
    return _checked_names(path, names)


def _checked_names(path: str, names: list[str]) -> list[str]:
    """`names` if none is empty or repeated (HeaderError naming the position otherwise)."""
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


def header_notes(files: Sequence[str], dialect: CsvDialect | None = None) -> list[str]:
    """What a user should know about how the files were read: a dialect other than plain
    UTF-8 comma-separated with decimal points, and a header that reads as ONE column holding
    `;`, a tab or `|` (naming the likely delimiter and the key to set)."""
    notes = []
    for path in files:
        found = dialect_of(path, dialect)
        if found != CsvDialect(",", ".", "utf-8"):
            notes.append(f"{path}: read as {found.describe()}")
        note = csv_dialect.header_note(path, read_header(path, found), found)
        if note:
            notes.append(note)
    return notes


def _read_one(
    path: str,
    names: Sequence[str],
    strings: bool,
    missing: Sequence[str],
    dialect: CsvDialect | None,
    spellings: dict | None,
) -> pa.Table:
    dialect = dialect_of(path, dialect)
    if _lone_header_line(path, dialect) is not None:  # a header with no line break: no rows
        return pa.table({n: pa.array([], pa.string()) for n in names})
    counted = strings and spellings is not None
    convert = pacsv.ConvertOptions(
        null_values=[] if counted else list(missing),
        strings_can_be_null=True,
        column_types={n: pa.string() for n in names} if strings else None,
        decimal_point=dialect.decimal,
    )
    try:
        with _arrow_source(path, dialect) as (source, read, parse):
            table = pacsv.read_csv(
                source, read_options=read, parse_options=parse, convert_options=convert
            )
    except (pa.ArrowInvalid, UnicodeDecodeError, OSError) as e:
        raise _arrow_error(path, e, dialect) from e
    if counted:
        table = missing_in_table(table, missing, spellings)
    return points_in_table(table, dialect) if strings else table


def read_csv(
    path: str,
    *,
    strings: bool = True,
    flag: str = "--data",
    missing: Sequence[str] = MISSING_TOKENS,
    dialect: CsvDialect | None = None,
    spellings: dict | None = None,
) -> pa.Table:
    """Reads the CSV file(s) at `path` (a file or a folder of `*.csv`) into one Arrow table.

    Cells spelled as one of `missing` (default: `cells.MISSING_TOKENS`) become nulls. With
    `strings` (the default) every column stays a string column, cell text as written (but
    decimal commas written as points: what staging for CsvExampleGen needs); otherwise Arrow
    infers each column's type, and `nan`/`inf` cells are float NaN/Inf. `dialect`: the
    delimiter, decimal mark and encoding (auto: detected per file). `spellings`: a dict that
    receives `{column: {missing spelling: count}}` (string reads only).

    Raises:
      InputError: naming the file: unreadable, not in the encoding, a bad header, headers
        that differ between files, a ragged row, or no data row at all.
    """
    return read_csv_files(
        csv_files(path, flag), strings=strings, flag=flag, where=path, missing=missing,
        dialect=dialect, spellings=spellings,
    )  # fmt: skip


def read_csv_files(
    files: Sequence[str],
    *,
    strings: bool = True,
    flag: str = "--data",
    where: str | None = None,
    allow_empty: bool = False,
    missing: Sequence[str] = MISSING_TOKENS,
    dialect: CsvDialect | None = None,
    spellings: dict | None = None,
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
      dialect: Delimiter, decimal mark and encoding (auto fields detected per file).
      spellings: Receives `{column: {missing spelling: count}}` (string reads only).

    Raises:
      InputError: naming the file: unreadable, not in the encoding, a bad header, headers
        that differ between files, a ragged row, or (unless `allow_empty`) no data row at all.
    """
    first = csv_header(files, flag=flag, where=where, dialect=dialect)
    where = where or files[0]
    tables = [_read_one(file, first, strings, missing, dialect, spellings) for file in files]
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


def csv_header(
    files: Sequence[str],
    *,
    flag: str = "--data",
    where: str | None = None,
    dialect: CsvDialect | None = None,
):
    """The header the CSV `files` share (checked as `read_header` checks it).

    Raises:
      InputError: no file, a bad header, or headers that differ between files.
    """
    if not files:
        raise InputError(f"{flag} {where}: no CSV file to read")
    first = read_header(files[0], dialect)
    for file in files[1:]:
        header = read_header(file, dialect)
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
    dialect: CsvDialect | None = None,
    spellings: dict | None = None,
) -> Iterator[pa.RecordBatch]:
    """Streams the rows of CSV files sharing the header `names` as string record batches.

    pyarrow's streaming reader (parsing ahead on its own thread), about `block_size` bytes per
    batch: memory does not grow with the row count. Cells spelled as one of `missing` are
    nulls (counted into `spellings` when given); decimal commas are written as points
    (`dialect`); other cell text is kept. `.csv.gz` files are decompressed as they stream.

    Raises:
      InputError: naming the file: unreadable, not in the encoding, a ragged row.
    """
    convert = pacsv.ConvertOptions(
        null_values=[] if spellings is not None else list(missing),
        strings_can_be_null=True,
        column_types={n: pa.string() for n in names},
    )
    for path in files:
        found = dialect_of(path, dialect)
        if _lone_header_line(path, found) is not None:  # a header with no line break: no rows
            continue
        try:
            with (
                _arrow_source(path, found, block_size) as (source, read, parse),
                pacsv.open_csv(
                    source, read_options=read, parse_options=parse, convert_options=convert
                ) as reader,
            ):
                for batch in reader:
                    if spellings is not None:
                        batch = missing_in_table(batch, missing, spellings)
                    yield points_in_table(batch, found)
        except (pa.ArrowInvalid, UnicodeDecodeError, OSError) as e:
            raise _arrow_error(path, e, found) from e
