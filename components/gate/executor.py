"""FinitePredictionGate executor: unpacks artifacts, runs core.check_model, writes the blessing."""

from __future__ import annotations

import json
import os
from typing import Any

import tensorflow as tf
import tensorflow_data_validation as tfdv
from absl import logging
from tfx import types
from tfx.components.evaluator import constants
from tfx.components.statistics_gen import stats_artifact_utils
from tfx.components.util import examples_utils, model_utils
from tfx.dsl.components.base import base_beam_executor
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils
from tfx.utils import io_utils, json_utils, path_utils

from nanguard.components.errors import GuardBlockedError
from nanguard.components.gate import core, probes
from nanguard.components.gate import spec as keys

REPORT_FILE_NAME = "gate_report.json"
PROFILE_SAMPLE_SIZE = 1000


def _split_pattern(examples: types.Artifact, split: str) -> str:
    available = artifact_utils.decode_split_names(examples.split_names)
    if split not in available:
        raise ValueError(
            f"Split {split!r} not found in examples artifact {examples.uri} (it has "
            f"{available}); set the gate parameter splits to existing splits."
        )
    return os.path.join(artifact_utils.get_split_uri([examples], split), "*")


def _load_statistics(stats: types.Artifact, splits: list[str]):
    available = artifact_utils.decode_split_names(stats.split_names)
    for split in ["train", *splits, *available]:
        if split in available:
            logging.info("Probes use statistics of split %s from %s.", split, stats.uri)
            return stats_artifact_utils.load_statistics(stats, split).proto()
    return None


def _sample_records(pattern: str, n: int) -> list[bytes]:
    files = tf.io.gfile.glob(pattern)
    if not files:
        return []
    compression = "GZIP" if files[0].endswith(".gz") else ""
    dataset = tf.data.TFRecordDataset(files, compression_type=compression).take(n)
    return [r.numpy() for r in dataset]


def write_blessing(blessing: types.Artifact, model: types.Artifact, report: dict[str, Any]) -> None:
    """Writes a ModelBlessing exactly as the stock Evaluator does, plus the JSON report.

    Sets the int custom property ``blessed`` (1/0), ``current_model`` (uri),
    ``current_model_id``, writes the empty ``BLESSED`` or ``NOT_BLESSED`` file and
    ``gate_report.json`` (NaN/Inf values in it are the strings "nan", "inf", "-inf").
    Counts are also set as int custom properties (``examples``, ``non_finite``, ``nan``,
    ``pos_inf``, ``neg_inf``, ``probes_failed``) and the reasons as ``blessing_message``.
    """
    blessing.set_string_custom_property(
        constants.ARTIFACT_PROPERTY_CURRENT_MODEL_URI_KEY, model.uri
    )
    blessing.set_int_custom_property(constants.ARTIFACT_PROPERTY_CURRENT_MODEL_ID_KEY, model.id)
    for name in ("examples", "non_finite", "nan", "pos_inf", "neg_inf"):
        blessing.set_int_custom_property(name, int(report[name]))
    blessing.set_int_custom_property("probes_failed", len(report["probes_failed"]))
    message = "; ".join(report["reasons"]) or "all predictions finite"
    blessing.set_string_custom_property(constants.ARTIFACT_PROPERTY_BLESSING_MESSAGE_KEY, message)
    io_utils.write_string_file(
        os.path.join(blessing.uri, REPORT_FILE_NAME), json.dumps(report, indent=1, allow_nan=False)
    )
    if report["blessed"]:
        io_utils.write_string_file(os.path.join(blessing.uri, constants.BLESSED_FILE_NAME), "")
        blessing.set_int_custom_property(
            constants.ARTIFACT_PROPERTY_BLESSED_KEY, constants.BLESSED_VALUE
        )
    else:
        io_utils.write_string_file(os.path.join(blessing.uri, constants.NOT_BLESSED_FILE_NAME), "")
        blessing.set_int_custom_property(
            constants.ARTIFACT_PROPERTY_BLESSED_KEY, constants.NOT_BLESSED_VALUE
        )


class Executor(base_beam_executor.BaseBeamExecutor):
    """Runs the finite-prediction check and writes a ModelBlessing the stock Pusher honours."""

    def Do(  # noqa: N802 (TFX API)
        self,
        input_dict: dict[str, list[types.Artifact]],
        output_dict: dict[str, list[types.Artifact]],
        exec_properties: dict[str, Any],
    ) -> None:
        """Checks the model's predictions on the examples and the probes.

        Args:
            input_dict: ``model``, ``examples``, optional ``schema``, ``statistics``,
                ``model_blessing``.
            output_dict: ``blessing`` (ModelBlessing).
            exec_properties: see FinitePredictionGateSpec.PARAMETERS.

        Raises:
            GuardBlockedError: only if ``raise_on_block`` is set and the model is not blessed
                (after the NOT_BLESSED blessing has been written).
            ValueError: on a bad split name, payload format or signature.
        """
        self._log_startup(input_dict, output_dict, exec_properties)
        model = artifact_utils.get_single_instance(input_dict[keys.MODEL_KEY])
        examples = artifact_utils.get_single_instance(input_dict[keys.EXAMPLES_KEY])
        blessing = artifact_utils.get_single_instance(output_dict[keys.BLESSING_KEY])

        if examples_utils.get_payload_format(examples) != example_gen_pb2.FORMAT_TF_EXAMPLE:
            raise ValueError(
                f"Examples {examples.uri} have payload format "
                f"{examples_utils.get_payload_format_string(examples)}; the gate needs "
                "FORMAT_TF_EXAMPLE (serialized tf.Example for the serving signature)."
            )
        splits = json_utils.loads(exec_properties.get(keys.SPLITS_KEY) or '["eval"]')
        families = probes.validate_families(
            json_utils.loads(exec_properties.get(keys.PROBE_FAMILIES_KEY) or "[]")
        )
        label_key = exec_properties.get(keys.LABEL_KEY_KEY) or None
        sources = {split: _split_pattern(examples, split) for split in splits}
        model_dir = path_utils.serving_model_path(
            model.uri, path_utils.is_old_model_artifact(model)
        )

        profiles = None
        if families:
            schema = None
            if input_dict.get(keys.SCHEMA_KEY):
                schema_uri = artifact_utils.get_single_uri(input_dict[keys.SCHEMA_KEY])
                schema = io_utils.SchemaReader().read(io_utils.get_only_uri_in_dir(schema_uri))
            statistics = None
            if input_dict.get(keys.STATISTICS_KEY):
                statistics = _load_statistics(
                    artifact_utils.get_single_instance(input_dict[keys.STATISTICS_KEY]), splits
                )
            if schema is None and statistics is not None:
                schema = tfdv.infer_schema(statistics)
            if schema is not None:
                profiles = probes.profiles_from_schema(schema, statistics, label_key=label_key)
            else:
                logging.info("No schema or statistics: probes use a sample of split %s.", splits[0])
                profiles = probes.profiles_from_records(
                    _sample_records(sources[splits[0]], PROFILE_SAMPLE_SIZE), label_key=label_key
                )

        upstream = None
        if input_dict.get(keys.MODEL_BLESSING_KEY):
            upstream_art = artifact_utils.get_single_instance(input_dict[keys.MODEL_BLESSING_KEY])
            upstream = model_utils.is_model_blessed(upstream_art)

        report = core.check_model(
            model_dir,
            sources,
            profiles=profiles,
            signature_name=exec_properties.get(keys.SIGNATURE_NAME_KEY) or core.DEFAULT_SIGNATURE,
            batch_size=int(exec_properties.get(keys.BATCH_SIZE_KEY) or core.DEFAULT_BATCH_SIZE),
            probe_families=families,
            max_offending=int(
                exec_properties.get(keys.MAX_OFFENDING_KEY, core.DEFAULT_MAX_OFFENDING)
            ),
            block_on_probe_error=bool(exec_properties.get(keys.BLOCK_ON_PROBE_ERROR_KEY, 1)),
            upstream_blessed=upstream,
            beam_pipeline_args=self._beam_pipeline_args,
        )
        report["model"] = model.uri
        report["examples_uri"] = examples.uri
        write_blessing(blessing, model, report)
        logging.info("Blessing (blessed=%s) written to %s.", report["blessed"], blessing.uri)
        if not report["blessed"] and exec_properties.get(keys.RAISE_ON_BLOCK_KEY):
            raise GuardBlockedError(core.block_message(report) + f" Report: {blessing.uri}")
