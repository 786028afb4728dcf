"""Exact most-frequent-value analyzer for tf.Transform (private).

tf.Transform has no analyzer that returns the most frequent *value* as a tensor (tft.vocabulary
writes a file). This one is a `tft.experimental.ptransform_analyzer`: each batch is reduced to
(unique values, counts) with numpy, the partial tables are merged by a Beam CombineFn, and the
value with the highest count wins (ties: the smallest value, as scikit-learn's SimpleImputer).
Memory: one entry per distinct value, so it suits categorical or low-cardinality features.
"""

from __future__ import annotations

import apache_beam as beam
import numpy as np
import tensorflow as tf
import tensorflow_transform as tft


def _compact(values: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if values.size == 0:
        return values, counts
    uniq, inverse = np.unique(values, return_inverse=True)
    return uniq, np.bincount(inverse, weights=counts, minlength=uniq.size)


class _ModeCombineFn(beam.CombineFn):
    """Accumulator: (sorted unique values, float counts)."""

    def create_accumulator(self):
        return None

    def add_input(self, acc, batch):
        (values, present) = batch
        values = np.asarray(values).reshape(-1)[np.asarray(present).reshape(-1).astype(bool)]
        part = _compact(values, np.ones(values.shape, np.float64))
        return self.merge_accumulators([acc, part])

    def merge_accumulators(self, accs):
        accs = [a for a in accs if a is not None]
        if not accs:
            return None
        values = np.concatenate([a[0] for a in accs])
        counts = np.concatenate([a[1] for a in accs])
        return _compact(values, counts)

    def extract_output(self, acc):
        return acc


class _ModeAnalyzer(beam.PTransform):
    """PCollection of (values, present) batches -> (mode, count) single-element PCollections."""

    def __init__(self, is_string: bool):
        super().__init__()
        self._is_string = is_string

    def expand(self, pcoll):
        is_string = self._is_string

        def _extract(acc):
            if acc is None or acc[0].size == 0:
                mode = np.array(
                    b"" if is_string else np.nan, dtype=object if is_string else np.float64
                )
                count = np.array(0.0)
            else:
                i = int(np.argmax(acc[1]))  # first maximum = smallest value among ties
                mode = np.array(acc[0][i], dtype=object if is_string else np.float64)
                count = np.array(float(acc[1][i]))
            return [
                beam.pvalue.TaggedOutput("mode", mode),
                beam.pvalue.TaggedOutput("count", count),
            ]

        result = (
            pcoll
            | "Mode" >> beam.CombineGlobally(_ModeCombineFn())
            | "Extract" >> beam.FlatMap(_extract).with_outputs("mode", "count")
        )
        return result["mode"], result["count"]


def most_frequent(values: tf.Tensor, present: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Analyzer: most frequent present value (float64 or string scalar) and its count (float64).

    For a float feature, `present` must already exclude NaN/Inf. With no present value at all the
    mode is NaN (float) or b'' (string) and the count is 0.
    """
    is_string = values.dtype == tf.string
    if not is_string:
        values = tf.cast(values, tf.float64)
    mode, count = tft.experimental.ptransform_analyzer(
        inputs=[values, present],
        ptransform=_ModeAnalyzer(is_string),
        output_dtypes=[tf.string if is_string else tf.float64, tf.float64],
        output_shapes=[[], []],
        name="most_frequent",
    )
    return mode, count
