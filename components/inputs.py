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

import contextlib
import queue
import threading
from collections.abc import Iterator, Sequence
from typing import TypeVar

import pyarrow as pa
import pyarrow.csv as pacsv

from nanguard.components.cells import MISSING_TOKENS, missing_in_table
from nanguard.components.csv_dialect import CsvDialect, is_gzip, open_bytes, points_in_table
from nanguard.components.csv_files import (
    CSV_SUFFIXES,
    HeaderError,
    arrow_error,
    arrow_source,
    csv_files,
    csv_header,
    dialect_of,
    header_notes,
    lone_header_line,
    open_text,
    read_header,
)
from nanguard.components.errors import InputError

T = TypeVar("T")

__all__ = [
    "CSV_SUFFIXES",
    "MISSING_TOKENS",
    "CsvDialect",
    "HeaderError",
    "InputError",
    "csv_files",
    "csv_header",
    "csv_text_batches",
    "dialect_of",
    "header_notes",
    "is_gzip",
    "open_bytes",
    "open_text",
    "read_csv",
    "read_csv_files",
    "read_header",
]


def _read_one(
    path: str,
    names: Sequence[str],
    strings: bool,
    missing: Sequence[str],
    dialect: CsvDialect | None,
    spellings: dict | None,
) -> pa.Table:
    dialect = dialect_of(path, dialect)
    if lone_header_line(path, dialect) is not None:  # a header with no line break: no rows
        return pa.table({n: pa.array([], pa.string()) for n in names})
    counted = strings and spellings is not None
    convert = pacsv.ConvertOptions(
        null_values=[] if counted else list(missing),
        strings_can_be_null=True,
        column_types={n: pa.string() for n in names} if strings else None,
        decimal_point=dialect.decimal,
        include_columns=list(names),  # leaves out a row-names column (`read_header`)
    )
    try:
        with arrow_source(path, dialect) as (source, read, parse):
            table = pacsv.read_csv(
                source, read_options=read, parse_options=parse, convert_options=convert
            )
    except (pa.ArrowInvalid, UnicodeDecodeError, OSError) as e:
        raise arrow_error(path, e, dialect) from e
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


def csv_text_batches(
    files: Sequence[str],
    names: Sequence[str],
    block_size: int = 1 << 20,
    missing: Sequence[str] = MISSING_TOKENS,
    dialect: CsvDialect | None = None,
    spellings: dict | None = None,
) -> Iterator[pa.RecordBatch]:
    """Streams the rows of CSV files sharing the header `names` as string record batches.

    pyarrow's streaming reader, about `block_size` bytes per batch, run on a worker thread at
    most `READ_AHEAD` batches ahead of the caller (pyarrow parses in the thread that asks for
    the next batch: the caller's counting would wait for it): memory does not grow with the row
    count. Cells spelled as one of `missing` are nulls (counted into `spellings` when given, on
    the caller's thread as the batches are handed over); decimal commas are written as points
    (`dialect`); other cell text is kept. `.csv.gz` files are decompressed as they stream.
    Closing the generator (or its end) stops the worker.

    Raises:
      InputError: naming the file: unreadable, not in the encoding, a ragged row.
    """
    count = spellings is not None
    # The reader makes empty cells null itself (cheaper than a lookup): counted as ''.
    empty = "" if count and "" in missing else None
    null_values = ([] if empty is None else [""]) if count else list(missing)
    parsed = read_ahead(_parsed_batches(files, names, block_size, null_values, dialect))
    with contextlib.closing(parsed):
        for batch, found in parsed:
            if count:  # here, not on the parsing thread: that one is the busiest
                batch = missing_in_table(batch, missing, spellings, empty)
            yield points_in_table(batch, found)


def _parsed_batches(
    files: Sequence[str],
    names: Sequence[str],
    block_size: int,
    null_values: list[str],
    dialect: CsvDialect | None,
) -> Iterator[tuple[pa.RecordBatch, CsvDialect]]:
    """`(string batch, the file's dialect)` of the files, `null_values` cells null."""
    convert = pacsv.ConvertOptions(
        null_values=null_values,
        strings_can_be_null=True,
        column_types={n: pa.string() for n in names},
        include_columns=list(names),  # leaves out a row-names column (`read_header`)
    )
    for path in files:
        found = dialect_of(path, dialect)
        if lone_header_line(path, found) is not None:  # a header with no line break: no rows
            continue
        try:
            with (
                arrow_source(path, found, block_size) as (source, read, parse),
                pacsv.open_csv(
                    source, read_options=read, parse_options=parse, convert_options=convert
                ) as reader,
            ):
                for batch in reader:
                    yield batch, found
        except (pa.ArrowInvalid, UnicodeDecodeError, OSError) as e:
            raise arrow_error(path, e, found) from e


READ_AHEAD = 2  # batches parsed ahead of the caller by `read_ahead`'s worker
_END = object()


def read_ahead(items: Iterator[T], depth: int = READ_AHEAD) -> Iterator[T]:
    """The items of `items`, produced on a worker thread at most `depth` ahead of the caller.

    An exception in the worker is raised here, in the caller, after the items before it.
    Closing this generator (or an exception in the caller) stops the worker and waits for it;
    the worker closes `items` (its `with` blocks end there).
    """
    handoff: queue.Queue = queue.Queue(depth)
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                handoff.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            for item in items:
                if not put((item, None)):
                    return
            put((_END, None))
        except BaseException as e:  # noqa: BLE001 (handed to the caller, raised there)
            put((_END, e))
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()

    worker = threading.Thread(target=work, name="read-ahead", daemon=True)
    worker.start()
    try:
        while True:
            item, error = handoff.get()
            if error is not None:
                raise error
            if item is _END:
                return
            yield item
    finally:
        stop.set()
        worker.join()
