"""The median of `counts`: finite values summarised in sorted buffers, then sketched.

The finite values of a feature wait in a buffer of at most `SUMMARY_VALUES`; each full buffer
(and the rest at the end, or at a merge that would overflow it) of `m` values is sorted and cut
into groups of `k = floor(2 * SUMMARY_EPSILON * m)` values, each group summarised by its middle
value weighing `k` (rank error at most `k / 2` per buffer, so at most `SUMMARY_EPSILON * n` over
`n` finite values). The summaries feed tfx-bsl's mergeable weighted `QuantilesSketch` (the one
TFDV uses) with rank error at most `SKETCH_EPSILON * n`; the two bounds add up to
`QUANTILES_EPSILON`. The sketch sees about `1 / (2 * SUMMARY_EPSILON)` points per buffer instead
of every value: fed every value, it cost most of a scan. NaN and Inf never reach it (the caller
passes finite values only).
"""

from __future__ import annotations

import numpy as np

from nanguard.components.arrow_numpy import from_numpy

# Rank error bound of the median (fraction of the number of finite values): the sum of the
# error of the sorted-buffer summaries and of the sketch they feed.
QUANTILES_EPSILON = 0.001
SUMMARY_EPSILON = QUANTILES_EPSILON / 10
SKETCH_EPSILON = QUANTILES_EPSILON - SUMMARY_EPSILON
# Finite values buffered per feature before they are summarised (1 MB of float32).
SUMMARY_VALUES = 1 << 18


def summarise(sketch, parts: list[np.ndarray]) -> None:
    """Adds `m` finite values to the weighted sketch as groups of `k` sorted values, each group
    as its middle value weighing `k` (the last group may be shorter and weighs what it holds).

    `k = floor(2 * SUMMARY_EPSILON * m)` (at most 1: every value as it is). Groups are runs of
    the sorted values, so at most one holds values on both sides of any `x`; the summary's
    weight at or below `x` then differs from the count of values at or below `x` by at most
    half a group, `SUMMARY_EPSILON * m`; middles (not maxima) keep the error unbiased.
    """
    values = parts[0] if len(parts) == 1 else np.concatenate(parts)
    m = values.size
    k = int(2 * SUMMARY_EPSILON * m)
    if k <= 1:
        sketch.AddValues(from_numpy(values.astype(np.float64, copy=False)))
        return
    if len(parts) == 1:
        ordered = np.sort(values)  # perhaps a view of a batch's buffer: a sorted copy
    else:
        ordered = values  # the concatenation's own copy, sorted in place
        ordered.sort()
    full = m - m % k
    points = ordered[(k - 1) // 2 : full : k]
    weights = np.full(points.size, float(k))
    if full < m:
        rest = m - full
        points = np.append(points, ordered[full + (rest - 1) // 2])
        weights = np.append(weights, float(rest))
    sketch.AddValues(from_numpy(points.astype(np.float64)), from_numpy(weights))
