"""`_tensors.densify`: each row's first value, absent rows marked, in every input form."""

from __future__ import annotations

import math

import numpy as np
import tensorflow as tf

from nanguard.components.transform import _tensors


def _sparse(rows, dtype):
    indices = [[i, j] for i, row in enumerate(rows) for j in range(len(row))]
    values = [v for row in rows for v in row]
    width = max([len(r) for r in rows] + [0])
    return tf.SparseTensor(
        tf.constant(indices, tf.int64, shape=[len(indices), 2]),
        tf.constant(values, dtype, shape=[len(values)]),
        [len(rows), width],
    )


def test_sparse_rows_keep_their_first_value_and_mark_gaps():
    x = _sparse([[5.0, 7.0], [], [math.nan], [math.inf, 1.0, 2.0]], tf.float32)
    values, present = _tensors.densify(x)
    np.testing.assert_array_equal(values.numpy(), [5.0, np.nan, np.nan, np.inf])
    np.testing.assert_array_equal(present.numpy(), [True, False, True, True])


def test_a_batch_without_any_value_is_all_absent_with_placeholders():
    for dtype, placeholder in ((tf.float64, np.nan), (tf.int64, 0), (tf.string, b"")):
        values, present = _tensors.densify(_sparse([[], [], []], dtype))
        assert values.shape == (3,) and values.dtype == dtype
        np.testing.assert_array_equal(values.numpy(), [placeholder] * 3)
        assert not present.numpy().any()


def test_ragged_and_dense_forms():
    ragged = tf.ragged.constant([[b"a", b"b"], [], [b"c"]])
    values, present = _tensors.densify(ragged)
    assert values.numpy().tolist() == [b"a", b"", b"c"]
    assert present.numpy().tolist() == [True, False, True]
    values, present = _tensors.densify(tf.constant([[1], [2]], tf.int64))
    assert values.numpy().tolist() == [1, 2] and present.numpy().all()
