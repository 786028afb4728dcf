"""Guard overhead: training steps per second, guarded vs the same model with TerminateOnNaN only.

Three variants share the architecture (`build_model` defaults: He init, L2, dropout, Adam with
global_clipnorm), the in-memory data and the batch size, in one process:

* `guard`: `fit_guarded`, exactly as the Trainer's run_fn calls it: a GuardCallback,
  `snapshot_every` steps per Keras call, the host checking once per call.
* `terminate_on_nan`: a plain Keras model with `TerminateOnNaN`, one step per call (Keras's
  default, and what the stock TFX Trainer examples run). The target is against this one.
* `terminate_on_nan_batched`: the same with `steps_per_execution=snapshot_every`: what the guard
  itself costs once both batch their steps alike (reported, not the target).

Each round builds fresh models (seeded by the round), traces them with one untimed slice, then
times `--slices` fits per variant, interleaved in a seeded random order, so slow moments of a
shared machine fall on every variant. A round's ratio is the variants' total times; the result
is the median over rounds, with the smallest round beside it.

A slice is one epoch over data of known size, or with `--unknown-size` (the data's size hidden,
as TFX's example files hide it: the default `nanguard run` without `train_steps`) a fit of
`--epochs` (3) epochs: Keras counts the batches in the first, one step per call, and the
batched variants run `snapshot_every` steps per call from the second.

    .venv/bin/python benchmarks/bench_trainer.py --rows 20000 --batch-size 64 --rounds 7
    .venv/bin/python benchmarks/bench_trainer.py --unknown-size --rounds 7
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import time

import numpy as np
import tensorflow as tf
import tf_keras as keras

from nanguard.components.trainer.config import TrainerConfig
from nanguard.components.trainer.fit import StepsPerCallFromSecondEpoch, fit_guarded
from nanguard.components.trainer.model import build_model

TARGET = 0.95
VARIANTS = ("guard", "terminate_on_nan", "terminate_on_nan_batched")


def _data(rows: int, n_numeric: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = {f"x{i}": rng.normal(size=rows).astype("float32") for i in range(n_numeric)}
    x["cat"] = rng.integers(0, 8, rows).astype("int64")
    y = (sum(x[f"x{i}"] for i in range(n_numeric)) > 0).astype("int64")
    return x, y


def _build(config: TrainerConfig, n_numeric: int, variant: str, sized: bool):
    """A fit function (`config.epochs` epochs) for `variant`, on a freshly built model."""
    model = build_model([f"x{i}" for i in range(n_numeric)], [("cat", 8)], 2, config)
    if variant == "guard":  # exactly what the Trainer's run_fn runs
        return lambda dataset: fit_guarded(model, dataset, config, verbose=0)
    plain = keras.Model(model.inputs, model.outputs)
    batched = variant.endswith("_batched")
    plain.compile(
        optimizer=keras.optimizers.Adam(
            learning_rate=config.learning_rate, global_clipnorm=config.global_clipnorm
        ),
        loss=keras.losses.SparseCategoricalCrossentropy(),
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
        steps_per_execution=config.snapshot_every if batched else 1,
    )
    callbacks = [keras.callbacks.TerminateOnNaN()]
    count_first = batched and not sized  # fit_guarded's rule: batch once Keras has counted
    if count_first:
        callbacks.append(StepsPerCallFromSecondEpoch(config.snapshot_every))

    def fit(dataset):
        if count_first:
            plain.steps_per_execution = 1
        plain.fit(dataset, epochs=config.epochs, callbacks=callbacks, verbose=0)

    return fit


def _round(config, args, dataset, round_index: int) -> dict:
    """Total seconds per variant over `args.slices` interleaved slices (fits)."""
    # The last round's models go first: a heap that grows round by round makes Python's
    # collector slower for whichever variant allocates more per call.
    keras.backend.clear_session()
    gc.collect()
    fits = {}
    for variant in VARIANTS:
        keras.utils.set_random_seed(round_index)
        fits[variant] = _build(config, args.features, variant, not args.unknown_size)
        fits[variant](dataset)  # trace + warm-up, not timed
    seconds = dict.fromkeys(VARIANTS, 0.0)
    # A seeded shuffle per slice, not a rotation: a rotation keeps the cyclic order, so one
    # variant would always run right after the same other one.
    order = random.Random(round_index)
    for _ in range(args.slices):
        for variant in order.sample(VARIANTS, len(VARIANTS)):
            start = time.perf_counter()
            fits[variant](dataset)
            seconds[variant] += time.perf_counter() - start
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=20000)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--slices", type=int, default=4, help="timed slices per variant/round")
    parser.add_argument("--features", type=int, default=8)
    parser.add_argument("--snapshot-every", type=int, default=TrainerConfig().snapshot_every)
    parser.add_argument(
        "--unknown-size",
        action="store_true",
        help="hide the data's size, as TFX's example files do; each slice fits --epochs",
    )
    parser.add_argument("--epochs", type=int, help="epochs per slice (default 1; 3 if unknown)")
    args = parser.parse_args()
    epochs = args.epochs or (3 if args.unknown_size else 1)

    x, y = _data(args.rows, args.features)
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(args.batch_size).cache()
    if args.unknown_size:
        dataset = dataset.filter(lambda *_: True)  # cardinality unknown, like a file dataset
    steps = int(np.ceil(args.rows / args.batch_size)) * args.slices * epochs
    config = TrainerConfig.from_dict(
        {"epochs": epochs, "snapshot_every": args.snapshot_every, "check_numerics": False}
    )
    ratios = {"terminate_on_nan": [], "terminate_on_nan_batched": []}
    for round_index in range(args.rounds):
        seconds = _round(config, args, dataset, round_index)
        rates = {v: steps / seconds[v] for v in VARIANTS}
        for other in ratios:
            ratios[other].append(rates["guard"] / rates[other])
        print(
            f"round {round_index}: steps/s guard {rates['guard']:.0f}, "
            f"TerminateOnNaN {rates['terminate_on_nan']:.0f}, "
            f"TerminateOnNaN batched {rates['terminate_on_nan_batched']:.0f}; "
            f"ratio {ratios['terminate_on_nan'][-1]:.3f}, "
            f"batched {ratios['terminate_on_nan_batched'][-1]:.3f}",
            flush=True,
        )
    print(
        f"rows={args.rows} batch={args.batch_size} snapshot_every={args.snapshot_every} "
        f"epochs per slice={epochs} size known={not args.unknown_size} "
        f"rounds={args.rounds} timed steps per variant and round={steps}"
    )
    main_ratio = statistics.median(ratios["terminate_on_nan"])
    verdict = "met" if min(ratios["terminate_on_nan"]) >= TARGET else "not met in every round"
    print(
        f"guard / TerminateOnNaN (one step per call): median {main_ratio:.3f}, "
        f"min {min(ratios['terminate_on_nan']):.3f} (target >= {TARGET}: {verdict})"
    )
    batched = ratios["terminate_on_nan_batched"]
    print(
        f"guard / TerminateOnNaN with the same {args.snapshot_every} steps per call: "
        f"median {statistics.median(batched):.3f}, min {min(batched):.3f} (the guard's own cost)"
    )


if __name__ == "__main__":
    main()
