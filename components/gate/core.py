"""Artifact-free logic of the finite-prediction gate.

Everything here works on plain values (paths, numpy arrays, serialized tf.Examples), so it can be
tested and reused without a TFX pipeline: the executor and the ``check-model`` command are thin
wrappers around :func:`check_model`.

Counting conventions (used in the JSON report, the blessing properties and the CLI):

* ``examples``: number of examples the signature was run on.
* ``non_finite``: number of examples with at least one NaN, +Inf or -Inf value in any
  floating-point output.
* ``nan`` / ``pos_inf`` / ``neg_inf``: number of output *values* that are NaN / +Inf / -Inf,
  summed over all floating-point outputs (a 3-class classifier that returns NaN for one example
  adds 1 to ``non_finite`` and 3 to ``nan``). Per-output counts are under ``outputs``.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import apache_beam as beam
import numpy as np
import pyarrow as pa
import tensorflow as tf
from absl import logging
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.utils import shared
from tfx_bsl.tfxio import raw_tf_record

from nanguard.components.gate import probes as probes_lib
from nanguard.components.gate.records import example_to_dict, jsonable

RAW_RECORD_COLUMN = "raw_record"
DEFAULT_SIGNATURE = "serving_default"
DEFAULT_BATCH_SIZE = 4096
DEFAULT_MAX_OFFENDING = 10

_COUNT_FIELDS = ("total", "nan", "pos_inf", "neg_inf")


# ----------------------------------------------------------------------------------------------
# Model loading and calling.
# ----------------------------------------------------------------------------------------------


class ModelSignature:
    """A loaded SavedModel signature that takes serialized tf.Examples.

    Args:
        model_dir: SavedModel directory (the folder holding ``saved_model.pb``).
        signature_name: Name of the signature to call, ``serving_default`` by default.

    Raises:
        ValueError: If the directory holds no SavedModel, the signature does not exist, or it
            does not take exactly one string tensor input.
    """

    def __init__(self, model_dir: str, signature_name: str = DEFAULT_SIGNATURE):
        if not tf.saved_model.contains_saved_model(model_dir):
            raise ValueError(
                f"No SavedModel (saved_model.pb) found in {model_dir!r}: pass the directory "
                "that holds saved_model.pb (for a TFX Model artifact, <uri>/Format-Serving)."
            )
        self._loaded = tf.saved_model.load(model_dir)
        signatures = dict(self._loaded.signatures)
        if signature_name not in signatures:
            raise ValueError(
                f"SavedModel {model_dir!r} has no signature {signature_name!r}; it has "
                f"{sorted(signatures)}. Set signature_name (--signature) to one of them."
            )
        self._fn = signatures[signature_name]
        inputs = self._fn.structured_input_signature[1]
        if len(inputs) != 1 or next(iter(inputs.values())).dtype != tf.string:
            raise ValueError(
                f"Signature {signature_name!r} of {model_dir!r} must take one string tensor of "
                f"serialized tf.Example; it takes {inputs}."
            )
        self.input_name = next(iter(inputs))
        self.model_dir = model_dir
        self.signature_name = signature_name

    def __call__(self, serialized: Sequence[bytes] | np.ndarray) -> dict[str, np.ndarray]:
        """Runs the signature on a batch of serialized tf.Examples.

        NaN and Inf produced by the model are returned unchanged.

        Args:
            serialized: 1-D batch of serialized tf.Example protos.

        Returns:
            Output name -> numpy array with the batch as first dimension.
        """
        tensor = tf.constant(np.asarray(serialized, dtype=object), dtype=tf.string)
        outputs = self._fn(**{self.input_name: tensor})
        return {name: value.numpy() for name, value in outputs.items()}


def count_non_finite(outputs: Mapping[str, np.ndarray]) -> tuple[dict[str, dict[str, int]], Any]:
    """Counts NaN, +Inf and -Inf values per output, vectorised.

    Non floating-point outputs (class ids, strings) are ignored: they cannot hold NaN or Inf.

    Args:
        outputs: Output name -> array whose first dimension is the batch.

    Returns:
        A pair ``(counts, bad_rows)``: ``counts[name]`` holds ``total`` (number of values),
        ``nan``, ``pos_inf`` and ``neg_inf``; ``bad_rows`` is a boolean array over the batch,
        True where any value of any floating-point output is NaN or +/-Inf (None if there is
        no floating-point output).
    """
    counts: dict[str, dict[str, int]] = {}
    bad_rows = None
    for name, value in outputs.items():
        value = np.asarray(value)
        if not np.issubdtype(value.dtype, np.floating):
            continue
        nan = np.isnan(value)
        pos = np.isposinf(value)
        neg = np.isneginf(value)
        counts[name] = {
            "total": int(value.size),
            "nan": int(nan.sum()),
            "pos_inf": int(pos.sum()),
            "neg_inf": int(neg.sum()),
        }
        if value.ndim == 0:
            continue
        row_bad = (nan | pos | neg).reshape(value.shape[0], -1).any(axis=1)
        bad_rows = row_bad if bad_rows is None else (bad_rows | row_bad)
    return counts, bad_rows


# ----------------------------------------------------------------------------------------------
# Accumulators (plain dicts so that Beam can pickle them cheaply).
# ----------------------------------------------------------------------------------------------


def empty_counts() -> dict[str, Any]:
    """Returns an empty count accumulator."""
    return {"examples": 0, "non_finite": 0, "outputs": {}, "offending": []}


def batch_counts(
    serialized: np.ndarray,
    outputs: Mapping[str, np.ndarray],
    max_offending: int,
    split: str = "",
) -> dict[str, Any]:
    """Builds the count accumulator of one batch.

    Args:
        serialized: The batch of serialized tf.Examples that was fed to the model.
        outputs: The model's outputs for that batch.
        max_offending: Keep at most this many offending examples (feature values and the
            output values) for lineage.
        split: Split name recorded with each offending example.

    Returns:
        The accumulator: ``examples``, ``non_finite`` (examples with any NaN/Inf output value),
        ``outputs`` (per-output value counts) and ``offending`` (at most ``max_offending``).
    """
    counts, bad_rows = count_non_finite(outputs)
    acc = {"examples": int(len(serialized)), "non_finite": 0, "outputs": counts, "offending": []}
    if bad_rows is None:
        return acc
    bad_idx = np.flatnonzero(bad_rows)
    acc["non_finite"] = int(bad_idx.size)
    for i in bad_idx[:max_offending]:
        row_outputs = {}
        bad_names = []
        for name, value in outputs.items():
            value = np.asarray(value)
            if not np.issubdtype(value.dtype, np.floating) or value.ndim == 0:
                continue
            row = value[i]
            row_outputs[name] = jsonable(row)
            if not np.all(np.isfinite(row)):
                bad_names.append(name)
        acc["offending"].append(
            {
                "split": split,
                "features": example_to_dict(serialized[i]),
                "non_finite_outputs": bad_names,
                "outputs": row_outputs,
            }
        )
    return acc


def merge_counts(accumulators: Iterable[Mapping[str, Any]], max_offending: int) -> dict:
    """Merges count accumulators; keeps the first ``max_offending`` offending examples."""
    result = empty_counts()
    for acc in accumulators:
        result["examples"] += acc["examples"]
        result["non_finite"] += acc["non_finite"]
        for name, counts in acc["outputs"].items():
            target = result["outputs"].setdefault(name, dict.fromkeys(_COUNT_FIELDS, 0))
            for field in _COUNT_FIELDS:
                target[field] += counts[field]
        room = max_offending - len(result["offending"])
        if room > 0:
            result["offending"].extend(acc["offending"][:room])
    return result


# ----------------------------------------------------------------------------------------------
# Beam.
# ----------------------------------------------------------------------------------------------


class _PredictAndCountFn(beam.DoFn):
    """Runs the signature on each batch and emits that batch's count accumulator."""

    def __init__(self, model_dir: str, signature_name: str, max_offending: int, split: str):
        self._model_dir = model_dir
        self._signature_name = signature_name
        self._max_offending = max_offending
        self._split = split
        self._shared_handle = shared.Shared()
        self._model = None

    def setup(self):
        key = f"{self._model_dir}|{self._signature_name}"

        def load():
            signature = ModelSignature(self._model_dir, self._signature_name)
            # Shared needs a weak-referenceable object; a plain class instance is one.
            return signature

        self._model = self._shared_handle.acquire(load, tag=key)

    def process(self, batch):
        if isinstance(batch, pa.RecordBatch):
            column = batch.column(batch.schema.get_field_index(RAW_RECORD_COLUMN))
            serialized = column.flatten().to_numpy(zero_copy_only=False)
        else:
            serialized = np.asarray(batch, dtype=object)
        if len(serialized) == 0:
            return
        outputs = self._model(serialized)
        yield batch_counts(serialized, outputs, self._max_offending, self._split)


class _MergeCountsFn(beam.CombineFn):
    def __init__(self, max_offending: int):
        self._max_offending = max_offending

    def create_accumulator(self):
        return empty_counts()

    def add_input(self, accumulator, element):
        return merge_counts([accumulator, element], self._max_offending)

    def merge_accumulators(self, accumulators):
        return merge_counts(accumulators, self._max_offending)

    def extract_output(self, accumulator):
        return accumulator


@beam.ptransform_fn
@beam.typehints.with_input_types(Any)
@beam.typehints.with_output_types(dict)
def CountNonFinitePredictions(  # noqa: N802 (Beam PTransform naming)
    batches: beam.PCollection,
    model_dir: str,
    signature_name: str = DEFAULT_SIGNATURE,
    max_offending: int = DEFAULT_MAX_OFFENDING,
    split: str = "",
) -> beam.PCollection:
    """Beam PTransform: batches of serialized tf.Example -> one count accumulator.

    Args:
        batches: PCollection of Arrow RecordBatches with a ``raw_record`` column (as produced by
            tfx-bsl's RawTfRecordTFXIO) or of lists of serialized tf.Examples.
        model_dir: SavedModel directory.
        signature_name: Signature to run.
        max_offending: Number of offending examples kept for lineage.
        split: Split name recorded with the offending examples.

    Returns:
        A single-element PCollection with the merged accumulator (see :func:`batch_counts`).
        NaN and Inf outputs are counted, never dropped or repaired.
    """
    return (
        batches
        | "PredictAndCount"
        >> beam.ParDo(_PredictAndCountFn(model_dir, signature_name, max_offending, split))
        | "Merge" >> beam.CombineGlobally(_MergeCountsFn(max_offending))
    )


def count_predictions(
    model_dir: str,
    sources: Mapping[str, str | Sequence[bytes]],
    signature_name: str = DEFAULT_SIGNATURE,
    batch_size: int = DEFAULT_BATCH_SIZE,
    max_offending: int = DEFAULT_MAX_OFFENDING,
    beam_pipeline_args: Sequence[str] | None = None,
) -> dict[str, dict[str, Any]]:
    """Runs the signature over each source in one Beam pipeline and counts non-finite outputs.

    Args:
        model_dir: SavedModel directory.
        sources: Split name -> either a TFRecord file pattern of serialized tf.Examples (GZIP or
            not, detected from the extension) or an in-memory sequence of serialized
            tf.Examples.
        signature_name: Signature to run.
        batch_size: Number of examples fed to the signature per call.
        max_offending: Offending examples kept per split.
        beam_pipeline_args: Beam pipeline arguments (runner, direct_running_mode, ...).

    Returns:
        Split -> accumulator (``examples``, ``non_finite``, ``outputs``, ``offending``). NaN,
        +Inf and -Inf predictions are counted separately per output.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}.")
    tmp_dir = tempfile.mkdtemp(prefix="nanguard_gate_")
    options = PipelineOptions(list(beam_pipeline_args or []))
    with beam.Pipeline(options=options) as pipeline:
        for split, source in sources.items():
            if isinstance(source, str):
                tfxio = raw_tf_record.RawTfRecordTFXIO(
                    source,
                    raw_record_column_name=RAW_RECORD_COLUMN,
                    telemetry_descriptors=["nanguard", "FinitePredictionGate"],
                )
                batches = pipeline | f"Read[{split}]" >> tfxio.BeamSource(batch_size)
            else:
                records = list(source)
                chunks = [records[i : i + batch_size] for i in range(0, len(records), batch_size)]
                batches = pipeline | f"Create[{split}]" >> beam.Create(chunks, reshuffle=False)
            _ = (
                batches
                | f"Count[{split}]"
                >> CountNonFinitePredictions(model_dir, signature_name, max_offending, split)
                | f"ToJson[{split}]" >> beam.Map(json.dumps)
                | f"Write[{split}]"
                >> beam.io.WriteToText(
                    os.path.join(tmp_dir, f"split-{len(split)}-{split}"),
                    shard_name_template="",
                )
            )
    results = {}
    for split in sources:
        path = os.path.join(tmp_dir, f"split-{len(split)}-{split}")
        acc = empty_counts()
        if tf.io.gfile.exists(path):
            with tf.io.gfile.GFile(path) as f:
                lines = [line for line in f.read().splitlines() if line.strip()]
            acc = merge_counts([json.loads(line) for line in lines], max_offending)
        results[split] = acc
    tf.io.gfile.rmtree(tmp_dir)
    return results


# ----------------------------------------------------------------------------------------------
# The whole check.
# ----------------------------------------------------------------------------------------------


def summarize(split_counts: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Totals per-split accumulators into the report's top-level counts."""
    merged = merge_counts(split_counts.values(), max_offending=0)
    totals = dict.fromkeys(("nan", "pos_inf", "neg_inf"), 0)
    for counts in merged["outputs"].values():
        for field in totals:
            totals[field] += counts[field]
    return {
        "examples": merged["examples"],
        "non_finite": merged["non_finite"],
        **totals,
        "outputs": merged["outputs"],
    }


def check_model(
    model_dir: str,
    sources: Mapping[str, str | Sequence[bytes]],
    profiles: Sequence[probes_lib.FeatureProfile] | None = None,
    signature_name: str = DEFAULT_SIGNATURE,
    batch_size: int = DEFAULT_BATCH_SIZE,
    probe_families: Sequence[str] | None = probes_lib.PROBE_FAMILIES,
    max_offending: int = DEFAULT_MAX_OFFENDING,
    block_on_probe_error: bool = True,
    upstream_blessed: bool | None = None,
    beam_pipeline_args: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Checks that a model's predictions are finite on data and on hostile probes.

    Args:
        model_dir: SavedModel directory.
        sources: Split -> TFRecord file pattern or sequence of serialized tf.Examples.
        profiles: Feature profiles to build probes from (see :mod:`.probes`); None or empty
            runs no probe.
        signature_name: Signature to run (takes serialized tf.Example).
        batch_size: Examples per signature call.
        probe_families: Probe families to run (subset of ``probes.PROBE_FAMILIES``); None or
            empty runs none.
        max_offending: Offending examples kept per split for the report.
        block_on_probe_error: If True, a probe on which the signature raises (for example a
            required feature is missing) blocks like a non-finite prediction.
        upstream_blessed: Verdict of an upstream blessing (e.g. the Evaluator's); False blocks.
        beam_pipeline_args: Beam pipeline arguments.

    Returns:
        The report: ``examples``, ``non_finite``, ``nan``, ``pos_inf``, ``neg_inf``,
        ``probes_failed`` (names of failed probes), ``blessed`` (bool), plus ``outputs``
        (per-output counts), ``splits`` (per-split counts), ``offending_examples``,
        ``probes_run``, ``probe_failures`` (the failed probes' requests, outputs or errors),
        ``reasons`` (why it is not blessed). The model is blessed only if no
        prediction on the data is NaN/+Inf/-Inf, no probe failed, the data was not empty and
        the upstream blessing (if any) is blessed.
    """
    split_counts = count_predictions(
        model_dir,
        sources,
        signature_name=signature_name,
        batch_size=batch_size,
        max_offending=max_offending,
        beam_pipeline_args=beam_pipeline_args,
    )
    report = summarize(split_counts)
    report["splits"] = {
        split: {k: v for k, v in acc.items() if k != "offending"}
        for split, acc in split_counts.items()
    }
    report["offending_examples"] = [ex for acc in split_counts.values() for ex in acc["offending"]]

    probe_results: list[dict[str, Any]] = []
    if profiles and probe_families:
        probe_list = probes_lib.build_probes(profiles, families=probe_families)
        signature = ModelSignature(model_dir, signature_name)
        probe_results = probes_lib.run_probes(signature, probe_list)
    failed = [
        r
        for r in probe_results
        if r["status"] == "non_finite" or (block_on_probe_error and r["status"] == "error")
    ]
    report["probes_run"] = len(probe_results)
    report["probes_failed"] = [r["probe"] for r in failed]
    report["probe_failures"] = failed
    report["probe_errors_ignored"] = [
        r for r in probe_results if r["status"] == "error" and not block_on_probe_error
    ]

    reasons = []
    if report["examples"] == 0:
        reasons.append(f"no examples were read from splits {sorted(sources)}")
    if report["non_finite"]:
        bad_outputs = sorted(
            name
            for name, c in report["outputs"].items()
            if c["nan"] or c["pos_inf"] or c["neg_inf"]
        )
        reasons.append(
            f"{report['non_finite']} of {report['examples']} examples got non-finite predictions "
            f"(nan={report['nan']}, +inf={report['pos_inf']}, -inf={report['neg_inf']}) "
            f"in outputs {bad_outputs}"
        )
    if failed:
        reasons.append(
            f"{len(failed)} probe(s) failed: "
            + ", ".join(f"{r['probe']} ({r['status']})" for r in failed[:10])
        )
    if upstream_blessed is False:
        reasons.append("the upstream model_blessing is not blessed")
    report["blessed"] = not reasons
    report["reasons"] = reasons
    if reasons:
        logging.warning("Model %s NOT blessed: %s", model_dir, "; ".join(reasons))
    else:
        logging.info(
            "Model %s blessed: %s examples and %s probes, all predictions finite.",
            model_dir,
            report["examples"],
            report["probes_run"],
        )
    return report


def block_message(report: Mapping[str, Any]) -> str:
    """Human-readable reason a report is not blessed, naming outputs and probes."""
    return "Finite-prediction gate blocked the model: " + "; ".join(report["reasons"])
