"""What a served answer says about its request: the flags and the reject check, in-graph.

Shared by every serving signature nanguard writes: the one `nanguard run` exports
(`trainer/serving.py`) and the one `nanguard wrap-model` puts around a team's SavedModel. Per
example of a request batch, vectorised per feature (no loop over rows):

* `nanguard_repaired` (int64): the input values that are missing, NaN, +/-Inf or outside the
  range the transform graph clips to (`repair_flags`);
* `nanguard_finite` (bool): every prediction value of the example is finite (`finite_rows`).

`reject_nonfinite` is the `reject` policy: a NaN or +/-Inf value in any numeric feature fails
the whole request with INVALID_ARGUMENT (what TF Serving returns to the client), the message
naming the feature and the example; missing and out-of-range values are still repaired.
"""

from __future__ import annotations

import tensorflow as tf

REPAIRED_KEY = "nanguard_repaired"
FINITE_KEY = "nanguard_finite"
# The start of the error a rejected request gets; the gate reads a probe's error by it.
REJECT_MESSAGE = "nanguard rejects the request"
# A model exported under the `reject` policy answers NaN/Inf repaired through this signature
# too; the Evaluator and the gate read evaluation rows (NaN and all) through it.
REPAIR_SIGNATURE = "serving_repair"


def _values_and_rows(value, rows: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """(values, the example each belongs to) of a dense, sparse or ragged feature batch."""
    if isinstance(value, tf.RaggedTensor):
        value = value.to_sparse()
    if isinstance(value, tf.SparseTensor):
        return value.values, value.indices[:, 0]
    values = tf.reshape(value, [-1])  # a dense feature: the same number of values per row
    per_row = tf.size(values) // tf.maximum(tf.cast(rows, tf.int32), 1)
    return values, tf.repeat(tf.range(tf.cast(rows, tf.int64), dtype=tf.int64), per_row)


def repair_flags(features: dict, ranges: dict, rows: tf.Tensor) -> tf.Tensor:
    """Per example, the input values the transform graph repairs (int64 [rows]): each feature
    of `ranges` (all features when it is empty) that is missing, and each numeric value that is
    NaN, +/-Inf or outside its range (`ranges[name]`, None: no range)."""
    repaired = tf.zeros([rows], tf.int64)
    for name in sorted(ranges or features):
        value = features.get(name)
        if value is None:
            continue
        if isinstance(value, tf.Tensor):
            dense = _dense_repairs(value, ranges.get(name), rows)
            repaired = repaired if dense is None else repaired + dense
            continue
        values, row_ids = _values_and_rows(value, rows)
        present = tf.math.unsorted_segment_sum(tf.ones_like(row_ids), row_ids, rows)
        repaired += tf.cast(tf.equal(present, 0), tf.int64)
        if values.dtype.is_floating or values.dtype.is_integer:
            numbers = tf.cast(values, tf.float64)
            bad = tf.logical_not(tf.math.is_finite(numbers))
            if ranges.get(name) is not None:
                low, high = ranges[name]
                bad = bad | (numbers < low) | (numbers > high)
            repaired += tf.math.unsorted_segment_sum(tf.cast(bad, tf.int64), row_ids, rows)
    return repaired


def _dense_repairs(value: tf.Tensor, bounds, rows: tf.Tensor) -> tf.Tensor | None:
    """`repair_flags` of one dense feature batch, summed per row (no segment sums, fewer ops:
    a tensor signature's request pays for each): missing when a row holds no value, plus each
    NaN, +/-Inf or out-of-range value; an integer is finite, so only its range is checked.
    None: nothing to count (values in every row, traced so, and no check applies)."""
    trailing = value.shape[1:] if value.shape.rank else None
    if trailing is not None and trailing.is_fully_defined():  # the width is known when traced
        width = trailing.num_elements()
        if width == 0:
            return tf.ones([rows], tf.int64)  # no row holds a value
        repaired, grid = None, tf.reshape(value, [-1, width])
    else:
        rows = tf.cast(rows, tf.int32)
        width = tf.size(value) // tf.maximum(rows, 1)
        repaired = tf.fill([rows], tf.cast(tf.equal(width, 0), tf.int64))
        grid = tf.reshape(value, tf.stack([rows, width]))  # not [rows, -1]: rows may be 0
    if not (value.dtype.is_floating or (value.dtype.is_integer and bounds is not None)):
        return repaired
    numbers = grid if bounds is None else tf.cast(grid, tf.float64)
    bad = tf.logical_not(tf.math.is_finite(numbers))
    if bounds is not None:
        low, high = bounds
        bad = bad | (numbers < low) | (numbers > high)
    counted = tf.reduce_sum(tf.cast(bad, tf.int64), axis=1)
    return counted if repaired is None else repaired + counted


def finite_rows(predictions: tf.Tensor) -> tf.Tensor:
    """Per example, whether every prediction value is finite (bool [rows]). A float keeps its
    own precision: a float64 1e300 is finite."""
    if not predictions.dtype.is_floating:  # an integer is finite
        predictions = tf.cast(predictions, tf.float32)
    finite = tf.math.is_finite(predictions)
    rank = predictions.shape.rank
    if rank is None or rank == 0:
        return tf.reduce_all(tf.reshape(finite, [tf.shape(predictions)[0], -1]), axis=1)
    return tf.reduce_all(finite, axis=list(range(1, rank))) if rank > 1 else finite


def reject_nonfinite(features: dict, rows: tf.Tensor) -> list[tf.Operation]:
    """The `reject` policy: one assert per float feature, failing the call with
    InvalidArgumentError "nanguard rejects the request: feature `x` holds NaN or Inf (...);
    the first such example, 0-based: [i]". Run them before the model (control
    dependencies); integer and string features cannot hold NaN or Inf."""
    checks = []
    for name in sorted(features):
        values, row_ids = _values_and_rows(features[name], rows)
        if not values.dtype.is_floating:
            continue
        bad = tf.logical_not(tf.math.is_finite(values))
        first = tf.reduce_min(tf.concat([tf.boolean_mask(row_ids, bad), [-1]], 0)[:1])
        # Backticks: TensorFlow escapes quotes in an assert's message.
        message = (
            f"{REJECT_MESSAGE}: feature `{name}` holds NaN or Inf (send a finite number or "
            "leave the feature out); the first such example, 0-based:"
        )
        checks.append(tf.debugging.Assert(tf.logical_not(tf.reduce_any(bad)), [message, first]))
    return checks
