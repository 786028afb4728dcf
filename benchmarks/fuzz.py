"""The CSV fuzzer at full size: random CSVs through `nanguard scan --json` and run's staging.

    python benchmarks/fuzz.py --cases 10000      # the issue's number (a few minutes)
    python benchmarks/fuzz.py --cases 300 --seed 11000   # what tests/pipelines/test_fuzz.py runs

Prints the number of cases run and found (failed), with the seed and what went wrong for each
failure; a seed reproduces its file: `faults_data.random_csv(seed)`. Exit 1 if any failed.
The generator, the independent reference and the checks: tests/pipelines/faults_data.py.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tests.pipelines import faults_data  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10000)
    parser.add_argument("--seed", type=int, default=0, help="first seed")
    args = parser.parse_args()
    import pyarrow.lib

    # pyarrow on Python 3.10 walks gc.get_referrers on every read_csv (bpo-42248 workaround),
    # ~0.15 s per call in a process holding TensorFlow; a no-op changes no result.
    pyarrow.lib._break_traceback_cycle_from_frame = lambda frame: None
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="nanguard_fuzz_") as folder:
        failures = faults_data.run_cases(range(args.seed, args.seed + args.cases), folder)
    seconds = time.perf_counter() - start
    print(f"fuzz: {args.cases} cases run, {len(failures)} found (failed) in {seconds:.0f} s")
    if failures:
        print("failing seeds:", " ".join(str(s) for s in sorted(failures)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
