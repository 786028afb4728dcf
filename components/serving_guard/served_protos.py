"""PredictionLog records decoded in batches by TensorFlow's `decode_proto` op (C++), not one
Python message per record.

`decode_predict_logs(records, out)` adds to a `served_logs.Chunk` every `predict_log` record
whose request holds an `examples` input of serialized tf.Examples and whose response tensors
list their values in the *_val fields (as TF Serving writes them: `AsProtoField`); it returns
the indices of the other records (classify/regress logs, tensor_content, a value filling a
shape), which `served_logs` reads one by one. Prediction values pass through as they are:
NaN and Inf included.
"""

from __future__ import annotations

import functools

import numpy as np

# The served contract: trainer/serving.py's EXAMPLES_INPUT, REPAIRED_KEY, FINITE_KEY.
EXAMPLES_INPUT = "examples"
REPAIRED_KEY = "nanguard_repaired"
FINITE_KEY = "nanguard_finite"
# TensorProto fields read, and the dtypes (DataType enum) whose values each holds.
_TENSOR_FIELDS = ("dtype", "tensor_content", "float_val", "double_val", "int_val", "int64_val",
                  "bool_val", "tensor_shape")  # fmt: skip
_VALUE_FIELDS = {"float_val": 1, "double_val": 2, "int_val": 3, "int64_val": 9}


@functools.lru_cache(maxsize=1)
def _descriptors() -> bytes:
    """The serving protos as a FileDescriptorSet, for `decode_proto`'s descriptor_source."""
    from google.protobuf import descriptor_pb2
    from tensorflow_serving.apis import prediction_log_pb2

    found, seen = descriptor_pb2.FileDescriptorSet(), set()

    def add(file):
        if file.name in seen:
            return
        seen.add(file.name)
        for dependency in file.dependencies:
            add(dependency)
        proto = descriptor_pb2.FileDescriptorProto()
        file.CopyToProto(proto)
        found.file.append(proto)

    add(prediction_log_pb2.DESCRIPTOR)
    return b"bytes://" + found.SerializeToString()


def _decode(serialized, message: str, fields: tuple[str, ...], types: list):
    """`(sizes [n, fields], [values [n, max count] per field])` as numpy arrays."""
    import tensorflow as tf

    if not len(serialized):  # the op refuses an empty batch
        empty = [np.empty((0, 1), t.as_numpy_dtype if t != tf.string else object) for t in types]
        return np.zeros((0, len(fields)), np.int32), empty
    sizes, values = tf.io.decode_proto(
        serialized, f"tensorflow.serving.{message}" if "." not in message else message,
        list(fields), types, descriptor_source=_descriptors(),
    )  # fmt: skip
    return sizes.numpy(), [v.numpy() for v in values]


def _flat(values: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """The first `counts[i]` values of each padded row `values[i]`, concatenated in order."""
    width = values.shape[1] if values.ndim == 2 else 0
    return values[np.arange(width) < counts[:, None]] if width else values[:0].ravel()


def _entries(serialized, message: str, entry: str):
    """The map entries (`key`, TensorProto bytes, owning record) of a map field `inputs` or
    `outputs` of each message."""
    import tensorflow as tf

    sizes, (maps,) = _decode(serialized, message, (entry.lower() + "s",), [tf.string])
    counts = sizes[:, 0]
    owner = np.repeat(np.arange(counts.size), counts)
    flat = _flat(maps, counts)
    if not flat.size:
        return np.empty(0, object), np.empty(0, object), owner
    _, (keys, tensors) = _decode(
        flat, f"tensorflow.serving.{message}.{entry}sEntry", ("key", "value"), [tf.string] * 2
    )
    return keys[:, 0], tensors[:, 0], owner


def _tensors(serialized: np.ndarray):
    import tensorflow as tf

    types = [tf.int32, tf.string, tf.float32, tf.float64, tf.int32, tf.int64, tf.bool, tf.string]
    return _decode(serialized, "tensorflow.TensorProto", _TENSOR_FIELDS, types)


def _first_dims(shapes: np.ndarray, has_shape: np.ndarray) -> np.ndarray:
    """Each tensor's first dimension (1 for a scalar or an unknown shape)."""
    import tensorflow as tf

    rows = np.ones(shapes.size, np.int64)
    if has_shape.any():
        sizes, (dims,) = _decode(shapes[has_shape], "tensorflow.TensorShapeProto", ("dim",),
                                 [tf.string])  # fmt: skip
        first = sizes[:, 0] > 0
        if first.any():
            _, (size,) = _decode(dims[first, 0], "tensorflow.TensorShapeProto.Dim", ("size",),
                                 [tf.int64])  # fmt: skip
            index = np.flatnonzero(has_shape)[first]
            rows[index] = size[:, 0]
    return rows


def decode_predict_logs(records: np.ndarray, out) -> np.ndarray:
    """Adds the predict_logs of `records` (serialized PredictionLog) to `out`; returns the
    indices of the records left for the one-by-one reader."""
    import tensorflow as tf

    sizes, (logs,) = _decode(records, "PredictionLog", ("predict_log",), [tf.string])
    mine = np.flatnonzero(sizes[:, 0] == 1)
    _, (requests, responses) = _decode(
        logs[mine, 0], "PredictLog", ("request", "response"), [tf.string] * 2
    )
    keys, tensors, owner = _entries(requests[:, 0], "PredictRequest", "Input")
    is_examples = keys == EXAMPLES_INPUT.encode()
    keep = np.zeros(mine.size, bool)
    keep[owner[is_examples]] = True
    # the response: every output tensor of the records kept
    out_keys, out_tensors, out_owner = _entries(responses[:, 0], "PredictResponse", "Output")
    t_sizes, t_values = _tensors(out_tensors) if out_tensors.size else (None, None)
    if t_sizes is not None:
        named = dict(zip(_TENSOR_FIELDS, range(len(_TENSOR_FIELDS)), strict=True))
        content = t_sizes[:, named["tensor_content"]] > 0
        counts = t_sizes[:, 2:7].sum(axis=1)
        rows = _first_dims(t_values[named["tensor_shape"]][:, 0], t_sizes[:, -1] > 0)
        broadcast = (counts == 1) & (rows > 1)
        keep[out_owner[content | broadcast]] = False
    # the examples of the kept records, in order
    e_sizes, (strings,) = _decode(tensors[is_examples & keep[owner]], "tensorflow.TensorProto",
                                  ("string_val",), [tf.string])  # fmt: skip
    out.examples.extend(_flat(strings, e_sizes[:, 0]).tolist())
    out.requests += int(keep.sum())
    if t_sizes is None:
        return np.setdiff1d(np.arange(len(records)), mine[keep])
    kept = keep[out_owner]
    dtype = t_values[0][:, 0]
    finite = kept & (out_keys == FINITE_KEY.encode())
    repaired = kept & (out_keys == REPAIRED_KEY.encode())
    out.finite.extend(_flat(t_values[6][finite], t_sizes[finite, 6]).tolist())
    out.repaired.extend(_flat(t_values[5][repaired], t_sizes[repaired, 5]).tolist())
    # predictions: every other numeric output; the record's answered examples are its first
    # prediction tensor's rows, numbered after those of the earlier records
    numeric = kept & ~finite & ~repaired & np.isin(dtype, list(_VALUE_FIELDS.values()))
    record_rows = np.zeros(mine.size, np.int64)
    first_output = np.flatnonzero(numeric)[::-1]  # the first of each record wins
    record_rows[out_owner[first_output]] = rows[first_output]
    base = out.answered + np.cumsum(record_rows) - record_rows
    for field, code in _VALUE_FIELDS.items():
        chosen = numeric & (dtype == code)
        if not chosen.any():
            continue
        column = _TENSOR_FIELDS.index(field)
        counts_f = t_sizes[chosen, column]
        out.values.extend(_flat(t_values[column][chosen], counts_f).astype(np.float64).tolist())
        out.segments.extend(
            zip(counts_f.tolist(), rows[chosen].tolist(), base[out_owner[chosen]].tolist(),
                strict=True)
        )  # fmt: skip
    out.answered += int(record_rows.sum())
    return np.setdiff1d(np.arange(len(records)), mine[keep])
