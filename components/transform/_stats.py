"""Shared tensor helpers for nanguard's tf.Transform building blocks (private).

Everything here runs inside a `preprocessing_fn`: it turns any input form (dense, SparseTensor,
RaggedTensor) into a dense `[batch]` tensor plus a presence mask, and computes the full-pass
statistics of the *finite* values of a numeric feature with tf.Transform analyzers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import tensorflow as tf
import tensorflow_transform as tft

FLOAT32_MAX = float(tf.float32.max)
# Power-of-two rescaling used for float64 inputs whose magnitudes could overflow when squared
# (|x| > ~1.3e154); multiplying by a power of two is exact, so no precision is lost.
_SAFE_SCALE_EXP = 512
# Pearson's median skewness above which `auto` picks the median (see impute.AUTO_SKEW_THRESHOLD).
QUANTILE_EPSILON = 1e-3
INF_POLICIES = ("treat_as_missing", "clip")


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
        batch = tf.shape(x, out_type=tf.int64)[:1]
        first = tf.equal(x.indices[:, 1], 0)
        rows = tf.boolean_mask(x.indices[:, 0], first)[:, None]
        values = tf.tensor_scatter_nd_update(
            tf.fill(batch, default), rows, tf.boolean_mask(x.values, first)
        )
        present = tf.tensor_scatter_nd_update(
            tf.zeros(batch, tf.bool), rows, tf.ones(tf.shape(rows)[:1], tf.bool)
        )
        return values, present
    if isinstance(x, tf.RaggedTensor):
        lengths = x.row_lengths()
        values = x.to_tensor(default_value=default, shape=[None, 1])
        return tf.reshape(values, [-1]), lengths > 0
    if x.shape.rank == 2:
        x = x[:, 0]
    elif x.shape.rank != 1:
        raise ValueError(f"Expected a feature of shape [batch] or [batch, 1], got {x.shape}.")
    return x, tf.ones_like(x, tf.bool)


def finite_or(x: tf.Tensor, fallback: float | tf.Tensor) -> tf.Tensor:
    """`x` where it is finite, else `fallback` (NaN and Inf never escape)."""
    return tf.where(tf.math.is_finite(x), x, tf.cast(fallback, x.dtype))


def _mean_and_var(x: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Mean and variance of the finite values in one combiner (tft.mean + tft.var would be two)."""
    fused = getattr(tft.analyzers, "_mean_and_var", None)  # private TFT helper, used if present
    if fused is not None:
        return fused(x, reduce_instance_dims=True, output_dtype=tf.float64)
    return tft.mean(x, output_dtype=tf.float64), tft.var(x, output_dtype=tf.float64)


@dataclass
class NumericStats:
    """Full-pass statistics of the finite values of one numeric feature (float64 tensors).

    Only the analyzers that are needed are created, all in the same analysis phase (one pass).

    Attributes:
      x: float64 `[batch]` values, NaN where the value is absent or not finite.
      count: number of finite values seen in the whole dataset.
      mean, std: mean and population standard deviation (NaN if count == 0).
      quantiles: float64 dict prob -> learned quantile (float32 precision, tft.quantiles).
      min, max: smallest and largest finite value (+Inf/-Inf if count == 0).
    """

    x: tf.Tensor
    count: tf.Tensor
    mean: tf.Tensor | None = None
    std: tf.Tensor | None = None
    quantiles: dict[float, tf.Tensor] = field(default_factory=dict)
    min: tf.Tensor | None = None
    max: tf.Tensor | None = None

    @classmethod
    def compute(
        cls,
        x_finite: tf.Tensor,
        *,
        moments: bool = False,
        quantile_probs: Sequence[float] = (),
        min_max: bool = False,
        wide_range: bool = False,
        epsilon: float = QUANTILE_EPSILON,
    ) -> NumericStats:
        """Builds the analyzers over `x_finite` (float64, NaN marks what must be ignored).

        Args:
          x_finite: float64 `[batch]` tensor, NaN for absent/NaN/Inf rows.
          moments: compute mean and std (tft.mean / tft.var, which skip non-finite values).
          quantile_probs: probabilities in (0, 1) for tft.quantiles (float32 sketch).
          min_max: compute the finite min and max (not tft.min/max of raw data: NaN propagates).
          wide_range: the input was float64, so magnitudes up to ~1.8e308 may occur; the moments
            are then also computed on x * 2**-512 and used when the plain ones overflow.
          epsilon: error tolerance of the quantile sketch.
        """
        finite = tf.math.is_finite(x_finite)
        count = tft.sum(tf.cast(finite, tf.float64), reduce_instance_dims=True)
        stats = cls(x=x_finite, count=count)
        if moments:
            mean, var = _mean_and_var(x_finite)
            std = tf.sqrt(tf.maximum(var, 0.0))
            if wide_range:
                c = 2.0**-_SAFE_SCALE_EXP
                mean_s, var_s = _mean_and_var(x_finite * c)
                mean_s = mean_s / c
                std_s = tf.sqrt(tf.maximum(var_s, 0.0)) / c
                mean = tf.where(tf.math.is_finite(mean), mean, mean_s)
                std = tf.where(tf.math.is_finite(std), std, std_s)
            nan = tf.constant(math.nan, tf.float64)
            stats.mean = tf.where(count > 0, mean, nan)
            stats.std = tf.where(count > 0, std, nan)
        probs = sorted(set(float(p) for p in quantile_probs))
        if probs:
            grid = 4
            if any(abs(p * 4 - round(p * 4)) > 1e-9 for p in probs):
                grid = 1000
            boundaries = tft.quantiles(
                tf.where(finite, x_finite, tf.constant(math.nan, tf.float64)),
                num_buckets=grid,
                epsilon=min(epsilon, 0.5 / grid),
                reduce_instance_dims=True,
            )
            boundaries = tf.cast(tf.reshape(boundaries, [-1]), tf.float64)
            for p in probs:
                idx = min(max(int(round(p * grid)) - 1, 0), grid - 2)
                q = boundaries[idx]
                stats.quantiles[p] = tf.where(count > 0, q, tf.constant(math.nan, tf.float64))
        if min_max:
            inf = tf.constant(math.inf, tf.float64)
            stats.max = tft.max(tf.where(finite, x_finite, -inf), reduce_instance_dims=True)
            stats.min = -tft.max(tf.where(finite, -x_finite, -inf), reduce_instance_dims=True)
        return stats


def to_float32_finite(y: tf.Tensor) -> tf.Tensor:
    """Casts a float64 output to float32, clipping to the float32 range (NaN becomes 0)."""
    y = tf.where(tf.math.is_nan(y), tf.zeros_like(y), y)
    return tf.cast(tf.clip_by_value(y, -FLOAT32_MAX, FLOAT32_MAX), tf.float32)
