"""HardenSchema: the inferred schema, hardened and with every feature but the label optional."""

import os

import tensorflow_data_validation as tfdv
from tensorflow_metadata.proto.v0 import schema_pb2
from tfx.types import standard_artifacts

from nanguard.components.data_guard.harden_component import HardenSchema
from tests.data_guard.test_cli import run_cli


def _artifact(path):
    artifact = standard_artifacts.Schema()
    artifact.uri = str(path)
    os.makedirs(artifact.uri, exist_ok=True)
    return artifact


def test_inferred_penguin_schema_is_hardened_and_made_optional(tmp_path, penguins_csv):
    from nanguard.pipelines import data

    staged = data.stage_csv(penguins_csv, str(tmp_path / "data"))
    stats = tfdv.generate_statistics_from_csv(os.path.join(staged, os.listdir(staged)[0]))
    inferred = tfdv.infer_schema(stats)
    assert not any(f.float_domain.disallow_nan for f in inferred.feature)  # the gap
    required = [f.name for f in inferred.feature if f.presence.min_fraction == 1.0]
    assert {"species", "island", "year"} <= set(required)
    source, out = _artifact(tmp_path / "in"), _artifact(tmp_path / "out")
    tfdv.write_schema_text(inferred, os.path.join(source.uri, "schema.pbtxt"))

    HardenSchema.test_call(
        schema=source, hardened_schema=out, label_key="species", exclude="bill_depth_mm"
    )
    # `nanguard harden-schema` writes the very same schema (one function for both paths).
    by_cli = str(tmp_path / "cli.pbtxt")
    argv = ["harden-schema", os.path.join(source.uri, "schema.pbtxt"), by_cli]
    assert run_cli([*argv, "--label", "species", "--exclude", "bill_depth_mm"]) == 0
    component_schema = tfdv.load_schema_text(os.path.join(out.uri, "schema.pbtxt"))
    assert tfdv.load_schema_text(by_cli) == component_schema

    hardened = {
        f.name: f for f in tfdv.load_schema_text(os.path.join(out.uri, "schema.pbtxt")).feature
    }
    assert hardened["bill_length_mm"].float_domain.disallow_nan
    assert hardened["bill_length_mm"].float_domain.disallow_inf
    assert not hardened["bill_depth_mm"].float_domain.disallow_nan  # excluded
    assert hardened["species"].presence.min_fraction == 1.0  # the label stays required
    for name in ("island", "year", "bill_length_mm"):
        assert hardened[name].presence.min_fraction == 0.0, name
        assert not hardened[name].HasField("shape"), name
        assert (hardened[name].value_count.min, hardened[name].value_count.max) == (1, 1)
    assert {f.type for f in hardened.values()} <= {
        schema_pb2.FLOAT,
        schema_pb2.INT,
        schema_pb2.BYTES,
    }
