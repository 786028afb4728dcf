"""Benchmark: DataGuard's counting pass vs the stock StatisticsGen, side by side in one run.

Generates ``--rows`` rows x 10 float features (with injected gaps, NaN, +Inf, -Inf and huge
values) as gzip TFRecords of tf.Example in the ExampleGen layout (``Split-train/``), then runs,
each in a fresh subprocess (so peak RSS is per run), on the same files:

* the stock ``tfx.components.statistics_gen.executor.Executor`` (tfdv.GenerateStatistics), and
* ``nanguard.components.data_guard.executor.Executor`` (profile + anomalies + verdict, mode warn),

and prints wall times, the ratio guard/stock (target <= 0.5) and peak RSS. The guard is also
run on ``--rows // 4`` rows to show its peak memory does not grow with the row count.
The data is one gzip shard and both run with ``--direct_num_workers=1``: the guard reads it in
batches (``beam_io.ReadTFExampleFiles``, parallel per file shard), the stock path one Beam
element per record through TFXIO.

  .venv/bin/python benchmarks/bench_data_guard.py --rows 1000000
  .venv/bin/python benchmarks/bench_data_guard.py --rows 20000   # quick
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

NUM_FEATURES = 10


def generate(path: str, rows: int, seed: int = 0, chunk: int = 100_000) -> None:
    """Writes ``rows`` tf.Examples, 10 float features with ~5% gaps, 1% NaN, 0.5% +/-Inf."""
    import numpy as np
    import pyarrow as pa
    import tensorflow as tf
    from tfx_bsl.public import tfxio

    rng = np.random.default_rng(seed)
    split_dir = os.path.join(path, "Split-train")
    os.makedirs(split_dir, exist_ok=True)
    encoder = None
    out = os.path.join(split_dir, "data_tfrecord-00000-of-00001.gz")
    with tf.io.TFRecordWriter(out, options="GZIP") as writer:
        for start in range(0, rows, chunk):
            n = min(chunk, rows - start)
            columns, names = [], []
            for j in range(NUM_FEATURES):
                values = rng.normal(j, 1.0 + j, n).astype(np.float32)
                u = rng.random(n)
                values[u < 0.01] = np.nan
                values[(u >= 0.01) & (u < 0.015)] = np.inf
                values[(u >= 0.015) & (u < 0.02)] = -np.inf
                values[(u >= 0.02) & (u < 0.021)] = 3e19
                present = u >= 0.07  # ~5% gaps (absent feature)
                offsets = np.zeros(n + 1, dtype=np.int64)
                offsets[1:] = np.cumsum(present)
                column = pa.LargeListArray.from_arrays(
                    pa.array(offsets), pa.array(values[present]), mask=pa.array(~present)
                )
                columns.append(column)
                names.append(f"f{j}")
            batch = pa.RecordBatch.from_arrays(columns, names)
            if encoder is None:
                encoder = tfxio.RecordBatchToExamplesEncoder()
            for record in encoder.encode(batch):
                writer.write(record)


def _child(kind: str, data: str, out: str) -> None:
    """Runs one executor on the data in this process; prints JSON with seconds and peak RSS."""
    from tfx.dsl.components.base import base_beam_executor
    from tfx.types import artifact_utils, standard_artifacts

    examples = standard_artifacts.Examples()
    examples.uri = data
    examples.split_names = artifact_utils.encode_split_names(["train"])
    context = base_beam_executor.BaseBeamExecutor.Context(
        beam_pipeline_args=["--direct_num_workers=1"], tmp_dir=os.path.join(out, "tmp")
    )
    if kind == "stock":
        from tfx.components.statistics_gen import executor as stats_executor

        output = standard_artifacts.ExampleStatistics()
        output.uri = out
        executor = stats_executor.Executor(context)
        start = time.perf_counter()
        executor.Do({"examples": [examples]}, {"statistics": [output]}, {"exclude_splits": "[]"})
    else:
        from nanguard.components.data_guard import executor as guard_executor

        output = standard_artifacts.ExampleAnomalies()
        output.uri = out
        executor = guard_executor.Executor(context)
        start = time.perf_counter()
        executor.Do(
            {"examples": [examples]},
            {"anomalies": [output]},
            {"config": json.dumps({"mode": "warn"}), "label_key": ""},
        )
    seconds = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("RESULT " + json.dumps({"kind": kind, "seconds": seconds, "peak_rss_mb": peak_mb}))


def _run_child(kind: str, data: str, workdir: str) -> dict:
    out = tempfile.mkdtemp(dir=workdir, prefix=f"{kind}_")
    proc = subprocess.run(
        [sys.executable, __file__, "--child", kind, "--data", data, "--out", out],
        capture_output=True,
        text=True,
        check=False,
    )
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT ") :])
    raise RuntimeError(f"{kind} run failed:\n{proc.stderr[-4000:]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=2, help="Interleaved runs per case.")
    parser.add_argument("--workdir", default=None, help="Scratch folder (default: a temp dir).")
    parser.add_argument("--child", choices=["stock", "guard"], help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child, args.data, args.out)
        return

    workdir = args.workdir or tempfile.mkdtemp(prefix="bench_data_guard_")
    try:
        _compare(args, workdir)
    finally:  # the scratch folder goes, whatever happened (unless the user named it)
        if not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)


def _compare(args: argparse.Namespace, workdir: str) -> None:
    os.makedirs(workdir, exist_ok=True)
    small_rows = max(1, args.rows // 4)
    big, small = os.path.join(workdir, "big"), os.path.join(workdir, "small")
    t0 = time.perf_counter()
    generate(big, args.rows, seed=0)
    generate(small, small_rows, seed=1)
    print(f"generated {args.rows} + {small_rows} rows in {time.perf_counter() - t0:.1f}s")

    # Interleaved repeats, best of each: on a shared machine the least-disturbed run is the
    # closest to the real cost.
    runs: dict[tuple[str, str], list[dict]] = {}
    for _ in range(args.repeats):
        for kind, data in (("stock", big), ("guard", big), ("guard", small), ("stock", small)):
            runs.setdefault((kind, data), []).append(_run_child(kind, data, workdir))

    def best(kind: str, data: str) -> dict:
        return min(runs[(kind, data)], key=lambda r: r["seconds"])

    stock, guard = best("stock", big), best("guard", big)
    stock_small, guard_small = best("stock", small), best("guard", small)
    print(f"{'run':<28}{'rows':>10}{'seconds':>10}{'peak RSS MB':>14}")
    for name, rows, r in (
        ("StatisticsGen (stock)", args.rows, stock),
        ("DataGuard", args.rows, guard),
        ("StatisticsGen (stock)", small_rows, stock_small),
        ("DataGuard", small_rows, guard_small),
    ):
        print(f"{name:<28}{rows:>10}{r['seconds']:>10.2f}{r['peak_rss_mb']:>14.0f}")
    ratio = guard["seconds"] / stock["seconds"]
    print(f"time ratio guard/stock at {args.rows} rows: {ratio:.3f}x (target <= 0.5x)")
    print(
        f"guard peak RSS ratio {args.rows} rows / {small_rows} rows: "
        f"{guard['peak_rss_mb'] / guard_small['peak_rss_mb']:.3f}x (streaming: ~1.0)"
    )


if __name__ == "__main__":
    main()
