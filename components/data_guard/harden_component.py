"""`HardenSchema`: a component that turns an inferred schema into one that catches NaN and Inf.

SchemaGen (tfdv.infer_schema) never sets `disallow_nan` / `disallow_inf`, so a pipeline built on
an inferred schema reports no NaN at all. It also makes every feature that was present in every
row *required* (a dense feature with `min_fraction: 1`), so a serving request without it fails to
parse instead of being imputed. HardenSchema fixes both with `schema.harden_inferred_schema`,
the same function `nanguard harden-schema` runs; put it right after SchemaGen:

    schema_gen = tfx.components.SchemaGen(statistics=statistics_gen.outputs["statistics"])
    hardened = HardenSchema(schema=schema_gen.outputs["schema"])
    ... schema=hardened.outputs["hardened_schema"] ...

The Python-function form of a TFX component (no Beam, no proto parameters): the function below
is the spec, the executor only reads and writes files, the core is in `schema.py`.
"""

import os

from tfx import v1 as tfx
from tfx.utils import io_utils

from nanguard.components import vocab
from nanguard.components.schema import harden_inferred_schema, make_features_optional

SCHEMA_FILE = "schema.pbtxt"  # the file name SchemaGen and ImportSchemaGen write

__all__ = ["SCHEMA_FILE", "HardenSchema", "make_features_optional"]


@tfx.dsl.components.component
def HardenSchema(
    schema: tfx.dsl.components.InputArtifact[tfx.types.standard_artifacts.Schema],
    hardened_schema: tfx.dsl.components.OutputArtifact[tfx.types.standard_artifacts.Schema],
    label_key: tfx.dsl.components.Parameter[str] = vocab.NO_LABEL,
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
    import tensorflow_data_validation as tfdv

    schema_proto = tfdv.load_schema_text(io_utils.get_only_uri_in_dir(schema.uri))
    excluded = [name.strip() for name in exclude.split(",") if name.strip()]
    result = harden_inferred_schema(schema_proto, label_key, excluded)
    tfdv.write_schema_text(result, os.path.join(hardened_schema.uri, SCHEMA_FILE))
