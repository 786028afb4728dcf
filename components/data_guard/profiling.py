"""The JSON profile of a split: an accumulator of ``counts`` turned into per-feature numbers.

``extract_profile`` reads the accumulator (NaN and Inf are counts here, never part of a
statistic); ``complete_profile`` adds the schema's features that never occurred as 100% missing;
``profile_record_batches`` is the in-process profiler (the Beam ``CombineFn`` in ``beam_io.py``
runs the same counting). The definitions of every number are in ``counts.py``.
"""

from __future__ import annotations

import collections
import concurrent.futures
import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import pyarrow as pa

from nanguard.components.data_guard.counts import (
    FLOAT,
    INT,
    STRING,
    UNKNOWN,
    FeatureAccumulator,
    ProfileAccumulator,
    add_record_batch,
)


def _stray_counts(feat: FeatureAccumulator, num_values: int) -> tuple[dict[str, int], bool]:
    """`({value: count}, exact)` of the values that are not numbers, most frequent first."""
    total = num_values - feat.numeric_like
    if not total or not feat.numeric_like:  # a text column: `top_value` says enough
        return {}, True
    sketch = feat.stray_sketch()
    estimate = sketch.Estimate()
    values = [
        v.decode("utf-8", "replace") if isinstance(v, bytes) else v
        for v in estimate.field("values").to_pylist()
    ]
    found = [int(c) for c in estimate.field("counts").to_pylist()]
    return dict(zip(values, found, strict=True)), sum(found) == total


def _feature_output(feat: FeatureAccumulator, rows: int) -> dict[str, Any]:
    present, num_values, nan, pos_inf, neg_inf, huge, finite = (int(x) for x in feat.counts)
    out: dict[str, Any] = {
        "type": feat.kind,
        "rows": rows,
        "present": present,
        "missing": rows - present,
        "missing_fraction": (rows - present) / rows if rows else 0.0,
        "num_values": num_values,
        "nan": nan,
        "pos_inf": pos_inf,
        "neg_inf": neg_inf,
        "huge": huge,
        "finite": finite,
    }
    if feat.kind in (FLOAT, INT, UNKNOWN):
        if finite:
            std = math.sqrt(max(feat.m2, 0.0) / finite)
            median = feat.median()
            skew = 3.0 * (feat.mean - median) / std if std > 0 else 0.0
            out.update(
                mean=feat.mean,
                std=std,
                min=feat.min,
                max=feat.max,
                median=median,
                skewness=skew,
            )
        else:
            out.update(mean=None, std=None, min=None, max=None, median=None, skewness=None)
    if feat.kind == STRING:
        top_value, top_count = None, 0
        if feat.top_k is not None:
            estimate = feat.top_k.Estimate().to_pylist()
            if estimate:
                best = estimate[0]
                top_value = best["values"]
                if isinstance(top_value, bytes):
                    top_value = top_value.decode("utf-8", "replace")
                top_count = int(best["counts"])
        non_numeric, exact = _stray_counts(feat, num_values)
        out.update(
            top_value=top_value,
            top_count=top_count,
            numeric_like=feat.numeric_like,
            non_numeric_sample=feat.non_numeric_sample,
            non_numeric=non_numeric,
            non_numeric_exact=exact,
        )
    return out


def extract_profile(accumulator: ProfileAccumulator) -> dict[str, Any]:
    """Turns an accumulator into the JSON-able profile ``{"rows": N, "features": {...}}``.

    NaN and Inf never enter mean/std/min/max/median/skewness; they are reported as counts.
    """
    rows = accumulator.rows
    return {
        "rows": rows,
        "features": {
            name: _feature_output(feat, rows) for name, feat in sorted(accumulator.features.items())
        },
    }


def empty_feature_profile(rows: int, kind: str = UNKNOWN) -> dict[str, Any]:
    """Profile of a feature that never occurs in ``rows`` rows: 100% missing, no values."""
    feat = FeatureAccumulator()
    feat.kind = kind
    return _feature_output(feat, rows)


class _SketchThread:
    """Runs sketch updates on one worker thread, in the order they were submitted.

    numpy's sort and tfx-bsl's sketches release the GIL, so the median's summaries (a sort of
    each full buffer, `median_summary.summarise`) overlap the reading and counting of the next
    batches. At most `limit` updates wait: the values they hold do not pile up when the
    sketch is the slower side.
    """

    def __init__(self, limit: int = 32):
        self._pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="sketch")
        self._pending: collections.deque = collections.deque()
        self._limit = limit

    def __call__(self, function: Callable, *args) -> None:
        while len(self._pending) >= self._limit:
            self._pending.popleft().result()
        self._pending.append(self._pool.submit(function, *args))

    def drain(self) -> None:
        """Waits for every update (re-raising the first failure) and stops the thread."""
        try:
            while self._pending:
                self._pending.popleft().result()
        finally:
            self._pool.shutdown(wait=True, cancel_futures=True)


def profile_record_batches(
    record_batches: Iterable[pa.RecordBatch], exclude: Iterable[str] = ()
) -> dict[str, Any]:
    """In-process version of ``ProfileRecordBatches`` (same code, no Beam), for small data.

    The same profile as the CombineFn; the median sketches are updated on a worker thread.
    NaN/Inf handling: counted per feature, excluded from every statistic.
    """
    acc = ProfileAccumulator()
    exclude = frozenset(exclude)
    sketch_thread = _SketchThread()
    try:
        for batch in record_batches:
            add_record_batch(acc, batch, exclude, sketch_thread)
    finally:
        sketch_thread.drain()
    return extract_profile(acc)


def complete_profile(
    profile: dict[str, Any],
    expected_features: Mapping[str, str] | Iterable[str] = (),
) -> dict[str, Any]:
    """Adds every expected feature absent from the data as 100% missing (in place, returned).

    Args:
      profile: A profile from ``extract_profile``.
      expected_features: Names (or a name -> FLOAT/INT/STRING mapping, e.g. from the schema)
        that must appear in the profile.

    Returns:
      The same profile; an absent feature gets ``present == 0`` and ``missing == rows``, with
      no NaN or Inf counted.
    """
    kinds = (
        dict(expected_features)
        if isinstance(expected_features, Mapping)
        else dict.fromkeys(expected_features, UNKNOWN)
    )
    rows = profile["rows"]
    for name, kind in kinds.items():
        feat = profile["features"].get(name)
        if feat is None:
            profile["features"][name] = empty_feature_profile(rows, kind)
        elif feat["type"] == UNKNOWN and kind != UNKNOWN:
            feat["type"] = kind
    profile["features"] = dict(sorted(profile["features"].items()))
    return profile
