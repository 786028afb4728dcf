"""Which features the data guard leaves out of its verdict in a pipeline, and why.

A feature the model does not see (`transform.exclude`) is not judged: the guard's config gets it
in `exclude`. Under `data_guard.all_missing: exclude`, a column with no value in any row of the
local CSV data is left out of the model too: it is added to both lists before the pipeline is
built (a TFX component's parameters are fixed then). A column empty only in the training split,
or in remote data, is still found by the guard at run time: a warning, and the transform imputes
it as a constant.

Imports nothing heavy (pyarrow only, inside `empty_columns`).
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from nanguard.components import vocab
from nanguard.components.data_guard.config import DataGuardConfig


def empty_columns(data_root: str, config: DataGuardConfig) -> list[str]:
    """Columns of the CSV data at `data_root` with no value in any row (every cell empty or a
    missing spelling of `config`), in header order; [] for a remote or absent path."""
    if not data_root or "://" in data_root or not os.path.exists(data_root):
        return []
    from nanguard.components.inputs import read_csv

    table = read_csv(data_root, missing=config.missing_values())
    columns = zip(table.column_names, table.columns, strict=True)
    return [name for name, column in columns if column.null_count == len(column)]


def for_pipeline(
    guard: DataGuardConfig,
    transform_exclude: Iterable[str],
    data_root: str,
    label_key: str = vocab.NO_LABEL,
) -> tuple[DataGuardConfig, list[str]]:
    """`(guard config, transform exclude list)` for a pipeline over `data_root`.

    The guard's `exclude` gets `transform_exclude`; under `all_missing: exclude` the columns of
    `empty_columns` (never the label) are added to both.
    """
    left_out = list(dict.fromkeys(transform_exclude))
    if guard.all_missing == "exclude":
        left_out += [
            n for n in empty_columns(data_root, guard) if n != label_key and n not in left_out
        ]
    return guard.with_excluded(left_out), left_out
