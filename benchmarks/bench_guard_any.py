"""`guard(model)` overhead per model kind: a guarded fit vs the same fit with `TerminateOnNaN`.

For each model (Sequential, Functional with a 50k-vocabulary embedding, two outputs and sample
weights, subclassed, subclassed with its own `train_step`, the two-tower recommender of
`tests/trainer/two_tower_module.py` with two 50k-row tables, and the TFX v1.16.0 penguin and taxi
examples' own models, `_tfx_example`; these two need the fetched TFX checkout that
`tests/trainer/test_team_run_fn.py` reads), three twins are built from the same
seed and compiled alike with the same `steps_per_execution` (`--steps-per-call`): two go through
`nanguard.components.guard` with `snapshot_every=--snapshot-every`, one with `check='step'` (the
default: every step checked in graph) and one with `check='snapshot'` (Keras's step unchanged,
its loss checked after each call as `TerminateOnNaN` checks it, its weights at each snapshot),
the third trains with `keras.callbacks.TerminateOnNaN()`. After one untimed fit each (tracing),
every round times one `fit(epochs=E)` of each twin of each model: the models in a seeded random
order, each model's three twins back to back in a random order (so a slow moment of the shared
machine falls on fits that are compared), with Python's garbage collector run before and held
off during each fit (as `timeit` does), in wall-clock and in the process's CPU time. A ratio is
the median over rounds of
`time(TerminateOnNaN) / time(guarded)`: above 1 the guarded fit is faster; the target is >= 0.95.
The ratio of the fastest fit of each twin (timeit's convention: other tenants only add time)
is printed beside it. tf.data's autotuning is off for every twin's data: with it on, about one
fit in five, in any twin, ended 0.22-0.27 s after its last callback (40 TerminateOnNaN fits of
the sequential model took 0.33-0.43 s, six of them 0.625-0.627 s, with their usual CPU time),
as the iterator's teardown waited for the autotuning thread's next wake-up; that moved a
per-round ratio by a third. With it off, 30 such fits took 0.28-0.32 s.
Each fit reads its data through one iterator (`dataset.repeat()` with `steps_per_epoch`). A fit
has fixed costs besides its epochs (the guard's: a snapshot at its start, a check and the report
at its end); `--epochs 1` charges them all to one epoch, `--epochs 10` to ten, as a real
training run of many epochs charges them to all of its epochs.

    .venv/bin/python benchmarks/bench_guard_any.py --rows 8192 --rounds 11 --epochs 10

`--snapshot-every` (100) is how many steps a rollback may lose; each snapshot copies every
weight and optimizer slot, about 40 MB for the two-tower model, and costs a few percent of a
20-step call when taken after every call.
"""

from __future__ import annotations

import argparse
import atexit
import gc
import os
import random
import shutil
import statistics
import sys
import tempfile
import time

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")  # the TFX examples' `tf.keras` is tf_keras

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tf_keras as keras  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))  # tests.trainer._models

from nanguard.components import guard  # noqa: E402
from tests.trainer import _models, _team_run, two_tower_module  # noqa: E402

TARGET = 0.95
VARIANTS = ("step", "snapshot", "terminate_on_nan")  # guard(check=...), then the stock callback


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


_TFX_DATA: dict = {}  # kind -> (module, fn_args, transform output): made once per kind


def _tfx_example(kind: str, rows: int, steps: int):
    """The TFX v1.16.0 example's own model and `_input_fn`, as its `run_fn` builds them (under a
    `MirroredStrategy`), read from the fetched TFX checkout as `tests/trainer/_team_run.py` does:
    the penguin example on its Transform output of TFX's penguin testdata (batch 20), the taxi
    wide-and-deep model on TFX's transformed taxi testdata (batch 40). Its `compile` is given
    `steps_per_execution`; an epoch is `rows // batch` steps of the data, cached in memory."""
    import tensorflow_transform as tft

    git_dir = _team_run.GIT_DIR
    if kind not in _TFX_DATA:
        folder = tempfile.mkdtemp(prefix="bench_guard_any_")
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        path = os.path.join(folder, f"{kind}_utils.py")
        with open(path, "wb") as handle:
            handle.write(_team_run.git_show(git_dir, _team_run.EXAMPLES[kind]))
        module = _team_run._load(path, f"bench_{kind}_utils")
        data = (
            _team_run._penguin_transform(git_dir, folder, module.preprocessing_fn)
            if kind == "penguin"
            else _team_run._taxi_data(git_dir, folder)
        )
        fn_args = _team_run._fn_args(data, os.path.join(folder, "out"), train_steps=1)
        _TFX_DATA[kind] = module, fn_args, tft.TFTransformOutput(data["transform"])
    module, fn_args, transform = _TFX_DATA[kind]
    compile_ = keras.Model.compile

    def compile_with_steps(self, *args, **kwargs):
        return compile_(self, *args, steps_per_execution=steps, **kwargs)

    keras.utils.set_random_seed(0)
    keras.Model.compile = compile_with_steps
    try:
        with tf.distribute.MirroredStrategy().scope():  # as the example's run_fn
            if kind == "penguin":
                model = module._make_keras_model(module._get_hyperparameters())
            else:
                units = [max(2, int(100 * 0.7**i)) for i in range(4)]  # the run_fn's
                model = module._build_keras_model(hidden_units=units)
    finally:
        keras.Model.compile = compile_
    batch = 20 if kind == "penguin" else 40  # the run_fn's
    input_fn = module.base.input_fn if kind == "penguin" else module._input_fn
    dataset = input_fn(fn_args.train_files, fn_args.data_accessor, transform, batch)
    epoch = max(1, rows // batch)
    return model, dataset.take(epoch).cache().repeat(), epoch


def _build(kind: str, rows: int, steps: int, batch: int):
    """A compiled model, its data repeated (tf.data's autotuning off, see the docstring), and
    its steps per epoch, fresh from seed 0."""
    if kind in _team_run.EXAMPLES:
        model, data, epoch = _tfx_example(kind, rows, steps)
    else:
        model, dataset = _build_finite(kind, rows, steps, batch)
        data, epoch = dataset.repeat(), int(dataset.cardinality())
    options = tf.data.Options()
    options.autotune.enabled = False
    return model, data.with_options(options), epoch


def _build_finite(kind: str, rows: int, steps: int, batch: int):
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
    parser.add_argument("--snapshot-every", type=int, default=100)
    parser.add_argument(
        "--kinds",
        nargs="+",
        default=[
            "sequential",
            "functional",
            "subclassed",
            "own_train_step",
            "two_tower",
            *sorted(_team_run.EXAMPLES),
        ],
    )
    args = parser.parse_args()
    git_dir = _team_run.GIT_DIR
    has_tfx = os.path.isdir(git_dir)
    for kind in [k for k in args.kinds if k in _team_run.EXAMPLES and not has_tfx]:
        print(
            f"skipped {kind}: no TFX checkout at {git_dir} (set NANGUARD_TFX_GIT)", file=sys.stderr
        )
        args.kinds.remove(kind)
    fits = {}
    for kind in args.kinds:
        for variant in VARIANTS:
            model, data, steps = _build(kind, args.rows, args.steps_per_call, args.batch_size)
            callbacks = []
            if variant == "terminate_on_nan":
                callbacks = [keras.callbacks.TerminateOnNaN()]
            else:
                model = guard(model, check=variant, snapshot_every=args.snapshot_every)

            # Data repeated, so one iterator per fit: the new iterator Keras makes at each epoch's
            # start sometimes stalled 0.5 s here (in either twin), more than what is compared.
            def fit(model=model, data=data, steps=steps, callbacks=callbacks, epochs=args.epochs):
                model.fit(
                    data, epochs=epochs, steps_per_epoch=steps, verbose=0, callbacks=callbacks
                )

            fit(epochs=1)  # traced, untimed
            fits[kind, variant] = fit
            print(f"built {kind} {variant}", file=sys.stderr, flush=True)
    wall = {key: [] for key in fits}
    cpu = {key: [] for key in fits}
    kinds, variants = list(args.kinds), list(VARIANTS)
    rng = random.Random(0)
    for _ in range(args.rounds):
        rng.shuffle(kinds)
        # A model's three fits run back to back, in a random order: a slow spell of the shared
        # machine then falls on the fits it is compared among more often than across rounds.
        for key in [(kind, v) for kind in kinds for v in rng.sample(variants, len(variants))]:
            gc.collect()
            gc.disable()  # as timeit does: no collection inside a timed fit
            try:
                start, start_cpu = time.perf_counter(), time.process_time()
                fits[key]()
                wall[key].append(time.perf_counter() - start)
                cpu[key].append(time.process_time() - start_cpu)
            finally:
                gc.enable()
            print(
                f"round {len(wall[key])} {key} {wall[key][-1]:.3f}s (cpu {cpu[key][-1]:.3f}s)",
                file=sys.stderr,
                flush=True,
            )
    print(
        f"rows {args.rows}, batch {args.batch_size}, {args.steps_per_call} steps per call for "
        f"all, a snapshot every {args.snapshot_every} steps, {args.epochs} epoch(s) per fit, "
        f"{args.rounds} interleaved rounds; ratio = "
        "TerminateOnNaN time / guarded time, median over rounds (min in brackets); wall clock, "
        "and the process's CPU time (less moved by other tenants of a shared machine)"
    )
    print(
        "| model | check | guarded s/fit | TerminateOnNaN s/fit | ratio (wall) | ratio (CPU) "
        "| fastest fits' ratio | target |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for kind in args.kinds:
        plain, plain_cpu = wall[kind, "terminate_on_nan"], cpu[kind, "terminate_on_nan"]
        for check in VARIANTS[:2]:
            ratios = [p / g for p, g in zip(plain, wall[kind, check], strict=True)]
            cpu_ratios = [p / g for p, g in zip(plain_cpu, cpu[kind, check], strict=True)]
            median = statistics.median(ratios)
            print(
                f"| {kind} | {check} | {statistics.median(wall[kind, check]):.3f} | "
                f"{statistics.median(plain):.3f} | **{median:.2f}x** ({min(ratios):.2f}) | "
                f"{statistics.median(cpu_ratios):.2f}x ({min(cpu_ratios):.2f}) | "
                f"{min(plain) / min(wall[kind, check]):.2f}x | "
                f"{'met' if median >= TARGET else 'NOT met'} |"
            )


if __name__ == "__main__":
    main()
