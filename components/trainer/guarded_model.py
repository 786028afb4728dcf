"""The guarded model: a Keras train step that refuses non-finite updates, checked in graph.

`GuardedModel` is a `tf_keras.Model` whose compiled train step checks, every step, the loss and
the global gradient norm for finiteness with one fused scalar (`is_finite(loss +
global_norm(grads))`), and applies the update only when it is finite (`tf.cond`). The weights
are checked before every snapshot; a weight an update made non-finite also makes the next
step's loss non-finite. The global norm computed for the check
is the one the gradients are clipped with (the optimizer's `global_clipnorm` moves into the
step). A non-finite step is counted in graph variables, its batch is captured in graph
variables, and every later update is frozen until the host looks (`guard.GuardCallback`):
nothing is copied to Python per batch. `take_snapshot` copies weights and optimizer state into
graph variables, only if every weight is finite (an update that overflowed a weight is marked
as an event instead), so `restore_snapshot` always brings back finite weights. The train
function takes that snapshot itself, at the end of a Keras call once `snapshot_every` steps have
passed (`after_call`), or, when a call runs more steps than that, after every
`snapshot_every`-th step (`snapshot_in_step`: one `tf.cond` per step, whose copying branch runs
only then); the host's check between calls then reads one scalar. Under a distribution strategy
or a loss scaler the host snapshots at its checks instead.

NaN and Inf: a step whose loss or global gradient norm is NaN or Inf never updates the weights,
the optimizer slots or the iteration count, and is not averaged into the `loss` metric. An
empty batch (every label missing) updates and counts nothing, in training and in evaluation. With
mixed precision the `LossScaleOptimizer` already skips steps whose *gradients* overflow (and
lowers the loss scale); the guard then checks only the loss, so loss-scale overflows are not
counted as divergence.
"""

from __future__ import annotations

import tensorflow as tf
import tf_keras as keras


class _GuardState:
    """Graph variables of the guard. A plain object, so Keras neither tracks nor saves them."""

    def __init__(self, input_dtypes: dict, weights: list, optimizer_variables: list):
        def var(value, dtype):
            return tf.Variable(value, dtype=dtype, trainable=False)

        self.step = var(0, tf.int64)
        self.bad_steps = var(0, tf.int64)
        self.first_bad_step = var(-1, tf.int64)
        self.max_grad_norm = var(0.0, tf.float32)  # since the last epoch end (the host resets it)
        self.examples = var(0, tf.int64)  # rows of the batches the step applied
        self.captured = var(False, tf.bool)
        self.captured_x = {
            name: tf.Variable(tf.zeros([0], dtype), shape=tf.TensorShape(None), trainable=False)
            for name, dtype in input_dtypes.items()
        }
        self.captured_y = tf.Variable(
            tf.zeros([0], tf.float32), shape=tf.TensorShape(None), trainable=False
        )
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.snapshots = var(0, tf.int64)  # snapshots taken
        self.snapped_at = var(0, tf.int64)  # `step` at the last snapshot
        # A snapshot copies the weights and the optimizer state; only the weights are checked.
        self._checked = [v for v in weights if v.dtype.is_floating]
        self._targets = list(weights) + list(optimizer_variables)
        self._copies = [
            tf.Variable(tf.convert_to_tensor(v), trainable=False, shape=v.shape, dtype=v.dtype)
            for v in self._targets
        ]
        # Here, not on the model: functions the model held would be saved with it.
        self.save_fn = tf.function(self._save)
        self.restore_fn = tf.function(self._restore)
        # `GuardCallback` sets `every` (its snapshot_every) and `per_call` (the model's steps per
        # Keras call) before the train function is traced; `in_step` is True when the traced
        # function snapshots itself (in its step or after its call), so the host's checks
        # between calls only read `bad_steps`.
        self.every, self.per_call, self.in_step = 0, 1, False
        # `guard(check='snapshot')`: the train function is Keras's own, its steps unchecked and
        # uncounted in graph (the host counts them and reads the loss; `mixed.AnyGuardCallback`).
        self.unchecked = False

    def _in_graph(self, lso: bool) -> bool:
        """Whether the train function may snapshot itself: not under a distribution strategy
        (masked updates; the host rolls back) nor a loss scaler (its scale is checked by the
        host before a snapshot keeps it)."""
        return self.every > 0 and not lso and not tf.distribute.has_strategy()

    def snapshot_in_step(self, step: tf.Tensor, lso: bool) -> tf.Tensor:
        """In the train step, after the step counter moved to `step`: every `every`-th step,
        the host's snapshot (`_save`: copies only if no step was non-finite and every weight is
        finite, else records the event). Only when a Keras call runs more than `every` steps:
        the `tf.cond` costs every step (about 18 us on a small model), and otherwise the
        snapshot after each call (`after_call`) comes as often."""
        if not (self._in_graph(lso) and self.every < self.per_call):
            return step
        self.in_step = True
        due = tf.equal(tf.math.floormod(step, self.every), 0)
        return tf.cond(due, self._save, lambda: tf.constant(False))

    def after_call(self, model: keras.Model, function):
        """Keras's train function `function`, followed in the same graph by the snapshot
        (`_save`) once `every` steps have passed since the last one: one `tf.cond` per call, and
        no call from the host. `function` itself when Keras runs it eagerly or through a
        cluster coordinator; decided when traced, after `GuardCallback` set `every`."""
        inner = getattr(model, "train_tf_function", None)
        if inner is None or inner is not function:
            return function
        lso = _is_lso(model.optimizer)

        @tf.function(reduce_retracing=True)
        def train_function(iterator):
            self.in_step = False
            logs = inner(iterator)  # traces the step (`snapshot_in_step` may set `in_step`)
            if self.in_step or not self._in_graph(lso):
                return logs
            self.in_step = True
            return self.save_after(logs, lambda: self.step - self.snapped_at >= self.every)

        model.train_tf_function = train_function
        return train_function

    def save_after(self, logs, due=None, verdict=None):
        """In a train function: `logs`, returned after the snapshot (`_save`) that runs once
        the call's steps are done, if `due()` (a bool tensor, read after the steps) is True;
        always when `due` is None. With a `verdict` key, dict logs also hold there 0 if the
        snapshot was taken, else 1."""
        with tf.control_dependencies(tf.nest.flatten(logs)):
            if due is None:
                saved = self._save()
            else:
                saved = tf.cond(due(), self._save, lambda: tf.constant(False))
        with tf.control_dependencies([saved]):
            logs = tf.nest.map_structure(tf.identity, logs)
        if verdict is not None and isinstance(logs, dict):
            logs = {**logs, verdict: tf.cast(tf.logical_not(saved), tf.int64)}
        return logs

    def reset_event(self) -> None:
        self.bad_steps.assign(0)
        self.first_bad_step.assign(-1)
        self.captured.assign(False)

    def _save(self) -> tf.Tensor:
        """The host's check, in one call: True after copying weights and optimizer state if no
        step since the last check was non-finite and every weight is finite; else False.

        A non-finite step (counted by the train step) leaves the variables as they are. A
        weight that is not finite although every step was is an update that overflowed the
        weights while its loss and gradient norm were finite: the last step is recorded as
        the first non-finite one.
        """
        return tf.cond(
            tf.equal(self.bad_steps, 0), self._save_if_finite, lambda: tf.constant(False)
        )

    def _save_if_finite(self) -> tf.Tensor:
        finite = tf.reduce_all(
            tf.stack(
                [tf.reduce_all(tf.math.is_finite(tf.cast(v, tf.float32))) for v in self._checked]
            )
        )

        def _copy():
            for src, dst in zip(self._targets, self._copies, strict=True):
                dst.assign(src)
            self.snapshots.assign_add(1)
            self.snapped_at.assign(self.step)
            return tf.constant(True)

        def _overflowed():
            self.first_bad_step.assign(self.step - 1)
            self.bad_steps.assign(1)
            return tf.constant(False)

        return tf.cond(finite, _copy, _overflowed)

    def _restore(self) -> None:
        for src, dst in zip(self._copies, self._targets, strict=True):
            dst.assign(src)


def _nonempty(y: tf.Tensor) -> tf.Tensor:
    return tf.shape(y)[0] > 0


def _is_lso(optimizer) -> bool:
    return isinstance(optimizer, keras.mixed_precision.LossScaleOptimizer)


class GuardedModel(keras.Model):
    """A functional Keras model whose train step refuses non-finite updates.

    Build it like `keras.Model(inputs=..., outputs=...)`, then `compile(optimizer, loss, metrics)`
    with a `keras.losses.Loss` instance. Regularization losses (`model.losses`) are added to the
    loss. Train with `fit(..., callbacks=[GuardCallback(...)])`.

    NaN and Inf: see the module docstring. The `loss` metric averages finite steps only; the
    validation loss is reported as computed (a NaN there is visible, not hidden).
    """

    def compile(self, optimizer="adam", loss=None, metrics=None, **kwargs):
        """Compiles like `keras.Model.compile`; `loss` must be a `keras.losses.Loss` instance.

        Raises:
            TypeError: if `loss` is not a `keras.losses.Loss` instance.
        """
        if not isinstance(loss, keras.losses.Loss):
            raise TypeError(
                f"GuardedModel.compile needs a keras.losses.Loss instance as loss, got {loss!r}; "
                "pass e.g. keras.losses.SparseCategoricalCrossentropy()."
            )
        super().compile(optimizer=optimizer, loss=loss, metrics=metrics, **kwargs)
        self._guard_loss_fn = loss
        # The train step computes the global gradient norm for its check anyway: it clips with
        # that norm, so the optimizer does not compute it a second time.
        inner = self.optimizer.inner_optimizer if _is_lso(self.optimizer) else self.optimizer
        self._guard_clipnorm = getattr(inner, "global_clipnorm", None)
        if self._guard_clipnorm:
            inner.global_clipnorm = None
        # Slots must exist before the train step: apply_gradients runs inside a tf.cond branch.
        self.optimizer.build(self.trainable_variables)
        # Keyed as the batches are: by the input dict's keys (the feature names, which may be
        # any column header), else by input layer name.
        nested = self.input
        named = (
            nested
            if isinstance(nested, dict)
            else dict(zip(self.input_names, self.inputs, strict=True))
        )
        self._guard = _GuardState(
            {name: t.dtype for name, t in named.items()},
            self.variables,
            self.optimizer.variables,
        )
        self._guard_input_names = list(named)

    def take_snapshot(self) -> bool:
        """Snapshots weights and optimizer state; False if a step since the last snapshot was
        non-finite, or (an event) if a weight is not finite."""
        return bool(self._guard.save_fn())

    def make_train_function(self, force=False):
        """Keras's train function, with the guard's snapshot after each call (`after_call`)."""
        if self.train_function is not None and not force:
            return self.train_function
        self.train_function = self._guard.after_call(self, super().make_train_function(force))
        return self.train_function

    def restore_snapshot(self) -> None:
        """Puts back the weights and optimizer state of the last snapshot (all finite)."""
        self._guard.restore_fn()

    def captured_batch(self):
        """The batch of the first non-finite step, `(x, y, None)`, or (None, None, None)."""
        guard = self._guard
        if not bool(guard.captured.numpy()):
            return None, None, None
        x = {k: v.read_value() for k, v in guard.captured_x.items()}
        return x, tf.cast(guard.captured_y.read_value(), self.guard_label_dtype), None

    @property
    def guard_state(self) -> _GuardState:
        """The guard's graph variables (step, non-finite count, captured batch, loss tracker)."""
        return self._guard

    @property
    def gradient_clipnorm(self) -> float | None:
        """The global norm the train step clips gradients to (the optimizer's, moved here)."""
        return self._guard_clipnorm

    @property
    def guard_label_dtype(self) -> tf.DType:
        """The label dtype seen by the train step (float32 before the first step)."""
        return getattr(self, "_guard_label_dtype", tf.float32)

    @property
    def metrics(self):
        guard = getattr(self, "_guard", None)
        metrics = [guard.loss_tracker] if guard is not None else []
        if getattr(self, "compiled_metrics", None) is not None:
            metrics += self.compiled_metrics.metrics
        return metrics

    def guarded_loss(self, y, y_pred, sample_weight=None):
        """Data loss plus regularization losses, as a float32 scalar."""
        loss = tf.cast(self._guard_loss_fn(y, y_pred, sample_weight=sample_weight), tf.float32)
        if self.losses:
            loss += tf.add_n([tf.cast(r, tf.float32) for r in self.losses])
        return loss

    # Not converted by AutoGraph: the steps hold no Python control flow over tensors (their
    # conditionals are explicit `tf.cond`s), and AutoGraph, which converts `tf_keras` code
    # (unlike `keras`), spent ~15 s of the first call rewriting the optimizer and the layers.
    @tf.autograph.experimental.do_not_convert
    def train_step(self, data):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        self._guard_label_dtype = y.dtype  # trace time only: how to cast the captured label back
        guard, optimizer = self._guard, self.optimizer
        lso = _is_lso(optimizer)
        variables = self.trainable_variables
        with tf.GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = self.guarded_loss(y, y_pred, sample_weight)
            scaled = optimizer.get_scaled_loss(loss) if lso else loss
        grads = tape.gradient(scaled, variables)
        if lso:
            grads = optimizer.get_unscaled_gradients(grads)
        grad_norm = tf.linalg.global_norm([g for g in grads if g is not None])
        if self._guard_clipnorm:
            grads, _ = tf.clip_by_global_norm(grads, self._guard_clipnorm, use_norm=grad_norm)
        # The one fused finiteness check. Under a LossScaleOptimizer an overflowing gradient is
        # the loss scaler's business (it skips the step itself), so only the loss counts. The
        # weights are not summed every step: weights made non-finite by an update make the next
        # step's loss non-finite, and the host's check (every `snapshot_every` steps) verifies
        # every weight before it takes a snapshot.
        probe = loss if lso else loss + grad_norm
        finite = tf.math.is_finite(probe)
        # A batch whose rows all lost their label (`data.drop_missing_labels`) trains nothing
        # and is not an event: batches are kept, not filtered, so every epoch has the same
        # number of them and Keras can run several steps per call from the second epoch on.
        filled = _nonempty(y)
        apply = tf.logical_and(tf.logical_and(finite, filled), tf.equal(guard.bad_steps, 0))

        # Everything a finite step records lives in the applied branch, so the common step
        # pays no masking: the loss metric, the compiled metrics, the largest gradient norm
        # and the examples count see applied steps only (a frozen step after a non-finite one
        # trains nothing and is not averaged in either).
        def _apply():
            optimizer.apply_gradients(
                [(g, v) for g, v in zip(grads, variables, strict=True) if g is not None]
            )
            norm = grad_norm
            if lso:  # the loss scaler skipped an overflowing gradient: no norm to record
                norm = tf.where(tf.math.is_finite(grad_norm), grad_norm, 0.0)
            guard.max_grad_norm.assign(tf.maximum(guard.max_grad_norm, norm))
            guard.examples.assign_add(tf.shape(y, out_type=tf.int64)[0])
            guard.loss_tracker.update_state(loss)
            self.compiled_metrics.update_state(y, y_pred, sample_weight)
            return tf.constant(True)

        def _skip():
            bad = tf.logical_and(tf.logical_not(finite), filled)
            guard.bad_steps.assign_add(tf.cast(bad, tf.int64))

            def _capture():
                for name in self._guard_input_names:
                    guard.captured_x[name].assign(x[name])
                guard.captured_y.assign(tf.cast(y, tf.float32))
                guard.first_bad_step.assign(guard.step)
                guard.captured.assign(True)
                return tf.constant(False)

            first_bad = tf.logical_and(bad, tf.equal(guard.bad_steps, 1))
            return tf.cond(first_bad, _capture, lambda: tf.constant(False))

        with tf.control_dependencies([tf.cond(apply, _apply, _skip)]):
            step = guard.step.assign_add(1)
        with tf.control_dependencies([guard.snapshot_in_step(step, lso)]):
            return {m.name: m.result() for m in self.metrics}

    @tf.autograph.experimental.do_not_convert
    def test_step(self, data):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        y_pred = self(x, training=False)
        # An empty batch adds nothing (its loss would be the regularization alone).
        filled = _nonempty(y)
        loss = tf.where(filled, self.guarded_loss(y, y_pred, sample_weight), 0.0)
        self._guard.loss_tracker.update_state(loss, sample_weight=tf.cast(filled, tf.float32))
        self.compiled_metrics.update_state(y, y_pred, sample_weight)
        return {m.name: m.result() for m in self.metrics}
