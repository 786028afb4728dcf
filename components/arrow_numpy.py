"""numpy <-> Arrow without pyarrow's pandas shim.

`Array.to_numpy` and `pa.array(ndarray)` import pandas, about a second, on every first call in a
process; these views do not. Imports numpy and pyarrow only. NaN and Inf pass through as they
are (they are values, not nulls).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["as_numpy", "from_numpy", "null_of", "string_array", "string_offsets"]
_NUMPY_DTYPES = {"float": np.float32, "double": np.float64, "halffloat": np.float16}


def as_numpy(array: pa.Array, dense: bool = True) -> np.ndarray:
    """The values of a primitive numeric Arrow array as a (read-only) numpy view, no copy.

    With `dense`, nulls are dropped first; without, null slots hold unspecified values.
    """
    if dense and array.null_count:
        array = pc.drop_null(array)
    dtype = np.dtype(_NUMPY_DTYPES.get(str(array.type), str(array.type)))
    if len(array) == 0:
        return np.empty(0, dtype)
    return np.frombuffer(
        array.buffers()[1], dtype, count=len(array), offset=array.offset * dtype.itemsize
    )


def from_numpy(values: np.ndarray) -> pa.Array:
    """A 1-D numeric numpy array as an Arrow array (no nulls), sharing its memory."""
    values = np.ascontiguousarray(values)
    return pa.Array.from_buffers(
        pa.from_numpy_dtype(values.dtype), len(values), [None, pa.py_buffer(values)]
    )


def string_array(values) -> pa.Array:
    """A sequence of Python strings as an Arrow string array (no nulls), built from buffers."""
    encoded = [str(v).encode("utf-8") for v in values]
    offsets = np.zeros(len(encoded) + 1, np.int32)
    np.cumsum([len(b) for b in encoded], out=offsets[1:])
    data = pa.py_buffer(b"".join(encoded))
    return pa.StringArray.from_buffers(len(encoded), pa.py_buffer(offsets), data)


def string_offsets(array: pa.Array) -> np.ndarray:
    """The `len(array) + 1` offsets of a (large) string array into its text buffer, as a
    numpy view (cell i is `text[offsets[i]:offsets[i + 1]]`; a sliced array's own)."""
    width = np.dtype(np.int64 if pa.types.is_large_string(array.type) else np.int32)
    return np.frombuffer(
        array.buffers()[1], width, count=len(array) + 1, offset=array.offset * width.itemsize
    )


def null_of(arrow_type: pa.DataType) -> pa.Scalar:
    """A null scalar of `arrow_type` (`pa.scalar(None, ...)` imports pandas)."""
    return pa.nulls(1, arrow_type)[0]
