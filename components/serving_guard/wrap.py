"""`nanguard wrap-model`: a team's SavedModel, with nanguard's serving checks around it.

Each chosen signature of the original is replaced by one with the same inputs that calls the
original and returns all of its outputs unchanged, plus, per example of the request batch:

* `nanguard_nonfinite_inputs` (int64): input values that are NaN or +/-Inf, plus, for a
  signature over serialized tf.Examples, each feature the example leaves out (one per feature);
* `nanguard_finite` (bool): every value of every float output of that example is finite.

Nothing is repaired: a NaN or Inf input reaches the original model as it came, and a NaN or Inf
output is returned as the model gave it. Under `nonfinite_input="reject"` a request holding a
NaN or +/-Inf in any float feature fails with INVALID_ARGUMENT naming the feature and the example
(`served_flags.reject_nonfinite`), before the original model runs.

Two kinds of signature are understood; any other is refused (`InputError`, naming it and why):

* one 1-D tf.string input of serialized tf.Examples: the features and their types come from the
  signature's own ParseExample/ParseExampleV2 ops, else from a TFMD schema (`--schema`). The
  wrapper parses the request once more, every feature as a VarLenFeature: a feature of the wrong
  type (a string where a float belongs) fails the request with INVALID_ARGUMENT naming the key;
* numeric tensors (float or int) with a leading batch dimension, one feature per input: NaN and
  Inf are counted over all of an example's values; nothing can be missing.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile

import numpy as np
import tensorflow as tf

from nanguard.components.errors import InputError
from nanguard.components.served_flags import (
    FINITE_KEY,
    finite_rows,
    reject_nonfinite,
    repair_flags,
)

NONFINITE_INPUTS_KEY = "nanguard_nonfinite_inputs"
FLAG_KEYS = (NONFINITE_INPUTS_KEY, FINITE_KEY)
POLICIES = ("flag", "reject")
EXAMPLES, TENSORS = "serialized tf.Examples", "tensors"
_PARSE_OPS = ("ParseExample", "ParseExampleV2")
_SCHEMA_TYPES = {"FLOAT": tf.float32, "INT": tf.int64, "BYTES": tf.string}


@dataclasses.dataclass
class Plan:
    """What `wrap_model` does to one signature: its kind and the features it checks."""

    signature: str
    kind: str  # EXAMPLES or TENSORS
    features: dict  # feature -> tf.DType (EXAMPLES: the keys parsed; TENSORS: the inputs)
    source: str  # where the features come from: "graph", "schema" or "inputs"

    def describe(self) -> str:
        return f"{self.kind}, {len(self.features)} feature(s) from the {self.source}"


def _const(ref: str, nodes: dict):
    """The value of the Const node `ref` names (through Identity nodes), or None."""
    node = nodes.get(ref.lstrip("^").split(":")[0])
    while node is not None and node.op == "Identity":
        node = nodes.get(node.input[0].split(":")[0])
    if node is None or node.op != "Const":
        return None
    return tf.make_ndarray(node.attr["value"].tensor)


def _parse_keys(node, nodes: dict) -> list[tuple[str, tf.DType]] | None:
    """(key, dtype) of every feature a ParseExample(V2) node reads; None if a key list is not
    a constant of the graph."""
    attr = node.attr
    if node.op == "ParseExampleV2":
        groups = [
            (node.input[2], attr["sparse_types"].list.type),
            (node.input[3], attr["Tdense"].list.type),
            (node.input[4], attr["ragged_value_types"].list.type),
        ]
        keys = [_const(ref, nodes) for ref, _ in groups]
        if any(k is None for k in keys):
            return None
        pairs = [
            (k, t)
            for names, (_, types) in zip(keys, groups, strict=True)
            for k, t in zip(names, types, strict=True)
        ]
    else:  # ParseExample: one scalar key input per feature, sparse ones first
        sparse, dense = attr["Nsparse"].i, attr["Ndense"].i
        keys = [_const(ref, nodes) for ref in node.input[2 : 2 + sparse + dense]]
        if any(k is None for k in keys):
            return None
        types = [*attr["sparse_types"].list.type, *attr["Tdense"].list.type]
        pairs = list(zip(keys, types, strict=True))
    return [(_text(k), tf.as_dtype(t)) for k, t in pairs]


def _text(key) -> str:
    key = key.item() if isinstance(key, np.ndarray) else key
    return key.decode() if isinstance(key, bytes) else str(key)


def graph_features(fn, signature: str) -> dict | None:
    """{feature: dtype} the signature's ParseExample ops read (its graph and every function it
    calls); None when it has no such op.

    Raises:
        InputError: a parse op's keys are not constants, or one key is read with two types.
    """
    graph_def = fn.graph.as_graph_def()
    features, found = {}, False
    for node_list in [graph_def.node, *(f.node_def for f in graph_def.library.function)]:
        nodes = {n.name: n for n in node_list}
        for node in node_list:
            if node.op not in _PARSE_OPS:
                continue
            found = True
            pairs = _parse_keys(node, nodes)
            if pairs is None:
                raise InputError(
                    f"signature {signature!r}: its {node.op} op reads keys that are not "
                    "constants of the graph; pass --schema with the features it reads"
                )
            for key, dtype in pairs:
                if features.setdefault(key, dtype) != dtype:
                    raise InputError(
                        f"signature {signature!r} parses feature {key!r} as both "
                        f"{features[key].name} and {dtype.name}; pass --schema to say which"
                    )
    return features if found else None


def schema_features(path: str) -> dict:
    """{feature: dtype} of a TFMD schema (.pbtxt, as TFDV or `nanguard harden-schema` write it),
    leaving out the features not in the SERVING environment (e.g. a label marked so).

    Raises:
        InputError: the file is missing or not a schema, or a feature has no FLOAT/INT/BYTES type.
    """
    from google.protobuf import text_format
    from tensorflow_metadata.proto.v0 import schema_pb2

    try:
        with open(path, encoding="utf-8") as f:
            schema = text_format.Parse(f.read(), schema_pb2.Schema())
    except (OSError, UnicodeDecodeError, text_format.ParseError) as e:
        raise InputError(f"--schema {path}: not a readable TFMD schema .pbtxt ({e})") from e
    features = {}
    for feature in schema.feature:
        envs_in, envs_out = list(feature.in_environment), list(feature.not_in_environment)
        if "SERVING" in envs_out or (envs_in and "SERVING" not in envs_in):
            continue
        kind = schema_pb2.FeatureType.Name(feature.type)
        dtype = _SCHEMA_TYPES.get(kind)
        if dtype is None:
            raise InputError(
                f"--schema {path}: feature {feature.name!r} has type {kind}; wrap-model reads "
                "FLOAT, INT and BYTES features"
            )
        features[feature.name] = dtype
    if not features:
        raise InputError(f"--schema {path}: no feature a serving request carries")
    return features


def plan_signature(signature: str, fn, schema: dict | None = None) -> Plan:
    """Decides how to wrap one signature (`Plan`) from its inputs and outputs.

    Raises:
        InputError: the signature is not one `wrap-model` understands; the message names it,
            says why, and what would do.
    """
    args, inputs = fn.structured_input_signature
    outputs = fn.structured_outputs
    refuse = f"signature {signature!r} cannot be wrapped:"
    if args or not inputs or not isinstance(outputs, dict):
        raise InputError(f"{refuse} it takes no named inputs or returns no named outputs")
    clash = sorted(set(FLAG_KEYS) & set(outputs))
    if clash:
        raise InputError(
            f"{refuse} it already returns {clash} (wrapped before, or a nanguard model)"
        )
    floats = [n for n, s in outputs.items() if s.dtype.is_floating]
    if not floats:
        raise InputError(f"{refuse} it returns no float output whose finiteness could be checked")
    for name in floats:
        if outputs[name].shape.rank in (None, 0):
            raise InputError(f"{refuse} output {name!r} has no leading batch dimension")
    specs = list(inputs.values())
    if len(specs) == 1 and specs[0].dtype == tf.string and specs[0].shape.rank == 1:
        features = graph_features(fn, signature)
        if features is not None:
            return Plan(signature, EXAMPLES, features, "graph")
        if schema is not None:
            return Plan(signature, EXAMPLES, dict(schema), "schema")
        raise InputError(
            f"{refuse} its one input {next(iter(inputs))!r} is a 1-D string tensor but its graph "
            "parses no tf.Example; if it takes serialized tf.Examples, pass --schema with their "
            "features (a TFMD schema .pbtxt)"
        )
    for name, spec in inputs.items():
        if not (spec.dtype.is_floating or spec.dtype.is_integer):
            raise InputError(
                f"{refuse} input {name!r} is {spec.dtype.name}; wrap-model understands one 1-D "
                "string input of serialized tf.Examples or numeric tensors only"
            )
        if spec.shape.rank in (None, 0):
            raise InputError(f"{refuse} input {name!r} has no leading batch dimension")
    return Plan(signature, TENSORS, {n: s.dtype for n, s in inputs.items()}, "inputs")


def wrapped_signature(fn, plan: Plan, reject: bool = False):
    """The concrete function that replaces `fn`: same inputs, its outputs plus the flags."""
    inputs = fn.structured_input_signature[1]

    def call(**request):
        if plan.kind == EXAMPLES:
            (serialized,) = request.values()
            rows = tf.shape(serialized)[0]
            # Every feature optional: a missing one is counted, not an error of this parse.
            spec = {k: tf.io.VarLenFeature(d) for k, d in plan.features.items()}
            features = tf.io.parse_example(serialized, spec)
        else:
            features = request
            rows = tf.shape(request[sorted(request)[0]])[0]
        if reject:
            with tf.control_dependencies(reject_nonfinite(features, rows)):
                request = {k: tf.identity(v) for k, v in request.items()}  # checked first
        outputs = dict(fn(**request))
        finite = tf.ones([rows], tf.bool)
        for name in sorted(outputs):
            if outputs[name].dtype.is_floating:
                finite = finite & finite_rows(outputs[name])
        outputs[NONFINITE_INPUTS_KEY] = repair_flags(features, {}, rows)
        outputs[FINITE_KEY] = finite
        return outputs

    specs = {n: tf.TensorSpec(s.shape, s.dtype, name=n) for n, s in inputs.items()}
    # autograph=False: nothing branches on a tensor.
    return tf.function(call, autograph=False).get_concrete_function(**specs)


def _check_paths(model_dir: str, output: str) -> None:
    model, out = os.path.realpath(model_dir), os.path.realpath(output)
    if not tf.saved_model.contains_saved_model(model_dir):
        raise InputError(
            f"--model {model_dir}: no SavedModel (saved_model.pb) there; pass the folder that "
            "holds saved_model.pb"
        )
    if out == model or out.startswith(model + os.sep) or model.startswith(out + os.sep):
        raise InputError(
            f"--output {output}: inside or around --model {model_dir}; the original is never "
            "modified, pass a folder elsewhere"
        )
    if os.path.exists(output) and (not os.path.isdir(output) or os.listdir(output)):
        raise InputError(
            f"--output {output}: exists and is not an empty folder; wrap-model never "
            "overwrites, pass a new folder"
        )


def _copy_extra_files(model_dir: str, staged: str) -> None:
    """assets.extra (e.g. TF Serving's warmup requests) and any file of assets/ the save did
    not write; nothing written by the save is replaced."""
    for folder in ("assets", "assets.extra"):
        source = os.path.join(model_dir, folder)
        for root, _, files in os.walk(source):
            target_root = os.path.join(staged, folder, os.path.relpath(root, source))
            os.makedirs(target_root, exist_ok=True)
            for name in files:
                target = os.path.join(target_root, name)
                if not os.path.exists(target):
                    shutil.copy2(os.path.join(root, name), target)


def wrap_model(
    model_dir: str,
    output: str,
    signatures: list[str] | None = None,
    nonfinite_input: str = "flag",
    schema: str | None = None,
) -> list[Plan]:
    """Writes a new SavedModel at `output`: `model_dir`'s signatures `signatures` (default: all)
    wrapped (module docstring), its other signatures as they were, its variables, tables and
    assets kept (the loaded model is a child of the saved module). `model_dir` is only read.

    The whole model is refused (nothing is written) if any chosen signature is not understood.

    Raises:
        InputError: an unreadable --model/--schema, an existing non-empty --output, an unknown
            or refused signature, an unknown policy.
    """
    if nonfinite_input not in POLICIES:
        raise InputError(f"--nonfinite-input {nonfinite_input}: use one of {list(POLICIES)}")
    _check_paths(model_dir, output)
    schema_spec = schema_features(schema) if schema else None
    try:
        loaded = tf.saved_model.load(model_dir)
    except Exception as e:  # noqa: BLE001 - any load failure is the model's
        raise InputError(f"--model {model_dir}: TensorFlow cannot load it ({e})") from e
    available = dict(loaded.signatures)
    if not available:
        raise InputError(f"--model {model_dir}: the SavedModel has no signature to wrap")
    chosen = list(dict.fromkeys(signatures or sorted(available)))
    unknown = [s for s in chosen if s not in available]
    if unknown or not chosen:
        raise InputError(
            f"--signature {unknown}: not in --model {model_dir} (its signatures: "
            f"{sorted(available)})"
        )
    plans = [plan_signature(name, available[name], schema_spec) for name in chosen]
    module = tf.Module()
    module.original = loaded  # its variables, tables and assets are saved with the wrapper
    exported = dict(available)
    for plan in plans:
        exported[plan.signature] = wrapped_signature(
            available[plan.signature], plan, nonfinite_input == "reject"
        )
    parent = os.path.dirname(os.path.abspath(output))
    try:
        os.makedirs(parent, exist_ok=True)
        staged = tempfile.mkdtemp(prefix=".wrap-", dir=parent)
    except OSError as e:
        raise InputError(f"--output {output}: cannot write beside it ({e})") from e
    try:
        tf.saved_model.save(module, staged, signatures=exported)
        _copy_extra_files(model_dir, staged)
        if os.path.isdir(output):
            os.rmdir(output)  # empty (checked): replaced whole, so no half-written model shows
        os.rename(staged, output)
    finally:
        shutil.rmtree(staged, ignore_errors=True)
    return plans
