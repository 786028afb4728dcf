"""In-graph non-finite guard for Keras training: detection, policy, diagnosis, export check.

`GuardedModel` is a `tf_keras.Model` whose compiled train step checks, every step, the loss, the
global gradient norm and the weights for finiteness with one fused reduction
(`is_finite(loss + global_norm(grads) + sum(weights))`, a single scalar), and applies the update
only when it is finite (`tf.cond`). A non-finite step is counted in graph variables, its batch is
captured in graph variables, and every later update is frozen until the host looks: nothing is
copied to Python per batch. `GuardCallback` reads one scalar every `snapshot_every` steps (and at
each epoch end); when no step was bad it snapshots the weights and optimizer state, otherwise it
diagnoses the captured batch and applies the policy (`recover`, `stop` or `raise`).

NaN and Inf: a step whose loss, global gradient norm or weights hold a NaN or Inf never updates
the weights. With mixed precision the `LossScaleOptimizer` already skips steps whose *gradients*
overflow (and lowers the loss scale); the guard then checks only the loss and the weights, so
loss-scale overflows are not counted as divergence.
"""

from __future__ import annotations

import json
import math
import os
import re

import numpy as np
import tensorflow as tf
import tf_keras as keras
from absl import logging

from nanguard.components.errors import GuardBlockedError

HEALTH_REPORT_FILE = "nanguard_training_health.json"
POLICIES = ("recover", "stop", "raise")


class _GuardState:
    """Graph variables of the guard. A plain object, so Keras neither tracks nor saves them."""

    def __init__(self, input_dtypes: dict):
        def var(value, dtype):
            return tf.Variable(value, dtype=dtype, trainable=False)

        self.step = var(0, tf.int64)
        self.bad_steps = var(0, tf.int64)
        self.first_bad_step = var(-1, tf.int64)
        self.max_grad_norm = var(0.0, tf.float32)
        self.captured = var(False, tf.bool)
        self.captured_x = {
            name: tf.Variable(tf.zeros([0], dtype), shape=tf.TensorShape(None), trainable=False)
            for name, dtype in input_dtypes.items()
        }
        self.captured_y = tf.Variable(
            tf.zeros([0], tf.float32), shape=tf.TensorShape(None), trainable=False
        )
        self.loss_tracker = keras.metrics.Mean(name="loss")

    def reset_event(self) -> None:
        self.bad_steps.assign(0)
        self.first_bad_step.assign(-1)
        self.captured.assign(False)


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
        # Slots must exist before the train step: apply_gradients runs inside a tf.cond branch.
        self.optimizer.build(self.trainable_variables)
        self._guard = _GuardState({t.name.split(":")[0]: t.dtype for t in self.inputs})
        self._guard_input_names = list(self.input_names)

    @property
    def guard_state(self) -> _GuardState:
        """The guard's graph variables (step, non-finite count, captured batch, loss tracker)."""
        return self._guard

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
        weight_sum = tf.add_n([tf.reduce_sum(tf.cast(v, tf.float32)) for v in variables])
        # The one fused finiteness check. Under a LossScaleOptimizer an overflowing gradient is
        # the loss scaler's business (it skips the step itself), so only loss and weights count.
        probe = loss + weight_sum if lso else loss + grad_norm + weight_sum
        finite = tf.math.is_finite(probe)
        first_bad = tf.logical_and(tf.logical_not(finite), tf.equal(guard.bad_steps, 0))
        apply = tf.logical_and(finite, tf.equal(guard.bad_steps, 0))

        def _apply():
            optimizer.apply_gradients(
                [(g, v) for g, v in zip(grads, variables, strict=True) if g is not None]
            )
            return tf.constant(True)

        def _skip():
            def _capture():
                for name in self._guard_input_names:
                    guard.captured_x[name].assign(x[name])
                guard.captured_y.assign(tf.cast(y, tf.float32))
                guard.first_bad_step.assign(guard.step)
                guard.captured.assign(True)
                return tf.constant(False)

            return tf.cond(first_bad, _capture, lambda: tf.constant(False))

        with tf.control_dependencies([tf.cond(apply, _apply, _skip)]):
            guard.bad_steps.assign_add(tf.cast(tf.logical_not(finite), tf.int64))
            finite_norm = tf.logical_and(finite, tf.math.is_finite(grad_norm))
            guard.max_grad_norm.assign(
                tf.where(
                    finite_norm, tf.maximum(guard.max_grad_norm, grad_norm), guard.max_grad_norm
                )
            )
            guard.step.assign_add(1)
        finite_f = tf.cast(finite, tf.float32)
        guard.loss_tracker.update_state(tf.where(finite, loss, 0.0), sample_weight=finite_f)
        safe_pred = tf.where(finite, y_pred, tf.zeros_like(y_pred))
        metric_weight = finite_f if sample_weight is None else sample_weight * finite_f
        self.compiled_metrics.update_state(y, safe_pred, metric_weight)
        return {m.name: m.result() for m in self.metrics}

    def test_step(self, data):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        y_pred = self(x, training=False)
        self._guard.loss_tracker.update_state(self.guarded_loss(y, y_pred, sample_weight))
        self.compiled_metrics.update_state(y, y_pred, sample_weight)
        return {m.name: m.result() for m in self.metrics}


def _float(value) -> float | str:
    """A JSON-safe float: NaN and Inf become the strings 'NaN', 'Infinity', '-Infinity'."""
    value = float(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def _json_safe(value):
    """`value` with every float made JSON-safe by `_float`, through dicts, lists and tuples."""
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, float):
        return _float(value)
    return value


def _layer_of(model: keras.Model) -> dict:
    """Maps id(variable) -> name of the layer that owns it."""
    owners = {}
    for layer in model.layers:
        for weight in layer.weights:
            owners.setdefault(id(weight), layer.name)
    return owners


def nonfinite_weights(model: keras.Model) -> list[dict]:
    """Lists every model weight holding NaN or Inf.

    Returns:
        One dict per offending variable: `layer`, `variable`, `nan` and `inf` counts (empty list
        when all weights are finite). NaN and Inf are counted separately.
    """
    owners = _layer_of(model)
    found = []
    for weight in model.weights:
        value = np.asarray(tf.convert_to_tensor(weight))
        if value.dtype.kind != "f":
            continue
        finite = np.isfinite(value)
        if finite.all():
            continue
        found.append(
            {
                "layer": owners.get(id(weight), "?"),
                "variable": weight.name,
                "nan": int(np.isnan(value).sum()),
                "inf": int(np.isinf(value).sum()),
            }
        )
    return found


def extreme_inputs(features: dict, threshold: float) -> list[dict]:
    """Float input features of a batch that hold NaN/Inf or whose largest |value| > threshold.

    Returns:
        Dicts `feature`, `max_abs` (over finite values), `nan`, `inf`, `rows`, largest first.
        NaN and Inf are counted, never folded into `max_abs`.
    """
    rows = []
    for name, value in features.items():
        value = np.asarray(value)
        if value.dtype.kind != "f" or value.size == 0:
            continue
        finite = np.isfinite(value)
        max_abs = float(np.abs(value[finite]).max()) if finite.any() else 0.0
        nan, inf = int(np.isnan(value).sum()), int(np.isinf(value).sum())
        if nan or inf or max_abs > threshold:
            rows.append(
                {
                    "feature": name,
                    "max_abs": _float(max_abs),
                    "nan": nan,
                    "inf": inf,
                    "rows": int(value.shape[0]),
                }
            )
    return sorted(rows, key=lambda r: (r["nan"] + r["inf"], r["max_abs"]), reverse=True)


_OP_RE = re.compile(r'op "([^"]+)"')


def diagnose_batch(
    model: GuardedModel, x: dict, y, extreme_threshold: float = 1e3, check_numerics: bool = True
) -> dict:
    """Reruns one batch eagerly with per-layer checks and names where the first NaN/Inf appeared.

    Checks, in order: the weights, each layer's output in the forward pass, the loss, each
    layer's gradient norm (float32 sum of squares, as the global norm does); then, if
    `check_numerics`, reruns forward and backward under `tf.debugging.enable_check_numerics` to
    name the first op. Also lists the batch's extreme input features.

    Returns:
        A JSON-safe dict with `stage` (`weights`, `forward`, `loss`, `backward` or
        `not_reproduced`), `layer`, `op`, `nonfinite_weights`, `nonfinite_layer_outputs`,
        `nonfinite_gradients`, `loss`, `extreme_inputs`. NaN and Inf are reported, never raised.
    """
    result = {
        "stage": "not_reproduced",
        "layer": None,
        "op": None,
        "loss": None,
        "nonfinite_weights": nonfinite_weights(model),
        "nonfinite_layer_outputs": [],
        "nonfinite_gradients": [],
        "extreme_inputs": [],
    }
    if result["nonfinite_weights"]:
        result["stage"] = "weights"
        result["layer"] = result["nonfinite_weights"][0]["layer"]
    if x is None or y is None or not x or tf.size(y) == 0:
        result["note"] = "no captured batch"
        return result
    result["extreme_inputs"] = extreme_inputs(
        {k: np.asarray(v) for k, v in x.items()}, extreme_threshold
    )
    layers = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    probe = keras.Model(model.inputs, [layer.output for layer in layers])
    outputs = probe(x, training=True)
    for layer, out in zip(layers, outputs, strict=True):
        if not bool(tf.reduce_all(tf.math.is_finite(tf.cast(out, tf.float32)))):
            result["nonfinite_layer_outputs"].append(layer.name)
    owners = _layer_of(model)
    variables = model.trainable_variables
    with tf.GradientTape() as tape:
        y_pred = model(x, training=True)
        loss = model.guarded_loss(y, y_pred)
    result["loss"] = _float(loss)
    grads = tape.gradient(loss, variables)
    for var, grad in zip(variables, grads, strict=True):
        if grad is None:
            continue
        grad = tf.convert_to_tensor(grad)
        sq = tf.reduce_sum(tf.square(tf.cast(grad, tf.float32)))
        if not bool(tf.math.is_finite(sq)):
            result["nonfinite_gradients"].append(
                {"layer": owners.get(id(var), "?"), "variable": var.name, "sq_norm": _float(sq)}
            )
    if result["stage"] == "not_reproduced":
        if result["nonfinite_layer_outputs"]:
            result["stage"], result["layer"] = "forward", result["nonfinite_layer_outputs"][0]
        elif not math.isfinite(float(loss)):
            result["stage"], result["layer"] = "loss", layers[-1].name
        elif result["nonfinite_gradients"]:
            # Backprop runs output -> input: the gradient produced first is the last listed.
            result["stage"] = "backward"
            result["layer"] = result["nonfinite_gradients"][-1]["layer"]
    if check_numerics and result["stage"] != "not_reproduced":
        result["op"], result["check_numerics_message"] = _first_nonfinite_op(model, x, y)
    return result


def _first_nonfinite_op(model: GuardedModel, x: dict, y) -> tuple[str | None, str | None]:
    """Runs forward, loss, backward and the squared-norm reduction under check_numerics.

    The first instrumented run in a process can miss the op (seen inside `fit`), so it is tried
    twice; (None, None) if neither run raised.
    """
    for _ in range(2):
        found = _check_numerics_once(model, x, y)
        if found[0] is not None:
            return found
    return None, None


def _check_numerics_once(model: GuardedModel, x: dict, y) -> tuple[str | None, str | None]:
    tf.debugging.enable_check_numerics()
    try:
        with tf.GradientTape() as tape:
            y_pred = model(x, training=True)
            loss = model.guarded_loss(y, y_pred)
        grads = tape.gradient(loss, model.trainable_variables)
        for grad in grads:
            if grad is not None:
                tf.reduce_sum(tf.square(tf.convert_to_tensor(grad)))
    except tf.errors.InvalidArgumentError as err:
        message = err.message.strip()
        match = _OP_RE.search(message)
        return (match.group(1) if match else None), message[:400]
    finally:
        tf.debugging.disable_check_numerics()
    return None, None


class GuardCallback(keras.callbacks.Callback):
    """Applies the non-finite policy of a `GuardedModel` and keeps the training health report.

    Every `snapshot_every` steps and at each epoch end it reads one scalar (the count of
    non-finite steps). None: it snapshots weights and optimizer state (in graph, and only if
    every weight is finite). Some: it diagnoses the captured batch (`diagnose_batch`), restores
    the last snapshot and then, by `policy`:
      * `recover`: multiplies the learning rate by `lr_factor` and goes on; after
        `max_recoveries` recoveries it stops as `stop` does.
      * `stop`: ends training with the last finite weights restored.
      * `raise`: raises `GuardBlockedError` naming the layer.

    Args:
        policy: `recover`, `stop` or `raise`.
        snapshot_every: steps between host checks and snapshots (K).
        lr_factor: learning-rate multiplier applied on each recovery, in (0, 1).
        max_recoveries: recoveries allowed before giving up as `stop` (N).
        extreme_threshold: |value| above which an input feature is listed as extreme.
        check_numerics: also rerun the batch under `tf.debugging.enable_check_numerics`.

    Attributes:
        report: the training health report (JSON-safe dict), filled during `fit`.
    """

    _supports_tf_logs = True  # batch logs stay tensors: no host copy per batch

    def __init__(
        self,
        policy: str = "recover",
        snapshot_every: int = 20,
        lr_factor: float = 0.1,
        max_recoveries: int = 5,
        extreme_threshold: float = 1e3,
        check_numerics: bool = True,
    ):
        super().__init__()
        if policy not in POLICIES:
            raise ValueError(f"nonfinite_policy={policy!r} is not one of {POLICIES}.")
        if int(snapshot_every) < 1:
            raise ValueError(f"snapshot_every={snapshot_every!r} must be >= 1.")
        if not 0.0 < float(lr_factor) < 1.0:
            raise ValueError(f"lr_factor={lr_factor!r} must be in (0, 1).")
        if int(max_recoveries) < 0:
            raise ValueError(f"max_recoveries={max_recoveries!r} must be >= 0.")
        self.policy = policy
        self.snapshot_every = int(snapshot_every)
        self.lr_factor = float(lr_factor)
        self.max_recoveries = int(max_recoveries)
        self.extreme_threshold = float(extreme_threshold)
        self.check_numerics = check_numerics
        self.recoveries = 0
        self._snapshot = None
        self._epoch = 0
        self._since_check = 0
        self.report = {
            "file": HEALTH_REPORT_FILE,
            "policy": policy,
            "snapshot_every": self.snapshot_every,
            "lr_factor": self.lr_factor,
            "max_recoveries": self.max_recoveries,
            "status": "not_started",
            "epochs": [],
            "loss_per_epoch": [],
            "max_grad_norm": None,
            "steps": 0,
            "snapshots": 0,
            "nonfinite_events": [],
            "recoveries": 0,
            "lr_changes": [],
            "stopped_early": False,
        }

    # -- snapshot / restore -------------------------------------------------------------------
    def _targets(self) -> list:
        optimizer = self.model.optimizer
        return list(self.model.variables) + list(optimizer.variables)

    def _build_snapshot(self) -> None:
        targets = self._targets()
        copies = [
            tf.Variable(tf.convert_to_tensor(v), trainable=False, shape=v.shape, dtype=v.dtype)
            for v in targets
        ]

        def save():
            checks = [
                tf.reduce_all(tf.math.is_finite(tf.cast(v, tf.float32)))
                for v in self.model.variables
                if v.dtype.is_floating
            ]
            finite = tf.reduce_all(tf.stack(checks))

            def _copy():
                for src, dst in zip(targets, copies, strict=True):
                    dst.assign(src)
                return tf.constant(True)

            return tf.cond(finite, _copy, lambda: tf.constant(False))

        def restore():
            for src, dst in zip(copies, targets, strict=True):
                dst.assign(src)

        self._save_fn, self._restore_fn = tf.function(save), tf.function(restore)
        self._snapshot = copies

    def _take_snapshot(self) -> bool:
        ok = bool(self._save_fn())
        if ok:
            self.report["snapshots"] += 1
        return ok

    def _learning_rate(self) -> float:
        return float(tf.convert_to_tensor(self.model.optimizer.learning_rate))

    # -- callback hooks -----------------------------------------------------------------------
    def on_train_begin(self, logs=None):
        if not isinstance(self.model, GuardedModel):
            raise TypeError("GuardCallback needs a compiled GuardedModel.")
        if self._snapshot is None:
            self._build_snapshot()
        self.report["status"] = "running"
        self.report["initial_learning_rate"] = _float(self._learning_rate())
        if not self._take_snapshot():
            raise GuardBlockedError(
                "The model holds non-finite weights before training started: "
                f"{nonfinite_weights(self.model)}. Check the initializer and any loaded weights."
            )

    def on_train_batch_end(self, batch, logs=None):
        self._since_check += 1
        if self._since_check >= self.snapshot_every:
            self._check()

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        self._check()
        entry = {"epoch": epoch}
        for key, value in (logs or {}).items():
            entry[key] = _float(value)
        self.report["epochs"].append(entry)
        if "loss" in entry:
            self.report["loss_per_epoch"].append(entry["loss"])

    def on_train_end(self, logs=None):
        self._check(final=True)
        guard = self.model.guard_state
        self.report["steps"] = int(guard.step.numpy())
        self.report["max_grad_norm"] = _float(guard.max_grad_norm.numpy())
        self.report["final_learning_rate"] = _float(self._learning_rate())
        self.report["recoveries"] = self.recoveries
        if self.report["status"] == "running":
            self.report["status"] = "recovered" if self.recoveries else "ok"

    # -- the policy ---------------------------------------------------------------------------
    def _check(self, final: bool = False) -> None:
        self._since_check = 0
        guard = self.model.guard_state
        if int(guard.bad_steps.numpy()) == 0:
            if self._take_snapshot():
                return
            # Finite steps but non-finite weights: an update overflowed the weights.
            guard.first_bad_step.assign(guard.step - 1)
            guard.bad_steps.assign(1)
        self._handle_event(final)

    def _handle_event(self, final: bool) -> None:
        model, guard = self.model, self.model.guard_state
        step, bad = int(guard.first_bad_step.numpy()), int(guard.bad_steps.numpy())
        x = y = None
        if bool(guard.captured.numpy()):
            x = {k: v.read_value() for k, v in guard.captured_x.items()}
            y = tf.cast(guard.captured_y.read_value(), model.guard_label_dtype)
        diagnosis = diagnose_batch(model, x, y, self.extreme_threshold, self.check_numerics)
        lr = self._learning_rate()
        event = {
            "step": step,
            "epoch": self._epoch,
            "nonfinite_steps": bad,
            "learning_rate": _float(lr),
            "diagnosis": diagnosis,
        }
        self.report["nonfinite_events"].append(event)
        self._restore_fn()
        guard.reset_event()
        where = f"layer '{diagnosis['layer']}' ({diagnosis['stage']}, op {diagnosis['op']})"
        logging.warning(
            "nanguard: non-finite training step %s (epoch %s, %s non-finite steps): %s",
            step,
            self._epoch,
            bad,
            where,
        )
        if self.policy == "raise":
            event["action"] = "raise"
            self.report["status"] = "raised"
            raise GuardBlockedError(
                f"Non-finite training step {step} (epoch {self._epoch}): the first NaN/Inf came "
                f"from {where}; extreme inputs: "
                f"{[e['feature'] for e in diagnosis['extreme_inputs']] or 'none'}. "
                "Lower trainer.learning_rate, clip or impute the inputs, or set "
                "trainer.nonfinite_policy to 'recover'."
            )
        if self.policy == "recover" and self.recoveries < self.max_recoveries and not final:
            new_lr = lr * self.lr_factor
            model.optimizer.learning_rate = new_lr
            self.recoveries += 1
            self.report["lr_changes"].append(
                {"step": step, "epoch": self._epoch, "from": _float(lr), "to": _float(new_lr)}
            )
            event["action"] = "recovered"
            logging.warning("nanguard: restored last snapshot, learning rate %s -> %s", lr, new_lr)
            return
        event["action"] = "stopped" if not final else "restored_at_end"
        if not final:
            model.stop_training = True
            self.report["stopped_early"] = True
        self.report["status"] = "stopped"
        logging.warning("nanguard: training stopped with the last finite weights restored")


def write_health_report(report: dict, directory: str) -> str:
    """Writes `report` as JSON to `directory/HEALTH_REPORT_FILE` and returns the path.

    Every NaN and Inf, wherever it sits in the report, is written as the JSON string 'NaN',
    'Infinity' or '-Infinity' (never as a bare token that strict JSON readers reject).
    """
    tf.io.gfile.makedirs(directory)
    path = os.path.join(directory, HEALTH_REPORT_FILE)
    with tf.io.gfile.GFile(path, "w") as handle:
        handle.write(json.dumps(_json_safe(report), indent=2, default=str, allow_nan=False))
    logging.info("Training health report written to %s", path)
    return path
