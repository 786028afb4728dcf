"""components/arrow_numpy.py: numpy <-> Arrow views without pandas."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from nanguard.components import arrow_numpy, csv_types


def test_numpy_views_and_arrays_without_pandas():
    values = np.array([1.5, np.nan, -np.inf, 7.0])
    array = arrow_numpy.from_numpy(values)
    assert array.type == pa.float64() and array.null_count == 0
    np.testing.assert_array_equal(arrow_numpy.as_numpy(array), values)
    with_nulls = pa.array([1.0, None, 3.0], pa.float32()).slice(1)
    view = arrow_numpy.as_numpy(with_nulls)
    assert view.dtype == np.float32 and view.tolist() == [3.0]
    assert arrow_numpy.as_numpy(pa.array([5, 6], pa.int64()).slice(1)).tolist() == [6]
    assert csv_types.widest_kinds([{"a": "int", "b": "null"}, {"a": "float", "b": "string"}]) == {
        "a": "float",
        "b": "string",
    }
