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
    model.train_on_batch(x, y)
    assert int(model.optimizer.iterations.numpy()) == 0
    assert int(state.bad_steps.numpy()) == 1 and int(state.step.numpy()) == 2
    state.reset_event()
    model.train_on_batch(x, y)
    assert int(model.optimizer.iterations.numpy()) == 1
    assert not np.array_equal(before[0], model.trainable_variables[0].numpy())
    assert float(state.max_grad_norm.numpy()) > 0


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
