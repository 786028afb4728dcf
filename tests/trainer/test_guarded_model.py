"""The guarded train step: a non-finite step updates nothing and freezes until the host looks."""

from __future__ import annotations

import numpy as np
import pytest
import tf_keras as keras

from nanguard.components.trainer.guarded_model import GuardedModel
from tests.trainer import _shared


def test_nonfinite_step_updates_nothing():
    model, _ = _shared.model()
    x, y = _shared.data(32)
    before = [v.numpy().copy() for v in model.trainable_variables]
    x_bad = {**x, "a": np.where(np.arange(32) == 3, np.nan, x["a"]).astype("float32")}
    logs = model.train_on_batch(x_bad, y, return_dict=True)
    state = model.guard_state
    assert int(state.bad_steps.numpy()) == 1 and int(state.first_bad_step.numpy()) == 0
    assert int(model.optimizer.iterations.numpy()) == 0
    for old, var in zip(before, model.trainable_variables, strict=True):
        np.testing.assert_array_equal(old, var.numpy())
    assert logs["loss"] == 0.0  # the non-finite step is not averaged into the loss
    np.testing.assert_array_equal(state.captured_x["a"].numpy(), x_bad["a"])
    np.testing.assert_array_equal(state.captured_y.numpy(), y.astype("float32"))
    # Frozen until the host handles the event: a finite batch does not update either.
    model.reset_metrics()
    logs = model.train_on_batch(x, y, return_dict=True)
    assert int(model.optimizer.iterations.numpy()) == 0
    assert int(state.bad_steps.numpy()) == 1 and int(state.step.numpy()) == 2
    # A frozen step trains nothing, so it counts no examples and no loss or accuracy.
    assert int(state.examples.numpy()) == 0 and float(state.max_grad_norm.numpy()) == 0.0
    assert logs["loss"] == 0.0 and logs["accuracy"] == 0.0
    state.reset_event()
    model.train_on_batch(x, y)
    assert int(model.optimizer.iterations.numpy()) == 1 and int(state.examples.numpy()) == 32
    assert not np.array_equal(before[0], model.trainable_variables[0].numpy())
    assert float(state.max_grad_norm.numpy()) > 0


def test_an_empty_batch_trains_and_counts_nothing():
    """Every label of a batch missing leaves it empty (kept, so epochs keep their batch count):
    no update, no event, no examples, and nothing averaged into the loss or val_loss."""
    model, _ = _shared.model()
    x, y = _shared.data(32)
    model.train_on_batch(x, y)
    state = model.guard_state
    weights = [v.numpy().copy() for v in model.variables]
    loss = float(model.guard_state.loss_tracker.result())
    empty = {k: v[:0] for k, v in x.items()}
    logs = model.train_on_batch(empty, y[:0], return_dict=True, reset_metrics=False)
    assert int(state.bad_steps.numpy()) == 0 and int(state.step.numpy()) == 2
    assert int(model.optimizer.iterations.numpy()) == 1 and int(state.examples.numpy()) == 32
    for old, var in zip(weights, model.variables, strict=True):
        np.testing.assert_array_equal(old, var.numpy())  # Adam's slots and momentum too
    assert logs["loss"] == pytest.approx(loss, rel=1e-6)
    full = model.test_on_batch(x, y, return_dict=True)
    both = model.test_on_batch(empty, y[:0], return_dict=True, reset_metrics=False)
    assert both["loss"] == pytest.approx(full["loss"], rel=1e-6) and full["loss"] > 0


def test_finite_step_loss_matches_keras_loss():
    model, _ = _shared.model(dropout=0.0)
    x, y = _shared.data(32)
    expected = float(model.guarded_loss(y, model(x, training=False)))
    logs = model.test_on_batch(x, y, return_dict=True)
    assert logs["loss"] == pytest.approx(expected, rel=1e-6)
    data_loss = float(keras.losses.SparseCategoricalCrossentropy()(y, model(x, training=False)))
    l2 = sum(float(r) for r in model.losses)
    assert expected == pytest.approx(data_loss + l2, rel=1e-6) and l2 > 0


def test_compile_needs_a_loss_instance():
    inputs = {"a": keras.layers.Input(shape=(), name="a")}
    outputs = keras.layers.Dense(1)(keras.layers.Reshape((1,))(inputs["a"]))
    model = GuardedModel(inputs=inputs, outputs=outputs)
    with pytest.raises(TypeError, match="keras.losses.Loss"):
        model.compile(optimizer="sgd", loss="mse")


def test_the_step_clips_like_the_optimizers_global_clipnorm():
    """Same init, same batches, SGD with a clip far below the gradients' norm: the guarded step
    leaves exactly the weights a plain Keras model with `global_clipnorm` leaves."""
    x, y = _shared.data()
    x = {k: (v * 50 if v.dtype == np.float32 else v) for k, v in x.items()}  # large gradients
    guarded, _ = _shared.model(
        optimizer="sgd", learning_rate=0.1, global_clipnorm=0.01, dropout=0.0
    )
    plain = keras.Model(guarded.inputs, guarded.outputs)
    plain.set_weights(guarded.get_weights())  # shared layers: the same variables; copy to be sure
    snapshot = [w.copy() for w in guarded.get_weights()]
    guarded.fit(_shared.batches(x, y), epochs=1, verbose=0)
    after_guarded = guarded.get_weights()
    clone = keras.models.clone_model(plain)
    clone.set_weights(snapshot)
    clone.compile(
        optimizer=keras.optimizers.SGD(learning_rate=0.1, global_clipnorm=0.01),
        loss=keras.losses.SparseCategoricalCrossentropy(),
    )
    clone.fit(_shared.batches(x, y), epochs=1, verbose=0, shuffle=False)
    for a, b in zip(after_guarded, clone.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
    assert not np.allclose(after_guarded[0], snapshot[0])  # it did train


def test_snapshot_restores_weights_and_optimizer_and_refuses_an_overflowed_weight():
    model, _ = _shared.model()
    state = model.guard_state
    x, y = _shared.data(32)
    for _ in range(3):
        model.train_on_batch(x, y)
    assert model.take_snapshot() is True and int(state.snapshots.numpy()) == 1
    after_3 = [v.numpy().copy() for v in model.trainable_variables]
    model.train_on_batch(x, y)
    model.restore_snapshot()
    for old, var in zip(after_3, model.trainable_variables, strict=True):
        np.testing.assert_array_equal(old, var.numpy())
    assert int(model.optimizer.iterations.numpy()) == 3  # optimizer state restored as well
    # A weight made non-finite with finite steps: the snapshot refuses and marks an event.
    kernel = model.trainable_variables[0]
    kernel.assign(np.where(np.arange(kernel.shape[1]) == 0, np.inf, kernel.numpy()))
    assert model.take_snapshot() is False
    assert int(state.bad_steps.numpy()) == 1
    assert int(state.first_bad_step.numpy()) == 3  # the last step, the 4th
    assert int(state.snapshots.numpy()) == 1
    model.restore_snapshot()
    np.testing.assert_array_equal(after_3[0], kernel.numpy())
