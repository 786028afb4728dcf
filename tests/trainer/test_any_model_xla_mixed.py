"""`guard(model)` under XLA (`jit_compile=True`) and under the `mixed_float16` policy.

XLA: a NaN injected into the loss, into a gradient and into a weight is caught both with and
without XLA (the check is a computed `is_finite`, which XLA keeps, unlike
`tf.debugging.check_numerics`), and the diagnosis replays the step eagerly to name the op.
Mixed precision: loss-scale skips are counted; a collapsing loss scale, a skip rate above the
setting and a non-finite forward loss trigger the policy; a float16 output is warned about.
"""

import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras

from nanguard.components.trainer import any_model
from tests.trainer import _models


@tf.custom_gradient
def _bomb(x, flag):
    def grad(dy):
        poisoned = tf.reduce_any(flag > 0)
        nan = tf.fill(tf.shape(dy), np.float32(np.nan))
        return tf.where(poisoned, nan, dy), tf.zeros_like(flag)

    return tf.identity(x), grad


class GradientBomb(keras.layers.Layer):
    """Identity forward; a NaN gradient for a batch whose `flag` input is set."""

    def call(self, inputs):
        x, flag = inputs
        return _bomb(x, flag)


def _bomb_model(jit):
    keras.utils.set_random_seed(0)
    x_in = keras.Input(shape=(4,), name="x")
    flag = keras.Input(shape=(1,), name="flag")
    h = keras.layers.Dense(8, "relu", kernel_initializer=_models._init(1), name="h")(x_in)
    h = GradientBomb(name="bomb")([h, flag])
    out = keras.layers.Dense(1, kernel_initializer=_models._init(2), name="out")(h)
    model = keras.Model({"x": x_in, "flag": flag}, out)
    model.compile(keras.optimizers.SGD(0.01), loss="mse", jit_compile=jit)
    return model


def _data(rows=256):
    x, y = _models._regression(rows=rows)
    return {"x": x, "flag": np.zeros((rows, 1), "float32")}, y


@pytest.mark.parametrize("jit", [False, True])
def test_a_nan_in_the_loss_is_caught_with_and_without_xla(jit):
    model, (x, y, _) = _models.sequential(jit_compile=jit)
    y = y.copy()
    y[70] = np.nan
    model = any_model.guard(model, snapshot_every=4)
    model.fit(x, y, batch_size=32, epochs=1, verbose=0, shuffle=False)
    report = model.guard_report
    (event,) = report["nonfinite_events"]
    assert report["jit_compile"] is jit
    assert event["step"] == 2 and event["diagnosis"]["stage"] == "loss"
    assert event["diagnosis"]["op"]  # the eager replay (no XLA) names the op
    assert _models.all_finite(model) and report["steps"] == 8


@pytest.mark.parametrize("jit", [False, True])
def test_a_nan_gradient_is_caught_with_and_without_xla(jit):
    model = any_model.guard(_bomb_model(jit), snapshot_every=4)
    x, y = _data()
    x["flag"][100] = 1.0  # batch 3
    before = [w.copy() for w in _models.weights(model)]
    model.fit(x, y, batch_size=32, epochs=1, verbose=0, shuffle=False)
    (event,) = model.guard_report["nonfinite_events"]
    assert event["step"] == 3
    assert event["diagnosis"]["stage"] == "backward"
    assert event["diagnosis"]["loss"] != "NaN"  # the loss was finite: only the gradient
    assert _models.all_finite(model)
    assert any(
        not np.array_equal(a, b) for a, b in zip(before, _models.weights(model), strict=True)
    )


class PoisonWeight(keras.callbacks.Callback):
    def __init__(self, at_batch):
        super().__init__()
        self.at_batch = at_batch

    def on_train_batch_end(self, batch, logs=None):
        if batch == self.at_batch:
            kernel = self.model.layers[-1].kernel
            kernel.assign(tf.fill(kernel.shape, np.float32(np.nan)))


@pytest.mark.parametrize("jit", [False, True])
def test_a_nan_weight_is_caught_with_and_without_xla(jit):
    model, (x, y, _) = _models.sequential(jit_compile=jit)
    model = any_model.guard(model, "recover", snapshot_every=4)
    model.fit(x, y, batch_size=32, epochs=1, verbose=0, shuffle=False, callbacks=[PoisonWeight(5)])
    report = model.guard_report
    (event,) = report["nonfinite_events"]
    assert event["step"] == 6  # the first step that ran on the poisoned kernel
    assert event["diagnosis"]["stage"] == "weights"
    assert _models.all_finite(model) and report["recoveries"] == 1


# ---- mixed precision ------------------------------------------------------------------------


@pytest.fixture
def mixed_policy():
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("mixed_float16")
    yield
    keras.mixed_precision.set_global_policy(previous)


def _mixed_model(output_dtype="float32"):
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.layers.Input(shape=(4,)),
            keras.layers.Dense(8, activation="relu", kernel_initializer=_models._init(1)),
            keras.layers.Dense(1, kernel_initializer=_models._init(2), dtype=output_dtype),
        ]
    )
    model.compile(keras.optimizers.SGD(0.01), loss="mse")
    assert isinstance(model.optimizer, keras.mixed_precision.LossScaleOptimizer)
    return model


def test_mixed_precision_counts_loss_scale_skips_and_trains(mixed_policy):
    x, y = _models._regression()
    model = any_model.guard(_mixed_model(), snapshot_every=4)
    model.fit(x, y, batch_size=32, epochs=1, verbose=0, shuffle=False)
    report = model.guard_report
    assert report["mixed_precision"] is True and report["status"] == "ok"
    assert 0 <= report["loss_scale_skips"] < report["steps"] == 8
    assert report["final_loss_scale"] >= 2**14  # at most one halving from 2**15
    assert "warnings" not in report


def _overflowing():
    """Gradients above 65504 in float16 even at a loss scale of 1: every step is skipped."""
    x, y = _models._regression()
    return x * 1000.0, y * 1000.0


def test_a_collapsing_loss_scale_triggers_the_policy(mixed_policy):
    x, y = _overflowing()
    model = any_model.guard(_mixed_model(), "stop", snapshot_every=4, max_loss_scale_skip_rate=1.0)
    model.fit(x, y, batch_size=32, epochs=3, verbose=0, shuffle=False)
    report = model.guard_report
    (event,) = report["nonfinite_events"]
    assert event["reason"] == "loss_scale_collapsed"
    assert report["status"] == "stopped"
    assert report["loss_scale_skips"] >= 15  # 2**15 halved to 1
    assert report["min_loss_scale_seen"] == 1.0
    assert _models.all_finite(model)


def test_a_skip_rate_above_the_setting_triggers_the_policy(mixed_policy):
    x, y = _overflowing()
    model = any_model.guard(
        _mixed_model(), "stop", snapshot_every=4, min_loss_scale=0.0, max_loss_scale_skip_rate=0.5
    )
    model.fit(x, y, batch_size=32, epochs=1, verbose=0, shuffle=False)
    report = model.guard_report
    assert report["nonfinite_events"][0]["reason"] == "loss_scale_skip_rate"
    assert report["loss_scale_skips"] == 4 and report["steps"] == 4
    assert report["stopped_early"] is True


def test_a_nonfinite_forward_loss_under_mixed_precision_is_an_event(mixed_policy):
    x, y = _models._regression()
    y[40] = np.inf
    model = any_model.guard(_mixed_model(), snapshot_every=4)
    model.fit(x, y, batch_size=32, epochs=1, verbose=0, shuffle=False)
    (event,) = model.guard_report["nonfinite_events"]
    assert event["reason"] == "nonfinite_step" and event["step"] == 1
    assert _models.all_finite(model)


def test_a_float16_output_is_warned_about(mixed_policy):
    model = any_model.guard(_mixed_model(output_dtype=None), snapshot_every=4)
    x, y = _models._regression()
    model.fit(x, y, batch_size=32, epochs=1, verbose=0, shuffle=False)
    (warning,) = model.guard_report["warnings"]
    assert warning["kind"] == "float16_output" and "float32" in warning["advice"]
    model.fit(x, y, batch_size=32, epochs=1, verbose=0, shuffle=False)  # a second fit's report
    assert model.guard_report["warnings"] == [warning]
