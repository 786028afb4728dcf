"""The counting core: exact per-feature counts of missing, NaN, Inf and huge values over Arrow.

Plain functions on ``pyarrow.RecordBatch`` es (the TFXIO layout, one list column per feature, or
plain columns from a CSV table); no Beam, no TensorFlow. The Beam ``CombineFn`` in
``beam_io.py`` and the in-process ``profiling.profile_record_batches`` both run this code. Each
batch is reduced with vectorised numpy over the flattened values of each column; the accumulator
is a fixed-size summary per feature (counters, Chan/Welford moments, a mergeable quantiles sketch
and a Misra-Gries top-k sketch), so memory does not grow with the row count.

Definitions (per feature, per split):

* ``rows``: rows in the split. ``present``: rows holding at least one value. ``missing``:
  rows where the feature is absent, null or an empty list (``rows - present``).
* ``num_values``: values in the present rows. ``nan``, ``pos_inf``, ``neg_inf``, ``finite``
  and ``huge`` count **values** (for a univalent feature, values and rows are the same thing).
* ``huge``: finite values with ``|x| > HUGE_THRESHOLD`` (``sqrt(float32 max)`` ~ 1.8447e19):
  squaring such a value (a variance, an L2 penalty) overflows float32 to Inf.
* ``mean``, ``std`` (population, ddof=0), ``min``, ``max``, ``median`` and ``skewness`` are
  computed over the finite values only (NaN and +/-Inf excluded); ``None`` when there are no
  finite values. ``median`` is approximate, with rank error at most ``QUANTILES_EPSILON``
  times the number of finite values (``median_summary``: sorted-buffer summaries feeding
  tfx-bsl's mergeable ``QuantilesSketch``, checked against numpy in the tests).
  ``skewness`` is Pearson's median skewness ``3 * (mean - median) / std`` (0.0 when
  ``std == 0``), the measure the transform helper uses.
* String (bytes) features: the same row counts, the most frequent value (``top_value``,
  ``top_count`` from a Misra-Gries sketch, exact when there are at most ``TOP_K_BUCKETS``
  distinct values), ``numeric_like``, the number of values that parse as a number
  (``cells.NUMBER_REGEX``), and, when some values are numbers, ``non_numeric``: the other
  values with their counts (the most frequent ``TOP_K_BUCKETS``, from a Misra-Gries sketch of
  those values only; exact when there are at most that many distinct ones,
  ``non_numeric_exact`` says so); used to flag stray strings in a numeric column (``cells``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from tfx_bsl import sketches

from nanguard.components.arrow_numpy import as_numpy
from nanguard.components.cells import is_number
from nanguard.components.data_guard.median_summary import (  # noqa: F401 (QUANTILES_EPSILON)
    QUANTILES_EPSILON,
    SKETCH_EPSILON,
    SUMMARY_VALUES,
    summarise,
)

# sqrt(np.finfo(np.float32).max): past this magnitude, x * x overflows float32.
HUGE_THRESHOLD = float(np.sqrt(np.finfo(np.float32).max))
TOP_K_BUCKETS = 16
# Serialized tf.Examples decoded per Arrow RecordBatch by ReadTFExampleFiles.

FLOAT = "FLOAT"
INT = "INT"
STRING = "STRING"
UNKNOWN = "UNKNOWN"  # only nulls / empty lists seen so far

COUNT_KEYS = ("present", "missing", "num_values", "nan", "pos_inf", "neg_inf", "huge", "finite")


def _kind_of(arrow_type: pa.DataType) -> str:
    """Maps the value type of a TFXIO list column to FLOAT, INT, STRING or UNKNOWN."""
    if pa.types.is_list(arrow_type) or pa.types.is_large_list(arrow_type):
        arrow_type = arrow_type.value_type
    if pa.types.is_floating(arrow_type):
        return FLOAT
    if pa.types.is_integer(arrow_type):
        return INT
    if (
        pa.types.is_binary(arrow_type)
        or pa.types.is_large_binary(arrow_type)
        or pa.types.is_string(arrow_type)
        or pa.types.is_large_string(arrow_type)
    ):
        return STRING
    return UNKNOWN


class FeatureAccumulator:
    """Fixed-size running summary of one feature. Memory does not depend on the row count."""

    __slots__ = (
        "kind",
        "counts",
        "mean",
        "m2",
        "min",
        "max",
        "quantiles",
        "pending",
        "pending_size",
        "top_k",
        "distinct",
        "numeric_like",
        "non_numeric_sample",
        "strays",
    )

    def __init__(self):
        self.kind = UNKNOWN
        # present, num_values, nan, pos_inf, neg_inf, huge, finite (missing derived from rows).
        self.counts = np.zeros(7, dtype=np.int64)
        self.mean = 0.0
        self.m2 = 0.0
        self.min = math.inf
        self.max = -math.inf
        self.quantiles = None
        # Finite values not yet summarised into `quantiles` (at most SUMMARY_VALUES).
        self.pending: list[np.ndarray] = []
        self.pending_size = 0
        self.top_k = None
        # The distinct values fed to `top_k` while there are at most TOP_K_BUCKETS (None: more).
        self.distinct: set | None = set()
        self.numeric_like = 0
        self.non_numeric_sample = None
        # The sketch of the values that are not numbers; None while no value was a number
        # (then `top_k` holds exactly those values: no second sketch to feed).
        self.strays = None

    def stray_sketch(self):
        """The sketch of the non-number values (a copy of `top_k` while there is no number)."""
        if self.strays is not None or self.numeric_like:
            return self.strays
        if self.top_k is None:
            return sketches.MisraGriesSketch(TOP_K_BUCKETS)
        return sketches.MisraGriesSketch.Deserialize(self.top_k.Serialize())

    def add_finite(self, finite: np.ndarray, defer: _Defer | None = None) -> None:
        """Buffers finite values for the median; a full buffer is summarised (`defer`red)."""
        self.pending.append(finite)
        self.pending_size += finite.size
        if self.pending_size >= SUMMARY_VALUES:
            self.flush(defer)

    def flush(self, defer: _Defer | None = None) -> None:
        """Summarises the buffered values into the median sketch (see the module doc)."""
        if not self.pending_size:
            return
        if self.quantiles is None:
            self.quantiles = sketches.QuantilesSketch(SKETCH_EPSILON, 1 << 32, 1)
        pending, self.pending, self.pending_size = self.pending, [], 0
        if defer is None:
            summarise(self.quantiles, pending)
        else:
            defer(summarise, self.quantiles, pending)

    def median(self) -> float:
        """The approximate median of the finite values (finalises the sketch)."""
        self.flush()
        return float(as_numpy(self.quantiles.GetQuantiles(2).values)[1])

    def set_kind(self, kind: str, name: str) -> None:
        if kind == UNKNOWN or kind == self.kind:
            return
        if self.kind == UNKNOWN:
            self.kind = kind
        elif {self.kind, kind} == {INT, FLOAT}:
            self.kind = FLOAT
        else:
            raise ValueError(
                f"Feature {name!r} holds both {self.kind} and {kind} values across record batches; "
                "fix the data so that each feature has one type."
            )

    def add_moments(self, n: int, mean: float, m2: float) -> None:
        """Chan et al. parallel update of (count, mean, M2); count lives in counts[6]."""
        n_a = int(self.counts[6])
        if n == 0:
            return
        if n_a == 0:
            self.mean, self.m2 = mean, m2
            return
        total = n_a + n
        delta = mean - self.mean
        self.mean += delta * n / total
        self.m2 += m2 + delta * delta * n_a * n / total

    def merge(self, other: FeatureAccumulator, name: str) -> None:
        self.set_kind(other.kind, name)
        if self.strays is not None or other.strays is not None:  # before top_k merges
            mine, theirs = self.stray_sketch(), other.stray_sketch()
            mine.Merge(theirs)
            self.strays = mine
        self.add_moments(int(other.counts[6]), other.mean, other.m2)
        self.counts += other.counts
        self.min = min(self.min, other.min)
        self.max = max(self.max, other.max)
        if other.quantiles is not None:
            if self.quantiles is None:
                self.quantiles = other.quantiles
            else:
                self.quantiles.Merge(other.quantiles)
        if other.pending_size:
            if self.pending_size + other.pending_size > SUMMARY_VALUES:
                self.flush()
            self.pending += other.pending
            self.pending_size += other.pending_size
        if other.top_k is not None:
            if self.top_k is None:
                self.top_k = other.top_k
            else:
                self.top_k.Merge(other.top_k)
        if self.distinct is not None and other.distinct is not None:
            self.distinct = self.distinct | other.distinct
        if self.distinct is None or other.distinct is None or len(self.distinct) > TOP_K_BUCKETS:
            self.distinct = None
        self.numeric_like += other.numeric_like
        self.non_numeric_sample = _smallest(self.non_numeric_sample, other.non_numeric_sample)


_Defer = Callable[..., None]  # runs function(*args), possibly later (see _SketchThread)


class ProfileAccumulator:
    """Accumulator of the profile CombineFn: the row count and one summary per feature."""

    __slots__ = ("rows", "features")

    def __init__(self):
        self.rows = 0
        self.features: dict[str, FeatureAccumulator] = {}


def _add_numeric(acc: FeatureAccumulator, values: np.ndarray, defer: _Defer | None = None) -> None:
    """Vectorised update of a numeric feature with the flattened values of one batch.

    The finite values wait for the median (`FeatureAccumulator.add_finite`); with `defer`,
    their summary and the sketch update run on its worker thread (same order, same sketch);
    the counts and moments are updated here.
    """
    n = values.size
    if n == 0:
        return
    if values.dtype.kind == "f":
        finite_mask = np.isfinite(values)
        n_finite = int(np.count_nonzero(finite_mask))
        if n_finite < n:
            nan = int(np.count_nonzero(np.isnan(values)))
            pos_inf = int(np.count_nonzero(values == np.inf))
            neg_inf = n - n_finite - nan - pos_inf
            finite = values[finite_mask]
        else:
            nan = pos_inf = neg_inf = 0
            finite = values
    else:
        n_finite, nan, pos_inf, neg_inf, finite = n, 0, 0, 0, values
    huge = 0
    if n_finite:
        f64 = finite.astype(np.float64, copy=False)
        lo, hi = float(finite.min()), float(finite.max())  # the same as f64's: a monotone cast
        if lo < -HUGE_THRESHOLD or hi > HUGE_THRESHOLD:
            huge = int(np.count_nonzero(np.abs(f64) > HUGE_THRESHOLD))
        mean = float(f64.mean())
        # A copy of float32 or int values may be overwritten; the batch's own float64 not.
        centred = np.subtract(f64, mean, out=f64 if f64 is not finite else None)
        # numpy's pairwise sum of squares, not np.dot: OpenBLAS's dot spreads over threads
        # that spin (CPU the other threads of a scan need) and its last bits depend on their
        # number; this one is single-threaded and the same on every machine.
        m2 = float(np.multiply(centred, centred, out=centred).sum())
        acc.add_moments(n_finite, mean, m2)
        acc.min = min(acc.min, lo)
        acc.max = max(acc.max, hi)
        acc.add_finite(finite, defer)
    acc.counts[1:] += (n, nan, pos_inf, neg_inf, huge, n_finite)


def _add_string(acc: FeatureAccumulator, values: pa.Array) -> None:
    """Vectorised update of a bytes feature: top-k sketch, numbers, the non-number values.

    The number rule and the smallest non-number run on the batch's distinct values (counted
    by Arrow's hash), not on every value.
    """
    n = len(values)
    if n == 0:
        return
    acc.counts[1] += n
    counted = pc.value_counts(values)
    uniques, weights = counted.field("values"), counted.field("counts")
    numeric = is_number(uniques)
    n_numeric = int(np.dot(as_numpy(weights), as_numpy(pc.cast(numeric, pa.int64()))))
    if n_numeric and acc.strays is None:
        acc.strays = acc.stray_sketch() or sketches.MisraGriesSketch(TOP_K_BUCKETS)
    if acc.top_k is None:
        acc.top_k = sketches.MisraGriesSketch(TOP_K_BUCKETS)
    _add_top_k(acc, values, uniques, weights)
    acc.numeric_like += n_numeric
    if n_numeric < n:
        if acc.strays is not None:
            others = values
            if n_numeric:
                number_set = pc.filter(uniques, numeric)
                others = pc.filter(values, pc.invert(pc.is_in(values, value_set=number_set)))
            acc.strays.AddValues(others)
        # The smallest such value, not the first seen: the same on every runner, whatever
        # the order of its bundles (Flink's differed from the DirectRunner's).
        bad = pc.min(pc.filter(uniques, pc.invert(numeric))).as_py()
        bad = bad.decode("utf-8", "replace") if isinstance(bad, bytes) else bad
        acc.non_numeric_sample = _smallest(acc.non_numeric_sample, bad)


def _add_top_k(
    acc: FeatureAccumulator, values: pa.Array, uniques: pa.Array, weights: pa.Array
) -> None:
    """Feeds the top-k sketch: the batch's distinct values weighted by their counts while the
    feature has shown at most `TOP_K_BUCKETS` distinct values (the sketch then holds exact
    counts, the same state as value by value), else value by value (Misra-Gries depends on
    the order of the values once it must evict)."""
    if acc.distinct is not None and len(uniques) <= TOP_K_BUCKETS:
        seen = acc.distinct.union(uniques.to_pylist())
        if len(seen) <= TOP_K_BUCKETS:
            acc.distinct = seen
            acc.top_k.AddValues(uniques, pc.cast(weights, pa.float32()))
            return
    acc.distinct = None
    acc.top_k.AddValues(values)


def _smallest(a: str | None, b: str | None) -> str | None:
    return b if a is None else a if b is None else min(a, b)


def add_record_batch(
    accumulator: ProfileAccumulator,
    record_batch: pa.RecordBatch,
    exclude: Iterable[str] = (),
    defer: _Defer | None = None,
) -> ProfileAccumulator:
    """Adds one Arrow RecordBatch (TFXIO layout: one list column per feature) to the profile.

    Args:
      accumulator: The running profile; updated in place and returned.
      record_batch: Columns are (large_)list arrays of float, int or bytes values. Null lists
        and empty lists count as missing; NaN, +Inf and -Inf values are counted, not dropped.
      exclude: Column names to skip (for example a raw-record column).
      defer: Run the median sketches' updates through this (`profile_record_batches` passes
        a one-thread queue); the sketches are complete once it has drained.

    Returns:
      The updated accumulator.
    """
    accumulator.rows += record_batch.num_rows
    for name, column in zip(record_batch.schema.names, record_batch.columns, strict=True):
        if name in exclude:
            continue
        acc = accumulator.features.get(name)
        if acc is None:
            acc = accumulator.features[name] = FeatureAccumulator()
        kind = _kind_of(column.type)
        acc.set_kind(kind, name)
        if not (pa.types.is_list(column.type) or pa.types.is_large_list(column.type)):
            # A primitive column: one value per row, null = missing.
            acc.counts[0] += len(column) - column.null_count
            if kind in (FLOAT, INT):
                _add_numeric(acc, as_numpy(column), defer)  # a view, nulls dropped
            elif kind == STRING:
                _add_string(acc, pc.drop_null(column))
            continue
        lengths = pc.list_value_length(column).to_numpy(zero_copy_only=False)
        acc.counts[0] += int(np.count_nonzero(lengths > 0))  # NaN (null) > 0 is False
        values = column.flatten()
        if kind in (FLOAT, INT):
            _add_numeric(acc, values.to_numpy(zero_copy_only=False), defer)
        elif kind == STRING:
            _add_string(acc, values)
    return accumulator


def merge_accumulators(accumulators: Iterable[ProfileAccumulator]) -> ProfileAccumulator:
    """Merges profile accumulators (exact for counts and moments, sketch merge for the median)."""
    result = ProfileAccumulator()
    for acc in accumulators:
        result.rows += acc.rows
        for name, feat in acc.features.items():
            mine = result.features.get(name)
            if mine is None:
                result.features[name] = feat
            else:
                mine.merge(feat, name)
    return result
