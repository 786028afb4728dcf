"""`nanguard scan`'s reading of CSV files: streamed, typed as CsvExampleGen types them.

The one input layer (`components/inputs.py`, `csv_types.py`) reads the files in ~1 MB record
batches in their dialect (delimiter, decimal mark, encoding: `csv_dialect`), missing spellings
null and counted per column; the profile is counted from the typed batches (`counts`). The
functions here are also the Beam steps of a scan on Beam (one file per worker).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from absl import logging

from nanguard.components import csv_types, inputs, vocab
from nanguard.components.data_guard import profiling

CSV_BLOCK_BYTES = 1 << 20  # bytes of CSV text per record batch


def profile_csv(
    files: Sequence[str],
    header: Sequence[str],
    missing: Sequence[str] = inputs.MISSING_TOKENS,
    as_missing: Sequence[str] = (),
    dialect: inputs.CsvDialect | None = None,
    spellings: dict | None = None,
) -> dict[str, Any]:
    """The profile of CSV files, streamed once (twice if a column's type widens late);
    `spellings` receives `{column: {missing spelling: count}}` of the pass counted."""
    read = {"block_size": CSV_BLOCK_BYTES, "missing": missing, "as_missing": as_missing}
    read.update(dialect=dialect)
    try:
        batches = csv_types.example_gen_batches(files, header, spellings=spellings, **read)
        return profiling.profile_record_batches(batches)
    except csv_types.TypesWidened:
        # E.g. a column of integers with a '1.5' after the first batch: CsvExampleGen types it
        # FLOAT over all rows, so the earlier batches must be counted again as float32.
        logging.info("scan: a column's type changes after the first batch; reading again.")
        if spellings is not None:
            spellings.clear()
        kinds = csv_types.example_gen_kinds(files, header, **read)
        batches = csv_types.example_gen_batches(files, header, kinds, spellings=spellings, **read)
        return profiling.profile_record_batches(batches)


def file_kinds(file: str, header: Sequence[str], *read) -> tuple[dict, dict]:
    """`(kinds, {column: {missing spelling: count}})` of one file (one streaming pass)."""
    spellings: dict[str, dict[str, int]] = {}
    kinds = csv_types.example_gen_kinds([file], header, CSV_BLOCK_BYTES, *read, spellings)
    return kinds, spellings


def widest(pairs: Iterable[tuple[dict, dict]]) -> tuple[dict, dict]:
    """The widest kinds and the summed spelling counts of `file_kinds` answers."""
    pairs = list(pairs)
    spellings: dict[str, dict[str, int]] = {}
    for _, found in pairs:
        for name, counted in found.items():
            mine = spellings.setdefault(name, {})
            for token, count in counted.items():
                mine[token] = mine.get(token, 0) + count
    return csv_types.widest_kinds(kinds for kinds, _ in pairs), spellings


def save_json(value: Any, path: str) -> None:
    with open(path, "w", encoding="utf-8") as f:
        f.write(vocab.dumps(value))


def file_batches(file: str, header: Sequence[str], kinds: dict[str, str], *read) -> Iterator:
    return csv_types.example_gen_batches([file], header, kinds, CSV_BLOCK_BYTES, *read)


def locate_string(files: Sequence[str], column: str, value: str, dialect=None) -> str:
    """The first CSV file (and line) where `column` holds `value`: for the message only."""
    for path in files:
        with inputs.open_text(path, dialect) as f:
            found = inputs.dialect_of(path, dialect)
            reader = csv.reader(f, delimiter=found.delimiter)
            header = [""] * found.short_header + next(reader, [])
            if column not in header:
                continue
            index = header.index(column)
            start = reader.line_num + 1  # a quoted field may span lines: report the first
            for row in reader:
                if len(row) > index and row[index] == value:
                    return f"{path} (line {start})"
                start = reader.line_num + 1
    return ", ".join(files)
