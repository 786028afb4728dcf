"""Benchmark: nanguard's preprocessing_fn with strategy 'em' vs strategy 'mean', side by side.

Both run tft_beam.AnalyzeAndTransformDataset over the same in-memory Arrow RecordBatches
(`--rows` x `--features` correlated float32 features, ~15% absent and ~1% NaN cells), z-score
scaling and indicators on, and write nothing but a count (`bench_transform.run`). Runs are
interleaved (mean, em, ... then the reverse order, `--repeats` rounds) after an untimed warm-up;
the ratios use the best time of each mode, wall and process CPU (user+sys of this process).
EM makes `--iterations` passes after the moments (tolerance 0: no early stop, so every pass
does its E-step): the report gives em/mean and the extra cost of one EM pass in units of the
whole mean-imputation run, ((em - mean) / iterations) / mean.

Usage: .venv/bin/python benchmarks/bench_em.py --rows 1000000 --features 10 [--iterations 10]
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np
import pyarrow as pa

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_transform import run  # noqa: E402

from nanguard.components.transform import preprocessing  # noqa: E402


def make_batches(rows: int, features: int, batch: int, seed: int = 0) -> list[pa.RecordBatch]:
    """Correlated Gaussian features (3 latent factors) with absent and NaN cells."""
    rng = np.random.default_rng(seed)
    loadings = rng.normal(size=(3, features))
    out = []
    for start in range(0, rows, batch):
        n = min(batch, rows - start)
        x = (rng.normal(size=(n, 3)) @ loadings + 0.5 * rng.normal(size=(n, features))).astype(
            np.float32
        )
        arrays = []
        for j in range(features):
            values = x[:, j].copy()
            values[rng.random(n) < 0.01] = np.nan
            absent = rng.random(n) < 0.15
            offsets = np.concatenate([[0], np.cumsum(~absent)]).astype(np.int32)
            arrays.append(pa.ListArray.from_arrays(pa.array(offsets), pa.array(values[~absent])))
        out.append(pa.RecordBatch.from_arrays(arrays, [f"x{j}" for j in range(features)]))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--features", type=int, default=10)
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=1, help="interleaved rounds per mode")
    args = parser.parse_args()
    batches = make_batches(args.rows, args.features, args.batch)
    numeric = {"scale": "z_score", "add_indicator": True}
    mean_cfg = {"defaults": {"numeric": {"strategy": "mean", **numeric}}}
    em_cfg = {
        "defaults": {"numeric": {"strategy": "em", **numeric}},
        "em": {"iterations": args.iterations, "tolerance": 0.0},
    }
    modes = [
        ("mean", lambda i: preprocessing.preprocessing_fn(i, mean_cfg)),
        ("em", lambda i: preprocessing.preprocessing_fn(i, em_cfg)),
    ]
    warm = make_batches(min(args.rows, 2 * args.batch), args.features, args.batch, seed=1)
    for _, fn in modes:  # untimed warm-up: first-use costs (imports, tracing) hit no mode
        run(warm, args.features, fn)
    wall: dict[str, list[float]] = {name: [] for name, _ in modes}
    cpu: dict[str, list[float]] = {name: [] for name, _ in modes}
    for r in range(args.repeats):
        for name, fn in modes if r % 2 == 0 else modes[::-1]:
            w, c = run(batches, args.features, fn)
            wall[name].append(w)
            cpu[name].append(c)
            print(f"round {r} {name:5s} wall {w:8.1f} s  cpu {c:8.1f} s", flush=True)
    load = os.getloadavg()[0]
    print(
        f"rows={args.rows} features={args.features} iterations={args.iterations} "
        f"repeats={args.repeats} (best of each), load average at the end {load:.1f}"
    )
    for kind, times in (("wall", wall), ("cpu", cpu)):
        em_t, mean_t = min(times["em"]), min(times["mean"])
        per_iteration = (em_t - mean_t) / args.iterations / mean_t
        print(
            f"{kind}: em/mean {em_t / mean_t:.2f}; one EM iteration costs {per_iteration:.2f}x "
            f"the whole mean-imputation run ({(em_t - mean_t) / args.iterations:.1f} s)"
        )


if __name__ == "__main__":
    main()
