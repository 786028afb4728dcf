"""k-nearest-neighbour imputation for tf.Transform (scikit-learn's KNNImputer, nan_euclidean).

Analysis: one `tft.experimental.ptransform_analyzer` keeps a bounded, seeded sample of the
*complete* training rows (every KNN feature finite): each complete row gets a priority from a
hash of its values and the seed, and the `sample_size` rows with the smallest priorities are
kept (a bottom-k sample: deterministic for a seed, whatever the batching or the number of Beam
workers). Mean and standard deviation of each feature come from tft.mean / tft.var over the
finite values, in the same pass.

Transform (training and serving, inside the graph): the rows with at least one missing value
are standardised and compared with the standardised sample over the features they have; the
missing values are the mean of the `n_neighbors` nearest sample rows (distances tied with the
k-th nearest are all included). A row with no feature present, or no sample at all, gets the
feature mean (0 if the feature had no finite value at all).

Cost: analysis keeps sample_size x n_features float64 values (per worker: one batch plus the
sample). Transform costs O(m * sample_size * n_features) multiply-adds and m * sample_size
floats of memory per batch, where m is the number of rows in the batch with a missing value;
rows without a gap only pay the mask check. With the defaults (sample_size=1000) that is about
1000x the arithmetic of mean imputation per incomplete row.
"""

from __future__ import annotations

import math
from typing import Any

import apache_beam as beam
import numpy as np
import tensorflow as tf
import tensorflow_transform as tft

from nanguard.components import vocab
from nanguard.components.transform import _stats, _tensors
from nanguard.components.transform.config import TransformConfig

_MIX = np.uint64(0x9E3779B97F4A7C15)


def _priorities(rows: np.ndarray, seed: int) -> np.ndarray:
    """Deterministic pseudo-random uint64 priority per row (vectorised over rows)."""
    bits = np.ascontiguousarray(rows, dtype=np.float64).view(np.uint64)
    h = np.full(rows.shape[0], np.uint64((seed * 0x632BE59BD9B4E019 + 1) & 0xFFFFFFFFFFFFFFFF))
    with np.errstate(over="ignore"):
        for j in range(bits.shape[1]):  # loop over features, not values
            h = (h ^ bits[:, j]) * _MIX
            h ^= h >> np.uint64(29)
        h = h * _MIX
        h ^= h >> np.uint64(32)
    return h


def _bottom_k(prio: np.ndarray, rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    if prio.size > k:
        keep = np.argpartition(prio, k - 1)[:k]
        prio, rows = prio[keep], rows[keep]
    order = np.argsort(prio, kind="stable")
    return prio[order], rows[order]


class _SampleCombineFn(beam.CombineFn):
    def __init__(self, k: int, n_features: int, seed: int):
        self._k, self._n, self._seed = k, n_features, seed

    def create_accumulator(self):
        return np.zeros([0], np.uint64), np.zeros([0, self._n], np.float64)

    def add_input(self, acc, batch):
        (matrix,) = batch
        matrix = np.asarray(matrix, np.float64).reshape(-1, self._n)
        complete = matrix[np.isfinite(matrix).all(axis=1)]
        part = _bottom_k(_priorities(complete, self._seed), complete, self._k)
        return self.merge_accumulators([acc, part])

    def merge_accumulators(self, accs):
        accs = list(accs)
        prio = np.concatenate([a[0] for a in accs])
        rows = np.concatenate([a[1] for a in accs]).reshape(-1, self._n)
        return _bottom_k(prio, rows, self._k)

    def extract_output(self, acc):
        out = np.full([self._k, self._n], np.nan, np.float64)
        out[: acc[1].shape[0]] = acc[1]
        return out


class _SampleAnalyzer(beam.PTransform):
    def __init__(self, k: int, n_features: int, seed: int):
        super().__init__()
        self._fn = _SampleCombineFn(k, n_features, seed)

    def expand(self, pcoll):
        return pcoll | "BottomKSample" >> beam.CombineGlobally(self._fn)


def sample_complete_rows(matrix: tf.Tensor, sample_size: int, seed: int) -> tf.Tensor:
    """Analyzer: up to `sample_size` complete rows of a float64 `[batch, n]` matrix.

    Rows holding any NaN/Inf are skipped. Returns float64 `[sample_size, n]`, padded with NaN
    rows when fewer complete rows exist.
    """
    n = int(matrix.shape[1])
    (sample,) = tft.experimental.ptransform_analyzer(
        inputs=[matrix],
        ptransform=_SampleAnalyzer(sample_size, n, seed),
        output_dtypes=[tf.float64],
        output_shapes=[[sample_size, n]],
        name="knn_sample",
    )
    return sample


def knn_fill(
    values: tf.Tensor,
    missing: tf.Tensor,
    sample: tf.Tensor,
    mean: tf.Tensor,
    std: tf.Tensor,
    n_neighbors: int,
) -> tf.Tensor:
    """Fills `missing` cells of float64 `values [batch, n]` from the KNN sample (graph code)."""
    one = tf.constant(1.0, tf.float64)
    safe_mean = _tensors.finite_or(mean, 0.0)
    safe_std = tf.where(tf.math.is_finite(std) & (std > 0), std, one)
    valid = tf.reduce_all(tf.math.is_finite(sample), axis=1)  # [k]
    sample0 = tf.where(valid[:, None], sample, tf.zeros_like(sample))
    s = tf.where(valid[:, None], (sample0 - safe_mean) / safe_std, tf.zeros_like(sample0))

    need = tf.reduce_any(missing, axis=1)
    rows = tf.where(need)[:, 0]
    v = tf.gather(values, rows)
    m = tf.cast(~tf.gather(missing, rows), tf.float64)
    z = tf.where(m > 0, (v - safe_mean) / safe_std, tf.zeros_like(v)) * m
    d2 = (
        tf.reduce_sum(z * z, axis=1, keepdims=True)
        - 2.0 * tf.matmul(z, s, transpose_b=True)
        + tf.matmul(m, s * s, transpose_b=True)
    )
    d2 = tf.where(valid[None, :], d2, tf.constant(math.inf, tf.float64))
    k = min(n_neighbors, int(sample.shape[0]))
    kth = -tf.math.top_k(-d2, k=k).values[:, -1:]
    w = tf.cast((d2 <= kth) & valid[None, :], tf.float64)
    total = tf.reduce_sum(w, axis=1, keepdims=True)
    fill = tf.matmul(w, sample0) / tf.maximum(total, one)
    usable = (total > 0) & (tf.reduce_sum(m, axis=1, keepdims=True) > 0)
    fill = tf.where(usable, fill, tf.broadcast_to(safe_mean, tf.shape(fill)))
    filled_rows = tf.where(tf.gather(missing, rows), fill, v)
    return tf.tensor_scatter_nd_update(values, rows[:, None], filled_rows)


def knn_impute_prepared(
    prepared: dict[str, tuple[tf.Tensor, tf.Tensor, tf.Tensor]],
    stats: dict[str, _stats.NumericStats],
    *,
    n_neighbors: int = 5,
    sample_size: int = 1000,
    seed: int = 0,
    inf: str = "treat_as_missing",
) -> tuple[dict[str, tf.Tensor], dict[str, dict[str, Any]]]:
    """KNN-imputes prepared features (see `_tensors.prepare_numeric`); stats need moments
    (+min_max for inf='clip'). Returns (float64 values per feature, record entries per feature).

    Missing cells (absent, NaN, and Inf per `inf`) are filled; with inf='clip' an Inf is first
    clipped to the finite training range. The values returned are finite float64."""
    names = sorted(prepared)
    cols, missing = [], []
    for name in names:
        values, finite, miss = prepared[name]
        if inf == "clip":
            st = stats[name]
            values = tf.where(tf.math.is_inf(values) & (values > 0), st.max, values)
            values = tf.where(tf.math.is_inf(values) & (values < 0), st.min, values)
            miss = miss | ~tf.math.is_finite(values)
        cols.append(tf.where(miss, tf.constant(math.nan, tf.float64), values))
        missing.append(miss)
    matrix = tf.stack(cols, axis=1)
    miss_m = tf.stack(missing, axis=1)
    finite_matrix = tf.stack(
        [_tensors.finite_only(prepared[n][0], prepared[n][1]) for n in names], axis=1
    )
    sample = sample_complete_rows(finite_matrix, sample_size, seed)
    mean = tf.stack([stats[n].mean for n in names])
    std = tf.stack([stats[n].std for n in names])
    filled = knn_fill(matrix, miss_m, sample, mean, std, n_neighbors)
    n_sample = tf.reduce_sum(tf.cast(tf.reduce_all(tf.math.is_finite(sample), axis=1), tf.float64))
    outs, infos = {}, {}
    for j, name in enumerate(names):
        outs[name] = filled[:, j]
        infos[name] = {
            "strategy": "knn",
            "chosen": "knn",
            "inf": inf,
            "n_neighbors": n_neighbors,
            "sample_size": sample_size,
            "seed": seed,
            "knn_features": names,
            "sample_rows": n_sample,
            "mean": stats[name].mean,
            "std": stats[name].std,
            "fill_value": _tensors.finite_or(stats[name].mean, 0.0),
            "count_finite": stats[name].count,
            "warning": tf.where(
                stats[name].count > 0,
                "",
                "no finite value in the analyzed data: 0 used as fallback",
            ),
        }
    return outs, infos


def knn_impute(
    columns: dict[str, tf.Tensor | tf.SparseTensor | tf.RaggedTensor],
    *,
    n_neighbors: int = 5,
    sample_size: int = 1000,
    seed: int = 0,
    inf: str = "treat_as_missing",
) -> tuple[dict[str, tf.Tensor], dict[str, tf.Tensor], dict[str, dict[str, Any]]]:
    """KNN-imputes several numeric features together inside a `preprocessing_fn`.

    Args:
      columns: feature name -> raw numeric tensor (dense or sparse/ragged with gaps).
      n_neighbors: neighbours averaged per gap (scikit-learn's name).
      sample_size: maximum number of complete training rows kept by the analyzer.
      seed: seed of the sample.
      inf: 'treat_as_missing' or 'clip' (see `imputation.impute`).

    Returns:
      (float64 imputed values, float32 missing indicators, record entries), each keyed by name.
      Absent, NaN and (per `inf`) Inf cells are filled; values are finite, except that float64
      magnitudes beyond the float32 range are clipped only when cast to float32 by the caller.

    Raises:
      InputError (a ValueError): n_neighbors, sample_size, seed or inf outside the transform
        config's declared values (named `knn_impute.knn.<key>` / `knn_impute.inf`).
      ValueError: a string feature.
    """
    knn_args = {"n_neighbors": n_neighbors, "sample_size": sample_size, "seed": seed}
    TransformConfig.from_dict(vocab.jsonable({"inf": inf, "knn": knn_args}), "knn_impute")
    prepared, stats = {}, {}
    for name, x in columns.items():
        if x.dtype == tf.string:
            raise ValueError(
                f"Feature {name!r} is a string; KNN imputation needs numeric features."
            )
        values, finite, miss = _tensors.prepare_numeric(x, inf)
        prepared[name] = (values, finite, miss)
        stats[name] = _stats.StatsSpec(
            _tensors.finite_only(values, finite),
            moments=True,
            min_max=inf == "clip",
            wide_range=x.dtype == tf.float64,
        )
    stats = _stats.compute_many(stats)
    outs, infos = knn_impute_prepared(
        prepared, stats, n_neighbors=n_neighbors, sample_size=sample_size, seed=seed, inf=inf
    )
    indicators = {n: tf.cast(prepared[n][2], tf.float32) for n in prepared}
    return outs, indicators, infos
