"""Schema hardening, the one implementation: make TFDV flag every NaN and Inf in FLOAT features.

``tfdv.infer_schema`` (and so SchemaGen) never sets ``FloatDomain.disallow_nan`` or
``disallow_inf``, so a pipeline relying on an inferred schema raises no anomaly for NaN or Inf.
``harden_schema`` sets both on every FLOAT feature; ``harden_inferred_schema`` also makes every
feature but the label optional. Used by the HardenSchema component, ``nanguard harden-schema``
and the Transform's post-transform ``stats_options_updater_fn``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from absl import logging
from tensorflow_metadata.proto.v0 import schema_pb2

from nanguard.components import vocab
from nanguard.components.data_guard import counts
from nanguard.components.errors import InputError


def harden_schema(
    schema: schema_pb2.Schema, exclude: Iterable[str] = (), missing_ok: bool = False
) -> schema_pb2.Schema:
    """Returns a copy of ``schema`` that disallows NaN and Inf in every FLOAT feature.

    For each FLOAT feature (top-level and inside structs) whose name is not in ``exclude``, sets
    ``float_domain.disallow_nan = True`` and ``float_domain.disallow_inf = True``. A feature that
    references a named global float domain (``domain: "name"``) gets the flags on that global
    domain instead. Other fields are left as they are.

    Args:
      schema: The schema to harden; not modified.
      exclude: Names of FLOAT features to leave as they are (opt-out), e.g. a feature where Inf
        is meaningful.
      missing_ok: Accept names in ``exclude`` that are not FLOAT features (e.g. a label that
        may be a string); otherwise they are an error.

    Returns:
      The hardened copy. With it, TFDV validation raises ``FLOAT_TYPE_HAS_NAN`` for any NaN and
      ``FLOAT_TYPE_HAS_INF`` for any +/-Inf in a hardened feature.

    Raises:
      InputError: a name in ``exclude`` is not a FLOAT feature of the schema (unless
        ``missing_ok``).
    """
    exclude = set(exclude)
    hardened = schema_pb2.Schema()
    hardened.CopyFrom(schema)
    global_domains = {d.name: d for d in hardened.float_domain}
    seen_float = set()

    def _visit(features):
        for feature in features:
            if feature.type == schema_pb2.STRUCT:
                _visit(feature.struct_domain.feature)
                continue
            if feature.type != schema_pb2.FLOAT:
                continue
            seen_float.add(feature.name)
            if feature.name in exclude:
                continue
            if feature.HasField("domain") and feature.domain in global_domains:
                domain = global_domains[feature.domain]
            else:
                domain = feature.float_domain
            domain.disallow_nan = True
            domain.disallow_inf = True

    _visit(hardened.feature)
    unknown = exclude - seen_float
    if unknown and not missing_ok:
        raise InputError(
            f"harden_schema: exclude names {sorted(unknown)} are not FLOAT features of the schema "
            f"(FLOAT features: {sorted(seen_float)}); fix the exclude list."
        )
    logging.info("Hardened %s FLOAT features (excluded: %s).", len(seen_float - exclude), exclude)
    return hardened


def make_features_optional(
    schema: schema_pb2.Schema, keep: str = vocab.NO_LABEL
) -> schema_pb2.Schema:
    """Returns a copy where every feature but `keep` may be absent (parsed as a sparse feature).

    Clears ``presence.min_fraction`` and ``shape`` and sets ``value_count`` to [1, 1] where it
    was unset. A missing value then reaches the transform graph as a gap to impute (NaN is
    imputed the same way), in training and in a serving request, instead of failing
    ``tf.io.parse_example``.
    """
    result = schema_pb2.Schema()
    result.CopyFrom(schema)
    for feature in result.feature:
        if feature.name == keep:
            continue
        feature.presence.ClearField("min_fraction")
        feature.ClearField("shape")
        if not feature.HasField("value_count"):
            feature.value_count.min = 1
            feature.value_count.max = 1
    return result


def harden_inferred_schema(
    schema: schema_pb2.Schema, label_key: str = vocab.NO_LABEL, exclude: Iterable[str] = ()
) -> schema_pb2.Schema:
    """What HardenSchema and ``nanguard harden-schema`` both write: one function, one result.

    ``harden_schema`` (NaN and Inf disallowed on every FLOAT feature not in ``exclude``), then
    ``make_features_optional`` (every feature but ``label_key`` may be missing).

    Raises:
      InputError: a name in ``exclude`` is not a FLOAT feature.
    """
    return make_features_optional(harden_schema(schema, exclude), keep=label_key)


def harden_schema_file(
    input_path: str,
    output_path: str,
    exclude: Iterable[str] = (),
    label_key: str = vocab.NO_LABEL,
) -> None:
    """Reads a text-format schema, applies ``harden_inferred_schema``, writes it as text.

    NaN and Inf: the written schema disallows both on every FLOAT feature not in ``exclude``;
    every feature but ``label_key`` is optional (a missing value is imputed, not a parse error).

    Args:
      input_path: A ``schema.pbtxt`` (text proto), e.g. SchemaGen's output file.
      output_path: Where to write the hardened text proto.
      exclude: FLOAT feature names to leave unhardened.
      label_key: The label, left required.
    """
    import tensorflow_data_validation as tfdv

    schema = tfdv.load_schema_text(input_path)
    tfdv.write_schema_text(harden_inferred_schema(schema, label_key, exclude), output_path)


def feature_kinds(schema: schema_pb2.Schema | None) -> Mapping[str, str]:
    """Top-level feature name -> FLOAT / INT / STRING (BYTES) from a schema ({} for None)."""
    if schema is None:
        return {}
    names = {
        schema_pb2.FLOAT: counts.FLOAT,
        schema_pb2.INT: counts.INT,
        schema_pb2.BYTES: counts.STRING,
    }
    return {f.name: names.get(f.type, counts.UNKNOWN) for f in schema.feature}


def requires_value(schema: schema_pb2.Schema | None, name: str) -> bool:
    """True when `schema` says feature `name` is in every row (a fixed `shape`, or
    `presence.min_fraction` 1): parsing a row without it fails (Transform, Evaluator)."""
    for feature in schema.feature if schema is not None else ():
        if feature.name == name:
            return feature.HasField("shape") or feature.presence.min_fraction >= 1.0
    return False
