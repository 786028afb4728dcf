"""Where a non-finite training step came from: weights, inputs, layer outputs, loss, gradients.

`GuardCallback` calls `diagnose_batch` on the batch the train step captured; `export_model` and
the callback use `nonfinite_weights`. Everything here runs eagerly, once per event, never per
step.

NaN and Inf are counted and reported (as the report's strings "NaN", "Infinity",
"-Infinity"), never raised: a `tf.debugging.check_numerics` error is caught and turned into the
name of the first non-finite op.
"""

from __future__ import annotations

import math
import re

import numpy as np
import tensorflow as tf
import tf_keras as keras

from nanguard.components.errors import GuardBlockedError
from nanguard.components.trainer.health import json_float

_OP_RE = re.compile(r'op "([^"]+)"')


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


def refuse_nonfinite_weights(model: keras.Model, where: str, advice: str) -> None:
    """Raises `GuardBlockedError` naming the layers if any weight is NaN or Inf; else nothing.

    Called before anything is written, so a refused save leaves `where` untouched.
    """
    bad = nonfinite_weights(model)
    if bad:
        layers = sorted({b["layer"] for b in bad})
        raise GuardBlockedError(
            f"Refusing to save the model to {where}: {len(bad)} weight tensor(s) hold NaN/Inf, "
            f"in layer(s) {layers} ({bad}). Nothing was written. {advice}"
        )


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
                    "max_abs": json_float(max_abs),
                    "nan": nan,
                    "inf": inf,
                    "rows": int(value.shape[0]),
                }
            )
    return sorted(rows, key=lambda r: (r["nan"] + r["inf"], r["max_abs"]), reverse=True)


def diagnose_batch(
    model,
    x,
    y,
    extreme_threshold: float = 1e3,
    check_numerics: bool = True,
    sample_weight=None,
) -> dict:
    """Reruns one batch eagerly with per-layer checks and names where the first NaN/Inf appeared.

    Checks, in order: the weights, each layer's output in the forward pass, the loss, each
    layer's gradient norm (float32 sum of squares, as the global norm does); then, if
    `check_numerics`, reruns forward and backward under `tf.debugging.enable_check_numerics` to
    name the first op. Also lists the batch's extreme input features.

    Args:
        model: a compiled `GuardedModel` or a `guard()`ed model (`guarded_loss` gives the
            loss). Runs eagerly: a model compiled with `jit_compile=True` is replayed
            without XLA.
        x, y: the batch (features by name, or any structure the model takes; the label or
            labels); None when no batch was captured.
        sample_weight: the batch's sample weights, if any.
        extreme_threshold: |value| above which an input feature is listed as extreme.
        check_numerics: also name the first non-finite op.

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
    if x is None or _empty(x):
        result["note"] = "no captured batch"
        return result
    result["extreme_inputs"] = extreme_inputs(_named(model, x), extreme_threshold)
    layers, outputs = _layer_outputs(model, x)
    for layer, out in zip(layers, outputs, strict=True):
        if not all(
            bool(tf.reduce_all(tf.math.is_finite(tf.cast(t, tf.float32))))
            for t in tf.nest.flatten(out)
            if t.dtype.is_floating
        ):
            result["nonfinite_layer_outputs"].append(layer.name)
    owners = _layer_of(model)
    variables = model.trainable_variables
    with tf.GradientTape() as tape:
        y_pred = model(x, training=True)
        loss = model.guarded_loss(y, y_pred, sample_weight)
    result["loss"] = json_float(loss)
    try:
        grads = tape.gradient(loss, variables)
    except ValueError as err:  # mirrored variables: no eager gradient outside a replica
        grads = [None] * len(variables)
        check_numerics = False
        result["note"] = f"gradients not replayed under a distribution strategy: {err}"[:300]
    for var, grad in zip(variables, grads, strict=True):
        if grad is None:
            continue
        grad = tf.convert_to_tensor(grad)
        sq = tf.reduce_sum(tf.square(tf.cast(grad, tf.float32)))
        if not bool(tf.math.is_finite(sq)):
            result["nonfinite_gradients"].append(
                {"layer": owners.get(id(var), "?"), "variable": var.name, "sq_norm": json_float(sq)}
            )
    if result["stage"] == "not_reproduced":
        if result["nonfinite_layer_outputs"]:
            result["stage"], result["layer"] = "forward", result["nonfinite_layer_outputs"][0]
        elif not math.isfinite(float(loss)):
            result["stage"], result["layer"] = "loss", layers[-1].name if layers else None
        elif result["nonfinite_gradients"]:
            # Backprop runs output -> input: the gradient produced first is the last listed.
            result["stage"] = "backward"
            result["layer"] = result["nonfinite_gradients"][-1]["layer"]
    if check_numerics and result["stage"] != "not_reproduced":
        result["op"], result["check_numerics_message"] = first_nonfinite_op(
            model, x, y, sample_weight
        )
    return result


def _empty(x) -> bool:
    leaves = tf.nest.flatten(x)
    return not leaves or int(tf.size(leaves[0])) == 0


def _named(model, x) -> dict:
    """The batch's inputs by name: the dict's keys, else the model's input names."""
    if isinstance(x, dict):
        return {k: np.asarray(v) for k, v in x.items()}
    leaves = tf.nest.flatten(x)
    names = list(getattr(model, "input_names", None) or [])
    if len(names) != len(leaves):
        names = [f"input_{i}" for i in range(len(leaves))]
    return {n: np.asarray(v) for n, v in zip(names, leaves, strict=True)}


def _layer_outputs(model, x) -> tuple[list, list]:
    """Each layer's output on `x` (training mode), in the order the layers finished.

    A functional model is probed through its graph; any other model (Sequential built
    without an input, subclassed) by recording each sublayer's call once, eagerly.
    """
    if getattr(model, "_is_graph_network", False):
        layers = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
        probe = keras.Model(model.input, [layer.output for layer in layers])  # x keyed as model's
        return layers, probe(x, training=True)
    seen, outputs = [], []
    sublayers = [
        layer
        for layer in model._flatten_layers(include_self=False)
        if not isinstance(layer, keras.layers.InputLayer)
    ]

    def recorder(layer, call):
        def recorded(*args, **kwargs):
            out = call(*args, **kwargs)
            seen.append(layer)
            outputs.append(out)
            return out

        return recorded

    for layer in sublayers:
        layer.__dict__["call"] = recorder(layer, layer.call)
    try:
        model(x, training=True)
    finally:
        for layer in sublayers:
            layer.__dict__.pop("call", None)
    return seen, outputs


def first_nonfinite_op(model, x, y, sample_weight=None) -> tuple[str | None, str | None]:
    """`(op name, message)` of the first NaN/Inf under `tf.debugging.enable_check_numerics`.

    Runs forward, loss, backward and the squared-norm reduction of a `GuardedModel` on `(x, y)`.
    The first instrumented run in a process can miss the op (seen inside `fit`), so it is tried
    twice; (None, None) if neither run raised.
    """
    for _ in range(2):
        found = _check_numerics_once(model, x, y, sample_weight)
        if found[0] is not None:
            return found
    return None, None


def _check_numerics_once(model, x, y, sample_weight) -> tuple[str | None, str | None]:
    tf.debugging.enable_check_numerics()
    try:
        with tf.GradientTape() as tape:
            y_pred = model(x, training=True)
            loss = model.guarded_loss(y, y_pred, sample_weight)
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
