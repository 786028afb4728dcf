"""FinitePredictionGate executor: unpacks artifacts, runs core.check_model, writes the blessing."""

from __future__ import annotations

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
from tfx.utils import io_utils, path_utils

from nanguard.components import profiles, vocab
from nanguard.components.errors import GuardBlockedError, InputError
from nanguard.components.gate import core, evaluation
from nanguard.components.gate import spec as keys
from nanguard.components.gate.summary import REPORT_FILE_NAME
from nanguard.components.violations import Violation

PROFILE_SAMPLE_SIZE = 1000


def _split_pattern(examples: types.Artifact, split: str) -> str:
    available = artifact_utils.decode_split_names(examples.split_names)
    if split not in available:
        raise InputError(
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
    # The `.gz` suffix is what Beam's and TFXIO's AUTO compression go by (ExampleGen writes it).
    compression = "GZIP" if files[0].endswith(".gz") else ""
    dataset = tf.data.TFRecordDataset(files, compression_type=compression).take(n)
    return [r.numpy() for r in dataset]


def _profiles(input_dict, splits, sources, label_key) -> list[profiles.FeatureProfile]:
    """Probe profiles from the schema and statistics, else from a sample of the first split."""
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
        return profiles.profiles_from_schema(schema, statistics, label_key=label_key)
    logging.info("No schema or statistics: probes use a sample of split %s.", splits[0])
    return profiles.profiles_from_records(
        _sample_records(sources[splits[0]], PROFILE_SAMPLE_SIZE), label_key=label_key
    )


def write_blessing(blessing: types.Artifact, model: types.Artifact, report: dict[str, Any]) -> None:
    """Writes a ModelBlessing exactly as the stock Evaluator does, plus the JSON report.

    Sets the int custom property ``blessed`` (1/0), ``current_model`` (uri),
    ``current_model_id``, writes the empty ``BLESSED`` or ``NOT_BLESSED`` file and
    ``gate_report.json`` (``vocab.dumps``: NaN/Inf values in it are the strings "NaN",
    "Infinity", "-Infinity"). Counts are also set as int custom properties (``examples``,
    ``non_finite``, ``nan``, ``pos_inf``, ``neg_inf``, ``probes_failed``), the reasons as
    ``blessing_message`` and the report's violations (strict JSON) as ``violations``.
    """
    blessing.set_string_custom_property(
        constants.ARTIFACT_PROPERTY_CURRENT_MODEL_URI_KEY, model.uri
    )
    blessing.set_int_custom_property(constants.ARTIFACT_PROPERTY_CURRENT_MODEL_ID_KEY, model.id)
    for name in ("examples", "non_finite", "nan", "pos_inf", "neg_inf"):
        blessing.set_int_custom_property(name, int(report[name]))
    blessing.set_int_custom_property("probes_failed", len(report["probes_failed"]))
    blessing.set_string_custom_property("violations", vocab.dumps(report.get("violations", [])))
    message = "; ".join(report["reasons"]) or "all predictions finite"
    blessing.set_string_custom_property(constants.ARTIFACT_PROPERTY_BLESSING_MESSAGE_KEY, message)
    io_utils.write_string_file(
        os.path.join(blessing.uri, REPORT_FILE_NAME), vocab.dumps(report, indent=1)
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

        Beam's counts travel through a scratch folder under the blessing's URI (the pipeline's
        storage, so remote workers can write it), removed before the blessing is written.

        Args:
            input_dict: ``model``, ``examples``, optional ``schema``, ``statistics``,
                ``model_blessing``, ``evaluation`` (the Evaluator's: its failed thresholds
                become the reasons, its metrics go into the report as ``evaluation``).
            output_dict: ``blessing`` (ModelBlessing).
            exec_properties: see FinitePredictionGateSpec.PARAMETERS (written by the
                component from a validated GateConfig; parsed, not re-checked).

        Raises:
            GuardBlockedError: only if ``raise_on_block`` is set and the model is not blessed
                (after the NOT_BLESSED blessing has been written).
            InputError: on a split the examples do not have, or a payload that is not
                tf.Example.
            ValueError: on a missing SavedModel or signature.
        """
        self._log_startup(input_dict, output_dict, exec_properties)
        config, label_key = keys.from_parameters(exec_properties)
        model = artifact_utils.get_single_instance(input_dict[keys.MODEL_KEY])
        examples = artifact_utils.get_single_instance(input_dict[keys.EXAMPLES_KEY])
        blessing = artifact_utils.get_single_instance(output_dict[keys.BLESSING_KEY])

        if examples_utils.get_payload_format(examples) != example_gen_pb2.FORMAT_TF_EXAMPLE:
            raise InputError(
                f"Examples {examples.uri} have payload format "
                f"{examples_utils.get_payload_format_string(examples)}; the gate needs "
                "FORMAT_TF_EXAMPLE (serialized tf.Example for the serving signature)."
            )
        splits = list(config.splits)
        sources = {split: _split_pattern(examples, split) for split in splits}
        model_dir = path_utils.serving_model_path(
            model.uri, path_utils.is_old_model_artifact(model)
        )
        feature_profiles = (
            _profiles(input_dict, splits, sources, label_key) if config.probe_families else None
        )
        upstream = None
        if input_dict.get(keys.MODEL_BLESSING_KEY):
            upstream_art = artifact_utils.get_single_instance(input_dict[keys.MODEL_BLESSING_KEY])
            upstream = model_utils.is_model_blessed(upstream_art)
        evaluated = None
        if input_dict.get(keys.EVALUATION_KEY):
            evaluation_uri = artifact_utils.get_single_uri(input_dict[keys.EVALUATION_KEY])
            try:
                evaluated = evaluation.read_evaluation(evaluation_uri)
            except Exception:  # noqa: BLE001 - the reasons are extra; the verdict stands
                logging.exception("The evaluation at %s could not be read.", evaluation_uri)

        report = core.check_model(
            model_dir,
            sources,
            config,
            profiles=feature_profiles,
            upstream_blessed=upstream,
            beam_pipeline_args=self._beam_pipeline_args,
            work_dir=blessing.uri,
            upstream_reasons=evaluated["reasons"] if evaluated else (),
            upstream_violations=evaluation.violations(evaluated),
        )
        report["task"] = exec_properties.get(keys.TASK_KEY) or ""
        report["evaluation"] = evaluated
        report["model"] = model.uri
        report["examples_uri"] = examples.uri
        write_blessing(blessing, model, report)
        logging.info("Blessing (blessed=%s) written to %s.", report["blessed"], blessing.uri)
        if not report["blessed"] and config.raise_on_block:
            raise GuardBlockedError(
                core.block_message(report) + f" Report: {blessing.uri}",
                violations=[Violation.from_dict(v) for v in report["violations"]],
            )
