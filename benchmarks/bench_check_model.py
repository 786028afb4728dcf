"""Benchmark: `nanguard check-model` vs a stock TFMA evaluation, whole processes, side by side.

Same SavedModel (the gate's ``healthy`` test model: serialized tf.Example in), the same rows:

* check-model: ``nanguard check-model MODEL --data CSV --json OUT`` with every probe family;
* check-model (gate parser only): the same command through ``components/gate/cli.py``'s own
  parser, without the other subcommands' parsers (what ``nanguard check-model`` costs once
  every parser imports nothing heavy, issue #15 item 1);
* stock: a fresh Python process running ``tfma.run_model_analysis`` with one metric
  (ExampleCount by default) on a TFRecord of tf.Example holding the same rows (TFMA reads
  TFRecords, not CSV). Writing that TFRecord is setup, outside the timed part; its time is
  reported on its own line.

All are whole processes (startup imports included: TensorFlow's import is part of each).
Rounds are interleaved (the order rotates each round) and the median ratio is reported with
every round, because the machine is shared.

``--pycache DIR``: every process reads and writes bytecode under DIR (PYTHONPYCACHEPREFIX,
PYTHONDONTWRITEBYTECODE unset), warmed by one untimed run of each side: what a venv installed
with compiled bytecode (pip's default) sees. Without it, the environment is inherited as is
(here PYTHONDONTWRITEBYTECODE=1 and a venv without .pyc: every process compiles TensorFlow's
Python from source).

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

_GATE_ONLY = """
import argparse, sys
from nanguard.components.gate import cli
parser = argparse.ArgumentParser(prog="nanguard")
cli.add_parsers(parser.add_subparsers())
args = parser.parse_args(sys.argv[1:])
sys.exit(args.func(args))
"""

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
    parser.add_argument("--pycache", help="bytecode cache folder for every process (see above)")
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


def _timed(command: list[str], env: dict[str, str]) -> tuple[float, str]:
    start = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, text=True, env=env)
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

    env = dict(os.environ)
    if args.pycache:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = os.path.abspath(args.pycache)
    nanguard = os.path.join(os.path.dirname(sys.executable), "nanguard")
    reports = {"ours": os.path.join(tmp, "ours.json"), "gate": os.path.join(tmp, "gate.json")}
    tail = [model_dir, "--data", csv, "--json"]
    sides = {
        "ours": [nanguard, "check-model", *tail, reports["ours"]],
        "gate": [sys.executable, "-c", _GATE_ONLY, "check-model", *tail, reports["gate"]],
        "stock": [
            sys.executable,
            "-c",
            _STOCK,
            model_dir,
            tfrecord,
            os.path.join(tmp, "tfma"),
            args.metric,
        ],  # fmt: skip
    }
    print(f"rows={args.rows} rounds={args.rounds} uptime: {_uptime()}")
    print(f"bytecode: {'cache ' + args.pycache if args.pycache else 'as inherited'} "
          f"(PYTHONDONTWRITEBYTECODE={env.get('PYTHONDONTWRITEBYTECODE')})")  # fmt: skip
    print(f"check-model:          {' '.join(sides['ours'])}")
    print(f"check-model (gate parser only): {sys.executable} -c <gate cli> {' '.join(tail)} ...")
    print(f"stock:                {sys.executable} -c <run_model_analysis {args.metric}> "
          f"{model_dir} {tfrecord}")  # fmt: skip
    print(f"setup, not timed with either side: CSV -> TFRecord of tf.Example for TFMA "
          f"{convert_s:.2f} s (in this process, TensorFlow already imported)")  # fmt: skip
    if args.pycache:
        for command in sides.values():  # warm the bytecode cache, untimed
            _timed(command, env)
    times: dict[str, list[float]] = {name: [] for name in sides}
    names = list(sides)
    for round_ in range(args.rounds):
        order = names[round_ % len(names) :] + names[: round_ % len(names)]
        for name in order:
            seconds, out = _timed(sides[name], env)
            times[name].append(seconds)
            if name == "stock":
                stock_count = int(out.split("example_count")[-1])
        results = {}
        for name, path in reports.items():
            with open(path) as f:
                results[name] = json.load(f)
        counts = {results["ours"]["examples"], results["gate"]["examples"], stock_count}
        if counts != {args.rows}:
            sys.exit(f"counts differ: {results['ours']['examples']}, "
                     f"{results['gate']['examples']}, TFMA {stock_count}")  # fmt: skip
        stock_s = times["stock"][-1]
        print(
            f"round {round_ + 1} ({' then '.join(order)}): "
            f"check-model {times['ours'][-1]:.2f} s, gate parser only {times['gate'][-1]:.2f} s "
            f"(examples={results['ours']['examples']} "
            f"probes_run={results['ours']['probes_run']} blessed={results['ours']['blessed']}), "
            f"stock {stock_s:.2f} s (example_count={stock_count}); ratios "
            f"{times['ours'][-1] / stock_s:.3f} / {times['gate'][-1] / stock_s:.3f}; "
            f"load {os.getloadavg()[0]:.2f}",
            flush=True,
        )
    for name, label in (("ours", "check-model"), ("gate", "check-model, gate parser only")):
        ratios = [o / s for o, s in zip(times[name], times["stock"], strict=True)]
        print(
            f"median {label}: {statistics.median(times[name]):.2f} s vs stock "
            f"{statistics.median(times['stock']):.2f} s, ratio {statistics.median(ratios):.3f} "
            f"(rounds {', '.join(f'{r:.3f}' for r in ratios)}; target <= {TARGET})"
        )
    print(f"uptime at the end: {_uptime()}")


def _uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    except OSError:
        return f"load {os.getloadavg()}"


if __name__ == "__main__":
    main()
