"""Input data: the bundled Palmer penguins and the staging of CSV files for CsvExampleGen.

CsvExampleGen reads an empty cell as a missing value, but real files spell missing many ways
(`NA`, `?`, `-`, `n/a`, `#N/A`, `NULL`, ...: `cells.MISSING_TOKENS` plus the data guard's
`missing_tokens`), and a token it does not know turns a numeric column into a string column.
Staging reads the user's CSV file(s) (a file, a folder of CSVs sharing one header, `.csv.gz`
decompressed), rewrites exactly those tokens to empty cells and leaves every other cell byte
for byte; `nan`, `NaN`, `inf`, `-inf` and `Infinity` stay as they are and arrive as float NaN
and Inf. A numeric column holding stray strings (`cells.stray_tokens`: the schema says
FLOAT/INT, or at least 90% of its non-missing cells are numbers) is never staged as text
silently: under `stray_strings: block` the run stops before the pipeline (GuardBlockedError,
exit 3) naming the feature, the tokens and their counts; under `treat_as_missing` those cells
are staged as empty cells and reported.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from importlib import resources
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from nanguard.components import cells, csv_types
from nanguard.components.data_guard.config import DataGuardConfig
from nanguard.components.errors import GuardBlockedError, InputError
from nanguard.components.inputs import read_csv

__all__ = [
    "InputError",
    "bundled_penguins_csv",
    "read_csv",
    "read_data",
    "stage_csv",
    "stray_strings",
    "write_staged",
]


def bundled_penguins_csv() -> str:
    """Path of `penguins.csv` (344 rows, real gaps) shipped by the `palmerpenguins` package."""
    return str(resources.files("palmerpenguins") / "data" / "penguins.csv")


def _schema_kinds(schema_path: str | None) -> Mapping[str, str]:
    """Feature name -> FLOAT / INT / STRING from a text schema ({} without one)."""
    if not schema_path:
        return {}
    from google.protobuf import text_format
    from tensorflow_metadata.proto.v0 import schema_pb2

    from nanguard.components.data_guard.schema import feature_kinds

    try:
        with open(schema_path, encoding="utf-8") as f:
            schema = text_format.Parse(f.read(), schema_pb2.Schema())
    except (OSError, UnicodeDecodeError, text_format.ParseError) as e:
        raise InputError(f"--schema {schema_path}: cannot be read as a schema ({e})") from e
    return feature_kinds(schema)


def stray_strings(
    table: pa.Table,
    schema_kinds: Mapping[str, str] | None = None,
    text_features: Iterable[str] = (),
) -> dict[str, dict[str, Any]]:
    """The numeric columns of a string table that hold stray strings, with their tokens.

    A column CsvExampleGen would type as text is numeric when `schema_kinds` says FLOAT/INT,
    or else when it is mostly numeric (`cells.is_mostly_numeric`), unless it is one of
    `text_features`. Nulls are missing; `nan`/`inf` spellings are numbers.

    Returns:
      `{column: {"tokens": {token: count}, "count": all stray cells, "why": str}}`.
    """
    schema_kinds = schema_kinds or {}
    text_features = frozenset(text_features)
    found = {}
    for name, column in zip(table.column_names, table.columns, strict=True):
        expected = schema_kinds.get(name)
        numeric = False if name in text_features else {"FLOAT": True, "INT": True}.get(expected)
        tokens, count = cells.stray_tokens(column, numeric)
        # Confirmed by CsvExampleGen's own rule, which takes e.g. '1_0' as a number.
        if count and csv_types.column_kind(column) == "string":
            numbers = len(column) - column.null_count - count
            why = (
                f"the schema says {expected}"
                if numeric
                else f"{numbers} of its {numbers + count} non-missing cells are numbers"
            )
            found[name] = {"tokens": tokens, "count": count, "why": why}
    return found


def check_example_gen_header(names: list[str], where: str) -> None:
    """InputError for a column name CsvExampleGen cannot read back, naming its position.

    TFX reads a CSV's column names by splitting the first line on commas after stripping it
    (`load_csv_column_names`): a name holding a comma, a quote or a line break, and space at
    the start of the first name or the end of the last, would come back as other names.
    """
    for position, name in enumerate(names, start=1):
        bad = next((c for c in (",", '"', "\n", "\r") if c in name), None)
        edge = (position == 1 and name != name.lstrip()) or (
            position == len(names) and name != name.rstrip()
        )
        if bad or edge:
            what = f"holds {bad!r}" if bad else "starts or ends with a space"
            raise InputError(
                f"{where}: column {position} ({name!r}) {what}, which CsvExampleGen cannot read "
                "from a header line; rename the column (scan reads it as it is)."
            )


def read_data(
    path: str,
    config: DataGuardConfig | None = None,
    schema_path: str | None = None,
    flag: str = "--data",
) -> tuple[pa.Table, list[str]]:
    """Reads the CSV file(s) at `path` for staging: missing tokens null, stray strings judged.

    Args:
      path: A CSV file (`.csv`, `.csv.gz`) or a folder of them sharing one header.
      config: The data guard config: `missing_tokens`, `stray_strings`, `mode` (defaults).
      schema_path: The curated schema (`--schema`), whose FLOAT/INT features are numeric.
      flag: The flag `path` came from, for messages.

    Returns:
      `(table, notes)`: the string table to stage, and one line per finding (columns whose
      stray strings were read as missing; under mode 'warn', what `block` would have stopped).

    Raises:
      InputError: naming the file (and column position): unreadable, a bad header, no data row.
      GuardBlockedError: `stray_strings: block` with mode 'fail' and a numeric column holding
        stray strings; the message names every such feature, its tokens and their counts.
    """
    config = config or DataGuardConfig()
    table = read_csv(path, flag=flag, missing=config.missing_values())
    check_example_gen_header(table.column_names, f"{flag} {path}")
    found = stray_strings(table, _schema_kinds(schema_path), config.text_features)
    messages = {
        name: (
            f"feature {name!r} in {flag} {path}: {f['count']} cell(s) that are not numbers in a "
            f"numeric column ({f['why']}): {cells.describe_tokens(f['tokens'], f['count'])}"
        )
        for name, f in found.items()
    }
    if not found:
        return table, []
    if config.stray_strings == "treat_as_missing":
        columns = [
            cells.null_strays(column) if name in found else column
            for name, column in zip(table.column_names, table.columns, strict=True)
        ]
        table = pa.table(columns, names=table.column_names)
        return table, [
            f"{m}; read as missing (stray_strings: treat_as_missing)" for m in messages.values()
        ]
    advice = (
        "fix or blank those cells, add a missing spelling to data_guard.missing_tokens, or set "
        "data_guard.stray_strings: treat_as_missing"
    )
    if config.mode == "fail":
        raise GuardBlockedError(
            "stray strings in numeric columns (stray_strings: block): "
            + "; ".join(messages.values())
            + f"; {advice}."
        )
    return table, [f"{m}; staged as written (mode warn)" for m in messages.values()]


def _quote(column: pa.Array) -> pa.Array:
    """CSV-quotes only the cells that need it; CsvExampleGen takes a quoted header literally."""
    needs = pc.match_substring_regex(column, r'[,"\n\r]')
    quoted = pc.binary_join_element_wise('"', pc.replace_substring(column, '"', '""'), '"', "")
    return pc.if_else(needs, quoted, column)


def _to_csv_bytes(table: pa.Table) -> bytes:
    """Writes a table of strings as CSV, nulls as empty cells, quoting only where required."""
    header = ",".join(_quote(pa.array(table.column_names)).to_pylist())
    columns = [_quote(pc.fill_null(c.combine_chunks(), "")) for c in table.columns]
    lines = pc.binary_join_element_wise(*columns, ",") if len(columns) > 1 else columns[0]
    return ("\n".join([header, *lines.to_pylist()]) + "\n").encode("utf-8")


def write_staged(table: pa.Table, out_dir: str) -> str:
    """Writes `table` as `out_dir/data.csv`, missing values as empty cells. Returns `out_dir`.

    `out_dir` must be new or empty: staging never replaces or deletes a file, so a folder that
    already holds anything (the user's data folder, an earlier run's staging) is refused.
    """
    os.makedirs(out_dir, exist_ok=True)
    if os.listdir(out_dir):
        raise InputError(
            f"{out_dir}: staging needs a new or empty folder and this one holds files; "
            "nanguard never overwrites or deletes files it finds"
        )
    path = os.path.join(out_dir, "data.csv")
    try:
        with open(path, "xb") as f:
            f.write(_to_csv_bytes(table))
    except OSError as e:
        raise InputError(
            f"{path}: the staged data could not be written ({e.strerror}); free space or pass "
            "another --root"
        ) from e
    return out_dir


def stage_csv(
    path: str,
    out_dir: str,
    config: DataGuardConfig | None = None,
    schema_path: str | None = None,
) -> str:
    """Copies the CSV file(s) at `path` into the new folder `out_dir`, missing tokens as empty.

    Returns `out_dir`. See `read_data` (stray strings, GuardBlockedError) and `write_staged`.
    """
    return write_staged(read_data(path, config, schema_path)[0], out_dir)
