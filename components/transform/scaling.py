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
from nanguard.components.transform.config import SCALERS, FeatureConfig


def scale_needs(method: str, clip_quantiles: Sequence[float] | None) -> dict[str, Any]:
    """Analyzers that `scale` needs (keyword args of NumericStats.compute)."""
    probs: list[float] = []
    if method == "robust":
        probs += [0.25, 0.5, 0.75]
    if clip_quantiles is not None:
        probs += [p for p in clip_quantiles if 0.0 < p < 1.0]
    return {
        "moments": method == "z_score",
        "quantile_probs": tuple(probs),
        "min_max": method == "min_max"
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
) -> tuple[tf.Tensor, dict[str, Any]]:
    """Scales finite float64 values with learned statistics; returns (float64, record entries).

    Output = (clip(values) - center) / scale. A zero or non-finite scale (constant feature, no
    finite value) gives 0 for z_score and min_max; robust follows scikit-learn (a zero IQR is
    replaced by 1) so a constant feature still gives 0.
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
    if method == "none":
        return values, info
    zero = tf.constant(0.0, tf.float64)
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
    return y, info


def scale(
    x: tf.Tensor | tf.SparseTensor | tf.RaggedTensor,
    method: str = "z_score",
    clip_quantiles: Sequence[float] | None = None,
    *,
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
    with tf.name_scope(name or "scale"):
        values, finite, _ = _tensors.prepare_numeric(x, "treat_as_missing")
        stats = _stats.NumericStats.compute(
            _tensors.finite_only(values, finite),
            wide_range=x.dtype == tf.float64,
            **scale_needs(method, clip_quantiles),
        )
        y, _ = scale_values(values, stats, method, clip_quantiles)
        # A NaN (absent) input stays NaN through the arithmetic; to_float32_finite maps it to 0.
        return _tensors.to_float32_finite(y)
