"""`HardenSchema`: a component that turns an inferred schema into one that catches NaN and Inf.

SchemaGen (tfdv.infer_schema) never sets `disallow_nan` / `disallow_inf`, so a pipeline built on
an inferred schema reports no NaN at all. It also makes every feature that was present in every
row *required* (a dense feature with `min_fraction: 1`), so a serving request without it fails to
parse instead of being imputed. HardenSchema fixes both; put it right after SchemaGen:

    schema_gen = tfx.components.SchemaGen(statistics=statistics_gen.outputs["statistics"])
    hardened = HardenSchema(schema=schema_gen.outputs["schema"])
    ... schema=hardened.outputs["hardened_schema"] ...
"""

import os

import tensorflow_data_validation as tfdv
from tensorflow_metadata.proto.v0 import schema_pb2
from tfx import v1 as tfx
from tfx.utils import io_utils

from nanguard.components.data_guard.schema import harden_schema

SCHEMA_FILE = "schema.pbtxt"  # the file name SchemaGen and ImportSchemaGen write


@tfx.dsl.components.component
def HardenSchema(
    schema: tfx.dsl.components.InputArtifact[tfx.types.standard_artifacts.Schema],
    hardened_schema: tfx.dsl.components.OutputArtifact[tfx.types.standard_artifacts.Schema],
    label_key: tfx.dsl.components.Parameter[str] = "",
    exclude: tfx.dsl.components.Parameter[str] = "",
) -> None:
    """Copies the schema, hardened for NaN/Inf and with every feature but the label optional.

    Args:
      schema: the inferred schema (a folder holding `schema.pbtxt`).
      hardened_schema: the same schema with `disallow_nan` and `disallow_inf` on every FLOAT
        feature, and `min_fraction` and `shape` cleared on every feature but `label_key`.
      label_key: the label, left required.
      exclude: comma-separated FLOAT features to leave unhardened (where Inf is meaningful).
    """
    schema_proto = tfdv.load_schema_text(io_utils.get_only_uri_in_dir(schema.uri))
    excluded = [name.strip() for name in exclude.split(",") if name.strip()]
    result = make_features_optional(harden_schema(schema_proto, excluded), keep=label_key)
    tfdv.write_schema_text(result, os.path.join(hardened_schema.uri, SCHEMA_FILE))


def make_features_optional(schema: schema_pb2.Schema, keep: str = "") -> schema_pb2.Schema:
    """Returns a copy where every feature but `keep` may be absent (parsed as a sparse feature).

    A missing value then reaches the transform graph as a gap to impute, in training and in a
    serving request, instead of failing `tf.io.parse_example`.
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
