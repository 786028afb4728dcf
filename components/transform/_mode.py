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
    """Accumulator: per column, (sorted unique values, float counts); None before any input."""

    def create_accumulator(self):
        return None

    def add_input(self, acc, batch):
        (values, present) = batch
        values, present = np.asarray(values), np.asarray(present).astype(bool)
        values = values.reshape(values.shape[0], -1)
        present = present.reshape(values.shape)
        parts = []
        for j in range(values.shape[1]):  # one np.unique per column and batch
            column = values[present[:, j], j]
            parts.append(_compact(column, np.ones(column.shape, np.float64)))
        return self.merge_accumulators([acc, parts])

    def merge_accumulators(self, accs):
        accs = [a for a in accs if a is not None]
        if not accs:
            return None
        merged = []
        for columns in zip(*accs, strict=True):
            values = np.concatenate([c[0] for c in columns])
            counts = np.concatenate([c[1] for c in columns])
            merged.append(_compact(values, counts))
        return merged

    def extract_output(self, acc):
        return acc


class _ModeAnalyzer(beam.PTransform):
    """PCollection of (values, present) batches -> (modes, counts) single-element PCollections,
    one entry per column."""

    def __init__(self, is_string: bool, width: int):
        super().__init__()
        self._is_string = is_string
        self._width = width

    def expand(self, pcoll):
        is_string, width = self._is_string, self._width

        def _extract(acc):
            modes, counts = [], []
            for values, column_counts in acc or [(np.array([]), np.array([]))] * width:
                if values.size == 0:
                    modes.append(b"" if is_string else np.nan)
                    counts.append(0.0)
                else:
                    i = int(np.argmax(column_counts))  # first maximum = smallest among ties
                    modes.append(values[i])
                    counts.append(float(column_counts[i]))
            return [
                beam.pvalue.TaggedOutput(
                    "mode", np.array(modes, dtype=object if is_string else np.float64)
                ),
                beam.pvalue.TaggedOutput("count", np.array(counts)),
            ]

        result = (
            pcoll
            | "Mode" >> beam.CombineGlobally(_ModeCombineFn())
            | "Extract" >> beam.FlatMap(_extract).with_outputs("mode", "count")
        )
        return result["mode"], result["count"]


def most_frequent(values: tf.Tensor, present: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Analyzer: most frequent present value (float64 or string) and its count (float64).

    `values` and `present` are `[batch]` (scalar results) or `[batch, k]` (`[k]` results, one
    per column, all from one analyzer). For a float feature, `present` must already exclude
    NaN/Inf. A column with no present value at all has mode NaN (float) or b'' (string) and
    count 0.
    """
    is_string = values.dtype == tf.string
    if not is_string:
        values = tf.cast(values, tf.float64)
    width = 1 if values.shape.rank == 1 else int(values.shape[1])
    mode, count = tft.experimental.ptransform_analyzer(
        inputs=[values, present],
        ptransform=_ModeAnalyzer(is_string, width),
        output_dtypes=[tf.string if is_string else tf.float64, tf.float64],
        output_shapes=[[width], [width]],
        name="most_frequent",
    )
    if values.shape.rank == 1:
        return tf.reshape(mode, []), tf.reshape(count, [])
    return mode, count
