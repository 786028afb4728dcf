"""Small SavedModels and data for testing and benchmarking the gate (no training involved).

Every model follows the project's serving contract: ``serving_default`` takes a 1-D string tensor
``examples`` of serialized tf.Example with the raw features ``x`` (float), ``n`` (int) and
``color`` (string), all optional (absent -> default 0 / ''). The models:

* ``healthy``: ``outputs`` = softmax over 3 classes of a clipped, NaN-free linear function of
  ``x`` and ``n``: finite for any input, NaN and Inf included.
* ``log``: ``outputs`` = ``log(x - 1)`` ([batch, 1]): NaN for x < 1 or NaN x, -Inf at x == 1;
  plus ``scale`` = ``exp(n)`` ([batch, 1]), +Inf for n >= 89.
* ``nan_prob``: ``outputs`` = ``sigmoid(log(x - 1))`` ([batch, 1], a binary probability): NaN
  for x < 1 or NaN x (absent x is 0, so NaN too).
* ``exp``: ``outputs`` = ``exp(x)`` with NaN x replaced by 0: finite on data with x below ~88,
  +Inf on the ``pos_inf`` and ``out_of_range`` probes of ``x``.
* ``square``: ``outputs`` = ``(x w)^2`` ([batch, 1], a one-unit Dense layer, w = 1, whose output
  is squared), NaN and +/-Inf x replaced by 0 first: finite for |x| below ~1.8e19, +Inf at the
  float32 extremes (the ``pos_extreme`` / ``neg_extreme`` probes of ``x``), the overflow a
  z-score near 1e38 causes in a first Dense layer.
"""

from __future__ import annotations

import os

import numpy as np
import tensorflow as tf
from tensorflow_metadata.proto.v0 import schema_pb2

MODEL_KINDS = ("healthy", "log", "exp", "nan_prob", "square")

_FEATURE_SPEC = {
    "x": tf.io.FixedLenFeature([1], tf.float32, default_value=[0.0]),
    "n": tf.io.FixedLenFeature([1], tf.int64, default_value=[0]),
    "color": tf.io.FixedLenFeature([1], tf.string, default_value=[""]),
}


class _Model(tf.Module):
    def __init__(self, kind: str):
        super().__init__()
        if kind not in MODEL_KINDS:
            raise ValueError(f"Unknown model kind {kind!r}; allowed: {MODEL_KINDS}.")
        self.kind = kind
        self.w = tf.Variable([[0.5, -0.2, 0.1], [0.01, 0.02, -0.03]], dtype=tf.float32)
        self.unit = tf.Variable([[1.0]], dtype=tf.float32)  # the square model's Dense kernel

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def serve(self, examples):
        f = tf.io.parse_example(examples, _FEATURE_SPEC)
        x = f["x"]
        n = tf.cast(f["n"], tf.float32)
        if self.kind == "healthy":
            x = tf.clip_by_value(tf.where(tf.math.is_finite(x), x, tf.zeros_like(x)), -100, 100)
            n = tf.clip_by_value(n, -100, 100)
            is_red = tf.cast(tf.equal(f["color"], "red"), tf.float32)
            logits = tf.matmul(tf.concat([x, n], axis=1), self.w) + is_red
            return {"outputs": tf.nn.softmax(logits)}
        if self.kind == "log":
            return {"outputs": tf.math.log(x - 1.0), "scale": tf.exp(n)}
        if self.kind == "nan_prob":
            return {"outputs": tf.sigmoid(tf.math.log(x - 1.0))}
        if self.kind == "square":
            x = tf.where(tf.math.is_finite(x), x, tf.zeros_like(x))
            return {"outputs": tf.square(tf.matmul(x, self.unit))}
        x = tf.where(tf.math.is_nan(x), tf.zeros_like(x), x)
        return {"outputs": tf.exp(x)}


def save_model(model_dir: str, kind: str) -> str:
    """Saves a test SavedModel of the given kind to ``model_dir`` and returns the directory."""
    module = _Model(kind)
    tf.saved_model.save(module, model_dir, signatures={"serving_default": module.serve})
    return model_dir


def make_examples(
    x: np.ndarray, n: np.ndarray, color: np.ndarray, x_absent: np.ndarray | None = None
) -> list[bytes]:
    """Serializes rows (x float, n int, color str) to tf.Examples.

    NaN and Inf values of ``x`` are written as such (present); rows where ``x_absent`` is True
    get no ``x`` feature at all.
    """
    if x_absent is None:
        x_absent = np.zeros(len(x), dtype=bool)
    records = []
    rows = zip(x.tolist(), n.tolist(), color.tolist(), x_absent.tolist(), strict=True)
    for xi, ni, ci, absent in rows:
        ex = tf.train.Example()
        if not absent:
            ex.features.feature["x"].float_list.value.append(xi)
        ex.features.feature["n"].int64_list.value.append(ni)
        ex.features.feature["color"].bytes_list.value.append(ci.encode())
        records.append(ex.SerializeToString())
    return records


def write_tfrecord(path: str, records: list[bytes]) -> str:
    """Writes records to a (GZIP if ``path`` ends with .gz) TFRecord file."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    options = "GZIP" if path.endswith(".gz") else None
    with tf.io.TFRecordWriter(path, options=options) as writer:
        for record in records:
            writer.write(record)
    return path


def eval_rows(rows: int = 600, seed: int = 0) -> dict[str, np.ndarray | list[bytes]]:
    """Eval rows for the ``log`` model: some x < 1 (NaN), x == 1 (-Inf), NaN x, absent x, and
    n = 95 every 120 rows (exp(95) overflows float32: +Inf in ``scale``).

    Returns:
        ``x``, ``n``, ``color``, ``absent`` (arrays) and ``records`` (serialized tf.Examples).
    """
    rng = np.random.default_rng(seed)
    x = rng.uniform(-2.0, 40.0, rows).astype(np.float32)
    x[::50] = 1.0
    x[7::97] = np.nan
    absent = np.zeros(rows, dtype=bool)
    absent[3::101] = True
    n = rng.integers(0, 60, rows)
    n[5::120] = 95
    color = rng.choice(np.array(["red", "green", "blue"]), rows)
    records = make_examples(x, n, color, x_absent=absent)
    return {"x": x, "n": n, "color": color, "absent": absent, "records": records}


def log_reference(rows: dict) -> tuple[np.ndarray, np.ndarray]:
    """Independent numpy reference for the ``log`` model on ``eval_rows``: (outputs, scale)."""
    x = np.where(rows["absent"], 0.0, rows["x"]).astype(np.float32)
    with np.errstate(all="ignore"):
        out = np.log(x - np.float32(1.0))
        scale = np.exp(rows["n"].astype(np.float32))
    return out, scale


def raw_schema() -> schema_pb2.Schema:
    """The raw-data schema of the test features (x float in [-2, 40], n int, color, label)."""
    schema = schema_pb2.Schema()
    f = schema.feature.add(name="x", type=schema_pb2.FLOAT)
    f.float_domain.min = -2.0
    f.float_domain.max = 40.0
    schema.feature.add(name="n", type=schema_pb2.INT)
    c = schema.feature.add(name="color", type=schema_pb2.BYTES)
    c.string_domain.value.extend(["blue", "green", "red"])
    schema.feature.add(name="label", type=schema_pb2.FLOAT)
    return schema
