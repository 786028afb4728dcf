"""Input data: the bundled Palmer penguins and the staging of CSV files for CsvExampleGen.

CsvExampleGen reads an empty cell as a missing value, but many real files write missing as
`NA`, `null` or `None` (the penguins file writes `NA`), which would turn a numeric column into a
string column. Staging rewrites exactly those tokens to empty cells and leaves every other cell
byte for byte; `nan`, `NaN`, `inf`, `-inf` and `Infinity` stay as they are and arrive as float
NaN and Inf.
"""

from __future__ import annotations

import os
from importlib import resources

import pyarrow as pa
import pyarrow.compute as pc

from nanguard.components.inputs import InputError, read_csv

__all__ = ["InputError", "bundled_penguins_csv", "read_csv", "stage_csv", "write_staged"]


def bundled_penguins_csv() -> str:
    """Path of `penguins.csv` (344 rows, real gaps) shipped by the `palmerpenguins` package."""
    return str(resources.files("palmerpenguins") / "data" / "penguins.csv")


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


def stage_csv(path: str, out_dir: str) -> str:
    """Copies the CSV file(s) at `path` into the new folder `out_dir`, missing tokens as empty.

    Returns `out_dir`. See `read_csv` and `write_staged`.
    """
    return write_staged(read_csv(path), out_dir)
