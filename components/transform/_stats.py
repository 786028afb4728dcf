"""Full-pass statistics of the finite values of numeric features, for tf.Transform (private).

Everything here runs inside a `preprocessing_fn`: tf.Transform analyzers over the *finite*
values only (the inputs come from `_tensors.prepare_numeric` / `_tensors.finite_only`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import tensorflow as tf
import tensorflow_transform as tft

# Power-of-two rescaling used for float64 inputs whose magnitudes could overflow when squared
# (|x| > ~1.3e154); multiplying by a power of two is exact, so no precision is lost.
_SAFE_SCALE_EXP = 512
QUANTILE_EPSILON = 1e-3  # error tolerance of the tft.quantiles sketch


def _mean_and_var(x: tf.Tensor, reduce_instance_dims: bool = True) -> tuple[tf.Tensor, tf.Tensor]:
    """Mean and variance of the finite values in one combiner (tft.mean + tft.var would be two)."""
    fused = getattr(tft.analyzers, "_mean_and_var", None)  # private TFT helper, used if present
    if fused is not None:
        return fused(x, reduce_instance_dims=reduce_instance_dims, output_dtype=tf.float64)
    return (
        tft.mean(x, reduce_instance_dims=reduce_instance_dims, output_dtype=tf.float64),
        tft.var(x, reduce_instance_dims=reduce_instance_dims, output_dtype=tf.float64),
    )


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
        spec = StatsSpec(
            x_finite,
            moments=moments,
            quantile_probs=tuple(quantile_probs),
            min_max=min_max,
            wide_range=wide_range,
            epsilon=epsilon,
        )
        return compute_many({"x": spec})["x"]


@dataclass
class StatsSpec:
    """What `compute_many` must learn about one feature (see NumericStats.compute for the args)."""

    x_finite: tf.Tensor
    moments: bool = False
    quantile_probs: tuple[float, ...] = ()
    min_max: bool = False
    wide_range: bool = False
    epsilon: float = QUANTILE_EPSILON


def _quantile_grid(probs: Sequence[float]) -> int:
    """Quartile grid (4 buckets) when every prob is a multiple of 0.25, else a 1/1000 grid."""
    if any(abs(p * 4 - round(p * 4)) > 1e-9 for p in probs):
        return 1000
    return 4


def _stack(columns: list[tf.Tensor]) -> tf.Tensor:
    """`[batch, k]` with a static k (the elementwise analyzers size their outputs from it)."""
    return tf.reshape(tf.stack([tf.reshape(c, [-1]) for c in columns], axis=1), [-1, len(columns)])


def compute_many(specs: dict[str, StatsSpec]) -> dict[str, NumericStats]:
    """Full-pass statistics of several features with one analyzer per statistic kind.

    The float64 `[batch]` features are stacked into `[batch, k]` tensors and every statistic is
    learned elementwise (`reduce_instance_dims=False`): one count (tft.sum), one mean/variance
    combiner, one tft.quantiles sketch per (grid, epsilon) group and one max per sign, instead of
    one of each per feature. Results are the same as per-feature analyzers (the combiners are
    elementwise); it only removes per-analyzer overhead in the analysis pass.

    NaN and Inf: every entry that is not finite is ignored by every statistic (the features are
    masked to NaN, or to -Inf for the max). A feature without any finite value gets count 0, NaN
    mean/std/quantiles, and +Inf/-Inf as min/max.
    """
    names = list(specs)
    out = {name: NumericStats(x=specs[name].x_finite, count=None) for name in names}
    if not names:
        return out
    xs = _stack([specs[n].x_finite for n in names])
    finite = tf.math.is_finite(xs)
    # Analyzer outputs are reshaped to their known size: with k == 1 some combiners return a
    # scalar constant in later phases.
    counts = tf.reshape(
        tft.sum(tf.cast(finite, tf.float64), reduce_instance_dims=False), [len(names)]
    )
    nan = tf.constant(math.nan, tf.float64)
    for i, name in enumerate(names):
        out[name].count = counts[i]

    mom = [n for n in names if specs[n].moments]
    if mom:
        x_mom = _stack([specs[n].x_finite for n in mom])
        mean, var = _mean_and_var(x_mom, reduce_instance_dims=False)
        mean, var = tf.reshape(mean, [len(mom)]), tf.reshape(var, [len(mom)])
        std = tf.sqrt(tf.maximum(var, 0.0))
        wide = [n for n in mom if specs[n].wide_range]
        wide_idx = {}
        if wide:
            c = 2.0**-_SAFE_SCALE_EXP
            mean_s, var_s = _mean_and_var(
                _stack([specs[n].x_finite for n in wide]) * c, reduce_instance_dims=False
            )
            mean_s = tf.reshape(mean_s, [len(wide)]) / c
            std_s = tf.sqrt(tf.maximum(tf.reshape(var_s, [len(wide)]), 0.0)) / c
            wide_idx = {n: j for j, n in enumerate(wide)}
        for j, name in enumerate(mom):
            m, s = mean[j], std[j]
            if name in wide_idx:
                w = wide_idx[name]
                m = tf.where(tf.math.is_finite(m), m, mean_s[w])
                s = tf.where(tf.math.is_finite(s), s, std_s[w])
            has = out[name].count > 0
            out[name].mean = tf.where(has, m, nan)
            out[name].std = tf.where(has, s, nan)

    groups: dict[tuple[int, float], list[str]] = {}
    for name in names:
        probs = sorted(set(float(p) for p in specs[name].quantile_probs))
        if probs:
            grid = _quantile_grid(probs)
            eps = min(specs[name].epsilon, 0.5 / grid)
            groups.setdefault((grid, eps), []).append(name)
    for (grid, eps), members in sorted(groups.items()):
        boundaries = tft.quantiles(
            _stack([specs[n].x_finite for n in members]),
            num_buckets=grid,
            epsilon=eps,
            reduce_instance_dims=False,
        )
        boundaries = tf.cast(tf.reshape(boundaries, [len(members), grid - 1]), tf.float64)
        for j, name in enumerate(members):
            for p in sorted(set(float(p) for p in specs[name].quantile_probs)):
                idx = min(max(int(round(p * grid)) - 1, 0), grid - 2)
                q = boundaries[j, idx]
                out[name].quantiles[p] = tf.where(out[name].count > 0, q, nan)

    mm = [n for n in names if specs[n].min_max]
    if mm:
        x_mm = _stack([specs[n].x_finite for n in mm])
        ok = tf.math.is_finite(x_mm)
        inf = tf.constant(math.inf, tf.float64)
        hi = tf.reshape(tft.max(tf.where(ok, x_mm, -inf), reduce_instance_dims=False), [len(mm)])
        lo = -tf.reshape(tft.max(tf.where(ok, -x_mm, -inf), reduce_instance_dims=False), [len(mm)])
        for j, name in enumerate(mm):
            out[name].max = hi[j]
            out[name].min = lo[j]
    return out
