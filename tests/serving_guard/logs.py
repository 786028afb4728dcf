"""Served request logs written the way TF Serving and endpoint loggers write them, from rows
given as dicts (an absent key or None: the feature is not sent)."""

from __future__ import annotations

import base64
import json
import math

import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import (
    classification_pb2,
    predict_pb2,
    prediction_log_pb2,
    regression_pb2,
)

# The training profile's features (the data guard's types) and the label left out.
KINDS = {"x": "FLOAT", "n": "INT", "color": "STRING"}


def example(row: dict) -> tf.train.Example:
    """A tf.Example of `row`: a float as float_list, an int as int64_list, a str as bytes_list."""
    e = tf.train.Example()
    for name, value in row.items():
        if value is None:
            continue
        feature = e.features.feature[name]
        if isinstance(value, float):
            feature.float_list.value.append(value)
        elif isinstance(value, int):
            feature.int64_list.value.append(value)
        else:
            feature.bytes_list.value.append(str(value).encode())
    return e


def _as_fields(tensor):
    """The tensor with its values in the *_val field, as TF Serving's AsProtoField writes them
    (make_tensor_proto writes tensor_content)."""
    values = tf.make_ndarray(tensor).ravel()
    tensor.tensor_content = b""
    field = {1: "float_val", 9: "int64_val", 10: "bool_val"}[tensor.dtype]
    getattr(tensor, field)[:] = values.tolist()  # bool tensors came in bool_val already
    return tensor


def predict_log(
    rows: list[dict], predictions: np.ndarray, fields: bool = False
) -> prediction_log_pb2.PredictionLog:
    """A predict_log as TF Serving logs it: `examples` in, `outputs` [n, k] and the nanguard
    flags out; `fields`: values in *_val fields (TF Serving's own responses), else in
    tensor_content (make_tensor_proto's)."""
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "nanguard"
    request.model_spec.signature_name = "serving_default"
    request.inputs["examples"].CopyFrom(
        tf.make_tensor_proto([example(r).SerializeToString() for r in rows], dtype=tf.string)
    )
    response = predict_pb2.PredictResponse()
    outputs = np.asarray(predictions, np.float32).reshape(len(rows), -1)
    response.outputs["outputs"].CopyFrom(tf.make_tensor_proto(outputs))
    finite = np.isfinite(outputs).all(axis=1)
    response.outputs["nanguard_finite"].CopyFrom(tf.make_tensor_proto(finite))
    response.outputs["nanguard_repaired"].CopyFrom(
        tf.make_tensor_proto(np.asarray([repaired(r) for r in rows], np.int64))
    )
    if fields:
        for tensor in response.outputs.values():
            _as_fields(tensor)
    log = prediction_log_pb2.PredictionLog()
    log.predict_log.request.CopyFrom(request)
    log.predict_log.response.CopyFrom(response)
    return log


def regress_log(rows: list[dict], values: list[float]) -> prediction_log_pb2.PredictionLog:
    log = prediction_log_pb2.PredictionLog()
    request = regression_pb2.RegressionRequest()
    request.input.example_list.examples.extend(example(r) for r in rows)
    log.regress_log.request.CopyFrom(request)
    for v in values:
        log.regress_log.response.result.regressions.add().value = v
    return log


def classify_log(rows: list[dict], scores: list[list[float]]) -> prediction_log_pb2.PredictionLog:
    log = prediction_log_pb2.PredictionLog()
    request = classification_pb2.ClassificationRequest()
    request.input.example_list.examples.extend(example(r) for r in rows)
    log.classify_log.request.CopyFrom(request)
    for row in scores:
        classifications = log.classify_log.response.result.classifications.add()
        for i, s in enumerate(row):
            classifications.classes.add(label=str(i), score=s)
    return log


def write_tfrecord(path, logs) -> str:
    with tf.io.TFRecordWriter(str(path)) as writer:
        for log in logs:
            writer.write(log.SerializeToString())
    return str(path)


def write_jsonl(path, records) -> str:
    """One JSON document per line; NaN/Infinity as the bare tokens (allow_nan)."""
    with open(path, "w", encoding="utf-8") as f:
        for record in records:
            f.write(json.dumps(record) + "\n")
    return str(path)


def repaired(row: dict) -> int:
    """What nanguard_repaired counts without ranges: missing features, NaN and Inf values."""
    return sum(
        1
        for name in KINDS
        if row.get(name) is None or (isinstance(row[name], float) and not math.isfinite(row[name]))
    )


def rows(n: int, seed: int = 0) -> list[dict]:
    """`n` rows: x float with ~5% absent, 3% NaN, 2% +Inf, 1% -Inf, 1% a string; n int with 4%
    absent; color a string with 2% absent and 1% a number."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        u, v, w = rng.random(3)
        x = float(rng.normal())
        if u < 0.05:
            x = None
        elif u < 0.08:
            x = math.nan
        elif u < 0.10:
            x = math.inf
        elif u < 0.11:
            x = -math.inf
        elif u < 0.12:
            x = "oops"
        color = None if w < 0.02 else 3.5 if w < 0.03 else ["red", "blue"][i % 2]
        row = {"x": x, "n": None if v < 0.04 else int(i % 7), "color": color}
        out.append({k: val for k, val in row.items() if val is not None})
    return out


def b64(row: dict) -> dict:
    return {"b64": base64.b64encode(example(row).SerializeToString()).decode()}


def profile_document(rows_: int = 10_000, missing=0.05, nan=0.03, pos_inf=0.02, neg_inf=0.01):
    """A data_guard_profile.json document whose train split has these rates for x (n: 4%
    missing, color: 2%), label `species`."""
    present_x = int(rows_ * (1 - missing))
    features = {
        "x": {"type": "FLOAT", "missing": rows_ - present_x, "num_values": present_x,
              "nan": int(present_x * nan), "pos_inf": int(present_x * pos_inf),
              "neg_inf": int(present_x * neg_inf)},
        "n": {"type": "INT", "missing": int(rows_ * 0.04), "num_values": rows_ - int(rows_ * 0.04),
              "nan": 0, "pos_inf": 0, "neg_inf": 0},
        "color": {"type": "STRING", "missing": int(rows_ * 0.02),
                  "num_values": rows_ - int(rows_ * 0.02), "nan": 0, "pos_inf": 0, "neg_inf": 0},
        "species": {"type": "STRING", "missing": 0, "num_values": rows_},
    }  # fmt: skip
    return {
        "blessed": True,
        "label_key": "species",
        "policy": {"skew": {"absolute": 0.01, "relative": 0.5, "confidence": 0.999}},
        "splits": {"train": {"rows": rows_, "features": features}},
    }
