"""Benchmark: `nanguard scan` on a CSV vs pyarrow + numpy and vs TFDV, whole processes, one run.

Generates a seeded ``--rows`` x ``--cols`` CSV with synth.py (numeric columns with ~5% gaps,
1% NaN, 0.1% +Inf, 0.1% -Inf, 0.05% huge 1e30; one categorical column; the label), then times,
interleaved over ``--rounds`` rounds, each as a fresh process (wall time and its peak RSS):

  (a) ``nanguard scan FILE --json OUT``
  (b) a plain reference: ``pyarrow.csv.read_csv`` (multi-threaded, Arrow's own types: the
      numeric columns are float64) + a numpy count of missing/NaN/+Inf/-Inf/huge per column,
      on zero-copy views (not ``to_numpy``, which imports pandas, a second here)
  (c) TFDV's ``tfdv.generate_statistics_from_csv`` on the same file (its default DirectRunner)

asserts the counts of (a) equal (b), and prints every round, the medians and the ratios
against the targets (scan <= 2x the reference, the issue's target; <= 0.3x TFDV). ``nanguard
scan`` is also run once on the first quarter of the rows: its peak RSS must not grow with the
row count.

  .venv/bin/python benchmarks/bench_scan.py --rows 1000000 --cols 10
  .venv/bin/python benchmarks/bench_scan.py --rows 20000 --rounds 1   # quick
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
COUNTS = ("missing", "nan", "pos_inf", "neg_inf", "huge")
TARGET_REFERENCE, TARGET_TFDV = 2.0, 0.3  # the targets (#29)


def _reference(path: str, out: str) -> None:
    """(b): read with pyarrow, count with numpy, write {column: {count: n}}."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pacsv

    table = pacsv.read_csv(
        path,
        convert_options=pacsv.ConvertOptions(
            null_values=["", "NA", "null", "None"], strings_can_be_null=True
        ),
    )
    result = {}
    for name, column in zip(table.column_names, table.columns, strict=True):
        counts = dict.fromkeys(COUNTS, 0)
        counts["missing"] = column.null_count
        if pa.types.is_floating(column.type) or pa.types.is_integer(column.type):
            for chunk in column.chunks:
                chunk = pc.cast(pc.drop_null(chunk), pa.float64())  # a numpy view, no pandas
                v = np.frombuffer(chunk.buffers()[1], np.float64, len(chunk), chunk.offset * 8)
                counts["nan"] += int(np.isnan(v).sum())
                counts["pos_inf"] += int(np.isposinf(v).sum())
                counts["neg_inf"] += int(np.isneginf(v).sum())
                counts["huge"] += int((np.abs(v[np.isfinite(v)]) > 1.8446744e19).sum())
        result[name] = counts
    with open(out, "w") as f:
        json.dump(result, f)


def _tfdv(path: str, out: str) -> None:
    """(c): TFDV's own CSV statistics, default options."""
    import tensorflow_data_validation as tfdv

    tfdv.generate_statistics_from_csv(path, output_path=out)


def _run(command: list[str]) -> tuple[float, float]:
    """(wall seconds, peak RSS MB) of one process.

    The peak comes from /usr/bin/time: Linux starts a forked child's ru_maxrss at its parent's
    resident size, and this parent holds the generated table.
    """
    with tempfile.NamedTemporaryFile("r", suffix=".rss") as rss:
        start = time.monotonic()
        proc = subprocess.run(
            ["/usr/bin/time", "-o", rss.name, "-f", "%M", *command],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        wall = time.monotonic() - start
        if proc.returncode:
            raise SystemExit(f"{command} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
        return wall, int(rss.read().split()[-1]) / 1024


def _uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def _make_csv(rows: int, cols: int, seed: int, folder: str) -> str:
    sys.path.insert(0, HERE)
    import synth

    table = synth.make_table(rows, numeric=cols - 2, categorical=1, seed=seed)
    return synth.write_csv(table, folder)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--cols", type=int, default=10, help="columns, the label included (>= 3)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--child", choices=("reference", "tfdv"), help=argparse.SUPPRESS)
    parser.add_argument("child_args", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        {"reference": _reference, "tfdv": _tfdv}[args.child](*args.child_args)
        return 0
    print(f"$ {' '.join([os.path.relpath(sys.executable), *sys.argv])}")
    print(f"load before: {_uptime()}")
    with tempfile.TemporaryDirectory(prefix="bench_scan_") as tmp:
        path = _make_csv(args.rows, args.cols, args.seed, os.path.join(tmp, "full"))
        quarter = _make_csv(args.rows // 4, args.cols, args.seed, os.path.join(tmp, "quarter"))
        size_mb = os.path.getsize(path) / 1e6
        print(f"data: {args.rows} rows x {args.cols} columns, {size_mb:.1f} MB ({path})")
        nanguard = os.path.join(os.path.dirname(sys.executable), "nanguard")
        me = os.path.abspath(__file__)
        commands = {
            "nanguard scan": [nanguard, "scan", path, "--json", os.path.join(tmp, "scan.json")],
            "pyarrow+numpy": [sys.executable, me, "--child", "reference", path, f"{tmp}/ref.json"],
            "tfdv csv stats": [sys.executable, me, "--child", "tfdv", path, f"{tmp}/stats.pb"],
        }
        times: dict[str, list[float]] = {k: [] for k in commands}
        peaks: dict[str, list[float]] = {k: [] for k in commands}
        for _ in range(args.rounds):  # interleaved: each round runs all three
            for name, command in commands.items():
                wall, peak = _run(command)
                times[name].append(wall)
                peaks[name].append(peak)
        _check_counts(f"{tmp}/scan.json", f"{tmp}/ref.json")
        _, quarter_peak = _run([nanguard, "scan", quarter, "--json", f"{tmp}/quarter.json"])
    print(f"load after:  {_uptime()}")
    print(f"{'process':<16}{'median s':>10}  {'rounds s':<28}{'peak RSS MB':>12}")
    for name in commands:
        rounds = ", ".join(f"{t:.2f}" for t in times[name])
        print(
            f"{name:<16}{statistics.median(times[name]):>10.2f}  {rounds:<28}"
            f"{max(peaks[name]):>12.0f}"
        )
    scan_s = statistics.median(times["nanguard scan"])
    vs_ref = scan_s / statistics.median(times["pyarrow+numpy"])
    vs_tfdv = scan_s / statistics.median(times["tfdv csv stats"])
    per_round = [
        f"{s / r:.2f}/{s / t:.2f}"
        for s, r, t in zip(
            times["nanguard scan"], times["pyarrow+numpy"], times["tfdv csv stats"], strict=True
        )
    ]
    print(
        f"scan / pyarrow+numpy: {vs_ref:.2f}x (target <= {TARGET_REFERENCE}x) "
        f"{'OK' if vs_ref <= TARGET_REFERENCE else 'MISSED'}"
    )
    print(
        f"scan / TFDV:          {vs_tfdv:.2f}x (target <= {TARGET_TFDV}x) "
        f"{'OK' if vs_tfdv <= TARGET_TFDV else 'MISSED'}"
    )
    print(f"per round (vs ref / vs TFDV): {', '.join(per_round)}")
    print(
        f"scan peak RSS: {args.rows // 4} rows {quarter_peak:.0f} MB, {args.rows} rows "
        f"{max(peaks['nanguard scan']):.0f} MB "
        f"(ratio {max(peaks['nanguard scan']) / quarter_peak:.2f})"
    )
    print("counts (present/missing/NaN/+Inf/-Inf/huge per column): scan == pyarrow+numpy")
    return 0 if vs_ref <= TARGET_REFERENCE and vs_tfdv <= TARGET_TFDV else 1


def _check_counts(scan_json: str, reference_json: str) -> None:
    with open(scan_json) as f:
        scanned = json.load(f)["features"]
    with open(reference_json) as f:
        reference = json.load(f)
    assert scanned.keys() == reference.keys(), (sorted(scanned), sorted(reference))
    for name, want in reference.items():
        got = {k: scanned[name][k] for k in COUNTS}
        assert got == want, (name, got, want)
        assert want["missing"] + scanned[name]["present"] == scanned[name]["rows"], name


if __name__ == "__main__":
    sys.exit(main())
