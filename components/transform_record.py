"""The record of what the transform learned: per feature strategy, reason, fill and scaling.

Shared: the transform writes it (`transform/preprocessing.py`, `transform/executor.py`), the
trainer reads the label's entry (`trainer/serving.py`), so it lives outside both rooms.

Analyzer results are constants inside the transform graph. tf.Transform's deferred schema
annotations (`schema_inference.annotate`) would be the natural carrier, but they are disabled in
the open-source build (`tensorflow_transform.common.IS_ANNOTATIONS_PB_AVAILABLE` is False), so
the preprocessing_fn builds, per feature, a JSON string from the analyzer results *in the graph*
(a node named `nanguard_record_<tf_name(feature)>`, kept by a control dependency on the feature's
output; a block of k features that share a config holds its k strings in one such node,
`attach_block_record`) and `read_transform_record` evaluates those nodes from the saved
transform graph after the run. `write_transform_record` writes them to
`<transform_graph>/nanguard_transform_record.json` (RECORD_FILENAME). Non-finite statistics
(e.g. the mean of a feature with no finite value) are spelled as `vocab` spells them in every
nanguard JSON file: "NaN", "Infinity", "-Infinity".
"""

from __future__ import annotations

import json
import math
import os
from typing import Any

import numpy as np
import tensorflow as tf
from absl import logging
from tensorflow.core.protobuf import saved_model_pb2

from nanguard.components import vocab
from nanguard.components.names import tf_name

RECORD_FILENAME = vocab.TRANSFORM_RECORD_FILENAME
_V1_TAG = "transform"  # the tag of TFT's TF1 transform graph (tft's constants.TRANSFORM_TAG)

__all__ = [
    "LABEL_KIND",
    "RECORD_FILENAME",
    "attach_block_record",
    "attach_record",
    "load_transform_record",
    "read_label_record",
    "read_transform_record",
    "ranges_of",
    "repair_ranges",
    "write_transform_record",
]
_MARKER = "nanguard_transform_record"
LABEL_KIND = "label"  # the `kind` of the label's entry
_NODE_PREFIX = "nanguard_record_"


def _json_numbers(f: tf.Tensor) -> tf.Tensor:
    """Elementwise JSON text of float64 `f` (non-finite spelled as `vocab` spells it)."""
    non_finite = tf.where(
        tf.math.is_nan(f),
        json.dumps(vocab.NAN),
        tf.where(f > 0, json.dumps(vocab.POS_INF), json.dumps(vocab.NEG_INF)),
    )
    return tf.where(
        tf.math.is_finite(f), tf.strings.as_string(f, precision=17, scientific=True), non_finite
    )


def _json_array(text: tf.Tensor) -> tf.Tensor:
    """JSON text of a tensor of JSON texts: nested lists along every axis."""
    while text.shape.rank > 0:
        text = tf.strings.join(["[", tf.strings.reduce_join(text, axis=-1, separator=", "), "]"])
    return text


def _json_strings(v: tf.Tensor) -> tf.Tensor:
    """Elementwise JSON text of string tensor `v`: quoted, `"` and `\\` escaped, control
    characters blanked."""
    escaped = tf.strings.regex_replace(v, r'(["\\])', r"\\\1")
    escaped = tf.strings.regex_replace(escaped, r"[\x00-\x1f]", " ")
    return tf.strings.join(['"', escaped, '"'])


def _json_flags(b: tf.Tensor) -> tf.Tensor:
    """Elementwise JSON text of bool tensor `b`."""
    return tf.where(b, "true", "false")


def _json_value(v: Any) -> tf.Tensor | str:
    """JSON text of one record value: a scalar string tensor for a tensor, a str otherwise."""
    if not isinstance(v, tf.Tensor):
        return vocab.dumps(v)
    if v.dtype == tf.string:
        return _json_strings(tf.reshape(v, []))
    if v.dtype == tf.bool:
        return _json_flags(tf.reshape(v, []))
    if v.shape.rank:  # a vector or matrix of numbers (e.g. EM's mean and covariance)
        return _json_array(_json_numbers(tf.cast(v, tf.float64)))
    return _json_numbers(tf.reshape(tf.cast(v, tf.float64), []))


def _json_values(values: dict[str, Any], width: int | None = None) -> dict[str, tf.Tensor | str]:
    """`_json_value` of every value, with the scalar tensors of one kind (numbers, strings,
    flags) converted together: one stack, one conversion and one unstack per kind, so a
    record costs a few dozen graph ops whatever its length (tf.Transform traces the
    preprocessing_fn about ten times per run; every op is paid each time).

    With `width` k (a block's record), every tensor is a `[k]` vector of per-feature values or
    a scalar shared by all k, and each text comes back as a `[k]` vector."""
    out: dict[str, tf.Tensor | str] = {}
    kinds: dict[str, dict[str, tf.Tensor]] = {"number": {}, "string": {}, "bool": {}}
    for key, v in values.items():
        if width is not None and isinstance(v, tf.Tensor):
            v = tf.broadcast_to(v, [width]) if v.shape.rank == 0 else tf.reshape(v, [width])
        elif not isinstance(v, tf.Tensor) or v.shape.rank != 0:  # texts, vectors, unknown rank
            out[key] = _json_value(v)
            continue
        if v.dtype == tf.string:
            kinds["string"][key] = v
        elif v.dtype == tf.bool:
            kinds["bool"][key] = v
        else:
            kinds["number"][key] = v if v.dtype == tf.float64 else tf.cast(v, tf.float64)
    convert = {"number": _json_numbers, "string": _json_strings, "bool": _json_flags}
    for kind, tensors in kinds.items():
        if not tensors:
            continue
        texts = convert[kind](tf.stack(list(tensors.values())))
        out.update(zip(tensors, tf.unstack(texts, num=len(tensors)), strict=True))
    return out


def attach_record(output: tf.Tensor, feature: str, info: dict[str, Any]) -> tf.Tensor:
    """Returns `output` unchanged, carrying the JSON record of `feature` as a control dependency.

    The record (a scalar string built from analyzer results) must be reachable from an output or
    tf.Transform prunes it from the saved transform graph; a control dependency keeps it there at
    no numerical cost (it depends on constants only, so serving folds it away).
    """
    return _attach(output, json.dumps(feature), _json_values(info), tf_name(feature))


def attach_block_record(output: tf.Tensor, features: list[str], info: dict[str, Any]) -> tf.Tensor:
    """`attach_record` for the k features of a `[batch, k]` block, in one record node.

    Every tensor of `info` is a `[k]` vector (entry j for `features[j]`) or a scalar shared by
    all k; other values are shared constants. The node holds k JSON texts, each the text that
    `attach_record` would build for its feature, so the graph costs a few dozen ops per block
    whatever k is.
    """
    names = tf.constant([json.dumps(f) for f in features])
    return _attach(output, names, _json_values(info, len(features)), tf_name(features[0]))


def _attach(output: tf.Tensor, feature: Any, values: dict[str, Any], node: str) -> tf.Tensor:
    """`output` with the record text(s) `{"nanguard_transform_record": true, "feature": ...,
    <sorted values>}` as a control dependency, in a node named `nanguard_record_<node>`."""
    pieces: list[Any] = ["{", json.dumps(_MARKER), ': true, "feature": ', feature]
    for key in sorted(values):
        pieces += [", ", json.dumps(key), ": ", values[key]]
    pieces.append("}")
    parts: list[Any] = []
    for piece in pieces:  # adjacent constant text becomes one constant
        if isinstance(piece, str) and parts and isinstance(parts[-1], str):
            parts[-1] += piece
        else:
            parts.append(piece)
    text = tf.identity(tf.strings.join(parts), name=_NODE_PREFIX + node)
    with tf.control_dependencies([text]):
        return tf.identity(output)


def _is_record(op) -> bool:
    return op.type == "Identity" and op.name.split("/")[-1].startswith(_NODE_PREFIX)


def _evaluate_v1_records(transform_fn_dir: str) -> list[bytes]:
    """The record nodes of a TF1 transform graph (`force_tf_compat_v1`): analyzer results are
    constants there, so the nodes run without feeds."""
    texts: list[bytes] = []
    with tf.Graph().as_default() as graph, tf.compat.v1.Session(graph=graph) as sess:
        tf.compat.v1.saved_model.loader.load(sess, [_V1_TAG], transform_fn_dir)
        nodes = [op.outputs[0] for op in graph.get_operations() if _is_record(op)]
        for found in sess.run(nodes) if nodes else []:
            texts += np.asarray(found, dtype=object).reshape(-1).tolist()
    return texts


def _is_v1_graph(transform_fn_dir: str) -> bool:
    """Whether the SavedModel is TFT's TF1 graph (tagged `transform`), read from its
    `saved_model.pb` without loading it."""
    saved = saved_model_pb2.SavedModel()
    with tf.io.gfile.GFile(os.path.join(transform_fn_dir, "saved_model.pb"), "rb") as f:
        saved.ParseFromString(f.read())
    return any(_V1_TAG in graph.meta_info_def.tags for graph in saved.meta_graphs)


def _evaluate_records(transform_fn_dir: str) -> list[bytes]:
    """Evaluates the record nodes of a saved transform graph (they depend on constants only)."""
    if _is_v1_graph(transform_fn_dir):  # TFT's force_tf_compat_v1
        return _evaluate_v1_records(transform_fn_dir)
    fn = tf.saved_model.load(transform_fn_dir).transform_fn
    texts: list[bytes] = []
    for cf in getattr(fn, "concrete_functions", None) or [fn]:
        graph = cf.graph
        nodes = [op.outputs[0] for op in graph.get_operations() if _is_record(op)]
        if not nodes:
            continue
        # Analyzer results are captured constants: feed their values to the placeholders.
        feeds = {
            internal.name: external.numpy()
            for external, internal in zip(cf.captured_inputs, graph.internal_captures, strict=False)
            if external.dtype != tf.resource
        }
        with tf.compat.v1.Session(graph=graph) as sess:
            for found in sess.run(nodes, feed_dict=feeds):  # a text, or a block's k texts
                texts += np.asarray(found, dtype=object).reshape(-1).tolist()
        break
    return texts


def read_transform_record(transform_graph_dir: str) -> dict[str, Any]:
    """Returns {'features': {name: entries}, 'label': entry or None, 'vocabularies': {...}}.

    Works on the output of the stock Transform component (or tft_beam.WriteTransformFn) when the
    graph came from nanguard's preprocessing_fn: each feature's record is a string node of the
    saved transform graph, evaluated here. Vocabulary sizes and the most frequent entry of each
    vocabulary file are read from the transform_fn assets. The label's entry (`kind: label`) is
    kept apart from the features: regression `mean` and `std` (what the label was standardised
    with), classification `majority_class` and `majority_rate`; both `labelled` (training rows
    with a label). NaN/Inf statistics are read back as
    float NaN/Inf (`vocab.as_float`); a string feature's fill value stays the string it is.
    """
    import tensorflow_transform as tft  # noqa: PLC0415

    output = tft.TFTransformOutput(transform_graph_dir)
    features: dict[str, Any] = {}
    label: dict[str, Any] | None = None
    for text in _evaluate_records(output.transform_savedmodel_dir):
        entry = json.loads(text.decode("utf-8"))
        if isinstance(entry, dict) and entry.pop(_MARKER, False):
            name = entry.pop("feature")
            if entry.get("kind") == LABEL_KIND:
                label = {"feature": name, **_numbers(entry)}
            else:
                features[name] = _numbers(entry)
    vocabularies = {}
    assets = os.path.join(output.transform_savedmodel_dir, "assets")
    if tf.io.gfile.isdir(assets):
        for name in sorted(tf.io.gfile.listdir(assets)):
            try:
                size = output.vocabulary_size_by_name(name)
                top = output.vocabulary_by_name(name)[:1]
            except Exception:  # noqa: BLE001 (not a vocabulary file)
                continue
            vocabularies[name] = {
                "size": int(size),
                "most_frequent": top[0].decode("utf-8", "replace") if top else None,
            }
    return {"features": features, "label": label, "vocabularies": vocabularies}


def _numbers(entry: dict[str, Any]) -> dict[str, Any]:
    """Non-finite numbers back to floats; a string feature's fill value is data, left alone."""
    keep = {"fill_value"} if entry.get("kind") == "string" else set()
    if entry.get("kind") == LABEL_KIND:
        keep = {"majority_class"}  # a class's name is data (a class may be named "NaN")
    return {k: v if k in keep else _as_floats(v) for k, v in entry.items()}


def _as_floats(v: Any) -> Any:
    return [_as_floats(x) for x in v] if isinstance(v, list) else vocab.as_float(v)


def write_transform_record(transform_graph_dir: str) -> str:
    """Writes `<transform_graph_dir>/nanguard_transform_record.json` and returns its path.

    The JSON holds, per feature, the strategy requested and chosen (with the skewness and the
    reason for `auto`), the fill value, the count of finite values, the scaling center and
    factor, clip bounds and any warning (e.g. a feature with no finite value at all, which was
    filled with the constant). NaN/Inf statistics are written "NaN"/"Infinity"/"-Infinity"
    (`vocab.dumps`: strict JSON that `json.loads` reads).
    """
    record = read_transform_record(transform_graph_dir)
    path = os.path.join(transform_graph_dir, RECORD_FILENAME)
    with tf.io.gfile.GFile(path, "w") as f:
        f.write(vocab.dumps(record, indent=2, sort_keys=True))
    for name, entry in record["features"].items():
        if entry.get("warning"):
            logging.warning("Transform feature %s: %s", name, entry["warning"])
    logging.info("Wrote the transform record of %s features to %s", len(record["features"]), path)
    return path


def load_transform_record(transform_graph_dir: str) -> dict[str, Any]:
    """`read_transform_record`'s result, read from `<transform_graph_dir>/`
    `nanguard_transform_record.json` when nanguard's Transform wrote it (no graph is loaded:
    about 1 s saved per reader), else evaluated from the graph (any Transform running
    nanguard's preprocessing_fn). NaN/Inf statistics come back as floats either way."""
    path = os.path.join(transform_graph_dir, RECORD_FILENAME)
    if not tf.io.gfile.exists(path):
        return read_transform_record(transform_graph_dir)
    with tf.io.gfile.GFile(path) as f:
        saved = json.load(f)
    label = saved.get("label")
    return {
        "features": {name: _numbers(e) for name, e in (saved.get("features") or {}).items()},
        "label": _numbers(label) if isinstance(label, dict) else None,
        "vocabularies": saved.get("vocabularies") or {},
    }


def read_label_record(transform_graph_dir: str) -> dict[str, Any] | None:
    """The label's entry of the transform record (`load_transform_record`), or None for a graph
    without a label record (e.g. the stock preprocessing). NaN/Inf statistics come back as
    floats."""
    return load_transform_record(transform_graph_dir)["label"]


def repair_ranges(transform_output_dir: str) -> dict[str, tuple[float, float] | None]:
    """{feature: the raw range the transform keeps as it is, or None (a string feature)}, for
    each feature nanguard's preprocessing_fn recorded; {} for a graph
    without records. A numeric value outside `[center + output_low * factor, center +
    output_high * factor]` (or outside `[clip_low, clip_high]` under `clip_quantiles`) is
    clipped, so counted as repaired."""
    return ranges_of(load_transform_record(transform_output_dir)["features"])


def ranges_of(features: dict[str, Any]) -> dict[str, tuple[float, float] | None]:
    """`repair_ranges` of an already read record's `features` (`read_transform_record`)."""
    ranges = {}
    for name, entry in features.items():
        low, high = entry.get("output_low"), entry.get("output_high")
        if entry.get("kind") != "numeric" or low is None or high is None:
            ranges[name] = None
            continue
        center, factor = entry.get("center") or 0.0, entry.get("scale_factor") or 1.0
        low, high = center + low * factor, center + high * factor
        # `clip_quantiles` clips the raw values first: outside those, a value is repaired too.
        low = max(low, entry.get("clip_low", -math.inf))
        high = min(high, entry.get("clip_high", math.inf))
        ranges[name] = (low, high)
    return ranges
