"""Warmup requests: the gate's hostile probes, shipped inside the model for TF Serving to replay.

TF Serving replays `<SavedModel>/assets.extra/tf_serving_warmup_requests` (a TFRecord file of
PredictionLog protos, at most 1,000) before the model serves its first request, and a replayed
request that fails fails the load. So the file holds the probes the serving signature answers:
every probe of `components/probes.py` built from the transform's record (typical value: the
median or fill value; magnitude: the range the transform clips to), except
`as_bytes` (a number sent as bytes: the parse refuses it) and, under `nonfinite_input:
reject`, the NaN and +/-Inf probes (refused by design). The probes are answered once through
the exported signature before the file is written; one that raises is left out and logged.
A warmup therefore exercises the missing, NaN (under `repair`), huge, subnormal and -0.0
paths of the graph before real traffic does.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable

import tensorflow as tf
from absl import logging

from nanguard.components import probes as probes_lib
from nanguard.components.profiles import FeatureProfile

WARMUP_DIR = "assets.extra"
WARMUP_FILE = "tf_serving_warmup_requests"  # the name TF Serving looks for
MAX_WARMUP_RECORDS = 1000  # TF Serving's limit


def warmup_profiles(
    raw_feature_spec: dict, record: dict, ranges: dict, label_key: str
) -> list[FeatureProfile]:
    """One probe profile per raw request feature but `label_key`: kind from its dtype; the
    typical value from the transform record (a numeric feature's median, else its fill value;
    a string's fill, its most frequent value; a feature without one is left out of the base
    row, so missing and repaired; a NaN statistic is never typical); for a numeric feature the
    largest magnitude of the range the transform clips to. `record`: the record's `features`
    (`transform_record.read_transform_record`); `ranges`: `transform_record.ranges_of` them."""
    profiles = []
    for name, spec in sorted(raw_feature_spec.items()):
        if name == label_key:
            continue
        kind = {tf.float32: "float", tf.int64: "int"}.get(spec.dtype, "bytes")
        entry = record.get(name) or {}
        # The gate's base row: the median, else the fill; a string's fill is its most frequent.
        typical = next((entry[k] for k in ("median", "fill_value", "center") if k in entry), None)
        if kind == "bytes":
            typical = typical if isinstance(typical, str) else None
        elif isinstance(typical, float | int) and math.isfinite(typical):
            typical = int(round(typical)) if kind == "int" else float(typical)
        else:
            typical = None
        bounds = ranges.get(name)
        max_abs = max(abs(bounds[0]), abs(bounds[1])) if bounds else None
        profiles.append(FeatureProfile(name, kind, typical, max_abs))
    return profiles


def warmup_probes(
    profiles: list[FeatureProfile], nonfinite_input: str = "repair"
) -> list[probes_lib.Probe]:
    """The probes a serving signature under `nonfinite_input` must answer (module docstring)."""
    skipped = set(probes_lib.REJECTABLE_FAMILIES)
    if nonfinite_input == "reject":
        skipped |= set(probes_lib.NONFINITE_FAMILIES)
    families = [f for f in probes_lib.PROBE_FAMILIES if f not in skipped]
    return probes_lib.build_probes(profiles, families)[:MAX_WARMUP_RECORDS]


def _answered(signature: Callable, probes: list[probes_lib.Probe]) -> list[probes_lib.Probe]:
    """The probes `signature` answers without raising: one batch, else each probe alone."""
    serialized = [p.example.SerializeToString() for p in probes]
    try:
        signature(examples=tf.constant(serialized))
        return probes
    except tf.errors.OpError:
        pass
    kept = []
    for probe, record in zip(probes, serialized, strict=True):
        try:
            signature(examples=tf.constant([record]))
            kept.append(probe)
        except tf.errors.OpError as e:
            logging.warning("Warmup leaves out probe %s: %s", probe.name, str(e).splitlines()[0])
    return kept


def write_warmup_requests(
    serving_model_dir: str,
    signature: Callable,
    profiles: list[FeatureProfile],
    nonfinite_input: str = "repair",
    signature_name: str = "serving_default",
) -> str:
    """Writes the warmup file into the SavedModel folder; returns its path.

    Each probe the exported `signature` answers becomes one PredictionLog whose PredictRequest
    sends it alone (a batch of one serialized tf.Example as input `examples`) to
    `signature_name`.
    """
    from tensorflow_serving.apis import predict_pb2, prediction_log_pb2

    kept = _answered(signature, warmup_probes(profiles, nonfinite_input))
    path = os.path.join(serving_model_dir, WARMUP_DIR, WARMUP_FILE)
    tf.io.gfile.makedirs(os.path.dirname(path))
    with tf.io.TFRecordWriter(path) as writer:
        for probe in kept:
            request = predict_pb2.PredictRequest()
            request.model_spec.signature_name = signature_name
            request.inputs["examples"].CopyFrom(
                tf.make_tensor_proto([probe.example.SerializeToString()], dtype=tf.string)
            )
            log = prediction_log_pb2.PredictionLog(
                predict_log=prediction_log_pb2.PredictLog(request=request)
            )
            writer.write(log.SerializeToString())
    logging.info("%d warmup requests written to %s", len(kept), path)
    return path
