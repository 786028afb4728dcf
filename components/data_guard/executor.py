"""DataGuard executor: unpacks the artifacts, profiles every split on Beam, judges, writes."""

from __future__ import annotations

import os
from typing import Any

import apache_beam as beam
from absl import logging
from tfx import types
from tfx.components.util import tfxio_utils
from tfx.dsl.components.base import base_beam_executor
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils
from tfx.utils import io_utils, json_utils

from nanguard.components import vocab
from nanguard.components.data_guard import beam_io, core, outputs, policy, stats_format
from nanguard.components.data_guard.config import DataGuardConfig
from nanguard.components.data_guard.spec import (
    ANOMALIES_KEY,
    BASELINE_KEY,
    CONFIG_KEY,
    EXAMPLES_KEY,
    EXCLUDE_SPLITS_KEY,
    LABEL_KEY,
    SCHEMA_KEY,
)
from nanguard.components.errors import GuardBlockedError, InputError

_TELEMETRY_DESCRIPTORS = ["nanguard", "DataGuard"]


def split_source(examples: types.Artifact, split: str) -> beam.PTransform:
    """The Beam source of one split's Arrow RecordBatches.

    tf.Example payloads (what ExampleGen writes) are read a whole file per Beam element, in
    batches (``beam_io.ReadTFExampleFiles``: much faster than one element per record, but
    parallel only across the split's file shards). Other payload formats (tf.SequenceExample,
    Parquet, ...) go through the stock TFXIO ``BeamSource``. Either way NaN and Inf values
    reach the profile unchanged.
    """
    payload_format, _ = tfxio_utils.resolve_payload_format_and_data_view_uri([examples])
    if payload_format == example_gen_pb2.PayloadFormat.FORMAT_TF_EXAMPLE:
        patterns, _ = tfxio_utils.get_file_format_and_patterns([examples], split)
        return beam_io.ReadTFExampleFiles(patterns)  # pylint: disable=no-value-for-parameter
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
          exec_properties: ``label_key`` (str, may be empty), ``config`` (JSON of
            DataGuardConfig), ``exclude_splits`` (JSON list).

        Raises:
          GuardBlockedError: mode 'fail' and a blocking violation (an empty split, a string in a
            numeric feature, a feature with no value, Inf under inf: fail, a mostly unlabelled
            split, a moved rate, an absolute limit set and exceeded); raised after the
            artifact's files and properties are written, carrying every finding as
            `Violation`s in `.violations` (warnings included) and one line per blocking one.
          InputError: a bad ``exclude_splits`` or no split left to guard.
        """
        self._log_startup(input_dict, output_dict, exec_properties)
        config = DataGuardConfig.from_json(exec_properties.get(CONFIG_KEY))
        label_key = exec_properties.get(LABEL_KEY) or vocab.NO_LABEL
        exclude_splits = json_utils.loads(exec_properties.get(EXCLUDE_SPLITS_KEY) or "null") or []
        if not isinstance(exclude_splits, list):
            raise InputError(
                f"exclude_splits must be a JSON list of split names, got {exclude_splits}"
            )

        examples = artifact_utils.get_single_instance(input_dict[EXAMPLES_KEY])
        splits = [
            s
            for s in artifact_utils.decode_split_names(examples.split_names)
            if s not in exclude_splits
        ]
        if not splits:
            raise InputError(
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

        # The per-split profiles travel through the output artifact's URI (gs:// on Vertex),
        # which every Beam worker and this launcher share; never a launcher-local temp folder.
        sources = {split: split_source(examples, split) for split in splits}
        tmp_dir = os.path.join(anomalies_artifact.uri, outputs.TMP_DIR_NAME)
        try:
            with self._make_beam_pipeline() as pipeline:
                paths = beam_io.add_profile_steps(
                    pipeline, sources, tmp_dir, config.slice_by, config.max_slices
                )
            profiles = {split: outputs.read_json(path) for split, path in paths.items()}
        finally:
            io_utils.delete_dir(tmp_dir)

        baseline, baseline_name = None, "baseline"
        if input_dict.get(BASELINE_KEY):
            baseline_uri = artifact_utils.get_single_uri(input_dict[BASELINE_KEY])
            baseline = outputs.read_profile(baseline_uri)
            baseline_name = f"baseline ({baseline_uri})"
        result = core.judge_splits(
            profiles, schema, config, label_key, examples.uri, baseline, baseline_name
        )
        outputs.write_outputs(anomalies_artifact, result, config.to_json(), label_key)
        # The same counts as TFDV statistics, for TFDV's and Vertex's own viewers.
        stats = stats_format.to_statistics(result["splits"])
        stats_path = os.path.join(anomalies_artifact.uri, stats_format.STATS_FILE_NAME)
        io_utils.write_bytes_file(stats_path, stats.SerializeToString())
        for warning in result["violations"]:
            if policy.is_warning(warning):
                logging.warning("DataGuard warning: %s", warning.line())
        if not result["blessed"]:
            kept = anomalies_artifact.uri + outputs.KEPT_SUFFIX
            if config.mode == "fail":
                # TFX removes a failed execution's output folders; the evidence is kept beside
                # them, where `nanguard report` reads it for the blocked run.
                io_utils.copy_dir(anomalies_artifact.uri, kept)
                raise GuardBlockedError(
                    core.blocked_message(result, kept), violations=result["violations"]
                )
            logging.warning("%s\n(mode warn: continuing, blessed=0)", core.blocked_message(result))
