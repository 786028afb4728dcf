"""Input forms and output ranges of nanguard's tf.Transform building blocks (private).

Everything here runs inside a `preprocessing_fn`: it turns any input form (dense, SparseTensor,
RaggedTensor) into a dense `[batch]` tensor plus presence/finite/missing masks, and brings a
float64 result back to a finite float32 output. Imputation, scaling and KNN all start here, so
none of them imports another to read its input.
"""

from __future__ import annotations

import math

import tensorflow as tf

FLOAT32_MAX = float(tf.float32.max)


def densify(x: tf.Tensor | tf.SparseTensor | tf.RaggedTensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Returns `(values [batch], present [batch] bool)` for a feature in any tensor form.

    A SparseTensor/RaggedTensor row with no value (a CSV gap) is *absent*: `present` is False and
    the value is a placeholder (NaN for floats, 0 for ints, '' for strings). A row holding several
    values keeps the first one. Dense `[batch]` or `[batch, 1]` inputs are all present. NaN and
    Inf are passed through unchanged (the caller decides what they mean).
    """
    if x.dtype.is_floating:
        default = tf.constant(math.nan, x.dtype)
    elif x.dtype == tf.string:
        default = tf.constant("", tf.string)
    else:
        default = tf.zeros([], x.dtype)
    if isinstance(x, tf.SparseTensor):
        # Column 0 of the dense form is each row's first value; a row with no value (or a
        # batch with none at all) gets the placeholder. Few ops: tf.Transform traces this ~10
        # times per feature and runs it in every bundle.
        shape = tf.stack([x.dense_shape[0], tf.maximum(x.dense_shape[1], 1)])
        values = tf.sparse.to_dense(
            tf.SparseTensor(x.indices, x.values, shape), default, validate_indices=False
        )
        present = tf.sparse.to_dense(
            tf.SparseTensor(x.indices, tf.ones_like(x.values, tf.bool), shape),
            False,
            validate_indices=False,
        )
        return values[:, 0], present[:, 0]
    if isinstance(x, tf.RaggedTensor):
        lengths = x.row_lengths()
        values = x.to_tensor(default_value=default, shape=[None, 1])
        return tf.reshape(values, [-1]), lengths > 0
    if x.shape.rank == 2:
        x = x[:, 0]
    elif x.shape.rank != 1:
        raise ValueError(f"Expected a feature of shape [batch] or [batch, 1], got {x.shape}.")
    return x, tf.ones_like(x, tf.bool)


def prepare_numeric(
    x: tf.Tensor | tf.SparseTensor | tf.RaggedTensor, inf: str
) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """Dense float64 values, the `finite` mask and the `missing` mask of a numeric feature.

    `missing` = absent or NaN, plus +/-Inf with `inf='treat_as_missing'`. With `inf='clip'` an
    Inf is not missing (it is clipped later) but it is never part of the statistics.
    """
    values, present = densify(x)
    return _numeric_masks(tf.cast(values, tf.float64), present, inf)


def prepare_numeric_block(
    xs: list[tf.Tensor | tf.SparseTensor | tf.RaggedTensor], inf: str
) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """`prepare_numeric` of k features at once: float64 values, `finite` and `missing`, each
    `[batch, k]` (column j for `xs[j]`). Each feature is densified on its own; the masks are
    computed once on the stacked block."""
    values, present = densify_block(xs, tf.float64)
    return _numeric_masks(values, present, inf)


def densify_block(
    xs: list[tf.Tensor | tf.SparseTensor | tf.RaggedTensor], dtype: tf.DType | None = None
) -> tuple[tf.Tensor, tf.Tensor]:
    """`densify` of k features stacked: `(values [batch, k], present [batch, k])`, column j
    for `xs[j]`, the values cast to `dtype` when given."""
    values, present = [], []
    for x in xs:
        v, p = densify(x)
        values.append(v if dtype is None else tf.cast(v, dtype))
        present.append(p)
    k = len(xs)
    return (
        tf.reshape(tf.stack(values, axis=1), [-1, k]),
        tf.reshape(tf.stack(present, axis=1), [-1, k]),
    )


def _numeric_masks(
    values: tf.Tensor, present: tf.Tensor, inf: str
) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """`(values, finite, missing)` of float64 `values` (see `prepare_numeric`)."""
    finite = present & tf.math.is_finite(values)
    if inf == "clip":
        missing = ~present | tf.math.is_nan(values)
    else:
        missing = ~finite
    return values, finite, missing


def finite_only(values: tf.Tensor, finite: tf.Tensor) -> tf.Tensor:
    """float64 `values` where `finite`, NaN elsewhere: what the statistics may see."""
    return tf.where(finite, values, tf.constant(math.nan, tf.float64))


def finite_or(x: tf.Tensor, fallback: float | tf.Tensor) -> tf.Tensor:
    """`x` where it is finite, else `fallback` (NaN and Inf never escape)."""
    return tf.where(tf.math.is_finite(x), x, tf.cast(fallback, x.dtype))


def to_float32_finite(y: tf.Tensor) -> tf.Tensor:
    """Casts a float64 output to float32, clipping to the float32 range (NaN becomes 0)."""
    y = tf.where(tf.math.is_nan(y), tf.zeros_like(y), y)
    return tf.cast(tf.clip_by_value(y, -FLOAT32_MAX, FLOAT32_MAX), tf.float32)
