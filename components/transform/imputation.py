"""NaN-safe imputation for tf.Transform: `impute()`.

Missing means: a value absent from a SparseTensor/RaggedTensor row (a CSV gap), a NaN, and,
with `inf='treat_as_missing'`, +Inf/-Inf. The statistics come from full-pass tf.Transform
analyzers over the finite values only, so they are constants of the transform graph and the
same repair happens at training and at serving.

Strategy `auto` (numeric): the median when |Pearson's median skewness| =
|3 * (mean - median) / std| exceeds `AUTO_SKEW_THRESHOLD` (0.5), else the mean. Why 0.5: for a
symmetric (normal) sample of n rows the standard error of that coefficient is about
2.27 / sqrt(n), so 0.5 is over two standard errors from 0 at n = 100 and symmetric features
rarely flip to the median, while an exponential (0.92) or a log-normal with sigma = 1 (0.90)
are well above it. For strings `auto` is `most_frequent`. `auto` never picks `knn` or `em`: when
a feature's gaps depend on the other features (missing at random given them), mean or median
imputation biases the model; choose `em` (multivariate Gaussian EM, `em.py`: fills the
conditional expectation given the row's present features) or `knn` (`knn.py`) for those.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import tensorflow as tf

from nanguard.components import vocab
from nanguard.components.config import OneOf
from nanguard.components.transform import _mode, _stats, _tensors, em, knn
from nanguard.components.transform.config import (
    JOINT_STRATEGIES,
    STRATEGIES,
    STRING_STRATEGIES,
    FeatureConfig,
    TransformConfig,
)

AUTO_SKEW_THRESHOLD = 0.5
STRING_CONSTANT_DEFAULT = "missing_value"  # scikit-learn's default for strings


def numeric_needs(strategy: str, inf: str) -> dict[str, Any]:
    """Analyzers that `impute` needs for a numeric feature (NumericStats.compute kwargs)."""
    probs = (0.5,) if strategy in ("median", "auto") else ()
    return {
        "moments": strategy in ("mean", "auto", *JOINT_STRATEGIES),
        "quantile_probs": probs,
        "min_max": inf == "clip",
    }


def impute_numeric(
    values: tf.Tensor,
    finite: tf.Tensor,
    missing: tf.Tensor,
    stats: _stats.NumericStats,
    strategy: str,
    fill_value: float | None,
    inf: str,
    skew_threshold: float = AUTO_SKEW_THRESHOLD,
) -> tuple[tf.Tensor, dict[str, Any]]:
    """Imputes prepared float64 values; returns (finite float64 values, record entries)."""
    fallback = tf.constant(0.0 if fill_value is None else float(fill_value), tf.float64)
    info: dict[str, Any] = {"strategy": strategy, "inf": inf}
    if strategy == "constant":
        fill = fallback
        info["chosen"] = "constant"
    elif strategy == "mean":
        fill = stats.mean
        info["chosen"] = "mean"
    elif strategy == "median":
        fill = stats.quantiles[0.5]
        info["chosen"] = "median"
    elif strategy == "most_frequent":
        fill, mode_count = _mode.most_frequent(values, finite)
        info["chosen"] = "most_frequent"
        info["mode_count"] = mode_count
    elif strategy == "auto":
        median = stats.quantiles[0.5]
        skew = tf.where(
            stats.std > 0, 3.0 * (stats.mean - median) / stats.std, tf.zeros_like(median)
        )
        use_median = tf.abs(_tensors.finite_or(skew, 0.0)) > skew_threshold
        # A float64 feature beyond float32's range has a non-finite (float32) median: use the mean.
        use_median &= tf.math.is_finite(median)
        fill = tf.where(use_median, median, stats.mean)
        info["chosen"] = tf.where(use_median, "median", "mean")
        info["skewness"] = skew
        info["skew_threshold"] = skew_threshold
        info["reason"] = tf.where(
            use_median,
            f"|Pearson median skewness| > {skew_threshold}: skewed, median",
            f"|Pearson median skewness| <= {skew_threshold}: symmetric enough, mean",
        )
    else:
        raise ValueError(
            f"Strategy {strategy!r} is not handled by impute_numeric (use knn_impute/em_impute)."
        )
    if stats.mean is not None:
        info["mean"] = stats.mean
        info["std"] = stats.std
    if 0.5 in stats.quantiles:
        info["median"] = stats.quantiles[0.5]
    usable = tf.math.is_finite(fill)
    info["warning"] = tf.where(
        usable,
        "",
        "no finite value in the analyzed data: constant fill value used",
    )
    fill = tf.where(usable, fill, fallback)
    info["fill_value"] = fill
    info["count_finite"] = stats.count
    out = tf.where(missing, tf.broadcast_to(fill, tf.shape(values)), values)
    if inf == "clip":
        hi = tf.where(tf.math.is_finite(stats.max), stats.max, fill)
        lo = tf.where(tf.math.is_finite(stats.min), stats.min, fill)
        out = tf.where(tf.math.is_inf(out) & (out > 0), tf.broadcast_to(hi, tf.shape(out)), out)
        out = tf.where(tf.math.is_inf(out) & (out < 0), tf.broadcast_to(lo, tf.shape(out)), out)
        info["clip_min"] = lo
        info["clip_max"] = hi
    return out, info


def impute_string(
    x: tf.Tensor | tf.SparseTensor | tf.RaggedTensor,
    strategy: str = "most_frequent",
    fill_value: str | None = None,
) -> tuple[tf.Tensor, tf.Tensor, dict[str, Any]]:
    """Imputes a string feature; returns (values [batch], missing [batch] bool, record entries).

    Missing: an absent value or an empty string. `most_frequent`/`auto` fill the most frequent
    present value; `constant` fills `fill_value` (default 'missing_value').
    """
    imputed, missing, info, _ = impute_string_block([x], strategy, fill_value)
    info = {k: tf.reshape(v, []) if isinstance(v, tf.Tensor) else v for k, v in info.items()}
    return imputed[:, 0], missing[:, 0], info


def impute_string_block(
    xs: list[tf.Tensor | tf.SparseTensor | tf.RaggedTensor],
    strategy: str = "most_frequent",
    fill_value: str | None = None,
) -> tuple[tf.Tensor, tf.Tensor, dict[str, Any], tf.Tensor]:
    """`impute_string` of k string features at once, with one most-frequent analyzer.

    Returns (imputed [batch, k], missing [batch, k], record entries, raw values [batch, k]);
    a tensor entry is a `[k]` vector (column j for `xs[j]`) or a scalar shared by all k.
    """
    if strategy not in STRING_STRATEGIES:
        raise ValueError(
            f"Strategy {strategy!r} does not apply to a string feature; "
            "use most_frequent or constant."
        )
    values, present = _tensors.densify_block(xs)
    present &= tf.strings.length(values) > 0
    missing = ~present
    info: dict[str, Any] = {"strategy": strategy}
    if strategy == "constant":
        fill = tf.constant(STRING_CONSTANT_DEFAULT if fill_value is None else fill_value)
        info["chosen"] = "constant"
        info["warning"] = ""
    else:
        mode, count = _mode.most_frequent(values, present)
        usable = count > 0
        fallback = tf.constant("" if fill_value is None else fill_value)
        fill = tf.where(usable, mode, fallback)
        info["chosen"] = "most_frequent"
        info["mode_count"] = count
        info["warning"] = tf.where(usable, "", "no value in the analyzed data: constant fill used")
    info["fill_value"] = fill
    imputed = tf.where(missing, tf.broadcast_to(fill, tf.shape(values)), values)
    return imputed, missing, info, values


def impute(
    x: tf.Tensor | tf.SparseTensor | tf.RaggedTensor | Mapping[str, Any],
    strategy: str = "mean",
    fill_value: float | str | None = None,
    add_indicator: bool = False,
    inf: str = "treat_as_missing",
    *,
    skew_threshold: float = AUTO_SKEW_THRESHOLD,
    n_neighbors: int = 5,
    sample_size: int = 1000,
    seed: int = 0,
    iterations: int = 10,
    tolerance: float = 1e-4,
    ridge: float = 1e-6,
    name: str | None = None,
) -> Any:
    """Imputes missing values of a feature inside a tf.Transform `preprocessing_fn`.

    Args:
      x: the raw feature: dense `[batch]`/`[batch, 1]`, or a SparseTensor/RaggedTensor of shape
        `[batch, None]` whose empty rows are missing values. For `strategy='knn'`, a mapping
        feature name -> such tensor (the features imputed together); likewise for 'em'.
      strategy: 'mean' | 'median' | 'most_frequent' | 'constant' | 'auto' | 'knn' | 'em' (see
        the module doc).
      fill_value: the constant for 'constant', and the fallback for a feature that has no finite
        value at all in the analyzed data (default 0, or 'missing_value' for strings).
      add_indicator: also return a float32 `[batch]` indicator, 1.0 where a value was imputed.
      inf: 'treat_as_missing' (Inf is imputed like NaN) or 'clip' (+Inf becomes the largest and
        -Inf the smallest finite value seen in the analyzed data; not flagged by the indicator).
      skew_threshold: threshold on |Pearson's median skewness| for 'auto'.
      n_neighbors, sample_size, seed: for 'knn' (see `knn.knn_impute`).
      iterations, tolerance, ridge: for 'em' (see `em.em_impute`).
      name: optional name scope.

    Returns:
      Numeric: float32 `[batch]`, always finite (NaN, Inf and absent values are repaired; values
      beyond the float32 range are clipped to it). String: string `[batch]`. With
      `add_indicator`, a tuple (values, indicator). For 'knn' and 'em', dicts keyed like `x`.

    Raises:
      InputError (a ValueError): an argument outside the transform config's declared values
        (`config.STRATEGIES`, `vocab.TRANSFORM_INF_POLICIES`, ...), naming it as `impute.<arg>`.
      ValueError: a strategy that does not fit the dtype.
    """
    em_args = {"iterations": iterations, "tolerance": tolerance, "ridge": ridge}
    knn_args = {"n_neighbors": n_neighbors, "sample_size": sample_size, "seed": seed}
    _check_arguments(strategy, fill_value, add_indicator, inf, knn_args, em_args)
    with tf.name_scope(name or "impute"):
        if strategy in ("knn", "em"):
            if not isinstance(x, Mapping):
                raise ValueError(
                    f"strategy={strategy!r} needs a mapping feature name -> tensor as `x`."
                )
            if strategy == "knn":
                outs, indicators, _ = knn.knn_impute(dict(x), **knn_args, inf=inf)
            else:
                outs, indicators, _ = em.em_impute(dict(x), **em_args, inf=inf)
            outs = {k: _tensors.to_float32_finite(v) for k, v in outs.items()}
            return (outs, indicators) if add_indicator else outs
        if x.dtype == tf.string:
            out, missing, _ = impute_string(x, strategy, fill_value)
        else:
            values, finite, missing = _tensors.prepare_numeric(x, inf)
            stats = _stats.NumericStats.compute(
                _tensors.finite_only(values, finite),
                wide_range=x.dtype == tf.float64,
                **numeric_needs(strategy, inf),
            )
            out, _ = impute_numeric(
                values, finite, missing, stats, strategy, fill_value, inf, skew_threshold
            )
            out = _tensors.to_float32_finite(out)
        if add_indicator:
            return out, tf.cast(missing, tf.float32)
        return out


def _check_arguments(strategy, fill_value, add_indicator, inf, knn_args, em_args):
    """`impute`'s arguments against the transform config's declared constraints (InputError).

    A NaN or Inf `fill_value` is refused (it would repair nothing); numpy scalars and bytes are
    read as the plain values they hold."""
    OneOf(STRATEGIES)(strategy, "impute.strategy")  # a null strategy is only a config default
    feature = {"fill_value": fill_value, "add_indicator": add_indicator}
    feature = {k: _plain(v) for k, v in feature.items()}
    FeatureConfig.from_dict(feature, "impute")
    values = {"inf": inf, "knn": knn_args, "em": em_args}
    TransformConfig.from_dict(vocab.jsonable(values), "impute")


def _plain(value: Any) -> Any:
    """A numpy scalar as the Python value it holds, bytes as text; anything else unchanged."""
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return value.item() if hasattr(value, "item") else value
