"""`guard(model)`: any tf_keras model trains guarded through its own `compile`/`fit`.

For each kind (Sequential, Functional with several inputs and outputs and sample weights,
subclassed, subclassed with its own `train_step`): with no fault the guarded weights equal the
unguarded twin's; a divergent learning rate is recovered or stopped with finite weights while
the twin goes NaN; the report, the diagnosis and the refusal to save hold.
"""

import json
import os

import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras

import nanguard.components as components
from nanguard.components.errors import GuardBlockedError, InputError
from nanguard.components.trainer import any_model
from nanguard.components.trainer.health import HEALTH_REPORT_FILE
from tests.trainer import _models

DIVERGENT_LR = 100.0
KINDS = sorted(_models.KINDS)


@pytest.mark.parametrize("kind", KINDS)
def test_no_fault_gives_the_weights_of_the_unguarded_model(kind):
    plain, data = _models.KINDS[kind]()
    want_history = plain.fit(_models.dataset(data), epochs=2, verbose=0).history
    guarded, _ = _models.KINDS[kind]()
    guarded = any_model.guard(guarded, snapshot_every=3)
    history = guarded.fit(_models.dataset(data), epochs=2, verbose=0)
    for got, want in zip(_models.weights(guarded), _models.weights(plain), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    report = guarded.guard_report
    assert report["status"] == "ok"
    assert report["steps"] == 16 and report["nonfinite_events"] == []
    assert report["snapshots"] >= 5  # 16 steps, a check every 3 and at each epoch end
    assert report["model_kind"] == (
        "subclassed" if kind in ("subclassed", "own_train_step") else kind
    )
    assert report["own_train_step"] == (kind == "own_train_step")
    # The loss metrics (total and per output) and the compiled metrics, epoch by epoch: each
    # finite step averaged in once, as Keras's own step does.
    assert sorted(history.history) == sorted(want_history)
    for key, want in want_history.items():
        np.testing.assert_allclose(history.history[key], want, rtol=1e-5, err_msg=key)


@pytest.mark.parametrize("kind", ["sequential", "own_train_step"])
def test_a_second_fit_reuses_the_state_without_peeking_and_matches_the_twin(kind, monkeypatch):
    """Fit called again (as Keras tuners and TFX's own loops do): the guard's state, its traced
    step and snapshots carry over; the data is not read ahead again."""
    plain, data = _models.KINDS[kind]()
    guarded, _ = _models.KINDS[kind]()
    guarded = any_model.guard(guarded, snapshot_every=3)
    for model in (plain, guarded):
        model.fit(_models.dataset(data), epochs=1, verbose=0)
    state, step = guarded._nanguard_state, guarded.train_function
    peeks = []
    monkeypatch.setattr(any_model, "_peek", lambda arguments: peeks.append(1))
    for model in (plain, guarded):
        model.fit(_models.dataset(data), epochs=1, verbose=0)
    assert peeks == [] and guarded._nanguard_state is state and guarded.train_function is step
    for got, want in zip(_models.weights(guarded), _models.weights(plain), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    report = guarded.guard_report
    assert report["status"] == "ok" and report["steps"] == 16  # the step counter goes on
    assert report["model_kind"] == ("subclassed" if kind == "own_train_step" else kind)


@pytest.mark.parametrize("kind", KINDS)
def test_a_divergent_learning_rate_is_recovered_while_the_twin_goes_nan(kind):
    plain, data = _models.KINDS[kind](lr=DIVERGENT_LR)
    plain.fit(_models.dataset(data), epochs=3, verbose=0)
    assert not _models.all_finite(plain), "the unguarded twin should have diverged"

    guarded, _ = _models.KINDS[kind](lr=DIVERGENT_LR)
    guarded = any_model.guard(guarded, "recover", snapshot_every=2, lr_factor=0.001)
    guarded.fit(_models.dataset(data), epochs=3, verbose=0)
    report = guarded.guard_report
    assert _models.all_finite(guarded)
    assert report["status"] in ("recovered", "stopped")
    assert report["recoveries"] >= 1
    assert report["lr_changes"][0]["from"] == pytest.approx(DIVERGENT_LR)
    event = report["nonfinite_events"][0]
    assert event["reason"] == "nonfinite_step"
    assert event["diagnosis"]["stage"] in ("weights", "forward", "loss", "backward")
    assert float(guarded.optimizer.learning_rate) == pytest.approx(
        DIVERGENT_LR * 0.001 ** report["recoveries"]
    )


@pytest.mark.parametrize("kind", ["functional", "own_train_step"])
def test_stop_policy_stops_with_finite_weights_and_writes_the_report(kind, tmp_path):
    model, data = _models.KINDS[kind](lr=DIVERGENT_LR)
    model = components.guard(model, "stop", report_dir=str(tmp_path), snapshot_every=2)
    model.fit(_models.dataset(data), epochs=3, verbose=0)
    assert _models.all_finite(model)
    with open(tmp_path / HEALTH_REPORT_FILE) as handle:
        report = json.load(handle, parse_constant=lambda t: pytest.fail(f"bare {t}"))
    assert report["status"] == "stopped" and report["stopped_early"] is True
    assert report["recoveries"] == 0 and len(report["nonfinite_events"]) == 1
    if kind == "own_train_step":
        assert "rolled back" in report["limits"]


def test_raise_policy_names_the_layer():
    model, data = _models.sequential(lr=DIVERGENT_LR)
    model = any_model.guard(model, "raise", snapshot_every=2)
    with pytest.raises(GuardBlockedError, match="dense") as err:
        model.fit(_models.dataset(data), epochs=3, verbose=0)
    assert err.value.report["status"] == "raised"
    assert _models.all_finite(model)


def test_a_nan_label_is_diagnosed_as_the_loss_with_the_batch_captured():
    model, (x, y, _) = _models.subclassed()
    y = y.copy()
    y[70] = np.nan  # batch 2 of 32
    model = any_model.guard(model, "recover", snapshot_every=4)
    model.fit(_models.dataset((x, y, None)), epochs=1, verbose=0)
    (event,) = model.guard_report["nonfinite_events"]
    assert event["step"] == 2
    assert event["diagnosis"]["stage"] == "loss"
    assert event["diagnosis"]["loss"] == "NaN"
    assert model.guard_report["steps"] == 8
    assert _models.all_finite(model)


@pytest.mark.parametrize("kind", ["sequential", "own_train_step"])
def test_a_rollback_inside_one_call_lands_on_the_last_in_step_snapshot(kind):
    """8 steps per Keras call, a snapshot every 2 steps taken by the step itself: a NaN label
    in the batch of step 4 rolls back to the weights after step 2, which the host, seeing
    only whole calls, could not have snapshotted."""
    model, (x, y, w) = _models.KINDS[kind](steps_per_execution=8)
    y = y.copy()
    y[100] = np.nan  # batch 3 of 32 rows: step 4
    model = any_model.guard(model, "stop", snapshot_every=2)
    model.fit(_models.dataset((x, y, w)), epochs=1, verbose=0)
    report = model.guard_report
    assert report["status"] == "stopped" and report["nonfinite_events"][0]["step"] == 3
    twin, _ = _models.KINDS[kind](steps_per_execution=8)
    head = (x[:64], y[:64], None if w is None else w[:64])  # the batches of steps 1 and 2
    twin.fit(_models.dataset(head), epochs=1, verbose=0)
    for got, want in zip(_models.weights(model), _models.weights(twin), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_the_snapshot_after_each_call_is_taken_in_graph_not_by_the_host(monkeypatch):
    """4 steps per Keras call, a snapshot every 4: the train function snapshots itself at the end
    of each call; the host snapshots only at the start, at each epoch end and at the end."""
    host = []
    original = any_model._AnyGuard.take_snapshot
    monkeypatch.setattr(
        any_model._AnyGuard, "take_snapshot", lambda self: host.append(1) or original(self)
    )
    model, data = _models.sequential(steps_per_execution=4)
    model = any_model.guard(model, snapshot_every=4)
    model.fit(_models.dataset(data), epochs=2, verbose=0)  # 8 steps per epoch: 2 calls
    assert model.guard_state.in_step
    assert len(host) == 4  # train begin, 2 epoch ends, train end
    assert model.guard_report["snapshots"] == 8  # and 4 after the 4 calls
    assert int(model.guard_state.snapped_at.numpy()) == 16


def test_the_functional_diagnosis_names_the_extreme_input_and_layer():
    model, (x, y, w) = _models.functional()
    x = {k: v.copy() for k, v in x.items()}
    x["dense"][40, 0] = np.inf
    model = any_model.guard(model, "recover", snapshot_every=4)
    model.fit(_models.dataset((x, y, w)), epochs=1, verbose=0)
    (event,) = model.guard_report["nonfinite_events"]
    diagnosis = event["diagnosis"]
    assert diagnosis["stage"] == "forward"
    assert diagnosis["layer"] == "concatenate" or diagnosis["layer"].startswith("concatenate")
    assert diagnosis["extreme_inputs"][0]["feature"] == "dense"
    assert diagnosis["extreme_inputs"][0]["inf"] == 1
    assert diagnosis["op"]  # named by the eager check_numerics replay


def test_saving_a_model_with_a_nan_weight_is_refused_and_writes_nothing(tmp_path):
    model, data = _models.subclassed()
    model = any_model.guard(model)
    model.fit(_models.dataset(data), epochs=1, verbose=0)
    model.save(str(tmp_path / "ok"), save_format="tf")
    assert (tmp_path / "ok" / "saved_model.pb").exists()
    kernel = model.out.kernel
    kernel.assign(tf.where(tf.equal(tf.range(tf.size(kernel)), 0)[:, None], np.nan, kernel))
    for save in (
        lambda p: model.save(p, save_format="tf"),
        lambda p: tf.saved_model.save(model, p),
    ):
        target = tmp_path / "refused"
        with pytest.raises(GuardBlockedError, match="NaN/Inf"):
            save(str(target))
        assert not target.exists() or not os.listdir(target)


def test_a_saved_guarded_functional_model_loads_as_a_plain_keras_model(tmp_path):
    model, data = _models.functional()
    model = any_model.guard(model)
    model.fit(_models.dataset(data), epochs=1, verbose=0)
    model.save(str(tmp_path / "m"), save_format="tf")
    loaded = keras.models.load_model(str(tmp_path / "m"))
    assert type(loaded).__name__ == "Functional"
    assert not any_model.is_guarded(loaded)
    x, _, _ = data
    got = loaded.predict({k: v[:8] for k, v in x.items()}, verbose=0)
    want = model.predict({k: v[:8] for k, v in x.items()}, verbose=0)
    np.testing.assert_allclose(got["score"], want["score"], rtol=1e-6)


def test_losses_as_strings_functions_and_objects_with_sample_weights():
    for loss in ("mse", keras.losses.mean_squared_error, keras.losses.MeanSquaredError()):
        _, (x, y, _) = _models.sequential()
        weights = np.linspace(0.1, 2.0, len(y)).astype("float32")
        plain, _ = _models.sequential(loss=loss)
        plain.fit(x, y, sample_weight=weights, batch_size=32, epochs=1, verbose=0)
        guarded, _ = _models.sequential(loss=loss)
        any_model.guard(guarded).fit(x, y, sample_weight=weights, batch_size=32, verbose=0)
        for got, want in zip(_models.weights(guarded), _models.weights(plain), strict=True):
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_guard_is_exported_and_the_trainer_guard_name_is_the_function():
    from nanguard.components import trainer
    from nanguard.components.trainer import fit  # noqa: F401 - importing a submodule binds no `guard`

    model, data = _models.sequential()
    assert trainer.guard is any_model.guard and trainer.guard(model) is model
    assert components.guard is any_model.guard and trainer.guard_model is any_model.guard
    assert any_model.is_guarded(model)
    assert type(model).__name__ == "Sequential" and isinstance(model, keras.Sequential)


def test_bad_arguments_are_named():
    model, _ = _models.sequential()
    with pytest.raises(InputError, match="policy 'retry'"):
        any_model.guard(model, "retry")
    with pytest.raises(InputError, match="snapshot_every"):
        any_model.guard(model, snapshot_every=0)
    with pytest.raises(TypeError, match="tf_keras"):
        any_model.guard(object())
    uncompiled = _models.Tower()
    with pytest.raises(InputError, match="compile"):
        any_model.guard(uncompiled).fit(np.zeros((4, 4)), np.zeros((4, 1)), verbose=0)
