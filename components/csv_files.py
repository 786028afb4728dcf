"""CSV files before their rows: finding them, opening them for Arrow or Python, their header.

Split from ``inputs`` (which re-exports the public names): the file-level half of the one input
layer. Every problem is an ``InputError`` naming the file and what to do; a header with an empty
or repeated name is a ``HeaderError`` naming the column position. An empty FIRST name (what
pandas' ``to_csv()`` and R's ``write.csv()`` write over their row names, the index), or a first
name ``rownames`` (the Rdatasets CSVs) or ``Unnamed: 0`` (pandas' index read back), marks row
names: that column is left out of every read (``read_header`` drops it, the readers pass the
remaining names as Arrow's ``include_columns``), with a note. So is the first column of a file
whose header names one column fewer than its rows hold (R's ``write.table()``): Arrow is given
the header with an empty first name (``CsvDialect.short_header``). Imports pyarrow only.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import functools
import io
import os
import re
from collections.abc import Iterator, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from nanguard.components import csv_dialect
from nanguard.components.cells import is_number
from nanguard.components.csv_dialect import CsvDialect, open_bytes
from nanguard.components.errors import InputError

CSV_SUFFIXES = (".csv", ".csv.gz")


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


def arrow_error(path: str, error: Exception, dialect: CsvDialect | None = None) -> InputError:
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
    widths = re.search(r"Expected (\d+) columns, got (\d+)", text)
    if not note and widths and int(widths.group(1)) < int(widths.group(2)):
        note = (
            f": the header names {widths.group(1)} columns and a row holds {widths.group(2)} "
            "cells: if the header is on a later line (a preamble such as scikit-learn's count "
            "line), delete the lines above it; if a text cell holds the delimiter, quote it"
        )
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
            return arrow_error(path, UnicodeDecodeError("utf-8", b"", 0, 1, "invalid"))
    return InputError(f"{path}: a header but no data rows; pass a CSV with a header and rows")


def _first_record(path: str, dialect: CsvDialect) -> list[str]:
    """The first record of the file, as Python's csv module reads it in `dialect`."""
    try:
        head = _head(path)
    except (OSError, EOFError) as e:
        raise arrow_error(path, e, dialect) from e
    encoding = "utf-8-sig" if dialect.encoding == "utf-8" else dialect.encoding
    text = head.decode(encoding, errors="replace")
    return next(csv.reader(io.StringIO(text), delimiter=dialect.delimiter), [])


def lone_header_line(path: str, dialect: CsvDialect) -> list[str] | None:
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
def arrow_source(
    path: str, dialect: CsvDialect, block_size: int | None = None
) -> Iterator[tuple[Any, pacsv.ReadOptions, pacsv.ParseOptions]]:
    """What pyarrow reads: `(source, read options, parse options)` for the file in `dialect`.

    A UTF-8 file is read by path (Arrow skips a byte-order mark, decompresses `.gz`). Any other
    encoding is transcoded to UTF-8 here, block by block in C (`codecs`), and handed to Arrow
    as a stream: Arrow's own transcoding reader hangs at close on large files (seen with
    pyarrow 10 and a 13 MB cp1252 file).
    """
    dialect = dialect_of(path, dialect)
    read = pacsv.ReadOptions(encoding="utf8", use_threads=True)
    if block_size:
        read.block_size = block_size
    if dialect.short_header:  # name the unnamed row-names column '' (see `has_row_names`)
        read.column_names, read.skip_rows = ["", *_first_record(path, dialect)], 1
    parse = pacsv.ParseOptions(delimiter=dialect.delimiter, newlines_in_values=True)
    if dialect.encoding == "utf-8":
        yield path, read, parse
        return
    with open_bytes(path) as raw:
        recoded = codecs.EncodedFile(raw, data_encoding="utf-8", file_encoding=dialect.encoding)
        yield pa.PythonFile(recoded, mode="r"), read, parse


def read_header(path: str, dialect: CsvDialect | None = None) -> list[str]:
    """The column names of one CSV file (in its `dialect`), checked: none empty, none repeated.

    An empty first name over other names marks row names (pandas' index, R's row names): that
    column is not returned, and the readers leave it out (`header_notes` says so).

    Raises:
      HeaderError: naming the file and the column position (1-based) of an empty or repeated
        name (CsvExampleGen would keep only the last column of a repeated name, silently).
      InputError: naming the file, for anything unreadable.
    """
    names = raw_header(path, dialect)
    if has_row_names(names):
        return _checked_names(path, names[1:], start=2)
    return _checked_names(path, names)


# First header names over row names: none (pandas' `to_csv()`, R's `write.csv()`), `rownames`
# (the Rdatasets site's CSVs, 2,000+ R data sets) and `Unnamed: 0` (pandas' name for an unnamed
# index read back, written again with `index=False`).
ROW_NAMES_HEADERS = ("", "rownames", "Unnamed: 0")


def has_row_names(names: Sequence[str]) -> bool:
    """Whether a raw header's first name marks a row-names column (`ROW_NAMES_HEADERS`: empty,
    `rownames` or `Unnamed: 0`) and others follow."""
    return len(names) > 1 and names[0].strip() in ROW_NAMES_HEADERS


def raw_header(path: str, dialect: CsvDialect | None = None) -> list[str]:
    """The first record of one CSV file as written (not checked; see `read_header`).

    Cached per file (path, size, modification time) and dialect, like the dialect itself: a
    scan asks three or four times, and Arrow reads a whole first block (1 MB) each time.
    """
    dialect = dialect_of(path, dialect)
    try:
        info = os.stat(path)
        stamp = (info.st_size, info.st_mtime_ns)
    except OSError:  # remote or unreadable: not cached
        return _raw_header(path, dialect)
    return list(_cached_header(path, stamp, dialect))


@functools.lru_cache(maxsize=256)
def _cached_header(path: str, stamp: tuple[int, int], dialect: CsvDialect) -> tuple[str, ...]:
    del stamp  # part of the cache key only: a rewritten file is read again
    return tuple(_raw_header(path, dialect))


def _raw_header(path: str, dialect: CsvDialect) -> list[str]:
    if dialect.encoding != "utf-8":
        # The first record only, decoded by Python: Arrow reading a transcoded stream must be
        # read to its end (closing it early waits on its read-ahead thread, which waits on
        # the GIL).
        try:
            with open_text(path, dialect) as f:
                names = next(csv.reader(f, delimiter=dialect.delimiter), [])
        except (UnicodeDecodeError, OSError, csv.Error) as e:
            raise arrow_error(path, e, dialect) from e
        return ["", *names] if dialect.short_header else names
    try:
        with (
            arrow_source(path, dialect) as (source, read, parse),
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
            raise arrow_error(path, e, dialect) from e
        names = lone_header_line(path, dialect)
        if names is None:
            raise _not_a_header(path, dialect) from e
    return names


def _checked_names(path: str, names: list[str], start: int = 1) -> list[str]:
    """`names` if none is empty or repeated (HeaderError naming the position otherwise, the
    first name being column `start`)."""
    if not names:
        raise InputError(f"{path}: the file is empty; pass a CSV with a header row")
    seen: dict[str, int] = {}
    for position, name in enumerate(names, start=start):
        if not name.strip():
            raise HeaderError(
                f"{path}: column {position} of the header has no name; name every column"
                + _numbers_hint(names)
            )
        if name in seen:
            raise HeaderError(
                f"{path}: columns {seen[name]} and {position} are both named {name!r}; "
                "give every column its own name"
            )
        seen[name] = position
    return names


def _numbers_hint(names: list[str]) -> str:
    """A hint when every named cell of the first line is a number (`cells.is_number`; e.g.
    scikit-learn's `506,13,,,` line of counts above the real header): the header is further
    down."""
    named = [n.strip() for n in names if n.strip()]
    if not named or not pc.all(is_number(pa.array(named, pa.string()))).as_py():
        return ""
    return (
        f" (line 1 holds only numbers: {', '.join(named[:4])}; if the header is on a later "
        "line, delete the lines above it)"
    )


def header_notes(files: Sequence[str], dialect: CsvDialect | None = None) -> list[str]:
    """What a user should know about how the files were read: a dialect other than plain
    UTF-8 comma-separated with decimal points, row names left out, and a header that reads as
    ONE column holding `;`, a tab or `|` (naming the likely delimiter and the key to set)."""
    notes = []
    for path in files:
        found = dialect_of(path, dialect)
        if (found.delimiter, found.decimal, found.encoding) != (",", ".", "utf-8"):
            notes.append(f"{path}: read as {found.describe()}")
        if found.short_header:
            notes.append(
                f"{path}: the header names one column fewer than the rows hold (R's "
                "write.table): column 1 read as row names and left out; name it in the header "
                "to use it as a feature"
            )
        elif has_row_names(names := raw_header(path, found)):
            if not names[0].strip():
                notes.append(
                    f"{path}: column 1 of the header has no name: read as row names (pandas' "
                    "index, R's row names) and left out; name it to use it as a feature"
                )
            else:
                notes.append(
                    f"{path}: column 1 of the header is {names[0].strip()!r}: "
                    "read as row names (R's row names as the Rdatasets CSVs name them, pandas' "
                    "index read back) and left out; rename it to use it as a feature"
                )
        note = csv_dialect.header_note(path, read_header(path, found), found)
        if note:
            notes.append(note)
    return notes


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
