"""The host side of the guard: recover, stop and raise, on seeded in-memory data."""

from __future__ import annotations

import numpy as np
import pytest
import tf_keras as keras

from nanguard.components.errors import GuardBlockedError
from nanguard.components.trainer import diagnosis, fit
from nanguard.components.trainer.config import TrainerConfig
from tests.trainer import _shared


def test_recover_policy_restores_and_lowers_lr():
    model, config = _shared.model()
    x, y = _shared.data()
    report = fit.fit_guarded(
        model, _shared.batches(_shared.with_huge_batch(x), y), config, verbose=0
    )
    events = report["nonfinite_events"]
    assert [e["step"] for e in events] == [2, 10]  # batch 2 of each 8-step epoch
    assert [e["action"] for e in events] == ["recovered", "recovered"]
    assert [c["to"] for c in report["lr_changes"]] == pytest.approx([1e-3, 1e-4], rel=1e-4)
    diagnosis_0 = events[0]["diagnosis"]
    assert diagnosis_0["extreme_inputs"][0]["feature"] == "a"
    assert diagnosis_0["extreme_inputs"][0]["max_abs"] == pytest.approx(1e30, rel=1e-6)
    assert diagnosis_0["op"] is not None and diagnosis_0["layer"] in {
        layer.name for layer in model.layers
    }
    assert diagnosis.nonfinite_weights(model) == []
    preds = model.predict(x, verbose=0)
    assert np.isfinite(preds).all()
    # Loss per epoch only averages finite steps: finite, positive.
    assert all(0 < loss < 10 for loss in report["loss_per_epoch"])
    assert report["status"] == "recovered" and report["recoveries"] == 2
    assert report["steps"] == 16 and len(report["epochs"]) == 2
    assert report["config"] == config.to_dict()


def test_raise_policy_names_layer():
    model, config = _shared.model(nonfinite_policy="raise")
    x, y = _shared.data()
    x = _shared.with_huge_batch(x, value=np.nan)
    with pytest.raises(GuardBlockedError) as info:
        fit.fit_guarded(model, _shared.batches(x, y), config, verbose=0)
    report = info.value.report
    diagnosis_0 = report["nonfinite_events"][0]["diagnosis"]
    assert diagnosis_0["stage"] == "forward"
    # NaN in feature a first shows in the output of a's own column layer.
    assert diagnosis_0["layer"] == "a_col"
    assert "layer 'a_col'" in str(info.value)
    assert diagnosis_0["nonfinite_layer_outputs"][:2] == ["a_col", "numeric"]
    batch = x["a"][64:96]  # batch 2 of 32 rows
    assert diagnosis_0["extreme_inputs"][0] == {
        "feature": "a",
        "max_abs": pytest.approx(float(np.abs(batch[np.isfinite(batch)]).max())),
        "nan": 5,
        "inf": 0,
        "rows": 32,
    }
    assert diagnosis_0["loss"] == "NaN"  # the report's spelling of a NaN loss
    assert report["status"] == "raised"
    assert diagnosis.nonfinite_weights(model) == []


def test_stop_policy_keeps_last_finite_weights():
    model, config = _shared.model(nonfinite_policy="stop")
    x, y = _shared.data()
    report = fit.fit_guarded(
        model, _shared.batches(_shared.with_huge_batch(x), y), config, verbose=0
    )
    assert report["status"] == "stopped" and report["stopped_early"] is True
    assert report["nonfinite_events"][0]["action"] == "stopped"
    assert report["steps"] == 4  # stopped at the first host check (snapshot_every=4)
    assert len(report["loss_per_epoch"]) == 1
    assert diagnosis.nonfinite_weights(model) == []


def test_max_recoveries_then_stops():
    model, config = _shared.model(max_recoveries=1)
    x, y = _shared.data()
    report = fit.fit_guarded(
        model, _shared.batches(_shared.with_huge_batch(x), y), config, verbose=0
    )
    assert [e["action"] for e in report["nonfinite_events"]] == ["recovered", "stopped"]
    assert report["status"] == "stopped" and report["recoveries"] == 1
    assert report["steps"] == 12  # epoch 1's first check after its bad step 10


def test_mixed_precision_with_guard():
    previous = keras.mixed_precision.global_policy().name
    model, config = _shared.model(mixed_precision=True)
    assert keras.mixed_precision.global_policy().name == previous
    assert isinstance(model.optimizer, keras.mixed_precision.LossScaleOptimizer)
    assert model.get_layer("dense_0").compute_dtype == "float16"
    x, y = _shared.data()
    report = fit.fit_guarded(
        model, _shared.batches(_shared.with_huge_batch(x), y), config, verbose=0
    )
    assert len(report["nonfinite_events"]) >= 1
    assert report["recoveries"] == len(report["nonfinite_events"])
    assert diagnosis.nonfinite_weights(model) == []
    assert np.isfinite(model.predict(x, verbose=0)).all()


def test_callback_reads_its_settings_from_the_config():
    config = TrainerConfig.from_dict(
        {"nonfinite_policy": "stop", "snapshot_every": 7, "lr_factor": 0.5, "max_recoveries": 2}
    )
    callback = fit.GuardCallback(config)
    assert (callback.policy, callback.snapshot_every) == ("stop", 7)
    assert (callback.lr_factor, callback.max_recoveries) == (0.5, 2)
    assert callback.report["policy"] == "stop" and callback.report["status"] == "not_started"
    default = fit.GuardCallback()
    assert default.policy == TrainerConfig().nonfinite_policy == "recover"
    assert default.snapshot_every == TrainerConfig().snapshot_every


def test_callback_needs_a_guarded_model():
    inputs = keras.layers.Input(shape=(1,), name="a")
    plain = keras.Model(inputs, keras.layers.Dense(1)(inputs))
    plain.compile(optimizer="sgd", loss="mse")
    x, y = np.ones((4, 1), "float32"), np.ones((4, 1), "float32")
    with pytest.raises(TypeError, match="GuardedModel"):
        plain.fit(x, y, callbacks=[fit.GuardCallback()], verbose=0)


def test_report_counts_examples_and_the_largest_gradient_norm_per_epoch():
    model, config = _shared.model(epochs=3)
    x, y = _shared.data()
    report = fit.fit_guarded(model, _shared.batches(x, y), config, verbose=0)
    assert report["examples"] == 3 * 256 and report["steps"] == 3 * 8
    norms = report["max_grad_norm_per_epoch"]
    assert len(norms) == 3 and all(np.isfinite(n) and n > 0 for n in norms)
    assert report["max_grad_norm"] == pytest.approx(max(norms))


def test_examples_count_only_applied_steps():
    model, config = _shared.model()
    x, y = _shared.data()
    report = fit.fit_guarded(
        model, _shared.batches(_shared.with_huge_batch(x), y), config, verbose=0
    )
    # Steps 2-3 and 10-11 never updated (the bad step, then frozen until the check at 4 / 12).
    assert report["examples"] == (16 - 4) * 32


def test_early_stopping_never_keeps_an_epoch_before_its_minimum():
    """The same flipped labels: epoch 0 is the best, but only epochs from the third on count."""
    model, config = _shared.model(epochs=10, early_stopping_patience=2, early_stopping_min_epochs=3)
    x, y = _shared.data()
    validation = _shared.batches(x, 1 - y)
    report = fit.fit_guarded(
        model, _shared.batches(x, y), config, validation_data=validation, verbose=0
    )
    assert len(report["epochs"]) == 6  # epochs 3 (the best it may keep), 4, 5
    assert report["early_stopping"]["stopped"] is True
    assert report["early_stopping"]["best_epoch"] == 3


def test_early_stopping_keeps_the_best_epoch():
    model, config = _shared.model(epochs=10, early_stopping_patience=2, early_stopping_min_epochs=0)
    x, y = _shared.data()
    # Validation labels are the training labels flipped: the better the fit, the worse the
    # evaluation loss, so epoch 0 is the best and training stops after 2 more epochs.
    validation = _shared.batches(x, 1 - y)
    report = fit.fit_guarded(
        model, _shared.batches(x, y), config, validation_data=validation, verbose=0
    )
    assert len(report["epochs"]) == 3
    assert report["early_stopping"]["stopped"] is True
    assert report["early_stopping"]["best_epoch"] == 0
    first = report["epochs"][0]["val_loss"]
    assert report["early_stopping"]["best_val_loss"] == pytest.approx(first)
    # The weights of epoch 0 are back: the evaluation loss is epoch 0's again.
    assert model.evaluate(validation, verbose=0)[0] == pytest.approx(first, rel=1e-5)


def test_early_stopping_off_runs_every_epoch():
    model, config = _shared.model(epochs=4, early_stopping_patience=None)
    x, y = _shared.data()
    report = fit.fit_guarded(
        model, _shared.batches(x, y), config, validation_data=_shared.batches(x, 1 - y), verbose=0
    )
    assert len(report["epochs"]) == 4 and "early_stopping" not in report


def test_raise_policy_with_spreadsheet_headers_names_the_original_feature():
    """Features named as a spreadsheet names them: the batch is captured and diagnosed by those
    names; the layers carry names.tf_name of them."""
    from nanguard.components.names import tf_name
    from nanguard.components.trainer import model as model_lib

    keras.utils.set_random_seed(0)
    config = TrainerConfig.from_dict({"epochs": 1, "nonfinite_policy": "raise"})
    names = {"a": "Bill Length (mm)", "b": "a.b", "c": "3rd-island/site"}
    model = model_lib.build_model([names["a"], names["b"]], [(names["c"], 4)], 2, config)
    x, y = _shared.data()
    x = {names[k]: v for k, v in _shared.with_huge_batch(x, value=np.nan).items()}
    with pytest.raises(GuardBlockedError) as info:
        fit.fit_guarded(model, _shared.batches(x, y), config, verbose=0)
    diagnosis_0 = info.value.report["nonfinite_events"][0]["diagnosis"]
    column = f"{tf_name('Bill Length (mm)')}_col"
    assert diagnosis_0["stage"] == "forward" and diagnosis_0["layer"] == column
    assert diagnosis_0["nonfinite_layer_outputs"][:2] == [column, "numeric"]
    assert diagnosis_0["extreme_inputs"][0]["feature"] == "Bill Length (mm)"
    assert diagnosis_0["extreme_inputs"][0]["nan"] == 5
    captured = model.guard_state.captured_x
    assert set(captured) == set(names.values())


def test_fit_guarded_runs_snapshot_every_steps_per_call_with_the_same_result(monkeypatch):
    """fit_guarded runs `snapshot_every` steps per Keras call; the weights are those of one step
    per call (dropout off so the two runs draw nothing at random), and afterwards the model is
    back to one step per call."""
    x, y = _shared.data()
    batched, config = _shared.model(dropout=0.0, snapshot_every=3)
    ends = []
    original = fit.GuardCallback.on_train_batch_end

    def record(self, batch, logs=None):
        ends.append(batch)
        original(self, batch, logs)

    monkeypatch.setattr(fit.GuardCallback, "on_train_batch_end", record)
    report = fit.fit_guarded(batched, _shared.batches(x, y), config, verbose=0)
    monkeypatch.undo()
    assert ends == [2, 5, 7, 2, 5, 7]  # 8 steps per epoch: calls of 3, 3 and 2 steps
    assert report["steps"] == 16 and report["examples"] == 2 * 256
    assert int(batched.steps_per_execution.numpy()) == 1
    batched.train_on_batch({k: v[:32] for k, v in x.items()}, y[:32])  # one step, no error
    assert int(batched.guard_state.step.numpy()) == 17

    single, _ = _shared.model(dropout=0.0, snapshot_every=3)
    calls = []
    counter = keras.callbacks.LambdaCallback(on_train_batch_end=lambda b, _: calls.append(b))
    single.fit(
        _shared.batches(x, y),
        epochs=2,
        callbacks=[fit.GuardCallback(config), counter],
        verbose=0,
    )
    assert len(calls) == 16  # plain fit: one step per call
    single.train_on_batch({k: v[:32] for k, v in x.items()}, y[:32])
    for a, b in zip(batched.get_weights(), single.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


def test_data_of_unknown_size_runs_several_steps_per_call_from_the_second_epoch(monkeypatch):
    """Keras refuses several steps per call over data of unknown size (TFX's file datasets)
    until it has counted the batches: the first epoch runs one step per call, the later ones
    `snapshot_every`, with the weights of one step per call throughout."""
    x, y = _shared.data()
    unknown = _shared.batches(x, y).filter(lambda *_: True)  # a filter hides the size
    assert int(unknown.cardinality()) < 0
    model, config = _shared.model(dropout=0.0, snapshot_every=3, epochs=3)
    ends, val_ends = [], []
    original = fit.GuardCallback.on_train_batch_end

    def record(self, batch, logs=None):
        ends.append(batch)
        original(self, batch, logs)

    monkeypatch.setattr(fit.GuardCallback, "on_train_batch_end", record)
    monkeypatch.setattr(
        fit.GuardCallback, "on_test_batch_end", lambda s, b, logs=None: val_ends.append(b)
    )
    report = fit.fit_guarded(model, unknown, config, validation_data=unknown, verbose=0)
    monkeypatch.undo()
    # 8 batches an epoch: 8 calls, then calls of 3, 3 and 2 steps; validation alike.
    assert ends == list(range(8)) + [2, 5, 7] * 2
    assert val_ends == list(range(8)) + [2, 5, 7] * 2
    assert (report["steps_per_call"], report["steps_per_call_from_epoch"]) == (3, 1)
    assert report["steps"] == 24 and report["examples"] == 3 * 256
    assert int(model.steps_per_execution.numpy()) == 1
    single, _ = _shared.model(dropout=0.0, snapshot_every=3, epochs=3)
    single.fit(unknown, epochs=3, callbacks=[fit.GuardCallback(config)], verbose=0)
    for a, b in zip(model.get_weights(), single.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
    # A step budget: from the first epoch; with evaluation over the whole unknown-size split
    # (no validation_steps): from the second.
    for validation, validation_steps, from_epoch in ((unknown.repeat(), 2, 0), (unknown, None, 1)):
        budget, config = _shared.model(snapshot_every=3)
        report = fit.fit_guarded(
            budget,
            unknown.repeat(),
            config,
            steps_per_epoch=5,
            validation_data=validation,
            validation_steps=validation_steps,
            verbose=0,
        )
        assert (report["steps_per_call"], report["steps_per_call_from_epoch"]) == (3, from_epoch)
        assert report["steps"] == 10
