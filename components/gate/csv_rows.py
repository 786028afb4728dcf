"""`check-model`'s CSV rows, read as the run read its training file.

The same input layer and settings as `nanguard run`'s staging (`components/inputs.py`): the
dialect (delimiter, decimal mark, encoding), the missing spellings and the stray-string verdict
(`csv_types.find_strays`, the one rule) come from the data guard's reading keys, given by
`--config` or taken from a run's staging record (`--run`). The columns are then typed as
CsvExampleGen typed the training data (`csv_types.example_gen_types`: int64, float32, text;
`nan`/`inf` float NaN/Inf, missing cells null).

A numeric column holding stray strings: under `stray_strings: treat_as_missing` those cells are
missing, as in the run; under `block` each row holding one is **rejected** (left out of the
batch and reported with its row number, feature and value), so one bad request never fails the
others. Imports pyarrow (and numpy) only.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from nanguard.components import cells, csv_types, inputs
from nanguard.components.arrow_numpy import from_numpy

# Rejected rows named one by one in the report (all are counted).
MAX_NAMED_ROWS = 20


@dataclasses.dataclass
class CsvRows:
    """The typed rows to send, and what reading them found.

    Attributes:
      table: The rows to send, typed as CsvExampleGen types them (rejected rows left out).
      rejected_rows: How many rows were left out for a stray string in a numeric feature.
      rejected: The first `MAX_NAMED_ROWS` of them: `{"row": 1-based data row, "feature",
        "value"}` (the first stray feature of the row).
      strays: `{feature: {"count", "tokens", "why", "action"}}`; action `rows_rejected` or
        `read_as_missing`.
      missing_spellings: `{column: {spelling: count}}` read as missing.
      dialect: `{file: {"delimiter", "decimal", "encoding"}}` as read.
    """

    table: pa.Table
    rejected_rows: int = 0
    rejected: list = dataclasses.field(default_factory=list)
    strays: dict = dataclasses.field(default_factory=dict)
    missing_spellings: dict = dataclasses.field(default_factory=dict)
    dialect: dict = dataclasses.field(default_factory=dict)

    def report(self) -> dict[str, Any]:
        """The JSON-able findings (the report's `reading` entry)."""
        return {k: v for k, v in dataclasses.asdict(self).items() if k != "table"}


def read_rows(data: str, reading: Any, flag: str = "--data") -> CsvRows:
    """Reads the CSV file(s) at `data` as `nanguard run` read its training file (see module).

    `reading` is the run's `data_guard` config section (its reading keys: `dialect()`,
    `missing_values()`, `text_features`, `stray_strings`); the command line passes it, so this
    room does not import the data guard's.

    Raises:
      InputError: naming the file, for anything unreadable (see `inputs.read_csv`).
    """
    dialect = reading.dialect()
    files = inputs.csv_files(data, flag)
    spellings: dict[str, dict[str, int]] = {}
    table = inputs.read_csv_files(
        files, flag=flag, where=data, missing=reading.missing_values(), dialect=dialect,
        spellings=spellings,
    )  # fmt: skip
    found = csv_types.find_strays(table, text_features=reading.text_features)
    rows = CsvRows(
        table,
        missing_spellings={name: c for name, c in spellings.items() if c},
        dialect={f: inputs.dialect_of(f, dialect).to_dict() for f in files},
    )
    action = "read_as_missing" if reading.stray_strings == "treat_as_missing" else "rows_rejected"
    rows.strays = {
        name: {"count": v.count, "tokens": v.tokens, "why": v.why, "action": action}
        for name, v in found.items()
    }
    if found and action == "read_as_missing":
        columns = [
            cells.null_strays(c) if n in found else c
            for n, c in zip(table.column_names, table.columns, strict=True)
        ]
        table = pa.table(columns, names=table.column_names)
    elif found:
        table = _reject(rows, table, list(found))
    rows.table = csv_types.example_gen_types(table)
    return rows


def _reject(rows: CsvRows, table: pa.Table, names: list[str]) -> pa.Table:
    """Leaves out the rows holding a stray string in one of the columns `names`; records them."""
    bad = None
    first: dict[int, tuple[str, str]] = {}
    for name in names:
        column = table.column(name)
        stray = pc.fill_null(pc.invert(cells.is_number(column)), False)
        bad = stray if bad is None else pc.or_(bad, stray)
        where = pc.indices_nonzero(stray)[:MAX_NAMED_ROWS].to_pylist()
        values = pc.take(column, from_numpy(np.asarray(where, np.int64))).to_pylist()
        for row, value in zip(where, values, strict=True):
            first.setdefault(row, (name, value))
    rows.rejected_rows = pc.sum(bad).as_py() or 0
    rows.rejected = [
        {"row": row + 1, "feature": first[row][0], "value": first[row][1]}
        for row in sorted(first)[:MAX_NAMED_ROWS]
    ]
    return table.filter(pc.invert(bad))
