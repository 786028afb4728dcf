"""Guard overhead: training steps per second, guarded vs the same model with TerminateOnNaN only.

Both variants get the same architecture (`build_model` defaults: He init, L2, dropout, Adam
with global_clipnorm), the same in-memory data and batch size, in one process, interleaved over
`--rounds` rounds; each round traces first (one warm-up epoch, not timed) and then times
`--epochs` epochs. Prints steps/sec per round and the median ratio guarded / TerminateOnNaN
(target >= 0.95).

    .venv/bin/python benchmarks/bench_trainer.py --rows 20000 --batch-size 64 --rounds 3
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import tensorflow as tf
import tf_keras as keras

from nanguard.components.trainer.config import TrainerConfig
from nanguard.components.trainer.guard import GuardCallback
from nanguard.components.trainer.model import build_model


def _data(rows: int, n_numeric: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = {f"x{i}": rng.normal(size=rows).astype("float32") for i in range(n_numeric)}
    x["cat"] = rng.integers(0, 8, rows).astype("int64")
    y = (sum(x[f"x{i}"] for i in range(n_numeric)) > 0).astype("int64")
    return x, y


def _build(config, n_numeric, guarded: bool):
    model = build_model([f"x{i}" for i in range(n_numeric)], [("cat", 8)], 2, config)
    if guarded:
        return model, [GuardCallback(config)]
    plain = keras.Model(model.inputs, model.outputs)
    plain.compile(
        optimizer=keras.optimizers.Adam(
            learning_rate=config.learning_rate, global_clipnorm=config.global_clipnorm
        ),
        loss=keras.losses.SparseCategoricalCrossentropy(),
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
    )
    return plain, [keras.callbacks.TerminateOnNaN()]


def _steps_per_sec(model, callbacks, dataset, epochs: int, steps: int) -> float:
    model.fit(dataset, epochs=1, callbacks=callbacks, verbose=0)  # trace + warm-up
    start = time.perf_counter()
    model.fit(dataset, epochs=epochs, callbacks=callbacks, verbose=0)
    return epochs * steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=20000)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--features", type=int, default=8)
    parser.add_argument("--snapshot-every", type=int, default=20)
    args = parser.parse_args()

    x, y = _data(args.rows, args.features)
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(args.batch_size).cache()
    steps = int(np.ceil(args.rows / args.batch_size))
    config = TrainerConfig.from_dict(
        {"epochs": args.epochs, "snapshot_every": args.snapshot_every, "check_numerics": False}
    )
    results = {"guard": [], "terminate_on_nan": []}
    for round_index in range(args.rounds):
        order = (
            ("guard", "terminate_on_nan")
            if round_index % 2 == 0
            else (
                "terminate_on_nan",
                "guard",
            )
        )
        for name in order:
            keras.utils.set_random_seed(round_index)
            model, callbacks = _build(config, args.features, guarded=name == "guard")
            rate = _steps_per_sec(model, callbacks, dataset, args.epochs, steps)
            results[name].append(rate)
        ratio = results["guard"][-1] / results["terminate_on_nan"][-1]
        print(
            f"round {round_index}: guard {results['guard'][-1]:.1f} steps/s, "
            f"TerminateOnNaN {results['terminate_on_nan'][-1]:.1f} steps/s, ratio {ratio:.3f}"
        )
    ratios = [g / t for g, t in zip(results["guard"], results["terminate_on_nan"], strict=True)]
    median = statistics.median(ratios)
    print(
        f"rows={args.rows} batch={args.batch_size} steps/epoch={steps} epochs={args.epochs} "
        f"rounds={args.rounds}"
    )
    print(
        f"median steps/s: guard {statistics.median(results['guard']):.1f}, "
        f"TerminateOnNaN {statistics.median(results['terminate_on_nan']):.1f}"
    )
    print(f"median ratio guard / TerminateOnNaN: {median:.3f} (target >= 0.95)")


if __name__ == "__main__":
    main()
