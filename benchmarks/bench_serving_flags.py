"""The serving flags' cost: `serving_default` with `nanguard_repaired` and `nanguard_finite`
against the same signature returning only the predictions, side by side in one process.

Both are traced from the same Keras model and transform graph (`tests/trainer/_serving_model`,
nanguard's preprocessing_fn), called on the same batch of serialized tf.Examples (a tenth of the
rows hostile: NaN, Inf, missing, out of range), interleaved, after one untimed call each. A
round times `--calls` calls of each; the ratio is the median over rounds of flagged / plain
time: the target is <= 1.1.

    .venv/bin/python benchmarks/bench_serving_flags.py --batch 1024 --rounds 7
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

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))  # tests.trainer

from nanguard.components.trainer import serving  # noqa: E402
from tests.trainer import _serving_model  # noqa: E402

TARGET = 1.1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--calls", type=int, default=20)
    args = parser.parse_args()
    tft_out, _, ranges, model = _serving_model.build(tempfile.mkdtemp(prefix="bench_flags_"))
    flagged = serving.serving_signatures(model, tft_out, _serving_model.LABEL, None, ranges)[
        serving.SERVING_SIGNATURE
    ]
    spec = {k: v for k, v in tft_out.raw_feature_spec().items() if k != _serving_model.LABEL}
    layer = model.tft_layer  # attached by serving_signatures

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)], autograph=False)
    def plain(examples):
        transformed = layer(tf.io.parse_example(examples, spec))
        transformed.pop(_serving_model.LABEL, None)
        return {serving.OUTPUT_KEY: model(transformed)}

    rng = np.random.default_rng(1)
    rows = [_serving_model.row(i, rng) for i in range(args.batch)]
    for i in range(0, args.batch, 10):  # a tenth hostile
        rows[i]["bill"] = [[np.nan], [np.inf], [], [1e30]][(i // 10) % 4]
    examples = tf.constant([_serving_model.example(r) for r in rows])
    plain = plain.get_concrete_function()  # called as the flagged one is: a concrete function
    calls = {"flagged": lambda: flagged(examples=examples), "plain": lambda: plain(examples)}
    for call in calls.values():
        call()  # traced, untimed
    times = {name: [] for name in calls}
    order = list(calls)
    for _ in range(args.rounds):
        order.reverse()  # neither signature always runs first
        for name in order:
            call = calls[name]
            start = time.perf_counter()
            for _ in range(args.calls):
                call()[serving.OUTPUT_KEY].numpy()
            times[name].append((time.perf_counter() - start) / args.calls)
    ratios = [f / p for f, p in zip(times["flagged"], times["plain"], strict=True)]
    median = statistics.median(ratios)
    print(
        f"batch {args.batch}, {args.calls} calls per round, {args.rounds} rounds: flagged "
        f"{statistics.median(times['flagged']) * 1e3:.2f} ms, plain "
        f"{statistics.median(times['plain']) * 1e3:.2f} ms per call; ratio median "
        f"**{median:.3f}x** (rounds {min(ratios):.3f}-{max(ratios):.3f}); target <= {TARGET}: "
        f"{'met' if median <= TARGET else 'NOT met'}"
    )


if __name__ == "__main__":
    main()
