"""Benchmark: the data guard's counting with `slice_by` vs without, side by side in one run.

Both count the same in-memory Arrow RecordBatches (`--rows` x 10 float features with ~2% NaN
and ~5% absent cells, TFXIO list layout, plus a 4-value categorical `region`) with the counting
core the DataGuard's Beam CombineFn runs (`counts.add_record_batch`); the sliced run also keeps
the per-slice counts (`slices.SliceCounts`, one slicing feature). Rounds are interleaved; the
ratio is sliced / plain per round and their median (target <= 1.3, issue #13).

    .venv/bin/python benchmarks/bench_slices.py --rows 1000000 --rounds 5
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import pyarrow as pa

from nanguard.components.data_guard import counts, profiling, slices


def make_batches(rows: int, batch: int = 50_000, seed: int = 0) -> list[pa.RecordBatch]:
    rng = np.random.default_rng(seed)
    out = []
    for start in range(0, rows, batch):
        n = min(batch, rows - start)
        columns, names = [], []
        for j in range(10):
            v = rng.normal(size=n)
            v[rng.random(n) < 0.02] = np.nan
            absent = rng.random(n) < 0.05
            offsets = np.concatenate([[0], np.cumsum(~absent)]).astype(np.int32)
            columns.append(pa.ListArray.from_arrays(pa.array(offsets), pa.array(v[~absent])))
            names.append(f"x{j}")
        region = rng.choice(["north", "south", "east", "west"], n)
        offsets = pa.array(np.arange(n + 1, dtype=np.int32))
        columns.append(pa.ListArray.from_arrays(offsets, pa.array(region)))
        names.append("region")
        out.append(pa.RecordBatch.from_arrays(columns, names))
    return out


def profile(batches, slice_by=()) -> float:
    started = time.perf_counter()
    acc = counts.ProfileAccumulator()
    sliced = slices.SliceCounts(slice_by)
    for batch in batches:
        counts.add_record_batch(acc, batch)
        if slice_by:
            sliced.add(batch)
    profiling.extract_profile(acc)
    sliced.extract()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    batches = make_batches(args.rows)
    profile(batches[:2], ("region",))  # warm-up
    ratios = []
    for r in range(args.rounds):
        order = [(), ("region",)] if r % 2 == 0 else [("region",), ()]
        times = {bool(s): profile(batches, s) for s in order}
        ratios.append(times[True] / times[False])
        print(f"round {r}: plain {times[False]:.2f} s, sliced {times[True]:.2f} s, "
              f"ratio {ratios[-1]:.3f}")  # fmt: skip
    print(f"rows={args.rows} median ratio sliced / plain: {statistics.median(ratios):.3f} "
          "(target <= 1.3)")  # fmt: skip


if __name__ == "__main__":
    main()
