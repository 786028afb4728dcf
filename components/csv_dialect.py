"""How a CSV file is written: its delimiter, its decimal mark and its text encoding.

Spreadsheets write CSV several ways: Excel in a German or French locale writes `;`-separated
cells with decimal commas (`12,5`), "Unicode text" is tab-separated, and Excel's "CSV (Comma
delimited)" on Windows is cp1252, not UTF-8. `CsvDialect` holds what a file uses; each field may
be `auto` (decided per file by `resolve`) or forced by the data guard's reading keys
(`data_guard.csv_delimiter`, `csv_decimal`, `csv_encoding`).

Detection, on the file's first 256 KiB (the encoding check reads the whole file once):

* **encoding**: UTF-8 (a byte-order mark is skipped) when the bytes are valid UTF-8, else cp1252
  when they decode as cp1252, else latin-1 (which decodes any byte). A file holding NUL or other
  control bytes is not text.
* **delimiter**: of `,` `;` tab `|`, the one that splits the header into the most columns (more
  than one) with every sampled row holding as many cells; none: `,`.
* **decimal**: a comma only with `;` or tab as delimiter, when sampled cells are numbers written
  with a decimal comma (`12,5`, `-0,3`, `1,5e3`) and none with a decimal point (`12.5`).

Reading (`inputs`) then gives pyarrow's CSV reader the delimiter and the encoding, and rewrites
the cells that are numbers with a decimal comma to a decimal point (`decimal_points`, vectorised
per column); every other cell stays as written. NaN/Inf spellings are untouched. Imports
pyarrow only (and Python's csv module for the sample of the header and a few rows).
"""

from __future__ import annotations

import codecs
import csv
import dataclasses
import functools
import gzip
import io
import os
import re
from collections.abc import Mapping
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from nanguard.components.errors import InputError

AUTO = "auto"
TAB = "\t"
SPACE = " "
# Tried in this order; a space (R's write.table, some text exports) only when none of the others
# splits the sample into rows of one width.
DELIMITERS = (",", ";", TAB, "|", SPACE)
DECIMALS = (".", ",")
ENCODINGS = ("utf-8", "cp1252", "latin-1")
# The spellings a config may use for a delimiter ("tab" and a YAML '\t' mean the tab).
DELIMITER_NAMES = {
    ",": ",", ";": ";", "|": "|", TAB: TAB, "\\t": TAB, "tab": TAB, SPACE: SPACE, "space": SPACE,
}  # fmt: skip
ENCODING_NAMES = {
    "utf-8": "utf-8", "utf8": "utf-8", "cp1252": "cp1252", "windows-1252": "cp1252",
    "latin-1": "latin-1", "latin1": "latin-1", "iso-8859-1": "latin-1",
}  # fmt: skip
# A whole cell that is a number written with a decimal comma (no thousands separators).
COMMA_NUMBER = r"^\s*[-+]?(\d+,\d*|,\d+)([eE][-+]?\d+)?\s*$"
_POINT_NUMBER = re.compile(r"^\s*[-+]?(\d+\.\d*|\.\d+)([eE][-+]?\d+)?\s*$")
_COMMA_NUMBER = re.compile(COMMA_NUMBER)
_SAMPLE_BYTES = 1 << 18
_SAMPLE_ROWS = 200
_CHECK_CHUNK = 1 << 22


@dataclasses.dataclass(frozen=True)
class CsvDialect:
    """How a CSV file is written; `auto` fields are decided per file by `resolve`.

    Attributes:
      delimiter: `auto`, `,`, `;`, a tab, `|` or a space (one space between cells).
      decimal: `auto`, `.` or `,` (a comma needs a delimiter other than `,`).
      encoding: `auto`, `utf-8` (a byte-order mark skipped), `cp1252` or `latin-1`.
      short_header: the header names one column fewer than every row holds: R's
        `write.table()` leaves its row-names column unnamed (always detected, never asked).
    """

    delimiter: str = AUTO
    decimal: str = AUTO
    encoding: str = AUTO
    short_header: bool = False

    def __post_init__(self):
        delimiter = DELIMITER_NAMES.get(self.delimiter, self.delimiter)
        encoding = ENCODING_NAMES.get(str(self.encoding).lower(), self.encoding)
        object.__setattr__(self, "delimiter", delimiter)
        object.__setattr__(self, "encoding", encoding)
        for value, allowed, key in (
            (delimiter, DELIMITERS, "csv_delimiter"),
            (self.decimal, DECIMALS, "csv_decimal"),
            (encoding, ENCODINGS, "csv_encoding"),
        ):
            if value != AUTO and value not in allowed:
                raise InputError(f"data_guard.{key}: {value!r} is not one of {[AUTO, *allowed]}")
        if delimiter == "," and self.decimal == ",":
            raise InputError(
                "data_guard.csv_decimal ',' needs another delimiter: set data_guard."
                "csv_delimiter to ';' or tab (a comma cannot separate cells and decimals)"
            )

    @property
    def resolved(self) -> bool:
        """True when no field is `auto`."""
        return AUTO not in (self.delimiter, self.decimal, self.encoding)

    def to_dict(self) -> dict[str, Any]:
        """`{"delimiter", "decimal", "encoding"}`, and `short_header` when set (JSON-able)."""
        values = dataclasses.asdict(self)
        if not self.short_header:
            del values["short_header"]
        return values

    @classmethod
    def from_dict(cls, values: Mapping[str, Any] | None) -> CsvDialect:
        """The dialect of `to_dict` (missing keys: auto)."""
        values = values or {}
        return cls(**{f.name: values[f.name] for f in dataclasses.fields(cls) if f.name in values})

    def describe(self) -> str:
        """E.g. `';'-separated, decimal comma, cp1252`."""
        name = {TAB: "tab", SPACE: "space"}.get(self.delimiter, repr(self.delimiter))
        mark = "decimal comma" if self.decimal == "," else "decimal point"
        return f"{name}-separated, {mark}, {self.encoding}"


def is_gzip(path: str) -> bool:
    """A `.gz` name: the file is read through gzip (pyarrow decides by the name, too)."""
    return path.lower().endswith(".gz")


def open_bytes(path: str):
    """The file's bytes, decompressed for a `.gz` name."""
    return gzip.open(path, "rb") if is_gzip(path) else open(path, "rb")  # noqa: SIM115


# Every byte but the control bytes a text file does not hold (all below 32 but tab, LF, FF, CR).
_NOT_CONTROL = bytes(b for b in range(256) if b >= 32 or b in (9, 10, 12, 13))


def is_binary(head: bytes) -> bool:
    """A NUL byte or other control bytes (besides tab, CR, LF, FF) in `head`."""
    return bool(head.translate(None, _NOT_CONTROL))  # what is left: the control bytes


def _valid_utf8(path: str) -> bool:
    """Whether the whole (decompressed) file is UTF-8, read in 4 MiB chunks."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        with open_bytes(path) as f:
            while chunk := f.read(_CHECK_CHUNK):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def _detect_encoding(path: str, head: bytes) -> str:
    if _valid_utf8(path):
        return "utf-8"
    try:
        head.decode("cp1252")  # 5 bytes (0x81, 0x8D, 0x8F, 0x90, 0x9D) are not cp1252
        return "cp1252"
    except UnicodeDecodeError:
        return "latin-1"


def _sample_rows(text: str, whole: bool, delimiter: str) -> list[list[str]]:
    if not whole:  # the last line may be cut: leave it out
        text = text[: max(text.rfind("\n"), 0)]
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    rows = []
    try:
        for row in reader:
            if row:
                rows.append(row)
            if len(rows) > _SAMPLE_ROWS:
                break
    except csv.Error:
        pass
    return rows


def _widths(rows: list[list[str]]) -> tuple[int, bool] | None:
    """`(columns, short_header)` when the rows after the header share one width and the header
    has that width or one less (R's unnamed row-names column); None otherwise."""
    if not rows:
        return None
    width = len(rows[1]) if len(rows) > 1 else len(rows[0])
    if any(len(r) != width for r in rows[2:]):
        return None
    if len(rows[0]) == width:
        return width, False
    return (width, True) if len(rows[0]) == width - 1 > 0 else None


def _detect_delimiter(text: str, whole: bool) -> str:
    best, best_width, short = ",", 1, None
    for delimiter in DELIMITERS:
        if delimiter == SPACE and best_width > 1:
            break
        found = _widths(_sample_rows(text, whole, delimiter))
        if found and found[1] and (short is None or found[0] > short[1]):
            short = (delimiter, found[0])
        elif found and not found[1] and found[0] > best_width:
            best, best_width = delimiter, found[0]
    # A header one name short (R's write.table) only when no delimiter fits header and rows
    # alike: `a;b` over `1,5;x` is `;` with decimal commas, not `,` under a short header.
    return short[0] if best_width == 1 and short else best


def _detect_decimal(rows: list[list[str]]) -> str:
    cells = [cell for row in rows[1:] for cell in row]
    commas = sum(1 for c in cells if _COMMA_NUMBER.match(c))
    points = sum(1 for c in cells if _POINT_NUMBER.match(c))
    return "," if commas and not points else "."


def _head(path: str) -> bytes:
    with open_bytes(path) as f:
        return f.read(_SAMPLE_BYTES)


@functools.lru_cache(maxsize=256)
def _resolve(path: str, stamp: tuple[int, int], asked: CsvDialect) -> CsvDialect:
    del stamp  # part of the cache key only: a rewritten file is detected again
    try:
        head = _head(path)
    except (OSError, EOFError) as e:
        raise InputError(f"{path}: cannot be read ({getattr(e, 'strerror', None) or e})") from e
    encoding = asked.encoding
    if encoding == AUTO:
        encoding = "utf-8" if is_binary(head) else _detect_encoding(path, head)
    whole = len(head) < _SAMPLE_BYTES
    text = head.decode("utf-8-sig" if encoding == "utf-8" else encoding, errors="replace")
    delimiter = asked.delimiter
    if delimiter == AUTO:
        delimiter = _detect_delimiter(text, whole)
    rows = _sample_rows(text, whole, delimiter)
    decimal = asked.decimal
    if decimal == AUTO:
        decimal = "."
        if delimiter in (";", TAB, SPACE):
            decimal = _detect_decimal(rows)
    found = _widths(rows)
    return CsvDialect(delimiter, decimal, encoding, short_header=bool(found and found[1]))


def resolve(path: str, asked: CsvDialect | None = None) -> CsvDialect:
    """The dialect of the file at `path`: `asked`'s forced fields, the `auto` ones detected.

    Cached per file (path, size, modification time) and request.

    Raises:
      InputError: the file cannot be read.
    """
    asked = asked or CsvDialect()
    try:
        info = os.stat(path)
        stamp = (info.st_size, info.st_mtime_ns)
    except OSError:
        stamp = (-1, -1)
    return _resolve(path, stamp, asked)


def header_note(path: str, names: list[str], dialect: CsvDialect) -> str | None:
    """A warning when the header reads as ONE column holding `;`, a tab or `|` (the likely
    delimiter and the key to set) or runs of spaces (a fixed-width table: save it as CSV); None
    otherwise."""
    if len(names) != 1:
        return None
    for delimiter, name in ((";", "';'"), (TAB, "tab"), ("|", "'|'"), (",", "','")):
        if delimiter != dialect.delimiter and delimiter in names[0]:
            return (
                f"{path}: the header reads as ONE column {names[0][:60]!r} holding {name}: the "
                f"file looks {name}-separated; set data_guard.csv_delimiter: "
                f"{'tab' if delimiter == TAB else repr(delimiter)} (or leave it auto)"
            )
    if re.search(r"\S\s{2,}\S", names[0]):  # lifelines' divorce.dat: `   id   heduc ...`
        return (
            f"{path}: the header reads as ONE column {names[0].strip()[:60]!r} holding runs of "
            "spaces: its columns look aligned by spaces (a fixed-width table), which nanguard "
            "does not read; save it as CSV (pandas: read_fwf(path).to_csv(out, index=False)), "
            "or set data_guard.csv_delimiter: space if cells are one space apart and no value "
            "holds one"
        )
    return None


def first_line_note(path: str, dialect: CsvDialect) -> str | None:
    """`header_note` of the file's first line read in `dialect` (None if it cannot be read)."""
    try:
        head = _head(path)
    except (OSError, EOFError):
        return None
    text = head.decode("utf-8-sig" if dialect.encoding == "utf-8" else dialect.encoding, "replace")
    rows = _sample_rows(text.splitlines()[0] if text else "", True, dialect.delimiter)
    return header_note(path, rows[0], dialect) if rows else None


def decimal_points(column: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """A string column with its decimal-comma numbers (`12,5`) written with a point (`12.5`).

    Only whole cells matching `COMMA_NUMBER` change; text (`Smith, John`), missing cells and
    NaN/Inf spellings stay as they are.
    """
    if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
        return column
    numbers = pc.match_substring_regex(column, COMMA_NUMBER)
    if not pc.any(numbers).as_py():
        return column
    return pc.if_else(numbers, pc.replace_substring(column, ",", ".", max_replacements=1), column)


def points_in_table(table, dialect: CsvDialect):
    """A string table (or record batch) with `decimal_points` applied to every column when the
    file's decimal mark is a comma; else the table itself."""
    if dialect.decimal != ",":
        return table
    columns = [decimal_points(c) for c in table.columns]
    return type(table).from_arrays(columns, names=table.schema.names)
