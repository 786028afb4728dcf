"""Guard any tf_keras model: `guard(model, policy=...)`, then the model's own `compile`/`fit`.

`guard` gives a Sequential, Functional or subclassed `tf_keras.Model` the guarded train step of
`guarded_model.py` without rebuilding it: the model keeps its class (a subclass of it that adds
the guard, under the same name, so a saved model loads as the original class), its layers, its
compiled loss (a string, a function or a `Loss`, one per output or one for all), its metrics,
its sample weights and its optimizer. `fit` then runs with `guard.GuardCallback` (snapshots,
diagnosis, the `recover` / `stop` / `raise` policy) and keeps the health report in
`model.guard_report` (written to `report_dir` when one was given).

`check='step'` (the default) guards every step, in one of two ways chosen from the model's class:

* Keras's own train step (Sequential, Functional, subclassed models without a `train_step`):
  the step is guarded in graph. One fused check, `is_finite(loss + global_norm(grads))`
  (a computed value, so it holds under `jit_compile=True`, where `tf.debugging.check_numerics`
  lets NaN through), decides by `tf.cond` whether the update is applied; a non-finite step
  changes no weight, optimizer slot, iteration count or metric, and freezes later updates until
  the host looks. On a step without a fault the weights are those of Keras's step.
* A model with its own `train_step`: its step runs as written (its update is applied), then the
  loss it returns and every trainable weight are checked. Limits: the faulty update has already
  been applied, later steps are not frozen, no gradient norm is recorded; the host rolls the
  weights and optimizer state back to the last finite snapshot at its next check, so up to
  `snapshot_every` steps of work are lost per event.

`check='snapshot'` runs the steps Keras traced (no op added): after each Keras call the host
reads the running `loss` (as `TerminateOnNaN` does); every `snapshot_every` steps and at each
epoch's end a twin train function counts the steps, checks every weight and snapshots after
the steps (the host checks the epoch's end if a later callback runs at batch ends). A fault
rolls back to the last snapshot, resets the running metrics, is diagnosed from the weights (no
batch is captured) and handled by the policy; from then on every step is checked. No gradient
norm or examples count is kept while unchecked. Under a loss scaler, `run_eagerly` or a
strategy other than Mirrored/OneDevice every step is checked. See components/trainer/README.md.

With `check='step'`, weights and optimizer state are snapshotted in graph at the end of a Keras
call once `snapshot_every` steps have passed (`_GuardState.after_call`), or after every
`snapshot_every`-th step when a call runs more steps (one `tf.cond` per step); under a
distribution strategy or a loss scaler the host snapshots at its checks.

NaN and Inf: as above; after `fit` every weight is finite (the last finite snapshot is restored
when the last steps went wrong), and saving a model that holds a NaN or Inf weight
(`model.save` or `tf.saved_model.save`) raises `GuardBlockedError` before anything is written
(mixed precision: `mixed.py`).
"""

from __future__ import annotations

import inspect

import tensorflow as tf
import tf_keras as keras

from nanguard.components.errors import GuardBlockedError, InputError
from nanguard.components.trainer import mixed
from nanguard.components.trainer.any_state import (
    _AnyState,
    _guarded_class,
    _kind,
    _masked,
    _overrides,
    _peek,
    _QuietLosses,
    _rows,
    _unchecked,
)
from nanguard.components.trainer.config import NONFINITE_POLICIES, TrainerConfig
from nanguard.components.trainer.diagnosis import refuse_nonfinite_weights
from nanguard.components.trainer.guarded_model import GuardedModel, _is_lso

__all__ = ["guard", "guard_model", "is_guarded", "check_export"]

CHECKS = ("step", "snapshot")

LIMITS_CUSTOM_STEP = (
    "own train_step: checked after the step (loss and weights); the faulty update was applied "
    "and is rolled back at the next host check, up to snapshot_every steps are lost per event; "
    "no gradient norm is recorded"
)


def guard(
    model: keras.Model,
    policy="recover",
    *,
    check: str = "step",
    report_dir: str | None = None,
    **settings,
):
    """Gives `model` the non-finite guard and returns it (the same object), ready to `fit`.

    Args:
        model: a `tf_keras.Model` of any kind, compiled or not (compile it before `fit`).
        policy: `recover`, `stop` or `raise` (`trainer.nonfinite_policy`), or a whole
            `TrainerConfig`, or a dict of trainer keys.
        check: `step` (every step checked in graph; a non-finite update is never applied) or
            `snapshot` (the model's step runs unchanged; its loss is checked after each Keras
            call, its weights at each snapshot; a fault rolls back to the last snapshot, and
            every step is checked from then on). See the module docstring.
        report_dir: where `fit` writes `nanguard_training_health.json` (None: nowhere; the
            report is always `model.guard_report`).
        **settings: other trainer keys (`snapshot_every`, `lr_factor`, `max_recoveries`,
            `min_loss_scale`, `max_loss_scale_skip_rate`, ...), validated like the YAML.

    Raises:
        InputError: a bad policy or setting (the message names the key).
        TypeError: `model` is not a tf_keras model (a Keras 3 model needs TF_USE_LEGACY_KERAS=1)
            or is nanguard's own `GuardedModel`, already guarded.
    """
    if not isinstance(model, keras.Model):
        raise TypeError(
            f"nanguard.guard needs a tf_keras.Model, got {type(model).__module__}."
            f"{type(model).__name__}; with TensorFlow >= 2.16 set TF_USE_LEGACY_KERAS=1 so that "
            "tf.keras is tf_keras."
        )
    if isinstance(model, GuardedModel):
        raise TypeError("This is nanguard's GuardedModel: its train step is guarded already.")
    if check not in CHECKS:
        raise InputError(f"guard: check {check!r} is not one of {list(CHECKS)}.")
    config = _config(policy, settings)
    if not isinstance(model, _AnyGuard):
        base = type(model)
        object.__setattr__(model, "__class__", _guarded_class(_AnyGuard, base))
    model._nanguard_config = config
    model._nanguard_report_dir = report_dir
    model._nanguard_every_step = check == "step"
    model._nanguard_state = None
    model.guard_report = None
    model.train_function = None  # a function traced before now holds the unguarded step
    if getattr(model, "_is_graph_network", False):
        mixed.warn_float16_outputs(model.outputs)
    return model


guard_model = guard  # the same call, under a name no submodule shadows


def is_guarded(model) -> bool:
    """True if `model` went through `guard` (or is nanguard's own `GuardedModel`)."""
    return isinstance(model, (_AnyGuard, GuardedModel))


def check_export(model: keras.Model, where: str = "the export directory") -> None:
    """Raises `GuardBlockedError` if any weight of `model` is NaN or Inf; else does nothing."""
    refuse_nonfinite_weights(
        model, where, "Lower the learning rate or use the guard's policy 'recover'."
    )


def _config(policy, settings: dict) -> TrainerConfig:
    if isinstance(policy, TrainerConfig):
        return policy.replace(**settings) if settings else policy
    if isinstance(policy, dict):
        return TrainerConfig.from_dict({**policy, **settings})
    if policy not in NONFINITE_POLICIES:
        raise InputError(
            f"guard: policy {policy!r} is not one of {list(NONFINITE_POLICIES)} "
            "(trainer.nonfinite_policy)."
        )
    return TrainerConfig.from_dict({"nonfinite_policy": policy, **settings})


class _AnyGuard:
    """The guard, mixed in before the model's own class by `guard`."""

    # -- what GuardCallback and diagnosis use ------------------------------------------------
    @property
    def guard_report(self) -> dict | None:
        """The health report of the last `fit` (JSON-safe), or None before the first."""
        return self.__dict__.get("_nanguard_report")

    @guard_report.setter
    def guard_report(self, report) -> None:
        object.__setattr__(self, "_nanguard_report", report)  # not tracked: never saved

    @property
    def guard_state(self):
        return self._nanguard_state

    def take_snapshot(self) -> bool:
        return bool(self._nanguard_state.save_fn())

    def restore_snapshot(self) -> None:
        self._nanguard_state.restore_fn()

    def captured_batch(self):
        return self._nanguard_state.batch()

    def make_train_function(self, force=False):
        """Keras's train function, with the guard's snapshot after each call (`after_call`)."""
        state = self._nanguard_state
        if self.train_function is not None and not force:
            if state is not None and self.train_function is state.snap_fn:  # fit was cut short
                object.__setattr__(self, "train_function", state.plain_fn)
            return self.train_function
        function = super().make_train_function(force)
        if state is not None:
            # check='snapshot': Keras's function as it is, and a twin that snapshots after it
            # (the host picks one per call); the host checks after each call.
            state.unchecked, state.snap_fn = _unchecked(self), None
            if not state.unchecked:
                function = state.after_call(self, function)
            elif function is getattr(self, "train_tf_function", None):
                state.plain_fn, state.snap_fn = function, state.snapshot_after(function)
        self.train_function = function
        return function

    def guarded_loss(self, y, y_pred, sample_weight=None, x=None):
        """The compiled loss plus regularization, as a float32 scalar; no metric is updated."""
        with _QuietLosses(self, y_pred):
            loss = self.compute_loss(x, y, y_pred, sample_weight)
        if loss is None:
            raise InputError("guard: the model has no loss; compile it with one.")
        return tf.cast(loss, tf.float32)

    # -- fit ----------------------------------------------------------------------------------
    def fit(self, *args, **kwargs):
        """`keras.Model.fit` with the guard's callback first; fills `self.guard_report`."""
        from nanguard.components.trainer.health import write_health_report

        bound = inspect.signature(keras.Model.fit).bind(self, *args, **kwargs)
        arguments = {key: value for key, value in bound.arguments.items() if key != "self"}
        extra = arguments.pop("kwargs", {})
        later = list(arguments.get("callbacks") or [])  # after the guard's
        callback = mixed.AnyGuardCallback(self._nanguard_config, later)
        self.guard_report = report = callback.report
        self._nanguard_prepare(arguments, report)
        arguments["callbacks"] = [callback, *later]
        try:
            return super().fit(**arguments, **extra)
        except GuardBlockedError as err:
            err.report = report
            raise
        finally:
            report["config"] = self._nanguard_config.to_dict()
            if self._nanguard_report_dir:
                write_health_report(report, self._nanguard_report_dir)

    def _nanguard_prepare(self, arguments: dict, report: dict) -> None:
        """Builds weights and optimizer slots before the first step; makes the guard state."""
        if not getattr(self, "optimizer", None) or getattr(self, "compiled_loss", None) is None:
            raise InputError("guard: compile the model (optimizer and loss) before fit.")
        state = self._nanguard_state
        if (
            self.built
            and state is not None
            and state.structure is not None
            and state.optimizer is self.optimizer
            and state.n_weights == len(self.variables)
        ):
            # A later fit of the same model: the state (and the traced step) fit it as they
            # are; peeking at the data again would cost a batch read and a forward pass.
            self._nanguard_describe(report)
            return
        batch = _peek(arguments)
        warnings: dict = {}
        if batch is not None:
            x, _, _ = keras.utils.unpack_x_y_sample_weight(batch)
            y_pred = self(x, training=False)  # builds the weights of a subclassed model
            mixed.warn_float16_outputs(tf.nest.flatten(y_pred), warnings)
        elif not self.built:
            raise InputError(
                "guard: the model has no weights yet and its data cannot be peeked at; call the "
                "model on one batch before fit, or pass a tf.data.Dataset or arrays."
            )
        optimizer = self.optimizer
        # Slots must exist before the step: the update runs inside a tf.cond branch.
        if isinstance(optimizer, keras.optimizers.legacy.Optimizer):
            optimizer._create_all_weights(self.trainable_variables)
        else:
            optimizer.build(self.trainable_variables)
        state = self._nanguard_state
        if (
            state is None
            or state.optimizer is not optimizer
            or state.n_weights != len(self.variables)
            or (state.structure is None and batch is not None)
        ):
            self._nanguard_state = _AnyState(self, batch)
            self._nanguard_custom_step = _overrides(type(self), "train_step", _AnyGuard)
            self._nanguard_own_loss = _overrides(type(self), "compute_loss", _AnyGuard)
            self._nanguard_own_metrics = _overrides(type(self), "compute_metrics", _AnyGuard)
            self.train_function = None  # retraced once with the new state; kept across fits
        self._nanguard_state.warnings = warnings.get("warnings", [])
        self._nanguard_describe(report)

    def _nanguard_describe(self, report: dict) -> None:
        """What the health report says about the model, its optimizer and its outputs."""
        optimizer = self.optimizer
        if self._nanguard_state.warnings:
            report["warnings"] = list(self._nanguard_state.warnings)
        report["model_class"] = type(self).__name__
        report["model_kind"] = _kind(self)
        report["own_train_step"] = self._nanguard_custom_step
        if self._nanguard_custom_step:
            report["limits"] = LIMITS_CUSTOM_STEP
        report["check"] = "snapshot" if _unchecked(self) else "step"
        report["jit_compile"] = bool(getattr(self, "_jit_compile", False))
        report["mixed_precision"] = _is_lso(optimizer)

    # -- the steps ----------------------------------------------------------------------------
    @tf.autograph.experimental.do_not_convert
    def train_step(self, data):
        if self._nanguard_state.unchecked:  # decided by `make_train_function`
            return super().train_step(data)
        if self._nanguard_custom_step:
            return self._nanguard_after_own_step(data)
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        guard, optimizer = self._nanguard_state, self.optimizer
        lso = _is_lso(optimizer)
        variables = self.trainable_variables
        quiet = None
        with tf.GradientTape() as tape:
            y_pred = self(x, training=True)
            if self._nanguard_own_loss:
                loss = self.compute_loss(x, y, y_pred, sample_weight)
            else:
                with _QuietLosses(self, y_pred) as quiet:
                    loss = self.compute_loss(x, y, y_pred, sample_weight)
            scaled = optimizer.get_scaled_loss(loss) if lso else loss
        grads = tape.gradient(scaled, variables)
        if lso:
            grads = optimizer.get_unscaled_gradients(grads)
        grad_norm = tf.linalg.global_norm([g for g in grads if g is not None])
        loss32 = tf.cast(loss, tf.float32)
        # The fused check, a computed value (XLA keeps it). A LossScaleOptimizer skips an
        # overflowing gradient itself and lowers the scale: counted, not divergence.
        finite = tf.math.is_finite(loss32 if lso else loss32 + grad_norm)
        filled = _rows(x) > 0
        apply = tf.logical_and(tf.logical_and(finite, filled), tf.equal(guard.bad_steps, 0))

        pairs = [(g, v) for g, v in zip(grads, variables, strict=True) if g is not None]
        # Under a distribution strategy the update synchronises the replicas (`merge_call`),
        # which cannot sit in a tf.cond branch: it runs on every step, with zero gradients
        # where it must not apply, and the host rolls back to the snapshot after any event.
        distributed = tf.distribute.has_strategy()
        if distributed:
            optimizer.apply_gradients([(_masked(g, apply), v) for g, v in pairs])

        def _apply():
            if not distributed:
                optimizer.apply_gradients(pairs)
            norm = grad_norm
            if lso:
                overflow = tf.logical_not(tf.math.is_finite(grad_norm))
                guard.scale_skips.assign_add(tf.cast(overflow, tf.int64))
                norm = tf.where(overflow, 0.0, grad_norm)
            guard.max_grad_norm.assign(tf.maximum(guard.max_grad_norm, norm))
            guard.examples.assign_add(_rows(x))
            if quiet is not None:
                quiet.replay()  # the loss metrics, from the loss computed above
            if not self._nanguard_own_metrics:  # (metric results would synchronise replicas)
                self.compiled_metrics.update_state(y, y_pred, sample_weight)
            return tf.constant(True)

        def _skip():
            bad = tf.logical_and(tf.logical_not(finite), filled)
            guard.bad_steps.assign_add(tf.cast(bad, tf.int64))
            first = tf.logical_and(bad, tf.equal(guard.bad_steps, 1))
            return tf.cond(first, lambda: guard.capture(data), lambda: tf.constant(False))

        with tf.control_dependencies([tf.cond(apply, _apply, _skip)]):
            step = guard.step.assign_add(1)
        with tf.control_dependencies([guard.snapshot_in_step(step, lso)]):
            if self._nanguard_own_metrics:  # the model's own compute_metrics: every step
                return self.compute_metrics(x, y, y_pred, sample_weight)
            return self.get_metrics_result()

    def _nanguard_after_own_step(self, data):
        """The model's own step, then a check of the loss it returns and of every weight."""
        guard = self._nanguard_state
        logs = super().train_step(data)
        checks = [
            tf.reduce_all(tf.math.is_finite(tf.cast(v, tf.float32)))
            for v in self.trainable_variables
            if v.dtype.is_floating
        ]
        if isinstance(logs, dict) and "loss" in logs:
            checks.append(tf.reduce_all(tf.math.is_finite(tf.cast(logs["loss"], tf.float32))))
        finite = tf.reduce_all(tf.stack(checks))
        x, _, _ = keras.utils.unpack_x_y_sample_weight(data)
        filled = _rows(x) > 0
        bad = tf.logical_and(tf.logical_not(finite), filled)
        first = tf.logical_and(bad, tf.equal(guard.bad_steps, 0))
        captured = tf.cond(first, lambda: guard.capture(data), lambda: tf.constant(False))
        with tf.control_dependencies([captured]):
            guard.bad_steps.assign_add(tf.cast(bad, tf.int64))
            guard.examples.assign_add(tf.where(finite, _rows(x), 0))
            step = guard.step.assign_add(1)
        with tf.control_dependencies([guard.snapshot_in_step(step, _is_lso(self.optimizer))]):
            return tf.nest.map_structure(tf.identity, logs)

    # -- saving -------------------------------------------------------------------------------
    def save(self, filepath, *args, **kwargs):
        """`keras.Model.save`, refused (nothing written) while a weight is NaN or Inf."""
        check_export(self, str(filepath))
        return super().save(filepath, *args, **kwargs)

    def _trackable_children(self, save_type="checkpoint", **kwargs):
        if save_type == "savedmodel":  # tf.saved_model.save walks this before writing
            check_export(self)
        return super()._trackable_children(save_type, **kwargs)
