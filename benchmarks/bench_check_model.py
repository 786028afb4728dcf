"""Benchmark: `nanguard check-model` vs a stock TFMA evaluation, whole processes, side by side.

Same SavedModel (the gate's ``healthy`` test model: serialized tf.Example in), the same rows:

* check-model: ``nanguard check-model MODEL --data CSV --json OUT`` with every probe family;
* stock: a fresh Python process running ``tfma.run_model_analysis`` with one metric
  (ExampleCount by default) on a TFRecord of tf.Example holding the same rows (TFMA reads
  TFRecords, not CSV). Writing that TFRecord is setup, outside the timed part; its time is
  reported on its own line.

Both are whole processes (startup imports included: TensorFlow's ~11 s here is part of both).
Rounds are interleaved (the order alternates each round) and the median ratio is reported with
every round, because the machine is shared.

Usage:
    .venv/bin/python benchmarks/bench_check_model.py --rows 100000 --rounds 3
Target: check-model <= 0.3x stock TFMA.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

TARGET = 0.3

_STOCK = """
import sys
import tensorflow_model_analysis as tfma
model_dir, data, out, metric = sys.argv[1:5]
config = tfma.EvalConfig(
    model_specs=[tfma.ModelSpec(signature_name="serving_default")],
    slicing_specs=[tfma.SlicingSpec()],
    metrics_specs=[tfma.MetricsSpec(metrics=[tfma.MetricConfig(class_name=metric)])],
)
shared = tfma.default_eval_shared_model(eval_saved_model_path=model_dir, eval_config=config)
result = tfma.run_model_analysis(
    eval_shared_model=shared, eval_config=config, data_location=data, output_path=out
)
metrics = result.slicing_metrics[0][1][""][""]
print("example_count", int(metrics["example_count"]["doubleValue"]))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--metric", default="ExampleCount", help="TFMA metric class for stock.")
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="bench_check_model_")
    try:
        _compare(args, tmp)
    finally:  # also when a run fails: the benchmark leaves no temporary folder
        shutil.rmtree(tmp, ignore_errors=True)


def _write_csv(path: str, rows: int) -> None:
    """x float (with NaN and gaps), n int, color string: the healthy model's raw features."""
    rng = np.random.default_rng(0)
    x = rng.uniform(-2.0, 40.0, rows)
    x[::97] = np.nan
    x_mask = np.zeros(rows, dtype=bool)
    x_mask[5::101] = True  # empty cells: missing
    table = pa.table(
        {
            "x": pa.array(x, mask=x_mask),
            "n": rng.integers(0, 60, rows),
            "color": rng.choice(np.array(["red", "green", "blue"]), rows),
        }
    )
    pacsv.write_csv(table, path)


def _timed(command: list[str]) -> tuple[float, str]:
    start = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode not in (0, 3):
        sys.exit(f"{' '.join(command)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return seconds, proc.stdout


def _compare(args: argparse.Namespace, tmp: str) -> None:
    csv = os.path.join(tmp, "data.csv")
    _write_csv(csv, args.rows)
    # Setup, in this process (not timed with either side): the model and the TFRecord for TFMA.
    from nanguard.components.gate import records, testing
    from nanguard.components.inputs import read_csv

    model_dir = testing.save_model(os.path.join(tmp, "model"), "healthy")
    start = time.perf_counter()
    examples = records.table_to_examples(read_csv(csv, strings=False))
    tfrecord = testing.write_tfrecord(os.path.join(tmp, "tfrecord", "data.tfrecord"), examples)
    convert_s = time.perf_counter() - start
    del examples

    nanguard = os.path.join(os.path.dirname(sys.executable), "nanguard")
    report = os.path.join(tmp, "report.json")
    ours = [nanguard, "check-model", model_dir, "--data", csv, "--json", report]
    stock = [sys.executable, "-c", _STOCK, model_dir, tfrecord, os.path.join(tmp, "tfma"),
             args.metric]  # fmt: skip
    print(f"rows={args.rows} rounds={args.rounds} load: {os.getloadavg()}")
    print(f"check-model: {' '.join(ours)}")
    print(f"stock:       {sys.executable} -c <run_model_analysis {args.metric}> {model_dir} "
          f"{tfrecord}")  # fmt: skip
    print(f"setup, not timed with either side: CSV -> TFRecord of tf.Example for TFMA "
          f"{convert_s:.2f} s (in this process, TensorFlow already imported)")  # fmt: skip
    ratios, ours_s, stock_s = [], [], []
    for round_ in range(args.rounds):
        order = [("ours", ours), ("stock", stock)]
        if round_ % 2:
            order.reverse()
        times = {}
        for name, command in order:
            times[name], out = _timed(command)
            if name == "stock":
                stock_count = int(out.split("example_count")[-1])
        with open(report) as f:
            result = json.load(f)
        if result["examples"] != stock_count or stock_count != args.rows:
            sys.exit(f"counts differ: check-model {result['examples']}, TFMA {stock_count}")
        ours_s.append(times["ours"])
        stock_s.append(times["stock"])
        ratios.append(times["ours"] / times["stock"])
        print(
            f"round {round_ + 1} ({' then '.join(n for n, _ in order)}): "
            f"check-model {times['ours']:.2f} s (examples={result['examples']} "
            f"probes_run={result['probes_run']} blessed={result['blessed']}), "
            f"stock {times['stock']:.2f} s (example_count={stock_count}), "
            f"ratio {ratios[-1]:.3f}  load {os.getloadavg()[0]:.2f}",
            flush=True,
        )
    print(
        f"median: check-model {statistics.median(ours_s):.2f} s, stock "
        f"{statistics.median(stock_s):.2f} s, ratio {statistics.median(ratios):.3f} "
        f"(rounds {', '.join(f'{r:.3f}' for r in ratios)}; target <= {TARGET})"
    )


if __name__ == "__main__":
    main()
