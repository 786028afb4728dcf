"""`guard(model)` overhead per model kind: a guarded fit vs the same fit with `TerminateOnNaN`.

For each model (Sequential, Functional with a 50k-vocabulary embedding, two outputs and sample
weights, subclassed, subclassed with its own `train_step`, and the two-tower recommender of
`tests/trainer/two_tower_module.py` with two 50k-row tables), two twins are built from the same
seed and compiled alike with the same `steps_per_execution` (`--steps-per-call`, also the
guard's `snapshot_every`): one goes through `nanguard.components.guard`, the other trains with
`keras.callbacks.TerminateOnNaN()`. After one untimed fit each (tracing), every round times one
`fit(epochs=E)` of each twin of each model, in a seeded random order (interleaved, so a slow
moment of the shared machine falls on any of them). A model's ratio is the median over rounds of
`time(TerminateOnNaN) / time(guarded)`: above 1 the guarded fit is faster; the target is >= 0.95.
A fit has fixed costs besides its epochs (the guard's: a snapshot at its start, a check and the
report at its end); `--epochs 1` charges them all to one epoch, `--epochs 3` to three, as a
real training run of many epochs charges them to all of its epochs.

    .venv/bin/python benchmarks/bench_guard_any.py --rows 8192 --rounds 5 --epochs 3
"""

from __future__ import annotations

import argparse
import atexit
import os
import random
import shutil
import statistics
import sys
import tempfile
import time

import numpy as np
import tensorflow as tf
import tf_keras as keras

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))  # tests.trainer._models

from nanguard.components import guard  # noqa: E402
from tests.trainer import _models, two_tower_module  # noqa: E402

TARGET = 0.95


def _two_tower(rows: int, steps: int):
    folder = tempfile.mkdtemp(prefix="bench_guard_any_")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)  # read lazily until then
    path = os.path.join(folder, "clicks.tfrecord")
    two_tower_module.write_examples(path, rows)
    keras.utils.set_random_seed(0)
    model = two_tower_module.build_model(1e-3, steps_per_execution=steps)
    records = tf.data.TFRecordDataset([path]).batch(64)

    def parse(r):
        features = tf.io.parse_example(r, two_tower_module.FEATURES)
        return features, features.pop("clicked")

    # A TFRecord file's size is unknown to tf.data; Keras needs it with steps_per_execution > 1.
    batches = tf.data.experimental.assert_cardinality(-(-rows // 64))
    return model, records.map(parse).apply(batches).cache()


def _build(kind: str, rows: int, steps: int, batch: int):
    """A compiled model and its dataset (of known size), fresh from seed 0."""
    if kind == "two_tower":
        return _two_tower(rows, steps)
    model, data = _models.KINDS[kind](steps_per_execution=steps)
    x, y, w = data
    reps = max(1, rows // len(tf.nest.flatten(y)[0]))  # rows, not a dict label's keys
    tile = lambda a: np.concatenate([a] * reps)  # noqa: E731
    data = (
        {k: tile(v) for k, v in x.items()} if isinstance(x, dict) else tile(x),
        {k: tile(v) for k, v in y.items()} if isinstance(y, dict) else tile(y),
        None if w is None else tile(w),
    )
    return model, _models.dataset(data, batch).cache()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=8192)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=3, help="epochs per timed fit")
    parser.add_argument("--steps-per-call", type=int, default=20)
    parser.add_argument(
        "--kinds",
        nargs="+",
        default=["sequential", "functional", "subclassed", "own_train_step", "two_tower"],
    )
    args = parser.parse_args()
    fits = {}
    for kind in args.kinds:
        for variant in ("guarded", "terminate_on_nan"):
            model, dataset = _build(kind, args.rows, args.steps_per_call, args.batch_size)
            callbacks = []
            if variant == "guarded":
                model = guard(model, snapshot_every=args.steps_per_call)
            else:
                callbacks = [keras.callbacks.TerminateOnNaN()]

            def fit(model=model, dataset=dataset, callbacks=callbacks, epochs=args.epochs):
                model.fit(dataset, epochs=epochs, verbose=0, callbacks=callbacks)

            fit(epochs=1)  # traced, untimed
            fits[kind, variant] = fit
            print(f"built {kind} {variant}", file=sys.stderr, flush=True)
    times = {key: [] for key in fits}
    order = list(fits)
    rng = random.Random(0)
    for _ in range(args.rounds):
        rng.shuffle(order)
        for key in order:
            start = time.perf_counter()
            fits[key]()
            times[key].append(time.perf_counter() - start)
            print(
                f"round {len(times[key])} {key} {times[key][-1]:.3f}s", file=sys.stderr, flush=True
            )
    print(
        f"rows {args.rows}, batch {args.batch_size}, {args.steps_per_call} steps per call for "
        f"both, {args.epochs} epoch(s) per fit, {args.rounds} interleaved rounds; "
        "ratio = TerminateOnNaN time / guarded time"
    )
    print("| model | guarded s/fit | TerminateOnNaN s/fit | ratio (median) | min | target |")
    print("| --- | --- | --- | --- | --- | --- |")
    for kind in args.kinds:
        guarded, plain = times[kind, "guarded"], times[kind, "terminate_on_nan"]
        ratios = [p / g for p, g in zip(plain, guarded, strict=True)]
        median = statistics.median(ratios)
        print(
            f"| {kind} | {statistics.median(guarded):.3f} | {statistics.median(plain):.3f} | "
            f"**{median:.2f}x** | {min(ratios):.2f}x | {'met' if median >= TARGET else 'NOT met'} |"
        )


if __name__ == "__main__":
    main()
