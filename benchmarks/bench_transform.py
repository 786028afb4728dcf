"""Benchmark: nanguard's NaN-safe preprocessing_fn vs plain tft.scale_to_z_score, side by side.

Both run tft_beam.AnalyzeAndTransformDataset (what the stock Transform executor runs) over the
same in-memory Arrow RecordBatches (TFXIO-style input, `--rows` x `--features` float32 features
with ~5% absent and ~1% NaN values) and write nothing but a count, so the ratio measures the
analysis + transform work. Runs are interleaved (plain, safe, ... then the reverse order, for
`--repeats` rounds) after a small untimed warm-up of every mode; the ratios use the best (minimum)
time of each mode, both wall time and process CPU time (user+sys of this process, less sensitive
to other jobs on a shared machine; the DirectRunner runs in-process). Modes:
  plain : tft.scale_to_z_score(x) on the densified feature (NaN passes through).
  safe  : nanguard preprocessing_fn, mean (odd features) / median (even features) + z-score,
          indicators on.
  safe_mean (--mean-only): mean for every feature + z-score, indicators on.
  knn   : nanguard preprocessing_fn with strategy 'knn' for every feature (sample_size 1000).

Usage: .venv/bin/python benchmarks/bench_transform.py --rows 1000000 [--features 10] [--no-knn]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import apache_beam as beam
import numpy as np
import pyarrow as pa
import tensorflow as tf
import tensorflow_transform as tft
import tensorflow_transform.beam as tft_beam
from tfx_bsl.tfxio import tensor_adapter, tensor_representation_util

from nanguard.components.transform import preprocessing


def make_batches(rows: int, features: int, batch: int, seed: int = 0) -> list[pa.RecordBatch]:
    rng = np.random.default_rng(seed)
    out = []
    for start in range(0, rows, batch):
        n = min(batch, rows - start)
        arrays = []
        for j in range(features):
            values = rng.lognormal(0, 0.5 + 0.1 * j, n).astype(np.float32)
            values[rng.random(n) < 0.01] = np.nan
            absent = rng.random(n) < 0.05
            offsets = np.concatenate([[0], np.cumsum(~absent)]).astype(np.int32)
            arrays.append(pa.ListArray.from_arrays(pa.array(offsets), pa.array(values[~absent])))
        out.append(pa.RecordBatch.from_arrays(arrays, [f"x{j}" for j in range(features)]))
    return out


def plain_fn(inputs):
    out = {}
    for name, x in inputs.items():
        dense = tf.reshape(
            tf.sparse.to_dense(
                tf.sparse.reset_shape(x, [tf.shape(x)[0], 1]), default_value=float("nan")
            ),
            [-1],
        )
        out[name] = tft.scale_to_z_score(dense)
    return out


def run(batches, features, preprocessing_fn) -> tuple[float, float]:
    feature_spec = {f"x{j}": tf.io.VarLenFeature(tf.float32) for j in range(features)}
    schema = tft.DatasetMetadata.from_feature_spec(feature_spec).schema
    tensor_adapter_config = tensor_adapter.TensorAdapterConfig(
        batches[0].schema,
        tensor_representation_util.InferTensorRepresentationsFromSchema(schema),
    )
    tmp = tempfile.mkdtemp()
    start, cpu_start = time.perf_counter(), time.process_time()
    with beam.Pipeline() as p:
        with tft_beam.Context(temp_dir=os.path.join(tmp, "tmp")):
            data = p | beam.Create(batches, reshuffle=False)
            (transformed, _), _ = (
                data,
                tensor_adapter_config,
            ) | tft_beam.AnalyzeAndTransformDataset(preprocessing_fn, output_record_batches=True)
            _ = (
                transformed
                | beam.Map(lambda rb_and_extra: rb_and_extra[0].num_rows)
                | beam.combiners.Count.Globally()
            )
    return time.perf_counter() - start, time.process_time() - cpu_start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--features", type=int, default=10)
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("--no-knn", action="store_true")
    parser.add_argument("--repeats", type=int, default=2, help="interleaved rounds per mode")
    parser.add_argument(
        "--mean-only",
        action="store_true",
        help="also run 'safe_mean': every feature mean + z-score (isolates the quantile cost)",
    )
    args = parser.parse_args()
    batches = make_batches(args.rows, args.features, args.batch)
    safe_cfg = {
        "defaults": {"numeric": {"strategy": "mean", "scale": "z_score", "add_indicator": True}},
        "features": {f"x{j}": {"strategy": "median"} for j in range(0, args.features, 2)},
    }
    knn_cfg = {
        "defaults": {"numeric": {"strategy": "knn", "scale": "z_score", "add_indicator": True}},
        "knn": {"n_neighbors": 5, "sample_size": 1000, "seed": 0},
    }
    modes = [("plain", plain_fn), ("safe", lambda i: preprocessing.preprocessing_fn(i, safe_cfg))]
    if args.mean_only:
        mean_cfg = {"defaults": safe_cfg["defaults"]}
        modes.append(("safe_mean", lambda i: preprocessing.preprocessing_fn(i, mean_cfg)))
    if not args.no_knn:
        modes.append(("knn", lambda i: preprocessing.preprocessing_fn(i, knn_cfg)))
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
            print(f"round {r} {name:9s} wall {w:8.1f} s  cpu {c:8.1f} s", flush=True)
    print(f"rows={args.rows} features={args.features} repeats={args.repeats} (best of each)")
    for name, _ in modes[1:]:
        print(
            f"ratio {name}/plain: wall {min(wall[name]) / min(wall['plain']):.2f}  "
            f"cpu {min(cpu[name]) / min(cpu['plain']):.2f}"
            + ("  (target <= 1.25)" if name == "safe" else "")
        )


if __name__ == "__main__":
    main()
