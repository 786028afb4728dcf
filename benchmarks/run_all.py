"""Runs every benchmark, each side by side with the stock TFX component doing the same work.

    make bench                      # the sizes the issues name (takes a while on 2 cores)
    python benchmarks/run_all.py --quick   # small sizes, a smoke run

Output is printed and kept in benchmarks/results/latest.txt. Ratios are what matter: absolute
times on shared machines are noise.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
# (script, full-size arguments, quick arguments, the target it checks)
BENCHMARKS = [
    (
        "bench_data_guard.py",
        ["--rows", "1000000"],
        ["--rows", "50000", "--repeats", "1"],
        "DataGuard <= 0.5x StatisticsGen",
    ),
    (
        "bench_slices.py",
        ["--rows", "1000000", "--rounds", "7"],
        ["--rows", "50000", "--rounds", "1"],
        "counting with slice_by <= 1.3x without",
    ),
    (
        "bench_transform.py",
        ["--rows", "1000000"],
        ["--rows", "50000"],
        "NaN-safe preprocessing_fn <= 1.25x tft.scale_to_z_score",
    ),
    (
        "bench_em.py",
        ["--rows", "1000000", "--features", "10"],
        ["--rows", "20000", "--features", "10", "--iterations", "3"],
        "strategy em vs mean: the cost of one EM iteration, reported",
    ),
    (
        "bench_trainer.py",
        [],
        ["--rows", "5000", "--rounds", "1"],
        "guarded steps/s >= 0.95x TerminateOnNaN only",
    ),
    (
        "bench_trainer.py",
        ["--unknown-size"],
        ["--unknown-size", "--rows", "5000", "--rounds", "1"],
        "the same over data of unknown size (whole epochs over TFX files)",
    ),
    (
        "bench_guard_any.py",
        ["--rows", "8192", "--rounds", "5", "--epochs", "3"],
        ["--rows", "1024", "--rounds", "1", "--epochs", "1", "--kinds", "sequential"],
        "guard(model) fit >= 0.95x TerminateOnNaN, per model kind",
    ),
    (
        "bench_serving_flags.py",
        ["--batch", "1024", "--rounds", "7"],
        ["--batch", "256", "--rounds", "1", "--calls", "3"],
        "serving_default with its flags <= 1.1x without",
    ),
    (
        "bench_wrap_model.py",
        ["--batches", "1", "64", "1024", "--rounds", "7"],
        ["--batches", "64", "--rounds", "1", "--calls", "3"],
        "a signature wrapped by wrap-model <= 1.1x the original",
    ),
    (
        "bench_serving_monitor.py",
        ["--requests", "1000000"],
        ["--requests", "20000", "--no-tfdv", "--output", os.path.join(HERE, "results", "sm.json")],
        "nanguard monitor's requests/s on 1M logged requests, vs a per-record loop and TFDV",
    ),
    ("bench_gate.py", ["--rows", "100000"], ["--rows", "5000"], "gate <= 0.5x stock Evaluator"),
    (
        "bench_check_model.py",
        ["--rows", "100000", "--rounds", "3"],
        ["--rows", "5000", "--rounds", "1"],
        "nanguard check-model <= 0.3x stock TFMA (whole processes)",
    ),
    (
        "bench_scan.py",
        ["--rows", "1000000", "--cols", "10"],
        ["--rows", "20000", "--rounds", "1"],
        "nanguard scan <= 3x pyarrow+numpy and <= 0.3x TFDV",
    ),
    (
        "bench_pipeline.py",
        ["--sizes", "10000", "100000", "1000000"],
        ["--sizes", "10000"],
        "whole guarded pipeline <= 1.3x stock at 1M rows; stages scale linearly",
    ),
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes")
    parser.add_argument("--only", help="run one benchmark, e.g. bench_gate.py")
    args = parser.parse_args()
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    log_path = os.path.join(HERE, "results", "latest.txt")
    failed = []
    with open(log_path, "w") as log:
        for script, full, quick, target in BENCHMARKS:
            if args.only and script != args.only:
                continue
            command = [sys.executable, os.path.join(HERE, script), *(quick if args.quick else full)]
            header = f"==== {script} ({target}): {' '.join(command[1:])}"
            print(header, flush=True)
            log.write(header + "\n")
            start = time.monotonic()
            proc = subprocess.run(command, capture_output=True, text=True)
            log.write(proc.stdout + proc.stderr[-4000:] if proc.returncode else proc.stdout)
            print(proc.stdout, end="", flush=True)
            if proc.returncode:
                failed.append(script)
                print(proc.stderr[-2000:], file=sys.stderr)
            footer = f"==== {script}: exit {proc.returncode}, {time.monotonic() - start:.0f} s\n"
            print(footer, flush=True)
            log.write(footer)
    print(f"Results kept in {log_path}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
