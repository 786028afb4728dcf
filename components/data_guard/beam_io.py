"""Beam steps of the data guard: read examples into Arrow, profile them, write each profile.

Reading TFRecords of tf.Example in batches (``ReadTFExampleFiles``): instead of TFXIO's
``BeamSource`` (one Beam element per serialized record, then re-batched), the file names are
the Beam elements: ``Create(files) | Reshuffle | ParDo`` where each worker reads one whole file
with ``tf.data.TFRecordDataset(...).batch(read_batch_size)`` (C++ reading and decompression)
and decodes each batch of serialized records with the decoder TFXIO itself uses
(``tfx_bsl.coders.example_coder.ExamplesToRecordBatchDecoder``, no schema, so the types and
columns are exactly those TFXIO gives without a schema). Per-record Python and Beam overhead
disappears, which is most of the cost of the counting pass. The trade-off: **parallelism is
per file shard**. A split stored in one file is read by one worker, however many workers there
are (gzip files cannot be split anyway); a split in k shards keeps at most k workers busy. It
runs on any Beam runner (file reads go through ``tf.io.gfile``, so local, GCS, HDFS, ... paths
work wherever TensorFlow can read them) and in the DirectRunner's multi-process mode. Memory
per worker is bounded by one batch (``read_batch_size`` records), not by the file size.

Results travel through storage the caller names (the component's output artifact URI), never
through a launcher-local temporary folder, so they reach the launcher on any runner.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import apache_beam as beam
import pyarrow as pa
import tensorflow as tf
from tfx_bsl.coders import example_coder

from nanguard.components.data_guard import counts, outputs, profiling, slices

# Serialized tf.Examples decoded per Arrow RecordBatch by ReadTFExampleFiles.
DEFAULT_READ_BATCH_SIZE = 8192


class ProfileCombineFn(beam.CombineFn):
    """Beam CombineFn: Arrow RecordBatches -> profile dict (see ``counts``), with per-slice
    counts under ``"slices"`` when ``slice_by`` names features (see ``slices``).

    NaN, +Inf, -Inf and huge values are counted per feature; statistics use finite values only.
    """

    def __init__(self, exclude: Iterable[str] = (), slice_by: Sequence[str] = (), max_slices=20):
        self._exclude = frozenset(exclude)
        self._slice_by = tuple(slice_by)
        self._max_slices = max_slices

    def create_accumulator(self):
        return counts.ProfileAccumulator(), slices.SliceCounts(self._slice_by, self._max_slices)

    def add_input(self, accumulator, record_batch: pa.RecordBatch):
        profile, sliced = accumulator
        counts.add_record_batch(profile, record_batch, self._exclude)
        if self._slice_by:
            sliced.add(record_batch, self._exclude)
        return accumulator

    def merge_accumulators(self, accumulators):
        accumulators = list(accumulators)
        profile = counts.merge_accumulators(a[0] for a in accumulators)
        sliced = accumulators[0][1].merge(a[1] for a in accumulators[1:])
        return profile, sliced

    def compact(self, accumulator):
        for feat in accumulator[0].features.values():
            feat.flush()  # the buffered values, summarised
            if feat.quantiles is not None:
                feat.quantiles.Compact()
        return accumulator

    def extract_output(self, accumulator) -> dict[str, Any]:
        profile = profiling.extract_profile(accumulator[0])
        if self._slice_by:
            profile["slices"] = accumulator[1].extract()
        return profile


@beam.ptransform_fn
@beam.typehints.with_input_types(pa.RecordBatch)
def ProfileRecordBatches(  # noqa: N802 (Beam PTransform naming)
    record_batches: beam.PCollection,
    exclude: Iterable[str] = (),
    slice_by: Sequence[str] = (),
    max_slices: int = 20,
) -> beam.PCollection:
    """PTransform: a PCollection of Arrow RecordBatches -> a PCollection holding one profile dict.

    An empty input yields a profile with ``rows == 0`` and no features (not an error).
    NaN/Inf handling: counted per feature, excluded from every statistic.
    """
    return record_batches | "CombineProfile" >> beam.CombineGlobally(
        ProfileCombineFn(exclude, slice_by, max_slices)
    )


def list_tfrecord_files(file_patterns: str | Sequence[str]) -> list[str]:
    """Files matching one or more glob patterns (``tf.io.gfile.glob``), sorted, no duplicates.

    Raises:
      ValueError: a pattern matches no file (names the pattern); an empty split must still be
        an (empty) file, as ExampleGen writes it.
    """
    if isinstance(file_patterns, str):
        file_patterns = [file_patterns]
    files: set[str] = set()
    for pattern in file_patterns:
        matches = [m for m in tf.io.gfile.glob(pattern) if not tf.io.gfile.isdir(m)]
        if not matches:
            raise ValueError(
                f"No TFRecord file matches {pattern!r}; check the Examples artifact's split "
                "folder (an empty split must still hold an empty TFRecord file)."
            )
        files.update(matches)
    return sorted(files)


def tfrecord_compression(path: str) -> str:
    """``'GZIP'`` for a ``.gz`` file or a file starting with the gzip magic bytes, else ``''``.

    ``.gz`` is what Beam's and TFXIO's AUTO compression go by; the magic-byte check also reads
    gzip files without the suffix (``nanguard scan`` accepts "gzip or not").
    """
    if path.endswith(".gz"):
        return "GZIP"
    with tf.io.gfile.GFile(path, "rb") as f:
        return "GZIP" if f.read(2) == b"\x1f\x8b" else ""


def read_tfexample_file(
    path: str,
    read_batch_size: int = DEFAULT_READ_BATCH_SIZE,
    decoder: example_coder.ExamplesToRecordBatchDecoder | None = None,
) -> Iterator[pa.RecordBatch]:
    """Reads one TFRecord file of tf.Example as Arrow RecordBatches of up to ``read_batch_size``.

    Records are read and decompressed by ``tf.data.TFRecordDataset`` in C++ and decoded per
    batch by tfx-bsl's ``ExamplesToRecordBatchDecoder`` (no schema: the TFXIO layout, one
    list column per feature, types inferred per batch). NaN and Inf values are decoded as
    float NaN/Inf, unchanged; an absent feature is a null list. An empty file yields nothing.

    Raises:
      ValueError: the file is not a readable TFRecord of tf.Example (names the file).
    """
    decoder = decoder or example_coder.ExamplesToRecordBatchDecoder()
    dataset = (
        tf.data.TFRecordDataset(path, compression_type=tfrecord_compression(path))
        .batch(read_batch_size)
        .prefetch(1)
    )
    try:
        for serialized in dataset.as_numpy_iterator():
            yield decoder.DecodeBatch(serialized.tolist())
    except (tf.errors.OpError, RuntimeError, ValueError) as e:
        raise ValueError(f"{path}: cannot read it as TFRecords of tf.Example ({e}).") from e


class _ReadTFExampleFileDoFn(beam.DoFn):
    """File path -> Arrow RecordBatches (see ``read_tfexample_file``)."""

    def __init__(self, read_batch_size: int):
        self._read_batch_size = read_batch_size
        self._decoder = None
        self._records = beam.metrics.Metrics.counter("nanguard_data_guard", "records_read")

    def setup(self):
        self._decoder = example_coder.ExamplesToRecordBatchDecoder()

    def process(self, path: str) -> Iterator[pa.RecordBatch]:
        for record_batch in read_tfexample_file(path, self._read_batch_size, self._decoder):
            self._records.inc(record_batch.num_rows)
            yield record_batch


@beam.ptransform_fn
@beam.typehints.with_output_types(pa.RecordBatch)
def ReadTFExampleFiles(  # noqa: N802 (Beam PTransform naming)
    pipeline: beam.Pipeline,
    file_patterns: str | Sequence[str],
    read_batch_size: int = DEFAULT_READ_BATCH_SIZE,
) -> beam.PCollection:
    """PTransform: TFRecord files of tf.Example -> Arrow RecordBatches, read a file per element.

    ``Create(files) | Reshuffle | ParDo(read whole file in batches)``: the file list is
    globbed when the pipeline is built; parallelism is per file shard (see the module
    docstring). Gzip is detected per file (``tfrecord_compression``). The RecordBatches have
    the layout TFXIO's ``TFExampleRecord`` (no schema) gives, so ``ProfileRecordBatches``
    yields the same profile. NaN and Inf values pass through unchanged (they are counted
    downstream). No matching file is a ValueError naming the pattern; empty files are fine.
    """
    files = list_tfrecord_files(file_patterns)
    return (
        pipeline
        | "ListFiles" >> beam.Create(files).with_output_types(str)
        | "ReshuffleFiles" >> beam.Reshuffle()
        | "ReadAndDecode" >> beam.ParDo(_ReadTFExampleFileDoFn(read_batch_size))
    )


def add_profile_steps(
    pipeline: beam.Pipeline,
    split_sources: Mapping[str, beam.PTransform],
    output_dir: str,
    slice_by: Sequence[str] = (),
    max_slices: int = 20,
) -> dict[str, str]:
    """Adds, per split, read -> profile -> write JSON to ``output_dir/<split>.json``.

    ``output_dir`` must be storage every worker and the launcher share (the component's output
    artifact URI); NaN/Inf are counted, never written as bare JSON tokens.

    Returns:
      split -> path of the JSON file the pipeline will write (read it after the run).
    """
    paths = {}
    for split, source in split_sources.items():
        path = os.path.join(output_dir, f"{split}.json")
        _ = (
            pipeline
            | f"Read[{split}]" >> source
            | f"Profile[{split}]" >> ProfileRecordBatches(slice_by=slice_by, max_slices=max_slices)  # pylint: disable=no-value-for-parameter
            | f"WriteProfile[{split}]" >> beam.Map(outputs.write_json, path)
        )
        paths[split] = path
    return paths
