"""Run the data guard's counting pass standalone on CSV files or TFRecords of tf.Example.

CSV conventions (project decision): an empty cell and the tokens ``NA``, ``null`` and ``None``
(optionally double-quoted) are **missing**; ``nan``, ``NaN``, ``inf``, ``-inf`` and
``Infinity`` are float values (counted as NaN / Inf), exactly as tfx-bsl's CSV decoder (the one
CsvExampleGen uses) reads them. Missing tokens are rewritten to empty cells before decoding
(``normalize_missing_tokens``), which is what the pipeline's CSV staging does too.
"""

from __future__ import annotations

import csv
import os
import re
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import apache_beam as beam
import tensorflow as tf
from absl import logging
from apache_beam.options.pipeline_options import PipelineOptions
from tensorflow_metadata.proto.v0 import schema_pb2
from tfx_bsl.coders import csv_decoder

from nanguard.components.data_guard import policy as policy_lib
from nanguard.components.data_guard import profile as profile_lib
from nanguard.components.data_guard import schema as schema_lib
from nanguard.components.inputs import MISSING_TOKENS

# The non-empty missing tokens of nanguard's CSV convention (components/inputs.py).
_MISSING_CELL = re.compile(
    r'(^|,)("?)(?:' + "|".join(map(re.escape, filter(None, MISSING_TOKENS))) + r")\2(?=,|\r?$)"
)

CSV = "csv"
TFRECORD = "tfrecord"


class InputError(ValueError):
    """The scan input cannot be read: missing, unreadable, not CSV, not TFRecord of tf.Example."""


def normalize_missing_tokens(line: str) -> str:
    """Rewrites the CSV cells ``NA``, ``null`` and ``None`` (quoted or not) to empty cells.

    NaN/Inf tokens (``nan``, ``inf``, ...) are left alone: they stay float values. Only
    comma-delimited cells that are exactly one of the tokens are touched.
    """
    return _MISSING_CELL.sub(r"\1", line)


def _looks_like_tfrecord_of_examples(path: str) -> bool:
    compression = profile_lib.tfrecord_compression(path)
    try:
        for record in tf.compat.v1.io.tf_record_iterator(
            path, tf.compat.v1.io.TFRecordOptions(compression)
        ):
            tf.train.Example.FromString(record)
            return True
        return True  # a valid, empty TFRecord file
    except Exception:  # noqa: BLE001 (any decode failure means "not a TFRecord of Examples")
        return False


def _read_csv_header(path: str) -> list[str] | None:
    """The header of a text CSV file, or None if the file is not text CSV."""
    with tf.io.gfile.GFile(path, "rb") as f:
        head = f.read(65536)
    if b"\x00" in head:
        return None
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return None
    first = text.splitlines()[0] if text.strip() else ""
    if not first:
        return None
    header = next(csv.reader([first]))
    if len(header) < 1 or any(not name.strip() for name in header):
        return None
    return [name.strip() for name in header]


def list_input_files(path: str) -> list[str]:
    """Data files under ``path`` (a file, a glob, or a folder searched recursively)."""
    if tf.io.gfile.isdir(path):
        files = []
        for root, _, names in tf.io.gfile.walk(path):
            files.extend(
                os.path.join(root, n) for n in sorted(names) if not n.startswith((".", "_"))
            )
        return sorted(files)
    if tf.io.gfile.exists(path):
        return [path]
    matches = sorted(tf.io.gfile.glob(path))
    if not matches:
        raise InputError(f"{path}: no such file or folder.")
    return matches


def detect_format(files: Sequence[str]) -> tuple[str, list[str] | None]:
    """Returns (``'csv'``, header) or (``'tfrecord'``, None); raises InputError naming a file."""
    if not files:
        raise InputError("No input files found.")
    kinds = {}
    header = None
    for path in files:
        try:
            if path.endswith((".csv", ".txt")):
                file_header = _read_csv_header(path)
                if file_header is None:
                    raise InputError(f"{path}: not a readable text CSV file with a header line.")
                kind = CSV
            elif _looks_like_tfrecord_of_examples(path):
                kind, file_header = TFRECORD, None
            else:
                file_header = _read_csv_header(path)
                if file_header is None:
                    raise InputError(
                        f"{path}: neither a CSV file nor TFRecords of tf.Example (gzip or not)."
                    )
                kind = CSV
        except (OSError, tf.errors.OpError) as e:
            raise InputError(f"{path}: cannot be read ({e}).") from e
        kinds[path] = kind
        if kind == CSV:
            if header is None:
                header = file_header
            elif file_header != header:
                raise InputError(
                    f"{path}: its header {file_header} differs from {files[0]} header {header}; "
                    "scan CSV files with the same columns together."
                )
    if len(set(kinds.values())) > 1:
        raise InputError(f"Mixed CSV and TFRecord files under one path: {sorted(kinds)}.")
    return next(iter(kinds.values())), header


@beam.ptransform_fn
def ReadCsvRecordBatches(  # noqa: N802 (Beam PTransform naming)
    pipeline: beam.Pipeline, files: Sequence[str], column_names: Sequence[str]
) -> beam.PCollection:
    """CSV files (sharing one header) -> Arrow RecordBatches through tfx-bsl's CSV decoder.

    Missing tokens become empty cells first, so they arrive as missing (null) values; NaN/Inf
    tokens arrive as float NaN/Inf. Column types are inferred over the whole input, as
    CsvExampleGen does.
    """
    lines = [
        pipeline | f"ReadCsv[{i}]" >> beam.io.ReadFromText(path, skip_header_lines=1)
        for i, path in enumerate(files)
    ]
    return (
        lines
        | "FlattenCsv" >> beam.Flatten()
        | "MissingTokensToEmpty" >> beam.Map(normalize_missing_tokens)
        | "DecodeCsv"
        >> csv_decoder.CSVToRecordBatch(column_names=list(column_names), desired_batch_size=None)
    )


@beam.ptransform_fn
def ReadTFExampleRecordBatches(  # noqa: N802 (Beam PTransform naming)
    pipeline: beam.Pipeline, files: Sequence[str]
) -> beam.PCollection:
    """TFRecord files of tf.Example (gzip or not) -> Arrow RecordBatches, a file per element.

    ``profile.ReadTFExampleFiles``: batched reads with TFXIO's decoder (same RecordBatches as
    TFXIO without a schema); parallel across files, not within one file.
    """
    return pipeline | "ReadTFExampleFiles" >> profile_lib.ReadTFExampleFiles(list(files))


def add_profile_steps(
    pipeline: beam.Pipeline,
    split_sources: Mapping[str, beam.PTransform],
    output_dir: str,
) -> dict[str, str]:
    """Adds, per split, read -> profile -> write JSON to ``output_dir/<split>.json``.

    Returns:
      split -> path of the JSON file the pipeline will write (read it after the run).
    """
    paths = {}
    for split, source in split_sources.items():
        path = os.path.join(output_dir, f"{split}.json")
        _ = (
            pipeline
            | f"Read[{split}]" >> source
            | f"Profile[{split}]" >> profile_lib.ProfileRecordBatches()
            | f"WriteProfile[{split}]" >> beam.Map(profile_lib.write_json, path)
        )
        paths[split] = path
    return paths


def _locate_string(files: Sequence[str], column: str, value: str) -> str:
    """The first CSV file (and line) where ``column`` holds ``value``: diagnostics only."""
    for path in files:
        with tf.io.gfile.GFile(path, "r") as f:
            for lineno, row in enumerate(csv.DictReader(f), start=2):
                if (row.get(column) or "").strip() == value.strip():
                    return f"{path} (line {lineno})"
    return ", ".join(files)


def scan_path(
    path: str,
    schema: schema_pb2.Schema | None = None,
    label_key: str = "",
    policy: policy_lib.DataGuardPolicy | Mapping[str, Any] | None = None,
    beam_pipeline_args: Iterable[str] | None = None,
) -> dict[str, Any]:
    """Profiles a CSV file, a folder of CSVs, or TFRecords of tf.Example, and applies a policy.

    All files under ``path`` form one dataset (split ``'all'``). NaN and Inf are counted per
    feature and left out of every statistic; missing tokens count as missing (see module doc).

    Args:
      path: A file, a glob or a folder (searched recursively; names starting with '.' or '_'
        are skipped).
      schema: Optional schema: its features absent from the data are reported 100% missing, and
        a FLOAT/INT feature holding strings is an error.
      label_key: Optional label feature name, checked with the label policy.
      policy: The policy (defaults if None).
      beam_pipeline_args: Beam options, e.g. ``['--direct_running_mode=multi_processing',
        '--direct_num_workers=2']``.

    Returns:
      ``{"rows": N, "features": {NAME: {...}}, "violations": [...], "label_rows_to_drop": int,
      "blessed": bool, "source": path}``.

    Raises:
      InputError: unreadable or unrecognised input (names the file), or a string in a numeric
        column (names the feature and file).
    """
    policy = policy_lib.as_policy(policy)
    files = list_input_files(path)
    kind, header = detect_format(files)
    logging.info("Scanning %s %s file(s) under %s.", len(files), kind, path)
    if kind == CSV:
        source = ReadCsvRecordBatches(files, header)  # pylint: disable=no-value-for-parameter
    else:
        source = ReadTFExampleRecordBatches(files)  # pylint: disable=no-value-for-parameter
    with tempfile.TemporaryDirectory(prefix="nanguard_scan_") as tmp:
        options = PipelineOptions(list(beam_pipeline_args or []))
        try:
            with beam.Pipeline(options=options) as pipeline:
                paths = add_profile_steps(pipeline, {"all": source}, tmp)
        except Exception as e:  # noqa: BLE001 - a corrupt record or mixed types deep in a file
            raise InputError(f"{path}: cannot be profiled: {e}") from e
        profile = profile_lib.read_json(paths["all"])
    expected = dict(schema_lib.feature_kinds(schema))
    for name in header or ():
        expected.setdefault(name, profile_lib.UNKNOWN)
    profile_lib.complete_profile(profile, expected)
    try:
        policy_lib.check_types(profile, schema_lib.feature_kinds(schema), path)
    except ValueError as e:
        if kind == CSV:
            for name, feat in profile["features"].items():
                sample = feat.get("non_numeric_sample")
                if sample is not None and repr(name) in str(e):
                    where = _locate_string(files, name, sample)
                    raise InputError(str(e).replace(f" in {path} ", f" in {where} ", 1)) from None
        raise InputError(str(e)) from None
    violations, to_drop = policy_lib.evaluate(profile, policy, label_key, split="all")
    profile.update(
        violations=violations,
        label_rows_to_drop=to_drop,
        blessed=not violations,
        source=path,
        format=kind,
    )
    return profile
