"""The guard state of `any_model.guard`, the helpers of its train step (one batch peeked,
loss metrics kept quiet, gradients masked) and of its guarded class.

NaN and Inf: the state captures the batch of the first non-finite step; `_masked` zeroes a
gradient (NaN * 0 would stay NaN) for steps that must not train under a distribution strategy.
"""

from __future__ import annotations

import inspect

import tensorflow as tf
import tf_keras as keras
from absl import logging

from nanguard.components.trainer.guarded_model import _GuardState, _is_lso

VERDICT = "nanguard_not_snapshotted"  # in a snapshotting call's logs; the guard's callback pops it


class _AnyState(_GuardState):
    """The guard's graph variables, plus the captured batch as any structure of dense tensors.

    Under XLA a variable cannot change shape inside the compiled step, so the batch is captured
    into variables of the peeked batch's shape (rows padded with zeros, `rows` kept); otherwise
    into variables of any shape. A dynamic loss scale is part of the snapshot.
    """

    def __init__(self, model: keras.Model, batch):
        optimizer = model.optimizer
        opt_vars = optimizer.variables
        opt_vars = list(opt_vars() if callable(opt_vars) else opt_vars)
        scale = getattr(optimizer, "_loss_scale", None) if _is_lso(optimizer) else None
        for var in (getattr(scale, "current_loss_scale", None), getattr(scale, "counter", None)):
            if isinstance(var, tf.Variable) and not any(var is v for v in opt_vars):
                opt_vars.append(var)
        super().__init__({}, model.variables, opt_vars)
        self.optimizer, self.n_weights = optimizer, len(model.variables)
        self.scale_skips = tf.Variable(0, dtype=tf.int64, trainable=False)
        self.rows = tf.Variable(0, dtype=tf.int64, trainable=False)
        self.structure = batch
        self.plain_fn = self.snap_fn = None  # check='snapshot': Keras's function, and with `_save`
        # check='snapshot': the guard's step count when this fit began (Keras's `_train_counter`
        # counts the fit's steps from 0), so a snapshotting call brings `step` up to date itself.
        self.step_base = tf.Variable(0, dtype=tf.int64, trainable=False)
        self.counter = model._train_counter  # every tf_keras Model has one
        self.warnings: list[dict] = []  # the health report's, found when the state was made
        self.fixed = bool(getattr(model, "_jit_compile", False))
        leaves = tf.nest.flatten(batch) if batch is not None else []
        self.leaves = None
        if leaves and all(isinstance(t, tf.Tensor) and t.shape.rank for t in leaves):
            self.leaves = [
                tf.Variable(tf.zeros_like(t), trainable=False)
                if self.fixed
                else tf.Variable(
                    tf.zeros([0], t.dtype), shape=tf.TensorShape(None), trainable=False
                )
                for t in leaves
            ]

    def snapshot_after(self, function):
        """`function` (Keras's traced train function), then in the same call: the guard's step
        count brought to the steps run (`step_base` plus Keras's step counter) and the snapshot
        (`_save`) unless the call's running `loss` is NaN or Inf; the logs carry whether the
        snapshot was taken (`VERDICT`: 0, else 1: a non-finite weight or loss), which the
        guard's callback takes out before any other callback sees them. For
        `check='snapshot'`: the host picks it for the calls after which a snapshot is due, so
        no other call runs a `tf.cond`, and the host runs no op of its own for a snapshot (an
        eager op between calls costs about 0.1 ms here, a snapshot call about 0.3 ms)."""

        @tf.function(reduce_retracing=True)
        def train_function(iterator):
            logs = function(iterator)
            self.step.assign(self.step_base + tf.cast(self.counter, tf.int64))
            loss = logs.get("loss") if isinstance(logs, dict) else None
            due = None
            if loss is not None:
                due = lambda: tf.reduce_all(tf.math.is_finite(tf.cast(loss, tf.float32)))  # noqa: E731
            return self.save_after(logs, due, verdict=VERDICT)

        return train_function

    def capture(self, data) -> tf.Tensor:
        values = tf.nest.flatten(data)
        can = self.leaves is not None and len(values) == len(self.leaves)
        if can and self.fixed:  # trace time: the same inner shapes, or no capture
            can = all(
                v.shape[1:].is_compatible_with(var.shape[1:])
                for v, var in zip(values, self.leaves, strict=True)
            )
        if can:
            for var, value in zip(self.leaves, values, strict=True):
                if self.fixed:
                    size = var.shape[0]
                    value = tf.concat([value, tf.zeros_like(var)], 0)[:size]
                var.assign(value)
            self.rows.assign(tf.shape(values[0], out_type=tf.int64)[0])
        self.first_bad_step.assign(self.step)
        self.captured.assign(can)
        return tf.constant(False)

    def batch(self):
        """The captured `(x, y, sample_weight)`, or (None, None, None)."""
        if self.leaves is None or not bool(self.captured.numpy()):
            return None, None, None
        rows = int(self.rows.numpy())
        values = [v.read_value()[:rows] for v in self.leaves]
        return keras.utils.unpack_x_y_sample_weight(
            tf.nest.pack_sequence_as(self.structure, values)
        )


class _Recorder:
    """Stands in for a loss metric: keeps the arguments of its `update_state` calls."""

    def __init__(self, metric, calls: list):
        self.metric, self.calls = metric, calls

    def update_state(self, *args, **kwargs):
        self.calls.append((self.metric, args, kwargs))


class _QuietLosses:
    """Keeps the compiled loss from updating its loss metrics (trace time only).

    The guarded step computes the loss for the tape with this on; the updates the loss metrics
    would have made are kept (`calls`) and made by `replay` in the branch that applies the
    update, from the same tensors (the loss is not computed twice): a non-finite step is not
    averaged into `loss`.
    """

    def __init__(self, model, y_pred):
        self.container = getattr(model, "compiled_loss", None)
        self.y_pred = y_pred
        self.calls: list = []

    def __enter__(self):
        c = self.container
        self.saved = None
        if c is None or not hasattr(c, "_total_loss_mean") or not hasattr(c, "_built"):
            return self
        if not c._built:
            c.build(self.y_pred)
        self.saved = (c._total_loss_mean, c._per_output_metrics)
        c._total_loss_mean = _Recorder(c._total_loss_mean, self.calls)
        c._per_output_metrics = [
            None if m is None else _Recorder(m, self.calls) for m in c._per_output_metrics or []
        ]
        return self

    def __exit__(self, *exc):
        if self.saved is not None:
            self.container._total_loss_mean, self.container._per_output_metrics = self.saved

    def replay(self) -> None:
        """The loss metrics' updates held back while the loss was computed."""
        for metric, args, kwargs in self.calls:
            metric.update_state(*args, **kwargs)


def _rows(data) -> tf.Tensor:
    first = tf.nest.flatten(data)[0]
    return tf.shape(first, out_type=tf.int64)[0]


def _masked(grad, keep):
    """`grad` where `keep`, else zeros (NaN * 0 would stay NaN); IndexedSlices stay sparse."""
    if isinstance(grad, tf.IndexedSlices):
        values = tf.where(keep, grad.values, tf.zeros_like(grad.values))
        return tf.IndexedSlices(values, grad.indices, grad.dense_shape)
    return tf.where(keep, grad, tf.zeros_like(grad))


def _peek(arguments: dict):
    """One small batch `(x, y, sample_weight)` of fit's data, or None if it cannot be read."""
    x = arguments.get("x")
    if isinstance(x, tf.data.Dataset):
        for batch in x.take(1):
            return batch if isinstance(batch, tuple) else (batch,)
        return None
    if x is None or inspect.isgenerator(x) or isinstance(x, keras.utils.Sequence):
        return None
    size = arguments.get("batch_size") or 32

    def head(value):
        return None if value is None else tf.convert_to_tensor(value[:size])

    try:
        return keras.utils.pack_x_y_sample_weight(
            tf.nest.map_structure(head, x),
            tf.nest.map_structure(head, arguments.get("y")),
            tf.nest.map_structure(head, arguments.get("sample_weight")),
        )
    except (TypeError, ValueError) as err:
        logging.warning("nanguard: cannot peek at the training data (%s); no batch capture", err)
        return None


_CLASSES: dict = {}


def _guarded_class(mixin: type, base: type) -> type:
    """`base` with `mixin` (the guard) mixed in first, named as `base` (saved models load as
    `base`)."""
    if base not in _CLASSES:
        cls = type(base.__name__, (mixin, base), {"__module__": base.__module__})
        cls.__qualname__ = base.__qualname__
        _CLASSES[base] = cls
    return _CLASSES[base]


def _overrides(cls: type, name: str, mixin: type) -> bool:
    """True if a class between `cls` and `keras.Model`, other than `mixin`, defines `name`."""
    for klass in cls.__mro__:
        if klass is keras.Model:
            return False
        if (
            klass is not mixin
            and name in vars(klass)
            and klass.__module__.split(".")[0] not in ("tf_keras", "keras")
        ):
            return True
    return False


def _kind(model) -> str:
    if isinstance(model, keras.Sequential):
        return "sequential"
    if getattr(model, "_is_graph_network", False):
        return "functional"
    return "subclassed"


def _unchecked(model) -> bool:
    """True if the guarded model's steps run as Keras or the model wrote them
    (`check='snapshot'`, under a Mirrored or OneDevice strategy too: the host reads the loss
    Keras summed over the replicas); under a loss scaler (whose skips are counted in the
    step), `run_eagerly` or another strategy (a parameter server's logs are remote, a TPU's
    loss is one replica's) every step is checked."""
    strategy = tf.distribute.get_strategy() if tf.distribute.has_strategy() else None
    local = strategy is None or isinstance(
        strategy, (tf.distribute.MirroredStrategy, tf.distribute.OneDeviceStrategy)
    )
    return local and not (
        model._nanguard_every_step or _is_lso(model.optimizer) or model.run_eagerly
    )
