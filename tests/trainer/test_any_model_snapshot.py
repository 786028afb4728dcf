"""`guard(model, check='snapshot')`: Keras's step runs unchanged, checked after each call.

With no fault the weights and the metrics are the unguarded twin's; a NaN found after a call
rolls back to the last snapshot (the weights of a twin trained on the batches before it), and
from then on every step is checked, so the next fault is caught at its own step with its batch
diagnosed; a NaN in the loss, a gradient or a weight is caught with and without XLA.
"""

import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras

from nanguard.components.errors import GuardBlockedError, InputError
from nanguard.components.trainer import any_model
from tests.trainer import _models
from tests.trainer.test_any_model_xla_mixed import PoisonWeight, _bomb_model, _data


def _guarded(kind, policy="recover", every=4, **settings):
    model, data = _models.KINDS[kind](steps_per_execution=every)
    return any_model.guard(model, policy, check="snapshot", snapshot_every=every, **settings), data


@pytest.mark.parametrize("kind", sorted(_models.KINDS))
def test_no_fault_gives_the_twins_weights_and_metrics(kind):
    plain, data = _models.KINDS[kind](steps_per_execution=4)
    want = plain.fit(_models.dataset(data), epochs=2, verbose=0).history
    guarded, _ = _guarded(kind)
    got = guarded.fit(_models.dataset(data), epochs=2, verbose=0).history
    for a, b in zip(_models.weights(guarded), _models.weights(plain), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    assert sorted(got) == sorted(want)
    for key in want:
        np.testing.assert_allclose(got[key], want[key], rtol=1e-6, err_msg=key)
    report = guarded.guard_report
    assert guarded.guard_state.unchecked  # the traced step is Keras's own
    assert guarded.train_function is guarded.train_tf_function  # and so is its function
    assert report["check"] == "snapshot" and report["status"] == "ok"
    assert report["steps"] == 16 and report["nonfinite_events"] == []
    # In the calls ending at steps 4, 8, 12 and 16 (8 and 16 end the epochs, so the host takes
    # none there); the host's at the start and at the end.
    assert report["snapshots"] == 6
    assert report["max_grad_norm"] is None and report["examples"] is None  # not counted


class _LossType(keras.callbacks.Callback):
    """Records the type of the loss each call's batch logs hold."""

    def __init__(self):
        super().__init__()
        self._supports_tf_logs = True
        self.types = set()

    def on_train_batch_end(self, batch, logs=None):
        self.types.add(type(logs["loss"]))


@pytest.mark.parametrize("check", ["snapshot", "step"])
def test_batch_logs_stay_tensors(check):
    """Keras copies every metric of every call to the host unless each callback with batch hooks
    takes tensors; `TerminateOnNaN` does, and so must the guard's callback."""
    model, data = _models.functional(steps_per_execution=4)
    model = any_model.guard(model, check=check, snapshot_every=4)
    recorder = _LossType()
    model.fit(_models.dataset(data), epochs=1, verbose=0, callbacks=[recorder])
    assert recorder.types and all(issubclass(t, tf.Tensor) for t in recorder.types)


class _Writer(keras.callbacks.Callback):
    """Runs at batch ends (and could write the weights there); sees no batch logs as tensors,
    so Keras hands every callback a numpy copy of them."""

    def __init__(self):
        super().__init__()
        self.keys = set()

    def on_train_batch_end(self, batch, logs=None):
        self.keys.update(logs or {})

    def on_train_end(self, logs=None):
        self.end_keys = set(logs or {})


class _ProgbarChild(keras.callbacks.ProgbarLogger):
    """A subclass of a read-only Keras callback: it may write at batch ends."""

    def on_train_batch_end(self, batch, logs=None):
        pass


@pytest.mark.parametrize(
    ("later", "snapshots"),
    [
        ([], 6),
        ([keras.callbacks.TerminateOnNaN()], 6),
        ([_Writer()], 8),
        ([_ProgbarChild(count_mode="steps")], 8),
    ],
    ids=["alone", "terminate_on_nan", "writer", "progbar_subclass"],
)
def test_an_epochs_end_is_checked_on_the_host_only_after_a_callback_that_could_write(
    later, snapshots
):
    """2 epochs of 8 steps, 4 per call, a snapshot every 4 steps: the calls ending the epochs
    snapshot in the call; a callback after the guard that runs at batch ends (other than
    Keras's read-only ones) could change the weights after that call, so then the host checks
    and snapshots at each epoch's end too. No callback and no history sees the calls' verdict."""
    model, data = _guarded("sequential")
    history = model.fit(_models.dataset(data), epochs=2, verbose=0, callbacks=later).history
    report = model.guard_report
    assert report["snapshots"] == snapshots and report["steps"] == 16
    assert int(model.guard_state.snapped_at.numpy()) == 16
    assert sorted(history) == ["loss"]
    for callback in later:
        if isinstance(callback, _Writer):
            assert callback.keys == {"loss"} and callback.end_keys == {"loss"}


class _SeesWeights(keras.callbacks.Callback):
    """Records whether every weight is finite when validation starts and at each epoch's end;
    no batch hooks, so the guard checks epoch ends in the epochs' last calls."""

    def __init__(self):
        super().__init__()
        self.finite = []

    def _look(self):
        self.finite.append(_models.all_finite(self.model))

    def on_test_begin(self, logs=None):
        self._look()

    def on_epoch_end(self, epoch, logs=None):
        self._look()


def test_a_call_that_runs_out_of_data_leaves_the_epochs_end_to_the_host():
    """9 batches, 4 steps per call, `steps_per_epoch=12`: the third call runs step 8, whose
    label is NaN, and runs out of data, so no call end reads its loss; the host's check at
    validation and at the epoch's end finds the NaN weights and rolls back before validation,
    a later callback or `EarlyStopping`'s best weights see them."""
    x, y = _models._regression(rows=288)
    y[260] = np.nan
    model, _ = _models.sequential(steps_per_execution=4)
    model = any_model.guard(model, check="snapshot", snapshot_every=4)
    seen, stop = _SeesWeights(), keras.callbacks.EarlyStopping(restore_best_weights=True)
    valid = _models.dataset((*_models._regression(seed=1, rows=64), None))
    history = model.fit(
        _models.dataset((x, y, None)),
        epochs=2,
        steps_per_epoch=12,
        validation_data=valid,
        verbose=0,
        callbacks=[seen, stop],
    ).history
    assert seen.finite and all(seen.finite)
    assert np.isfinite(history["val_loss"]).all() and _models.all_finite(model)
    report = model.guard_report
    # Keras stops at the end of the data: 9 steps ran, the last one the NaN step's.
    (event,) = report["nonfinite_events"]
    assert event["step"] == 8 and report["steps"] == 9


@pytest.mark.parametrize("kind", ["sequential", "own_train_step"])
def test_a_fault_rolls_back_to_the_snapshot_before_its_call(kind):
    """4 steps per call: a NaN label at step 6 is found after the call of steps 4-7, and the
    weights go back to those after step 4, a twin's trained on the first 4 batches."""
    model, (x, y, w) = _guarded(kind, "stop")
    y = y.copy()
    y[200] = np.nan  # batch 6 of 32 rows
    model.fit(_models.dataset((x, y, w)), epochs=1, verbose=0)
    report = model.guard_report
    (event,) = report["nonfinite_events"]
    assert event["step"] == 7  # the last step of the call the check followed
    assert event["diagnosis"]["stage"] == "weights"  # Keras's step applied the NaN update
    assert report["status"] == "stopped" and report["check"] == "step"
    twin, _ = _models.KINDS[kind](steps_per_execution=4)
    twin.fit(_models.dataset((x[:128], y[:128], None)), epochs=1, verbose=0)
    for a, b in zip(_models.weights(model), _models.weights(twin), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_after_the_first_fault_every_step_is_checked_and_the_batch_diagnosed():
    model, (x, y, _) = _guarded("sequential", lr_factor=0.5)
    y = y.copy()
    y[[70, 200]] = np.nan  # steps 2 and 6: one in each call of the first epoch
    history = model.fit(_models.dataset((x, y, None)), epochs=1, verbose=0).history
    report = model.guard_report
    first, second = report["nonfinite_events"]
    assert (first["step"], first["diagnosis"]["stage"]) == (3, "weights")
    assert report["every_step_from"] == 4 and report["check"] == "step"
    assert second["step"] == 6 and second["diagnosis"]["stage"] == "loss"
    assert second["diagnosis"]["loss"] == "NaN"  # the captured batch, replayed
    assert report["recoveries"] == 2
    assert float(model.optimizer.learning_rate) == pytest.approx(0.0025)
    assert _models.all_finite(model) and np.isfinite(history["loss"]).all()


@pytest.mark.parametrize("jit", [False, True])
def test_a_nan_loss_gradient_or_weight_is_caught_with_and_without_xla(jit):
    model, (x, y, _) = _models.sequential(jit_compile=jit)
    y = y.copy()
    y[70] = np.nan
    model = any_model.guard(model, check="snapshot", snapshot_every=4)
    model.fit(x, y, batch_size=32, epochs=1, verbose=0, shuffle=False)
    assert len(model.guard_report["nonfinite_events"]) == 1 and _models.all_finite(model)

    bomb = any_model.guard(_bomb_model(jit), check="snapshot", snapshot_every=4)
    bx, by = _data()
    bx["flag"][100] = 1.0  # a NaN gradient in batch 3, the loss finite
    bomb.fit(bx, by, batch_size=32, epochs=1, verbose=0, shuffle=False)
    (event,) = bomb.guard_report["nonfinite_events"]
    assert event["diagnosis"]["stage"] == "weights" and _models.all_finite(bomb)
    # Found by the snapshot in the call of step 3, not by the next call's NaN loss.
    assert event["step"] == 3

    model, (x, y, _) = _models.sequential(jit_compile=jit)
    model = any_model.guard(model, check="snapshot", snapshot_every=4)
    model.fit(x, y, batch_size=32, epochs=1, verbose=0, shuffle=False, callbacks=[PoisonWeight(5)])
    (event,) = model.guard_report["nonfinite_events"]
    assert event["step"] == 6 and event["diagnosis"]["stage"] == "weights"
    assert model.guard_report["jit_compile"] is jit and _models.all_finite(model)


def test_a_loss_scaler_keeps_every_step_checked():
    model, data = _models.sequential(
        optimizer=keras.mixed_precision.LossScaleOptimizer(keras.optimizers.SGD(0.01))
    )
    model = any_model.guard(model, check="snapshot", snapshot_every=4)
    model.fit(_models.dataset(data), epochs=1, verbose=0)
    assert model.guard_report["check"] == "step" and not model.guard_state.unchecked
    assert model.guard_report["loss_scale_skips"] == 0


def test_an_unknown_check_is_named():
    model, _ = _models.sequential()
    with pytest.raises(InputError, match="check 'epoch' is not one of"):
        any_model.guard(model, check="epoch")


def test_the_loss_is_read_after_every_call_between_snapshots():
    """2 steps per call, a snapshot every 8: a NaN label at step 2 is seen after its call (the
    running loss), not 6 steps later at the next snapshot."""
    model, (x, y, _) = _models.sequential(steps_per_execution=2)
    y = y.copy()
    y[70] = np.nan  # batch 2
    model = any_model.guard(model, "stop", check="snapshot", snapshot_every=8)
    model.fit(_models.dataset((x, y, None)), epochs=1, verbose=0)
    (event,) = model.guard_report["nonfinite_events"]
    assert event["step"] == 3 and model.guard_report["stopped_early"]
    assert model.guard_report["steps"] == 4 and _models.all_finite(model)


def test_a_fault_in_an_epochs_last_shorter_call():
    """9 batches, 4 steps per call: the epoch's last call runs one step, with a NaN label. The
    checked train function traced then still runs 4 steps per call (Keras had lowered the count
    for that call); the epoch, with no step left in its metrics, logs NaN; the next epoch's NaN
    batch is caught at its own step."""
    x, y = _models._regression(rows=288)
    y[260] = np.nan  # batch 8, the last
    model, _ = _models.sequential(steps_per_execution=4)
    model = any_model.guard(model, check="snapshot", snapshot_every=4)
    history = model.fit(_models.dataset((x, y, None)), epochs=2, verbose=0).history
    report = model.guard_report
    first, second = report["nonfinite_events"]
    assert first["step"] == 8 and report["every_step_from"] == 9
    assert second["step"] == 17 and second["diagnosis"]["stage"] == "loss"
    assert report["steps"] == 18 and _models.all_finite(model)
    assert np.isnan(history["loss"][0]) and np.isfinite(history["loss"][1])
    assert report["loss_per_epoch"][0] == "NaN"


def test_epochs_shorter_than_snapshot_every_are_snapshotted_at_their_ends():
    model, data = _models.sequential(steps_per_execution=4)
    model = any_model.guard(model, check="snapshot", snapshot_every=12)
    model.fit(_models.dataset(data), epochs=3, verbose=0)  # 8 steps an epoch
    assert model.guard_report["snapshots"] == 5  # the start, each epoch's end, the end
    assert int(model.guard_state.snapped_at.numpy()) == 24


def test_raise_switches_to_checked_steps_before_raising():
    model, (x, y, _) = _guarded("sequential", "raise")
    y = y.copy()
    y[70] = np.nan
    with pytest.raises(GuardBlockedError):
        model.fit(_models.dataset((x, y, None)), epochs=1, verbose=0)
    report = model.guard_report
    assert report["check"] == "step" and report["every_step_from"] == 4
    assert model.train_function is None and _models.all_finite(model)  # a next fit: checked


def test_a_later_terminate_on_nan_does_not_stop_a_recovered_run():
    """The logs of the call that was rolled back are emptied: a TerminateOnNaN after the guard
    sees no NaN loss, and both epochs run."""
    model, (x, y, _) = _guarded("sequential")
    y = y.copy()
    y[70] = np.nan
    stop = keras.callbacks.TerminateOnNaN()
    history = model.fit(_models.dataset((x, y, None)), epochs=2, verbose=0, callbacks=[stop])
    assert len(history.history["loss"]) == 2 and model.guard_report["recoveries"] == 2


def test_run_eagerly_checks_every_step_and_says_so():
    model, data = _models.sequential()
    model.run_eagerly = True
    model = any_model.guard(model, check="snapshot", snapshot_every=4)
    model.fit(_models.dataset(data), epochs=1, verbose=0)
    report = model.guard_report
    assert report["check"] == "step" and report["examples"] == 256
    assert report["max_grad_norm"] > 0


def test_under_a_mirrored_strategy_keras_step_runs_and_a_fault_rolls_back():
    """As the TFX examples' run_fns train (a `MirroredStrategy`): the steps stay Keras's own,
    the loss Keras reduced over the replicas is read after each call, and a NaN label at step 6
    rolls back to the weights after step 4."""
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    with strategy.scope():
        clean, (x, y, _) = _guarded("sequential")
        plain, _ = _models.sequential(steps_per_execution=4)
        model, _ = _guarded("sequential", "stop")
        twin, _ = _models.sequential(steps_per_execution=4)
    clean.fit(_models.dataset((x, y, None)), epochs=1, verbose=0)
    plain.fit(_models.dataset((x, y, None)), epochs=1, verbose=0)
    assert clean.guard_report["check"] == "snapshot" and clean.guard_report["steps"] == 8
    for a, b in zip(_models.weights(clean), _models.weights(plain), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    y_bad = y.copy()
    y_bad[200] = np.nan  # batch 6 of 32 rows
    model.fit(_models.dataset((x, y_bad, None)), epochs=1, verbose=0)
    report = model.guard_report
    (event,) = report["nonfinite_events"]
    assert event["step"] == 7 and event["diagnosis"]["stage"] == "weights"
    assert report["status"] == "stopped" and report["check"] == "step"
    twin.fit(_models.dataset((x[:128], y[:128], None)), epochs=1, verbose=0)
    for a, b in zip(_models.weights(model), _models.weights(twin), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_a_call_that_runs_out_of_data_is_not_counted():
    """Data of unknown size (7 batches): the 8th call, due to snapshot, runs out of data
    instead; it counts no step (the snapshotting call counts its steps after them)."""
    model, data = _models.sequential()
    model = any_model.guard(model, check="snapshot", snapshot_every=4)
    unknown = _models.dataset(data).take(7).filter(lambda *batch: True)
    model.fit(unknown, epochs=2, verbose=0)
    report = model.guard_report
    assert report["steps"] == 14 and report["status"] == "ok"
    assert int(model.guard_state.snapped_at.numpy()) == 14  # the end's snapshot


def test_a_fit_cut_short_leaves_no_snapshotting_function_behind():
    model, data = _guarded("sequential")
    model.fit(_models.dataset(data), epochs=1, verbose=0)
    state = model.guard_state
    object.__setattr__(model, "train_function", state.snap_fn)  # as an interrupt would leave it
    assert model.make_train_function() is state.plain_fn
