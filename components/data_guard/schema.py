"""The data guard's view of a schema: each feature's kind (FLOAT / INT / STRING).

Hardening a schema (NaN and Inf disallowed) is shared with the Transform and lives in
``nanguard.components.schema``; its names are re-exported here for this room's callers.
"""

from __future__ import annotations

from collections.abc import Mapping

from tensorflow_metadata.proto.v0 import schema_pb2

from nanguard.components.data_guard import counts
from nanguard.components.schema import (  # noqa: F401 - this room's callers use these names
    harden_inferred_schema,
    harden_schema,
    harden_schema_file,
    make_features_optional,
)


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
    """True when `schema` gives feature `name` a fixed `shape`: a row without a value then fails
    to parse (a FixedLenFeature in Transform and the Evaluator). `presence.min_fraction` 1 alone,
    as SchemaGen infers for a CSV column with empty cells (each row holds the key with an empty
    list), parses as a VarLenFeature: the row reaches training without a label and is dropped."""
    for feature in schema.feature if schema is not None else ():
        if feature.name == name:
            return feature.HasField("shape")
    return False
