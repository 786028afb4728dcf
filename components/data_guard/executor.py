"""DataGuard executor: exact NaN/Inf/missing profile per split, anomalies, verdict."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

import apache_beam as beam
from absl import logging
from tensorflow_metadata.proto.v0 import anomalies_pb2, schema_pb2
from tfx import types
from tfx.components.example_validator import executor as example_validator_executor
from tfx.components.util import tfxio_utils
from tfx.dsl.components.base import base_beam_executor
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import io_utils, json_utils, writer_utils

from nanguard.components.data_guard import policy as policy_lib
from nanguard.components.data_guard import profile as profile_lib
from nanguard.components.data_guard import scan as scan_lib
from nanguard.components.data_guard import schema as schema_lib
from nanguard.components.errors import GuardBlockedError

# Keys of the component spec.
EXAMPLES_KEY = standard_component_specs.EXAMPLES_KEY  # 'examples'
SCHEMA_KEY = standard_component_specs.SCHEMA_KEY  # 'schema'
ANOMALIES_KEY = standard_component_specs.ANOMALIES_KEY  # 'anomalies'
EXCLUDE_SPLITS_KEY = standard_component_specs.EXCLUDE_SPLITS_KEY  # 'exclude_splits'
LABEL_KEY = "label_key"
POLICY_KEY = "policy"

# Files in the ExampleAnomalies artifact: <uri>/Split-<split>/SchemaDiff.pb (as
# ExampleValidator writes them) and the whole profile at <uri>/data_guard_profile.json.
ANOMALIES_FILE_NAME = example_validator_executor.DEFAULT_FILE_NAME  # 'SchemaDiff.pb'
PROFILE_FILE_NAME = "data_guard_profile.json"
_TMP_DIR_NAME = ".data_guard_tmp"

# Custom properties of the ExampleAnomalies artifact.
BLESSED_PROPERTY = "blessed"  # int 1/0, for tfx.dsl.Cond
PROFILE_PROPERTY_PREFIX = "profile_"  # string JSON per split: profile_<split>
VIOLATIONS_PROPERTY = "violations"  # string JSON list
POLICY_PROPERTY = "policy"  # string JSON
INT_TOTAL_PROPERTIES = (
    "num_rows",
    "num_missing",
    "num_nan",
    "num_pos_inf",
    "num_neg_inf",
    "num_huge",
    "num_violations",
    "num_label_rows_to_drop",
)

_TELEMETRY_DESCRIPTORS = ["nanguard", "DataGuard"]


def judge_splits(
    split_profiles: Mapping[str, dict[str, Any]],
    schema: schema_pb2.Schema | None,
    policy: policy_lib.DataGuardPolicy,
    label_key: str = "",
    source: str = "",
) -> dict[str, Any]:
    """Completes, checks and judges per-split profiles; knows nothing of artifacts.

    Schema features absent from a split are added as 100% missing; NaN counts as missing, Inf
    as ``policy.inf`` says, and the label as ``policy.label`` says.

    Returns:
      ``{"blessed": bool, "splits": {split: {"rows", "features", "violations",
      "label_rows_to_drop", "anomalies": Anomalies proto}}, "totals": {...}}``.

    Raises:
      ValueError: a numeric feature (per the schema) holds strings; names feature and split.
    """
    kinds = schema_lib.feature_kinds(schema)
    result: dict[str, Any] = {"splits": {}}
    totals = dict.fromkeys(INT_TOTAL_PROPERTIES, 0)
    for split, profile in split_profiles.items():
        profile_lib.complete_profile(profile, kinds)
        policy_lib.check_types(profile, kinds, f"split {split!r} of {source}")
        violations, to_drop = policy_lib.evaluate(profile, policy, label_key, split)
        anomalies = policy_lib.build_anomalies(profile, violations, policy, schema)
        if profile["rows"] == 0:
            logging.warning("DataGuard: split %s of %s is empty (0 rows).", split, source)
        result["splits"][split] = {
            "rows": profile["rows"],
            "features": profile["features"],
            "violations": violations,
            "label_rows_to_drop": to_drop,
            "anomalies": anomalies,
        }
        totals["num_rows"] += profile["rows"]
        for feat in profile["features"].values():
            totals["num_missing"] += feat["missing"]
            totals["num_nan"] += feat["nan"]
            totals["num_pos_inf"] += feat["pos_inf"]
            totals["num_neg_inf"] += feat["neg_inf"]
            totals["num_huge"] += feat["huge"]
        totals["num_violations"] += len(violations)
        totals["num_label_rows_to_drop"] += to_drop
    result["totals"] = totals
    result["blessed"] = totals["num_violations"] == 0
    return result


def blocked_message(result: Mapping[str, Any], limit: int = 20) -> str:
    """One readable message listing the violations (feature, split, counts)."""
    messages = [v["message"] for s in result["splits"].values() for v in s["violations"]]
    more = f" (and {len(messages) - limit} more)" if len(messages) > limit else ""
    return (
        f"DataGuard blocked the run: {len(messages)} policy violation(s): "
        + "; ".join(messages[:limit])
        + more
    )


def split_source(examples: types.Artifact, split: str) -> beam.PTransform:
    """The Beam source of one split's Arrow RecordBatches.

    tf.Example payloads (what ExampleGen writes) are read a whole file per Beam element, in
    batches (``profile.ReadTFExampleFiles``: much faster than one element per record, but
    parallel only across the split's file shards). Other payload formats (tf.SequenceExample,
    Parquet, ...) go through the stock TFXIO ``BeamSource``. Either way NaN and Inf values
    reach the profile unchanged.
    """
    payload_format, _ = tfxio_utils.resolve_payload_format_and_data_view_uri([examples])
    if payload_format == example_gen_pb2.PayloadFormat.FORMAT_TF_EXAMPLE:
        patterns, _ = tfxio_utils.get_file_format_and_patterns([examples], split)
        return profile_lib.ReadTFExampleFiles(patterns)  # pylint: disable=no-value-for-parameter
    return tfxio_utils.get_split_tfxio(
        examples=[examples], split=split, telemetry_descriptors=_TELEMETRY_DESCRIPTORS
    ).BeamSource()


class Executor(base_beam_executor.BaseBeamExecutor):
    """Profiles every split of the examples in one Beam pipeline and writes ExampleAnomalies."""

    def Do(
        self,
        input_dict: dict[str, list[types.Artifact]],
        output_dict: dict[str, list[types.Artifact]],
        exec_properties: dict[str, Any],
    ) -> None:
        """Runs the data guard.

        Args:
          input_dict: ``examples`` (one Examples artifact of tf.Example records), optional
            ``schema`` (one Schema artifact).
          output_dict: ``anomalies``: one ExampleAnomalies artifact.
          exec_properties: ``label_key`` (str, may be empty), ``policy`` (JSON of
            DataGuardPolicy), ``exclude_splits`` (JSON list).

        Raises:
          GuardBlockedError: policy mode 'fail' and a violation; raised after the artifact's
            files and properties are written.
        """
        self._log_startup(input_dict, output_dict, exec_properties)
        policy = policy_lib.as_policy(exec_properties.get(POLICY_KEY) or None)
        label_key = exec_properties.get(LABEL_KEY) or ""
        exclude_splits = json_utils.loads(exec_properties.get(EXCLUDE_SPLITS_KEY) or "null") or []
        if not isinstance(exclude_splits, list):
            raise ValueError(
                f"exclude_splits must be a JSON list of split names, got {exclude_splits}"
            )

        examples = artifact_utils.get_single_instance(input_dict[EXAMPLES_KEY])
        splits = [
            s
            for s in artifact_utils.decode_split_names(examples.split_names)
            if s not in exclude_splits
        ]
        if not splits:
            raise ValueError(
                f"No splits to guard in examples {examples.uri} (excluded: {exclude_splits})."
            )
        schema = None
        if input_dict.get(SCHEMA_KEY):
            schema = io_utils.SchemaReader().read(
                io_utils.get_only_uri_in_dir(artifact_utils.get_single_uri(input_dict[SCHEMA_KEY]))
            )

        anomalies_artifact = artifact_utils.get_single_instance(output_dict[ANOMALIES_KEY])
        anomalies_artifact.split_names = artifact_utils.encode_split_names(splits)
        anomalies_artifact.span = examples.span

        sources = {split: split_source(examples, split) for split in splits}
        tmp_dir = os.path.join(anomalies_artifact.uri, _TMP_DIR_NAME)
        with self._make_beam_pipeline() as pipeline:
            paths = scan_lib.add_profile_steps(pipeline, sources, tmp_dir)
        profiles = {split: profile_lib.read_json(path) for split, path in paths.items()}
        io_utils.delete_dir(tmp_dir)

        result = judge_splits(profiles, schema, policy, label_key, source=examples.uri)
        write_result(anomalies_artifact, result, policy, label_key)
        if not result["blessed"]:
            message = blocked_message(result)
            if policy.mode == "fail":
                raise GuardBlockedError(message)
            logging.warning("%s (mode warn: continuing, blessed=0)", message)


def write_result(
    anomalies_artifact: types.Artifact,
    result: Mapping[str, Any],
    policy: policy_lib.DataGuardPolicy,
    label_key: str,
) -> None:
    """Writes SchemaDiff.pb per split, data_guard_profile.json and the custom properties."""
    document = {
        "blessed": result["blessed"],
        "label_key": label_key,
        "policy": json.loads(policy.to_json()),
        "totals": result["totals"],
        "splits": {},
    }
    for split, split_result in result["splits"].items():
        anomalies: anomalies_pb2.Anomalies = split_result["anomalies"]
        split_uri = artifact_utils.get_split_uri([anomalies_artifact], split)
        writer_utils.write_anomalies(os.path.join(split_uri, ANOMALIES_FILE_NAME), anomalies)
        public = {k: v for k, v in split_result.items() if k != "anomalies"}
        document["splits"][split] = public
        anomalies_artifact.set_string_custom_property(
            PROFILE_PROPERTY_PREFIX + split, json.dumps(public, sort_keys=True)
        )
    profile_lib.write_json(document, os.path.join(anomalies_artifact.uri, PROFILE_FILE_NAME))
    violations = [v for s in result["splits"].values() for v in s["violations"]]
    anomalies_artifact.set_int_custom_property(BLESSED_PROPERTY, int(result["blessed"]))
    anomalies_artifact.set_string_custom_property(VIOLATIONS_PROPERTY, json.dumps(violations))
    anomalies_artifact.set_string_custom_property(POLICY_PROPERTY, policy.to_json())
    for key, value in result["totals"].items():
        anomalies_artifact.set_int_custom_property(key, int(value))
