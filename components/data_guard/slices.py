"""Counts per slice: missing, NaN, +-Inf and huge per feature, for each value of a categorical.

`slice_by: [island]` answers "is the NaN only in one region?". For every slicing feature and every
value it takes, the same counts as the split profile (`counts.py`) are kept per feature, so
`drift.compare_splits` compares a slice between splits or runs exactly as it compares splits.

Vectorised over Arrow: per batch and slicing feature, each row's slice code comes from a
dictionary encoding of the row's first value (a null or empty row is the slice `__missing__`);
per feature, the row and value counts are `np.bincount`s over those codes. No statistic beyond
counts is computed per slice (no moments, no sketches), so slicing costs a few bincounts per
column and batch.

Bounded: an accumulator keeps up to `4 * max_slices` distinct values per slicing feature (later
new values go to `__other__`); the profile keeps the `max_slices` largest by rows and folds the
rest into `__other__`. Exact for features with at most `4 * max_slices` values.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from nanguard.components.data_guard.counts import HUGE_THRESHOLD

MISSING_SLICE = "__missing__"
OTHER_SLICE = "__other__"
# Columns of a slice's count vector, per feature.
FIELDS = ("rows", "present", "num_values", "nan", "pos_inf", "neg_inf", "huge")


def _rows_and_values(column: pa.Array) -> tuple[np.ndarray, pa.Array, np.ndarray]:
    """(present per row as bool, the values, the row of each value) of a list or plain column."""
    if pa.types.is_list(column.type) or pa.types.is_large_list(column.type):
        lengths = pc.fill_null(pc.list_value_length(column), 0).to_numpy(zero_copy_only=False)
        values = column.flatten()
        parents = pc.list_parent_indices(column).to_numpy(zero_copy_only=False)
        return lengths > 0, values, parents
    valid = pc.is_valid(column).to_numpy(zero_copy_only=False)
    parents = np.flatnonzero(valid)
    return valid, pc.drop_null(column), parents


def _first_value_keys(column: pa.Array) -> tuple[np.ndarray, list]:
    """Per row: an index into the returned distinct values (-1: no value), via Arrow."""
    present, values, parents = _rows_and_values(column)
    first = np.full(len(present), -1, dtype=np.int64)
    if len(values) == 0:
        return first, []
    # The first value of each row: values whose parent differs from the previous value's.
    is_first = np.ones(len(parents), dtype=bool)
    is_first[1:] = parents[1:] != parents[:-1]
    chosen = values.filter(pa.array(is_first))
    encoded = pc.dictionary_encode(chosen.cast(pa.string()) if not pa.types.is_string(chosen.type)
                                   and not pa.types.is_binary(chosen.type) else chosen)  # fmt: skip
    first[parents[is_first]] = encoded.indices.to_numpy(zero_copy_only=False)
    dictionary = encoded.dictionary.to_pylist()
    return first, [v.decode("utf-8", "replace") if isinstance(v, bytes) else v for v in dictionary]


class SliceCounts:
    """A mergeable accumulator of per-slice counts (see the module docstring)."""

    def __init__(self, slice_by: Sequence[str], max_slices: int = 20):
        self.slice_by = tuple(slice_by)
        self.max_slices = max_slices
        self.capacity = 4 * max_slices
        # slicing feature -> {slice value: code}; code 0 = missing, 1 = other.
        self.codes: dict[str, dict[str, int]] = {
            s: {MISSING_SLICE: 0, OTHER_SLICE: 1} for s in self.slice_by
        }
        # slicing feature -> feature -> int64 [capacity + 2, len(FIELDS)]
        self.counts: dict[str, dict[str, np.ndarray]] = {s: {} for s in self.slice_by}

    def _row_codes(self, slicing: str, column: pa.Array) -> np.ndarray:
        keys, distinct = _first_value_keys(column)
        table = self.codes[slicing]
        local = np.empty(len(distinct) + 1, dtype=np.int64)
        local[-1] = 0  # key -1: missing
        for i, value in enumerate(distinct):  # once per distinct value, not per row
            code = table.get(value)
            if code is None:
                code = len(table) if len(table) < self.capacity + 2 else 1
                if code != 1:
                    table[value] = code
            local[i] = code
        return local[keys]

    def add(self, batch: pa.RecordBatch, exclude: Iterable[str] = ()) -> SliceCounts:
        """Adds one RecordBatch (TFXIO list columns or plain columns); returns self."""
        size = self.capacity + 2
        columns = {
            name: column
            for name, column in zip(batch.schema.names, batch.columns, strict=True)
            if name not in exclude
        }
        for slicing in self.slice_by:
            if slicing not in columns:
                continue
            codes = self._row_codes(slicing, columns[slicing])
            rows = np.bincount(codes, minlength=size)  # the same for every feature
            for name, column in columns.items():
                acc = self.counts[slicing].get(name)
                if acc is None:
                    acc = self.counts[slicing][name] = np.zeros((size, len(FIELDS)), np.int64)
                present, values, parents = _rows_and_values(column)
                acc[:, 0] += rows
                if len(values) == len(codes) and present.all():  # one value per row
                    acc[:, 1] += rows
                    value_codes = codes
                else:
                    acc[:, 1] += np.bincount(codes[present], minlength=size)
                    value_codes = codes[parents]
                acc[:, 2] += np.bincount(value_codes, minlength=size)
                if not (pa.types.is_floating(values.type) or pa.types.is_integer(values.type)):
                    continue
                v = values.to_numpy(zero_copy_only=False)
                if pa.types.is_floating(values.type):
                    bad = ~np.isfinite(v)
                    if bad.any():  # NaN/Inf are rare: classify only those
                        sub, sub_codes = v[bad], value_codes[bad]
                        nan = np.isnan(sub)
                        acc[:, 3] += np.bincount(sub_codes[nan], minlength=size)
                        acc[:, 4] += np.bincount(sub_codes[sub == np.inf], minlength=size)
                        acc[:, 5] += np.bincount(sub_codes[sub == -np.inf], minlength=size)
                    huge = np.abs(v) > HUGE_THRESHOLD  # NaN: False
                    if huge.any():
                        acc[:, 6] += np.bincount(value_codes[huge & ~bad], minlength=size)
                else:
                    huge = np.abs(v.astype(np.float64)) > HUGE_THRESHOLD
                    if huge.any():
                        acc[:, 6] += np.bincount(value_codes[huge], minlength=size)
        return self

    def merge(self, others: Iterable[SliceCounts]) -> SliceCounts:
        """Adds other accumulators' counts into this one (matched by slice value); returns self."""
        size = self.capacity + 2
        for other in others:
            for slicing in self.slice_by:
                table = self.codes[slicing]
                remap = np.ones(other.capacity + 2, dtype=np.int64)
                for value, code in other.codes[slicing].items():
                    if value not in table and len(table) < self.capacity + 2:
                        table[value] = len(table)
                    remap[code] = table.get(value, 1)
                for name, theirs in other.counts[slicing].items():
                    mine = self.counts[slicing].get(name)
                    if mine is None:
                        mine = self.counts[slicing][name] = np.zeros((size, len(FIELDS)), np.int64)
                    np.add.at(mine, remap, theirs)
        return self

    def extract(self) -> dict[str, dict[str, dict[str, Any]]]:
        """`{slicing feature: {slice value: split-profile-like dict}}`, largest slices first.

        Each slice: `{"rows": n, "features": {name: {present, missing, num_values, nan, pos_inf,
        neg_inf, huge}}}`; the `max_slices` largest values by rows are kept, the rest (and the
        values past the accumulator's capacity) are summed into `__other__`. Empty slices are
        left out.
        """
        out: dict[str, dict[str, dict[str, Any]]] = {}
        for slicing in self.slice_by:
            features = self.counts[slicing]
            if not features:
                continue
            any_counts = next(iter(features.values()))
            codes = self.codes[slicing]
            named = [(v, c) for v, c in codes.items() if v not in (MISSING_SLICE, OTHER_SLICE)]
            named.sort(key=lambda vc: (-int(any_counts[vc[1], 0]), vc[0]))
            keep = dict(named[: self.max_slices])
            groups: dict[str, list[int]] = {v: [c] for v, c in keep.items()}
            groups[MISSING_SLICE] = [0]
            groups[OTHER_SLICE] = [1] + [c for v, c in named[self.max_slices :]]
            result = {}
            for value, group in groups.items():
                rows = int(any_counts[group, 0].sum())
                if rows == 0:
                    continue
                per_feature = {}
                for name, acc in sorted(features.items()):
                    total = acc[group].sum(axis=0)
                    entry = dict(zip(FIELDS[1:], (int(x) for x in total[1:]), strict=True))
                    entry["missing"] = rows - entry["present"]
                    per_feature[name] = entry
                result[value] = {"rows": rows, "features": per_feature}
            out[slicing] = result
        return out
