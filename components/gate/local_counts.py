"""The gate's in-process counting: an Arrow table through the signature, one batch at a time.

For local data (``nanguard check-model`` on a CSV) there is no Beam pipeline: the table is cast
once to list columns (``records.examples_batch``), each zero-copy slice of ``batch_size`` rows
is serialized to tf.Examples by tfx-bsl's encoder and fed to the already loaded signature, and
the per-batch counts are merged as the Beam path's CombineFn merges them (same counts, the first
``max_offending`` offending examples in row order). Beam stays for TFRecord splits
(``beam_counts.py``, the TFX executor).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from nanguard.components.gate import records
from nanguard.components.gate.counts import batch_counts, empty_counts, merge_counts


def count_table(
    predict: Callable[[Sequence[bytes]], Mapping[str, np.ndarray]],
    table: pa.Table,
    *,
    batch_size: int,
    max_offending: int,
    split: str = "",
) -> dict[str, Any]:
    """Runs ``predict`` over every row of ``table`` in batches and counts non-finite outputs.

    Args:
        predict: Batch of serialized tf.Examples -> output arrays (``signature.ModelSignature``).
        table: Raw rows, one scalar column per feature (as ``inputs.read_csv`` gives them):
            nulls are sent as features without value, NaN and Inf as float values.
        batch_size: Rows per ``predict`` call (>= 1).
        max_offending: Offending examples kept.
        split: Split name recorded with each offending example.

    Returns:
        The accumulator of ``counts.batch_counts`` over the whole table: ``examples``,
        ``non_finite``, ``outputs`` (NaN, +Inf, -Inf counted per output), ``offending``.

    Raises:
        Whatever ``predict`` raises (e.g. a string where the model parses a float).
    """
    batch = records.examples_batch(table)
    result = empty_counts()
    for start in range(0, table.num_rows, batch_size):
        rows = min(batch_size, table.num_rows - start)
        part = None if batch is None else batch.slice(start, rows)
        serialized = records.encode_examples(part, rows)
        counts = batch_counts(serialized, predict(serialized), max_offending, split)
        result = merge_counts([result, counts], max_offending)
    return result
