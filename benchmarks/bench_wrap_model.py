"""The cost of `nanguard wrap-model`'s flags: a wrapped signature against the original one of the
same team model, side by side in one process.

Two team models (`tests/serving_guard/_team_models`): a tf_keras model over a dict of tensors, and
one whose serving signature parses tf.Examples itself (fixed, VarLen, ragged and a string feature
through a StringLookup). Each is wrapped through `wrap.wrap_model` (policy `flag`), both
SavedModels are loaded, and both signatures are called on the same request batch (a tenth of the
examples hostile: NaN, Inf, missing, 1e38), interleaved, after one untimed call each. A round
times `--calls` calls of each; the ratio is the median over rounds of wrapped / original time:
the target is <= 1.1.

    .venv/bin/python benchmarks/bench_wrap_model.py --batches 1 64 1024 --rounds 7
    .venv/bin/python benchmarks/bench_wrap_model.py --hidden 256 256   # a model with compute
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

import numpy as np
import tensorflow as tf

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))  # tests.serving_guard

from nanguard.components.serving_guard import wrap  # noqa: E402
from tests.serving_guard import _team_models  # noqa: E402

TARGET = 1.1
HOSTILE = [np.nan, np.inf, -np.inf, 1e38]


def _requests(kind: str, batch: int, rng) -> dict:
    """The keyword arguments of one request batch of `batch` examples."""
    if kind == "tensors":
        a = rng.normal(size=(batch, 1)).astype(np.float32)
        b = rng.normal(size=(batch, 3)).astype(np.float32)
        a[::10, 0] = [HOSTILE[i % 4] for i in range(len(a[::10]))]
        n = rng.integers(0, 5, size=(batch, 1))
        return {"a": tf.constant(a), "b": tf.constant(b), "n": tf.constant(n)}
    rows = []
    for i in range(batch):
        row = {"x": [float(rng.normal())], "v": [1.0, 2.0], "r": [1], "cat": [b"red"]}
        if i % 10 == 0:
            hostile = HOSTILE[(i // 10) % 4]
            row["x"] = [float(hostile)]
            if (i // 10) % 5 == 0:
                del row["x"]  # a fifth of them missing
        rows.append(_team_models.example(row))
    return {"examples": tf.constant(rows)}


def _time(calls: dict, kwargs: dict, rounds: int, per_round: int) -> dict:
    for call in calls.values():
        call(**kwargs)  # traced, untimed
    times = {name: [] for name in calls}
    order = list(calls)
    for _ in range(rounds):
        order.reverse()  # neither signature always runs first
        for name in order:
            start = time.perf_counter()
            for _ in range(per_round):
                next(iter(calls[name](**kwargs).values())).numpy()
            times[name].append((time.perf_counter() - start) / per_round)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 64, 1024])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--kinds", nargs="+", default=["tensors", "examples"])
    parser.add_argument(
        "--hidden",
        type=int,
        nargs="*",
        default=[],
        help="Dense relu layers of these units in both team models (default: none, the worst "
        "case: a model that does almost nothing but parse)",
    )
    args = parser.parse_args()
    root = tempfile.mkdtemp(prefix="bench_wrap_")
    vocab = os.path.join(root, "vocab.txt")
    with open(vocab, "w") as f:
        f.write("red\ngreen\n")
    rng = np.random.default_rng(1)
    worst = 0.0
    for kind in args.kinds:
        original_dir, wrapped_dir = os.path.join(root, kind), os.path.join(root, kind + "-wrapped")
        if kind == "tensors":
            _team_models.tensor_model(original_dir, tuple(args.hidden))
        else:
            _team_models.example_model(original_dir, vocab, tuple(args.hidden))
        wrap.wrap_model(original_dir, wrapped_dir)
        calls = {
            "wrapped": tf.saved_model.load(wrapped_dir).signatures["serving_default"],
            "original": tf.saved_model.load(original_dir).signatures["serving_default"],
        }
        for batch in args.batches:
            times = _time(calls, _requests(kind, batch, rng), args.rounds, args.calls)
            ratios = [w / o for w, o in zip(times["wrapped"], times["original"], strict=True)]
            median = statistics.median(ratios)
            worst = max(worst, median)
            print(
                f"{kind}, hidden {args.hidden}, batch {batch}, {args.calls} calls x "
                f"{args.rounds} rounds: wrapped "
                f"{statistics.median(times['wrapped']) * 1e3:.3f} ms, original "
                f"{statistics.median(times['original']) * 1e3:.3f} ms per call; ratio median "
                f"**{median:.3f}x** (rounds {min(ratios):.3f}-{max(ratios):.3f})",
                flush=True,
            )
    verdict = "met" if worst <= TARGET else "NOT met"
    print(f"worst median ratio {worst:.3f}x; target <= {TARGET}: {verdict}")


if __name__ == "__main__":
    main()
