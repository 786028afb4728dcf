"""NaN-safe scaling for tf.Transform: `scale()`.

Unlike `tft.scale_to_z_score` (passes NaN through) and `tft.scale_to_0_1` (silently becomes a
sigmoid when `tft.min`/`tft.max` see a NaN), the statistics here come from the finite values only
and the output is always finite: a zero standard deviation, range or IQR gives 0 for a constant
feature instead of NaN or Inf, and results are clipped to the float32 range.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import tensorflow as tf

from nanguard.components import vocab
from nanguard.components.config import OneOf
from nanguard.components.transform import _stats, _tensors
from nanguard.components.transform.config import SCALERS, FeatureConfig, TransformConfig


def scale_needs(
    method: str, clip_quantiles: Sequence[float] | None, bounded: bool = False
) -> dict[str, Any]:
    """Analyzers that `scale` needs (keyword args of NumericStats.compute); `bounded`: also
    those of the output bound (the finite min and max, and the std for `none`)."""
    probs: list[float] = []
    if method == "robust":
        probs += [0.25, 0.5, 0.75]
    if clip_quantiles is not None:
        probs += [p for p in clip_quantiles if 0.0 < p < 1.0]
    return {
        "moments": method == "z_score" or (bounded and method == "none"),
        "quantile_probs": tuple(probs),
        "min_max": bounded
        or method == "min_max"
        or (clip_quantiles is not None and (clip_quantiles[0] <= 0.0 or clip_quantiles[1] >= 1.0)),
    }


def merge_needs(*needs: dict[str, Any]) -> dict[str, Any]:
    return {
        "moments": any(n["moments"] for n in needs),
        "quantile_probs": tuple(sorted({p for n in needs for p in n["quantile_probs"]})),
        "min_max": any(n["min_max"] for n in needs),
    }


def scale_values(
    values: tf.Tensor,
    stats: _stats.NumericStats,
    method: str,
    clip_quantiles: Sequence[float] | None = None,
    range_margin: float | None = None,
    fill: tf.Tensor | None = None,
) -> tuple[tf.Tensor, dict[str, Any]]:
    """Scales finite float64 values with learned statistics; returns (float64, record entries).

    Output = (clip(values) - center) / scale. A zero or non-finite scale (constant feature, no
    finite value) gives 0 for z_score and min_max; robust follows scikit-learn (a zero IQR is
    replaced by 1) so a constant feature still gives 0.

    With `range_margin` k (needs `scale_needs(..., bounded=True)`), the output is then clipped
    to the safe range `output_low`/`output_high` (see `output_bound`), recorded in the entries;
    `fill` (the imputation's fill value, if any) counts as part of the training range. Without
    it the output is only bounded by the float32 range when the caller casts it.
    """
    info: dict[str, Any] = {"scale": method}
    if clip_quantiles is not None:
        lo_p, hi_p = clip_quantiles
        lo = stats.min if lo_p <= 0.0 else stats.quantiles[float(lo_p)]
        hi = stats.max if hi_p >= 1.0 else stats.quantiles[float(hi_p)]
        lo = _tensors.finite_or(lo, -math.inf)
        hi = _tensors.finite_or(hi, math.inf)
        values = tf.clip_by_value(values, lo, hi)
        info["clip_quantiles"] = list(clip_quantiles)
        info["clip_low"] = lo
        info["clip_high"] = hi
    zero = tf.constant(0.0, tf.float64)
    if method == "none":
        if range_margin is None:
            return values, info
        # The unit of the margin is the training std (1 when it is zero or undefined).
        std = stats.std
        unit = tf.where(tf.math.is_finite(std) & (std > 0), std, tf.ones_like(std))
        lo, hi = _training_range(stats, fill)
        y = _bounded(values, lo - range_margin * unit, hi + range_margin * unit, range_margin, info)
        return y, info
    one = tf.constant(1.0, tf.float64)
    if method == "z_score":
        center, spread = stats.mean, stats.std
        zero_spread_gives_zero = True
    elif method == "min_max":
        center, spread = stats.min, stats.max - stats.min
        zero_spread_gives_zero = True
    else:  # robust
        center = stats.quantiles[0.5]
        spread = stats.quantiles[0.75] - stats.quantiles[0.25]
        zero_spread_gives_zero = False
    center = _tensors.finite_or(center, 0.0)
    ok = tf.math.is_finite(spread) & (spread > 0)
    if zero_spread_gives_zero:
        y = tf.where(ok, (values - center) / tf.where(ok, spread, one), tf.zeros_like(values))
    else:
        y = (values - center) / tf.where(ok, spread, one)
    info["center"] = center
    info["scale_factor"] = tf.where(ok, spread, one if not zero_spread_gives_zero else zero)
    info["scale_warning"] = tf.where(
        ok,
        "",
        f"zero or undefined spread: {method} output is 0"
        if zero_spread_gives_zero
        else "zero IQR: divided by 1",
    )
    if range_margin is not None:
        lo, hi = _training_range(stats, fill)
        if zero_spread_gives_zero:
            lo = tf.where(ok, (lo - center) / tf.where(ok, spread, one), zero)
            hi = tf.where(ok, (hi - center) / tf.where(ok, spread, one), zero)
        else:
            lo = (lo - center) / tf.where(ok, spread, one)
            hi = (hi - center) / tf.where(ok, spread, one)
        y = _bounded(y, lo - range_margin, hi + range_margin, range_margin, info)
    return y, info


def _training_range(stats: _stats.NumericStats, fill: tf.Tensor | None) -> tuple[tf.Tensor, ...]:
    """The finite training min and max, widened to include `fill`; 0 when neither exists."""
    lo, hi = stats.min, stats.max  # +Inf / -Inf when no value was finite
    if fill is not None:
        fill = tf.cast(fill, tf.float64)
        lo = tf.where(tf.math.is_finite(fill), tf.minimum(lo, fill), lo)
        hi = tf.where(tf.math.is_finite(fill), tf.maximum(hi, fill), hi)
    return _tensors.finite_or(lo, 0.0), _tensors.finite_or(hi, 0.0)


def _bounded(
    y: tf.Tensor, low: tf.Tensor, high: tf.Tensor, range_margin: float, info: dict[str, Any]
) -> tf.Tensor:
    """`y` clipped to [low, high] made float32-representable (so the float32 cast stays inside);
    a non-finite bound becomes the float32 limit. Records output_low/output_high."""
    f32 = tf.constant(_tensors.FLOAT32_MAX, tf.float64)
    low = tf.where(tf.math.is_nan(low), -f32, tf.clip_by_value(low, -f32, f32))
    high = tf.where(tf.math.is_nan(high), f32, tf.clip_by_value(high, -f32, f32))
    # Rounding to float32 is monotone: a y inside the float32-exact bounds casts inside them.
    low = tf.cast(tf.cast(low, tf.float32), tf.float64)
    high = tf.cast(tf.cast(high, tf.float32), tf.float64)
    info["range_margin"] = float(range_margin)
    info["output_low"] = low
    info["output_high"] = high
    return tf.clip_by_value(y, low, high)


def scale(
    x: tf.Tensor | tf.SparseTensor | tf.RaggedTensor,
    method: str = "z_score",
    clip_quantiles: Sequence[float] | None = None,
    *,
    range_margin: float | None = None,
    name: str | None = None,
) -> tf.Tensor:
    """Scales a numeric feature inside a tf.Transform `preprocessing_fn`.

    Args:
      x: dense `[batch]`/`[batch, 1]` or SparseTensor/RaggedTensor `[batch, None]`.
      method: 'z_score' (mean / population std, as StandardScaler), 'min_max' (to [0, 1], as
        MinMaxScaler), 'robust' (median / IQR, as RobustScaler) or 'none'.
      clip_quantiles: optional (low, high) probabilities; values are clipped to the learned
        quantiles before scaling (0 and 1 mean the finite min and max). The scaling statistics
        themselves are learned on the unclipped finite values (one analysis pass).
      range_margin: optional k >= 0: the output is also clipped to the finite training range
        widened by k spreads on each side (the transform config's `range_margin`; see the
        README's "Safe ranges"). None: only the float32 range.

    Returns:
      float32 `[batch]`. Statistics are learned over finite values only. Rows that are absent,
      NaN or Inf are *not* repaired here (use `impute` first): absent and NaN give 0.0 (the
      center), +Inf/-Inf are clipped to the float32 range; the output is always finite.

    Raises:
      InputError (a ValueError): a method outside `config.SCALERS` or bad clip_quantiles, named
        `scale.method` / `scale.clip_quantiles` (the transform config's declared constraints).
    """
    # The transform config's declared constraints (a null `scale` is only a config default).
    OneOf(SCALERS)(method, "scale.method")
    FeatureConfig.from_dict({"clip_quantiles": vocab.jsonable(clip_quantiles)}, "scale")
    if range_margin is not None:
        TransformConfig.from_dict({"range_margin": _plain(range_margin)}, "scale")
    with tf.name_scope(name or "scale"):
        values, finite, _ = _tensors.prepare_numeric(x, "treat_as_missing")
        stats = _stats.NumericStats.compute(
            _tensors.finite_only(values, finite),
            wide_range=x.dtype == tf.float64,
            **scale_needs(method, clip_quantiles, bounded=range_margin is not None),
        )
        y, _ = scale_values(values, stats, method, clip_quantiles, range_margin)
        # A NaN (absent) input stays NaN through the arithmetic; to_float32_finite maps it to 0.
        return _tensors.to_float32_finite(y)


def _plain(value: Any) -> Any:
    """A numpy scalar as the Python value it holds; anything else unchanged."""
    return value.item() if hasattr(value, "item") else value
