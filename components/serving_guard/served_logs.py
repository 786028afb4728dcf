"""Readers of served request logs: TFRecords of PredictionLog and JSON lines.

Each reader yields `Chunk`s of a few thousand requests: the serialized tf.Examples the requests
carried, the JSON instances given as feature -> value, and the prediction values of the
responses. Nothing is counted here (`monitor.py` counts); NaN and Inf pass through as values.

* TFRecord (TF Serving's PredictionLog, the format of `assets.extra/tf_serving_warmup_requests`):
  `predict_log` (the string input `examples`, or the only string input, holds serialized
  tf.Examples; every numeric output but the nanguard flags is a prediction), `classify_log`
  and `regress_log` (`request.input.example_list` tf.Examples; class scores or regression
  values). A record of any other kind, or a predict request without a string input, is counted
  in `skipped`. `.gz` files are read as GZIP. Predict logs are decoded a batch at a time by
  `served_protos.py`; the records it leaves are parsed here one by one.
* JSON lines (Vertex endpoints' request-response logging exported from BigQuery, a KServe
  logger sink, or any service writing TF Serving's REST bodies): a line with `instances` and/or
  `predictions` (TF Serving's row format; `inputs`/`outputs` too), or BigQuery's
  `request_payload`/`response_payload` (lists of JSON texts of one instance / prediction each).
  An instance is a dict feature -> value (a scalar or a list), or `{"b64": ...}` /
  `{"examples": {"b64": ...}}` (a serialized tf.Example). Python's json reads the bare tokens
  NaN, Infinity and -Infinity, which TF Serving's REST API accepts.
"""

from __future__ import annotations

import base64
import dataclasses
import glob
import json
import math
import os
from collections.abc import Iterator

import numpy as np

from nanguard.components.errors import InputError
from nanguard.components.serving_guard import served_protos

FORMATS = ("auto", "tfrecord", "jsonl")
JSON_SUFFIXES = (".json", ".jsonl", ".ndjson", ".json.gz", ".jsonl.gz")
# The served contract (trainer/serving.py's REPAIRED_KEY, FINITE_KEY, EXAMPLES_INPUT).
REPAIRED_KEY = served_protos.REPAIRED_KEY
FINITE_KEY = served_protos.FINITE_KEY
EXAMPLES_INPUT = served_protos.EXAMPLES_INPUT
CHUNK_EXAMPLES = 8192


@dataclasses.dataclass
class Chunk:
    """Requests read from a log, ready to count.

    `values`: every prediction value (floats, NaN/Inf kept), in order; `segments`: one
    `(values, examples, first example)` triple per run of values split evenly among consecutive
    answered examples (one output tensor of a response); `answered`: the examples that got an
    answer; `finite` / `repaired`: the model's own flags where the responses carried them
    (`nanguard_finite`, `nanguard_repaired`).
    """

    requests: int = 0
    skipped: int = 0
    examples: list = dataclasses.field(default_factory=list)
    instances: list = dataclasses.field(default_factory=list)
    values: list = dataclasses.field(default_factory=list)
    segments: list = dataclasses.field(default_factory=list)
    answered: int = 0
    finite: list = dataclasses.field(default_factory=list)
    repaired: list = dataclasses.field(default_factory=list)

    @property
    def size(self) -> int:
        return len(self.examples) + len(self.instances)

    def answer(self, values, rows: int) -> None:
        """Adds `values` split evenly among the next `rows` answered examples."""
        self.values.extend(values)
        self.segments.append((len(values), rows, self.answered))


def log_files(path: str) -> list[str]:
    """The files `path` names: a file, every file of a folder (sorted, hidden ones left out) or a
    glob. InputError names `path` when there is none."""
    if os.path.isdir(path):
        found = [
            os.path.join(path, n)
            for n in sorted(os.listdir(path))
            if not n.startswith(".") and os.path.isfile(os.path.join(path, n))
        ]
    elif os.path.isfile(path):
        found = [path]
    else:
        found = sorted(p for p in glob.glob(path) if os.path.isfile(p))
    if not found:
        raise InputError(f"LOGS {path}: no such file or no file in that folder; pass a log file")
    return found


def file_format(path: str, requested: str = "auto") -> str:
    """`tfrecord` or `jsonl`: `requested`, else by suffix, else by the first byte (`{`: JSON)."""
    if requested != "auto":
        return requested
    if path.lower().endswith(JSON_SUFFIXES):
        return "jsonl"
    try:
        with open(path, "rb") as f:
            head = f.read(64).lstrip()
    except OSError as e:
        raise InputError(f"LOGS {path}: cannot be read ({e})") from e
    return "jsonl" if head.startswith(b"{") else "tfrecord"


def read_logs(path: str, fmt: str = "auto", chunk: int = CHUNK_EXAMPLES) -> Iterator[Chunk]:
    """Chunks of at most about `chunk` examples from every log file `path` names."""
    if fmt not in FORMATS:
        raise InputError(f"--format {fmt}: not one of {', '.join(FORMATS)}")
    for name in log_files(path):
        kind = file_format(name, fmt)
        yield from (_read_tfrecord if kind == "tfrecord" else _read_jsonl)(name, chunk)


def import_readers() -> None:
    """Imports what the TFRecord reader needs (TensorFlow, the serving protos, tfx-bsl)."""
    import tensorflow  # noqa: F401
    from tensorflow_serving.apis import prediction_log_pb2  # noqa: F401
    from tfx_bsl.coders import example_coder  # noqa: F401


# ---------------------------------------------------------------------------------------------
# TFRecord of PredictionLog.
# ---------------------------------------------------------------------------------------------
# TensorProto dtype -> (repeated field, numpy dtype of tensor_content).
_FIELDS = {
    1: ("float_val", np.float32),
    2: ("double_val", np.float64),
    3: ("int_val", np.int32),
    9: ("int64_val", np.int64),
    10: ("bool_val", np.bool_),
    19: ("half_val", np.float16),
}
_DT_STRING = 7


def tensor_values(tensor):
    """A numeric TensorProto's values, flat: its *_val field as it is (a sequence; one value of
    a larger shape stands for all, as TensorFlow reads it), or its tensor_content as a numpy
    array. Empty for a string tensor."""
    field = _FIELDS.get(tensor.dtype)
    if field is None:
        return ()
    if tensor.tensor_content:
        return np.frombuffer(tensor.tensor_content, field[1])
    values = getattr(tensor, field[0])
    if tensor.dtype == 19:  # half_val holds the float16 bits as ints
        values = np.asarray(values, np.uint16).view(np.float16)
    dims = tensor.tensor_shape.dim
    if len(values) == 1 and len(dims) and math.prod(d.size for d in dims) > 1:
        values = np.broadcast_to(np.asarray(values), [d.size for d in dims]).ravel()
    return values


def _add_predict(log, out: Chunk) -> None:
    inputs = log.request.inputs
    tensor = inputs.get(EXAMPLES_INPUT)
    if tensor is None:
        strings = [t for t in inputs.values() if t.dtype == _DT_STRING]
        tensor = strings[0] if len(strings) == 1 else None
    if tensor is None:
        out.skipped += 1
        return
    out.examples.extend(tensor.string_val)
    rows = 0
    outputs = log.response.outputs
    for key in outputs:  # not .items(): its Python view costs more than the lookups
        t = outputs[key]
        if key == FINITE_KEY:
            out.finite.extend(tensor_values(t))
        elif key == REPAIRED_KEY:
            out.repaired.extend(tensor_values(t))
        elif t.dtype != 10 and t.dtype in _FIELDS:  # every numeric output: predictions
            values = tensor_values(t)
            dims = t.tensor_shape.dim
            rows = int(dims[0].size) if len(dims) else 1
            if len(values):
                out.answer(values, rows)
    out.answered += rows


def _add_example_list(request, out: Chunk) -> bool:
    kind = request.input.WhichOneof("kind")
    if kind == "example_list":
        found = request.input.example_list.examples
    elif kind == "example_list_with_context":
        found = request.input.example_list_with_context.examples
    else:
        out.skipped += 1
        return False
    out.examples.extend(e.SerializeToString() for e in found)
    return True


def _add_classify(log, out: Chunk) -> None:
    if _add_example_list(log.request, out):
        for classifications in log.response.result.classifications:
            out.answer([c.score for c in classifications.classes], 1)
            out.answered += 1


def _add_regress(log, out: Chunk) -> None:
    if _add_example_list(log.request, out):
        regressions = log.response.result.regressions
        out.answer([r.value for r in regressions], len(regressions))
        out.answered += len(regressions)


_KINDS = {"predict_log": _add_predict, "classify_log": _add_classify, "regress_log": _add_regress}


def _read_tfrecord(path: str, chunk: int) -> Iterator[Chunk]:
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_log_pb2

    compression = "GZIP" if path.endswith(".gz") else ""
    dataset = tf.data.TFRecordDataset(path, compression_type=compression).batch(4096)
    out, log = Chunk(), prediction_log_pb2.PredictionLog()
    try:
        for batch in dataset.as_numpy_iterator():
            # predict_logs in C++ (served_protos); the rest one message at a time
            for record in batch[served_protos.decode_predict_logs(batch, out)]:
                log.ParseFromString(record)
                out.requests += 1
                add = _KINDS.get(log.WhichOneof("log_type"))
                if add is None:
                    out.skipped += 1
                else:
                    add(getattr(log, log.WhichOneof("log_type")), out)
            if out.size >= chunk:
                yield out
                out = Chunk()
    except (tf.errors.OpError, ValueError) as e:  # DataLossError: not a TFRecord file
        raise InputError(
            f"LOGS {path}: not a TFRecord file of PredictionLog ({type(e).__name__}: "
            f"{str(e).splitlines()[0]}); pass TF Serving's request log or --format jsonl"
        ) from e
    yield out


# ---------------------------------------------------------------------------------------------
# JSON lines.
# ---------------------------------------------------------------------------------------------
def _example_bytes(instance) -> bytes | None:
    """The serialized tf.Example of a `{"b64": ...}` or `{"examples": {"b64": ...}}` instance."""
    if len(instance) != 1:
        return None
    value = next(iter(instance.values()))
    if "b64" in instance and isinstance(value, str):
        return base64.b64decode(value)
    if isinstance(value, dict) and set(value) == {"b64"}:
        return base64.b64decode(value["b64"])
    return None


def _prediction_numbers(prediction, out: Chunk) -> None:
    """Adds one example's prediction: a number, a (nested) list, or a dict of outputs (the
    nanguard flags read as flags). A string is read by float() ("NaN", "Infinity"); null is
    NaN."""
    if isinstance(prediction, dict):
        if FINITE_KEY in prediction:
            out.finite.extend(np.asarray([prediction[FINITE_KEY]], bool).ravel().tolist())
        if REPAIRED_KEY in prediction:
            out.repaired.extend(np.asarray([prediction[REPAIRED_KEY]], np.int64).ravel().tolist())
        prediction = [v for k, v in prediction.items() if k not in (FINITE_KEY, REPAIRED_KEY)]
    try:
        values = np.asarray(prediction, np.float64).ravel()
    except (TypeError, ValueError):  # strings or nulls among numbers, or ragged lists
        values = np.asarray(_flat(prediction), np.float64)
    out.answer(values.tolist(), 1)
    out.answered += 1


def _flat(value) -> list[float]:
    if isinstance(value, list | tuple):
        return [x for v in value for x in _flat(v)]
    if value is None:
        return [float("nan")]
    try:
        return [float(value)]
    except (TypeError, ValueError):
        return [float("nan")]


def _add_instances(instances, out: Chunk) -> None:
    for instance in instances if isinstance(instances, list) else [instances]:
        if isinstance(instance, str):  # BigQuery's request_payload: JSON text per instance
            instance = json.loads(instance)
        serialized = _example_bytes(instance) if isinstance(instance, dict) else None
        if serialized is not None:
            out.examples.append(serialized)
        elif isinstance(instance, dict):
            out.instances.append(instance)
        else:
            out.skipped += 1


def _add_line(record, out: Chunk) -> None:
    instances = record.get("instances", record.get("inputs", record.get("request_payload")))
    predictions = record.get("predictions", record.get("outputs", record.get("response_payload")))
    if instances is None and predictions is None:
        out.skipped += 1
        return
    if instances is not None:  # a response-only line (KServe logs it apart) is no new request
        out.requests += 1
        _add_instances(instances, out)
    for p in predictions if isinstance(predictions, list) else ([predictions] * bool(predictions)):
        _prediction_numbers(json.loads(p) if isinstance(p, str) else p, out)


def _read_jsonl(path: str, chunk: int) -> Iterator[Chunk]:
    import gzip

    opener = gzip.open if path.endswith(".gz") else open
    out = Chunk()
    try:
        with opener(path, "rt", encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as e:
                    raise InputError(
                        f"LOGS {path}: line {number} is not JSON ({e}); pass JSON lines of "
                        "instances/predictions or --format tfrecord"
                    ) from e
                if not isinstance(record, dict):
                    out.skipped += 1
                    continue
                _add_line(record, out)
                if out.size >= chunk:
                    yield out
                    out = Chunk()
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"LOGS {path}: cannot be read as JSON lines ({e})") from e
    yield out
