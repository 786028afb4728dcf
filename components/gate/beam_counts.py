"""The gate's Beam pipeline: run the signature over each split and count non-finite outputs.

Every result the launcher reads back travels through storage that the Beam workers can write:
the counts of each split are written with ``WriteToText`` into a scratch folder under
``work_dir`` (the output artifact's URI, ``gs://`` on Vertex/Dataflow) and read back with
``tf.io.gfile``; the folder is removed afterwards, also on failure. Without a ``work_dir``
(``nanguard check-model``) it is a new local temporary folder, fine for the DirectRunner only.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import uuid
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import apache_beam as beam
import numpy as np
import pyarrow as pa
import tensorflow as tf
from absl import logging
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.utils import shared
from tfx_bsl.tfxio import raw_tf_record

from nanguard.components.gate.counts import batch_counts, empty_counts, merge_counts
from nanguard.components.gate.signature import ModelSignature

RAW_RECORD_COLUMN = "raw_record"
LOCAL_PREFIX = "nanguard_gate_"  # a local scratch folder (no work_dir): tempfile's prefix
SCRATCH_PREFIX = ".counts-"  # the scratch folder under work_dir


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
        # Shared needs a weak-referenceable object; a plain class instance is one.
        self._model = self._shared_handle.acquire(
            lambda: ModelSignature(self._model_dir, self._signature_name), tag=key
        )

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
    signature_name: str,
    max_offending: int,
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
        A single-element PCollection with the merged accumulator (see ``counts.batch_counts``).
        NaN and Inf outputs are counted, never dropped or repaired.
    """
    return (
        batches
        | "PredictAndCount"
        >> beam.ParDo(_PredictAndCountFn(model_dir, signature_name, max_offending, split))
        | "Merge" >> beam.CombineGlobally(_MergeCountsFn(max_offending))
    )


@contextlib.contextmanager
def scratch_folder(work_dir: str | None) -> Iterator[str]:
    """A new folder for Beam's results, removed on exit, also when the pipeline fails.

    Args:
        work_dir: A folder every Beam worker can write and the launcher can read (local or
            ``gs://``); the scratch folder is a new ``.counts-<random>`` inside it. None: a new
            ``nanguard_gate_*`` folder in the local temporary directory.
    """
    if work_dir is None:
        folder = tempfile.mkdtemp(prefix=LOCAL_PREFIX)
    else:
        folder = os.path.join(work_dir, SCRATCH_PREFIX + uuid.uuid4().hex)
        tf.io.gfile.makedirs(folder)
    try:
        yield folder
    finally:
        try:
            tf.io.gfile.rmtree(folder)
        except tf.errors.OpError as e:  # never hide the pipeline's own error
            logging.warning("Could not remove the gate's scratch folder %s: %s", folder, e)


def count_predictions(
    model_dir: str,
    sources: Mapping[str, str | Sequence[bytes]],
    *,
    signature_name: str,
    batch_size: int,
    max_offending: int,
    beam_pipeline_args: Sequence[str] | None = None,
    work_dir: str | None = None,
) -> dict[str, dict[str, Any]]:
    """Runs the signature over each source in one Beam pipeline and counts non-finite outputs.

    Args:
        model_dir: SavedModel directory.
        sources: Split name -> either a TFRecord file pattern of serialized tf.Examples (GZIP or
            not, detected from the extension) or an in-memory sequence of serialized
            tf.Examples.
        signature_name: Signature to run.
        batch_size: Number of examples fed to the signature per call (>= 1, as GateConfig
            checks).
        max_offending: Offending examples kept per split.
        beam_pipeline_args: Beam pipeline arguments (runner, direct_running_mode, ...).
        work_dir: Where the workers write the counts for the launcher (see
            :func:`scratch_folder`); required for any runner whose workers do not share the
            launcher's disk.

    Returns:
        Split -> accumulator (``examples``, ``non_finite``, ``outputs``, ``offending``). NaN,
        +Inf and -Inf predictions are counted separately per output.
    """
    names = list(sources)
    with scratch_folder(work_dir) as folder:
        options = PipelineOptions(list(beam_pipeline_args or []))
        with beam.Pipeline(options=options) as pipeline:
            for index, split in enumerate(names):
                source = sources[split]
                if isinstance(source, str):
                    tfxio = raw_tf_record.RawTfRecordTFXIO(
                        source,
                        raw_record_column_name=RAW_RECORD_COLUMN,
                        telemetry_descriptors=["nanguard", "FinitePredictionGate"],
                    )
                    batches = pipeline | f"Read[{split}]" >> tfxio.BeamSource(batch_size)
                else:
                    records = list(source)
                    chunks = [
                        records[i : i + batch_size] for i in range(0, len(records), batch_size)
                    ]
                    batches = pipeline | f"Create[{split}]" >> beam.Create(chunks, reshuffle=False)
                _ = (
                    batches
                    | f"Count[{split}]"
                    >> CountNonFinitePredictions(model_dir, signature_name, max_offending, split)
                    | f"ToJson[{split}]" >> beam.Map(json.dumps)
                    | f"Write[{split}]"
                    >> beam.io.WriteToText(
                        os.path.join(folder, f"split-{index}"), shard_name_template=""
                    )
                )
        return {
            split: _read_counts(os.path.join(folder, f"split-{index}"), max_offending)
            for index, split in enumerate(names)
        }


def _read_counts(path: str, max_offending: int) -> dict[str, Any]:
    if not tf.io.gfile.exists(path):
        return empty_counts()
    with tf.io.gfile.GFile(path) as f:
        lines = [line for line in f.read().splitlines() if line.strip()]
    return merge_counts([json.loads(line) for line in lines], max_offending)
