"""tf.Example records: CSV rows (Arrow) -> serialized tf.Examples, and back to JSON-able dicts."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import tensorflow as tf
from tfx_bsl.coders import example_coder

from nanguard.components import vocab


def example_to_dict(serialized: bytes) -> dict[str, list[Any]]:
    """Decodes one serialized tf.Example into feature name -> list of values (JSON-safe).

    NaN and Inf feature values become ``vocab.jsonable``'s strings "NaN", "Infinity",
    "-Infinity"; bytes are decoded as UTF-8; a feature present with no value is an empty list.
    """
    example = tf.train.Example.FromString(serialized)
    out: dict[str, list[Any]] = {}
    for name, feature in sorted(example.features.feature.items()):
        kind = feature.WhichOneof("kind")
        values = list(getattr(feature, kind).value) if kind else []
        out[name] = vocab.jsonable(values)
    return out


def _to_list_array(column: pa.ChunkedArray) -> pa.Array | None:
    """Scalar column -> list column: null -> null list (feature without value), x -> [x]."""
    array = column.combine_chunks()
    if pa.types.is_null(array.type):
        return None
    if pa.types.is_floating(array.type):
        array = array.cast(pa.float32())  # tf.Example float_list is float32
    elif pa.types.is_integer(array.type) or pa.types.is_boolean(array.type):
        array = array.cast(pa.int64())
    else:
        array = array.cast(pa.string()).cast(pa.binary())
    valid = array.is_valid().to_numpy(zero_copy_only=False)
    offsets = np.concatenate([[0], np.cumsum(valid)]).astype(np.int32)
    offsets = pa.array(offsets, mask=np.concatenate([~valid, [False]]))
    return pa.ListArray.from_arrays(offsets, array.drop_null())


def examples_batch(table: pa.Table) -> pa.RecordBatch | None:
    """The table as one record batch of list columns, ready for tfx-bsl's tf.Example encoder.

    Each scalar column becomes a list column: a null cell a null list (a feature with no
    value, read as missing by tf.io.parse_example, as CsvExampleGen writes an empty cell),
    a value x the list [x]; floats become float32 (NaN and Inf kept), integers and booleans
    int64, anything else bytes. All-null columns are left out. None if no column is left.
    Slices of the batch (zero-copy) encode row for row as the whole batch does.
    """
    arrays, names = [], []
    for name in table.column_names:
        array = _to_list_array(table.column(name))
        if array is not None:
            arrays.append(array)
            names.append(name)
    if not arrays:
        return None
    return pa.RecordBatch.from_arrays(arrays, names)


def encode_examples(batch: pa.RecordBatch | None, num_rows: int) -> list[bytes]:
    """Serializes each row of an ``examples_batch`` (or a slice of it) as a tf.Example.

    ``None`` (no column) gives ``num_rows`` empty tf.Examples.
    """
    if batch is None:
        return [b""] * num_rows
    return example_coder.RecordBatchToExamplesEncoder().encode(batch)


def table_to_examples(table: pa.Table) -> list[bytes]:
    """Serializes each row of a table as a tf.Example, vectorised per column (tfx-bsl encoder).

    Nulls give a feature with no value (read as missing by tf.io.parse_example, as CsvExampleGen
    writes an empty cell); NaN and Inf are kept as float values; all-null columns are left out.
    """
    return encode_examples(examples_batch(table), table.num_rows)
