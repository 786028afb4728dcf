"""Schema hardening: make TFDV flag every NaN and Inf in FLOAT features.

``tfdv.infer_schema`` (and so SchemaGen) never sets ``FloatDomain.disallow_nan`` or
``disallow_inf``, so a pipeline relying on an inferred schema raises no anomaly for NaN or Inf.
``harden_schema`` sets both on every FLOAT feature.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import tensorflow_data_validation as tfdv
from absl import logging
from tensorflow_metadata.proto.v0 import schema_pb2

from nanguard.components.data_guard import profile as profile_lib


def harden_schema(schema: schema_pb2.Schema, exclude: Iterable[str] = ()) -> schema_pb2.Schema:
    """Returns a copy of ``schema`` that disallows NaN and Inf in every FLOAT feature.

    For each FLOAT feature (top-level and inside structs) whose name is not in ``exclude``, sets
    ``float_domain.disallow_nan = True`` and ``float_domain.disallow_inf = True``. A feature that
    references a named global float domain (``domain: "name"``) gets the flags on that global
    domain instead. Other fields are left as they are.

    Args:
      schema: The schema to harden; not modified.
      exclude: Names of FLOAT features to leave as they are (opt-out), e.g. a feature where Inf
        is meaningful.

    Returns:
      The hardened copy. With it, TFDV validation raises ``FLOAT_TYPE_HAS_NAN`` for any NaN and
      ``FLOAT_TYPE_HAS_INF`` for any +/-Inf in a hardened feature.

    Raises:
      ValueError: if a name in ``exclude`` is not a FLOAT feature of the schema.
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
    if unknown:
        raise ValueError(
            f"harden_schema: exclude names {sorted(unknown)} are not FLOAT features of the schema "
            f"(FLOAT features: {sorted(seen_float)}); fix the exclude list."
        )
    logging.info("Hardened %s FLOAT features (excluded: %s).", len(seen_float - exclude), exclude)
    return hardened


def harden_schema_file(input_path: str, output_path: str, exclude: Iterable[str] = ()) -> None:
    """Reads a text-format schema, hardens it with ``harden_schema`` and writes it as text.

    NaN and Inf: the written schema disallows both on every FLOAT feature not in ``exclude``.

    Args:
      input_path: A ``schema.pbtxt`` (text proto), e.g. SchemaGen's output file.
      output_path: Where to write the hardened text proto.
      exclude: FLOAT feature names to leave unhardened.
    """
    schema = tfdv.load_schema_text(input_path)
    tfdv.write_schema_text(harden_schema(schema, exclude), output_path)


def feature_kinds(schema: schema_pb2.Schema | None) -> Mapping[str, str]:
    """Top-level feature name -> FLOAT / INT / STRING (BYTES) from a schema ({} for None)."""
    if schema is None:
        return {}
    names = {
        schema_pb2.FLOAT: profile_lib.FLOAT,
        schema_pb2.INT: profile_lib.INT,
        schema_pb2.BYTES: profile_lib.STRING,
    }
    return {f.name: names.get(f.type, profile_lib.UNKNOWN) for f in schema.feature}
