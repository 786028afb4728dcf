"""Full-pass statistics of the finite values of numeric features, for tf.Transform (private).

Everything here runs inside a `preprocessing_fn`: tf.Transform analyzers over the *finite*
values only (the inputs come from `_tensors.prepare_numeric` / `_tensors.finite_only`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

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

    def column(self, j: int) -> NumericStats:
        """Feature j of a block's statistics (`compute_groups`), as scalars."""
        pick = lambda t: None if t is None else t[j]  # noqa: E731
        return NumericStats(
            x=self.x[:, j],
            count=self.count[j],
            mean=pick(self.mean),
            std=pick(self.std),
            quantiles={p: q[j] for p, q in self.quantiles.items()},
            min=pick(self.min),
            max=pick(self.max),
        )

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
    wide_range: bool | tuple[bool, ...] = False  # per column for a `[batch, k]` block
    epsilon: float = QUANTILE_EPSILON


def _quantile_grid(probs: Sequence[float]) -> int:
    """Quartile grid (4 buckets) when every prob is a multiple of 0.25, else a 1/1000 grid."""
    if any(abs(p * 4 - round(p * 4)) > 1e-9 for p in probs):
        return 1000
    return 4


def _width(x: tf.Tensor) -> int:
    """k of a `[batch, k]` column block; 1 for a `[batch]` feature."""
    return 1 if x.shape.rank == 1 else int(x.shape[1])


def _block(x: tf.Tensor) -> tf.Tensor:
    return tf.reshape(x, [-1, _width(x)])


def _concat(blocks: list[tf.Tensor]) -> tf.Tensor:
    """`[batch, K]` of `[batch, k]` blocks, K static."""
    if len(blocks) == 1:
        return blocks[0]
    return tf.reshape(tf.concat(blocks, axis=1), [-1, sum(_width(b) for b in blocks)])


def compute_many(specs: dict[str, StatsSpec]) -> dict[str, NumericStats]:
    """Full-pass statistics of several `[batch]` features: `compute_groups` with one feature per
    group, statistics returned as scalars (see there for NaN and Inf)."""
    groups = compute_groups(specs)
    for stats in groups.values():
        stats.count = tf.reshape(stats.count, [])
        for name in ("mean", "std", "min", "max"):
            if getattr(stats, name) is not None:
                setattr(stats, name, tf.reshape(getattr(stats, name), []))
        stats.quantiles = {p: tf.reshape(q, []) for p, q in stats.quantiles.items()}
    return groups


def compute_groups(specs: dict[Any, StatsSpec]) -> dict[Any, NumericStats]:
    """Full-pass statistics of groups of features, with one analyzer per statistic kind.

    Each spec's `x_finite` is a float64 `[batch, k]` block of k features that need the same
    statistics (or one `[batch]` feature); `wide_range` is one flag for the block or a tuple of
    k flags. The statistics come back as `[k]` vectors, column j for the block's feature j.

    The blocks are concatenated into one `[batch, K]` tensor per statistic and every statistic
    is learned elementwise (`reduce_instance_dims=False`): one count (tft.sum), one mean/variance
    combiner, one tft.quantiles sketch per (grid, epsilon) group and one max per sign, for all
    features together. The combiners are elementwise, so the results are those of one analyzer
    per feature; only the per-analyzer and per-feature graph overhead is gone.

    NaN and Inf: every entry that is not finite is ignored by every statistic (the features are
    masked to NaN, or to -Inf for the max). A feature without any finite value gets count 0, NaN
    mean/std/quantiles, and +Inf/-Inf as min/max.
    """
    keys = list(specs)
    out = {key: NumericStats(x=specs[key].x_finite, count=None) for key in keys}
    if not keys:
        return out
    blocks = {key: _block(specs[key].x_finite) for key in keys}
    widths = {key: _width(specs[key].x_finite) for key in keys}

    def together(members: list[Any], scale: float = 1.0) -> tf.Tensor:
        """The members' blocks as one `[batch, K]` tensor (times `scale`)."""
        x = _concat([blocks[m] for m in members])
        return x if scale == 1.0 else x * scale

    def split(result: tf.Tensor, members: list[Any]) -> dict[Any, tf.Tensor]:
        """Each member's `[k]` slice of a `[K]` analyzer result (reshaped to its known size:
        with K == 1 some combiners return a scalar constant in later phases)."""
        result = tf.reshape(result, [sum(widths[m] for m in members)])
        if len(members) == 1:
            return {members[0]: result}
        sliced, start = {}, 0
        for m in members:
            sliced[m] = result[start : start + widths[m]]
            start += widths[m]
        return sliced

    finite = tf.cast(tf.math.is_finite(together(keys)), tf.float64)
    counts = split(tft.sum(finite, reduce_instance_dims=False), keys)
    nan = tf.constant(math.nan, tf.float64)
    for key in keys:
        out[key].count = counts[key]

    mom = [key for key in keys if specs[key].moments]
    if mom:
        means, variances = (split(t, mom) for t in _mean_and_var(together(mom), False))
        wide = {key: _wide_flags(specs[key], widths[key]) for key in mom}
        scaled = [key for key in mom if any(wide[key])]
        if scaled:  # float64 inputs: also moments of x * 2**-512, for when the plain overflow
            c = 2.0**-_SAFE_SCALE_EXP
            scaled_means, scaled_vars = (
                split(t, scaled) for t in _mean_and_var(together(scaled, c), False)
            )
        for key in mom:
            m, s = means[key], tf.sqrt(tf.maximum(variances[key], 0.0))
            if key in scaled:
                flags = tf.constant(wide[key])
                std_s = tf.sqrt(tf.maximum(scaled_vars[key], 0.0)) / c
                m = tf.where(tf.math.is_finite(m) | ~flags, m, scaled_means[key] / c)
                s = tf.where(tf.math.is_finite(s) | ~flags, s, std_s)
            has = out[key].count > 0
            out[key].mean = tf.where(has, m, nan)
            out[key].std = tf.where(has, s, nan)

    groups: dict[tuple[int, float], list[Any]] = {}
    for key in keys:
        probs = sorted(set(float(p) for p in specs[key].quantile_probs))
        if probs:
            grid = _quantile_grid(probs)
            eps = min(specs[key].epsilon, 0.5 / grid)
            groups.setdefault((grid, eps), []).append(key)
    for (grid, eps), members in sorted(groups.items()):
        total = sum(widths[m] for m in members)
        boundaries = tft.quantiles(
            together(members), num_buckets=grid, epsilon=eps, reduce_instance_dims=False
        )
        boundaries = tf.cast(tf.reshape(boundaries, [total, grid - 1]), tf.float64)
        start = 0
        for key in members:  # each member's rows, then the column of each probability
            rows = boundaries[start : start + widths[key]] if len(members) > 1 else boundaries
            start += widths[key]
            for p in sorted(set(float(p) for p in specs[key].quantile_probs)):
                q = rows[:, _grid_index(p, grid)]
                out[key].quantiles[p] = tf.where(out[key].count > 0, q, nan)

    mm = [key for key in keys if specs[key].min_max]
    if mm:
        x, inf = together(mm), tf.constant(math.inf, tf.float64)
        ok = tf.math.is_finite(x)
        his = split(tft.max(tf.where(ok, x, -inf), reduce_instance_dims=False), mm)
        los = split(tft.max(tf.where(ok, -x, -inf), reduce_instance_dims=False), mm)
        for key in mm:
            out[key].max = his[key]
            out[key].min = -los[key]
    return out


def _grid_index(p: float, grid: int) -> int:
    """The boundary of a `grid`-bucket tft.quantiles result that stands for probability p."""
    return min(max(int(round(float(p) * grid)) - 1, 0), grid - 2)


def _wide_flags(spec: StatsSpec, width: int) -> tuple[bool, ...]:
    flags = spec.wide_range
    return tuple(flags) if isinstance(flags, tuple | list) else (bool(flags),) * width
