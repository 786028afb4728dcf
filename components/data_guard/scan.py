"""`nanguard scan`'s logic: the data guard's counting and verdict, standalone, on files.

CSV files are read by the one input layer (`components/inputs.py`, pyarrow: quoted fields may
hold commas, quotes and newlines; a byte-order mark is skipped; any UTF-8 text is accepted) and
typed as CsvExampleGen types them (`inputs.example_gen_types`: int64, float32, text). An empty
cell and the tokens `NA`, `null` and `None` are **missing**; `nan`, `NaN`, `inf`, `-inf` and
`Infinity` are float NaN/Inf. TFRecords of tf.Example (gzip or not) are read in batches with
TFXIO's decoder. Counting and judging are the component's own (`counts`, `core`).

By default the profile is computed in this process (no Beam, no temporary files). With
`beam_pipeline_args` it runs on Beam; the per-split JSON then goes through a temporary folder
that is always deleted (a standalone scan has no artifact URI to write to).
"""

from __future__ import annotations

import csv
import gzip
import os
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from absl import logging
from tensorflow_metadata.proto.v0 import schema_pb2

from nanguard.components import inputs, vocab
from nanguard.components.data_guard import core, counts
from nanguard.components.data_guard.config import DataGuardConfig
from nanguard.components.errors import InputError

CSV = "csv"
TFRECORD = "tfrecord"
SPLIT = "all"  # a scan is one split
_CSV_BATCH_ROWS = 65536


def _is_tfrecord_of_examples(path: str) -> bool:
    import tensorflow as tf

    from nanguard.components.data_guard import beam_io

    try:
        compression = beam_io.tfrecord_compression(path)
        options = tf.compat.v1.io.TFRecordOptions(compression)
        for record in tf.compat.v1.io.tf_record_iterator(path, options):
            tf.train.Example.FromString(record)
            return True
        # No record: only an empty file (or an empty gzip stream) is an empty TFRecord file; a
        # short text file (shorter than one record header) also yields no record.
        with tf.io.gfile.GFile(path, "rb") as f:
            if compression:
                return not gzip.GzipFile(fileobj=f).read(1)
            return not f.read(1)
    except Exception:  # noqa: BLE001 (any decode failure means "not a TFRecord of Examples")
        return False


def find_inputs(path: str) -> tuple[str, list[str]]:
    """`(kind, files)` at `path`: a file, a glob, or a folder searched recursively.

    In a folder, `*.csv` files are CSV and other files are taken when they are TFRecords of
    tf.Example (names starting with '.' or '_' are skipped); anything else (a README.md) is
    ignored. A file named explicitly is a TFRecord of tf.Example if it reads as one, else CSV.

    Raises:
      InputError: nothing there, a folder with no CSV or TFRecord file (names the folder),
        CSV and TFRecord files mixed, a file that is neither.
    """
    import tensorflow as tf

    if tf.io.gfile.isdir(path):
        found: list[str] = []
        for root, _, names in tf.io.gfile.walk(path):
            found += [os.path.join(root, n) for n in names if not n.startswith((".", "_"))]
        found.sort()
        csvs = [f for f in found if f.lower().endswith(inputs.CSV_SUFFIXES)]
        records = [f for f in found if f not in csvs and _is_tfrecord_of_examples(f)]
        if csvs and records:
            raise InputError(
                f"{path}: holds both CSV files and TFRecords ({csvs[0]}, {records[0]}); scan "
                "them separately."
            )
        if not csvs and not records:
            raise InputError(
                f"{path}: the folder holds no .csv file and no TFRecord file of tf.Example; "
                "pass a CSV file or a folder of them."
            )
        skipped = sorted(set(found) - set(csvs) - set(records))
        if skipped:
            logging.info("scan: skipping %s file(s) that are not data: %s", len(skipped), skipped)
        return (CSV, csvs) if csvs else (TFRECORD, records)
    files = [path] if tf.io.gfile.exists(path) else sorted(tf.io.gfile.glob(path))
    if not files:
        raise InputError(f"{path}: no such file or folder.")
    kinds = {}
    for file in files:
        if not file.lower().endswith((*inputs.CSV_SUFFIXES, ".txt")) and (
            _is_tfrecord_of_examples(file)
        ):
            kinds[file] = TFRECORD
            continue
        try:
            inputs.read_header(file)
        except InputError as e:
            raise InputError(f"neither TFRecords of tf.Example nor CSV: {e}") from None
        kinds[file] = CSV
    if len(set(kinds.values())) > 1:
        raise InputError(f"{path}: mixed CSV and TFRecord files: {sorted(kinds)}.")
    return next(iter(kinds.values())), files


def _record_batches(kind: str, files: Sequence[str], path: str) -> tuple[list[str], Iterable]:
    """`(header, record batches)`; CSV is read whole (Arrow), TFRecords stream per batch."""
    if kind == CSV:
        table = inputs.read_csv_files(files, flag="scan", where=path, allow_empty=True)
        typed = inputs.example_gen_types(table)
        return table.column_names, typed.to_batches(max_chunksize=_CSV_BATCH_ROWS)

    def tfrecord_batches() -> Iterator:
        from nanguard.components.data_guard import beam_io

        for file in files:
            yield from beam_io.read_tfexample_file(file)

    return [], tfrecord_batches()


def _profile_on_beam(
    kind: str, files: Sequence[str], batches: Iterable, beam_pipeline_args: Iterable[str]
) -> dict[str, Any]:
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions

    from nanguard.components.data_guard import beam_io, outputs

    if kind == CSV:
        source = beam.Create(list(batches))
    else:
        source = beam_io.ReadTFExampleFiles(list(files))  # pylint: disable=no-value-for-parameter
    with tempfile.TemporaryDirectory(prefix="nanguard_scan_") as tmp:
        with beam.Pipeline(options=PipelineOptions(list(beam_pipeline_args))) as pipeline:
            paths = beam_io.add_profile_steps(pipeline, {SPLIT: source}, tmp)
        return outputs.read_json(paths[SPLIT])


def _locate_string(files: Sequence[str], column: str, value: str) -> str:
    """The first CSV file (and line) where `column` holds `value`: for the message only."""
    for path in files:
        with open(path, encoding="utf-8-sig", newline="") as f:
            reader = csv.reader(f)
            header = next(reader, [])
            if column not in header:
                continue
            index = header.index(column)
            start = reader.line_num + 1  # a quoted field may span lines: report the first
            for row in reader:
                if len(row) > index and row[index] == value:
                    return f"{path} (line {start})"
                start = reader.line_num + 1
    return ", ".join(files)


def scan_path(
    path: str,
    schema: schema_pb2.Schema | None = None,
    label_key: str = vocab.NO_LABEL,
    config: DataGuardConfig | Mapping[str, Any] | None = None,
    beam_pipeline_args: Iterable[str] | None = None,
) -> dict[str, Any]:
    """Profiles a CSV file, a folder of CSVs, or TFRecords of tf.Example, and judges it.

    All files under `path` form one dataset (split 'all'). NaN and Inf are counted per feature
    and left out of every statistic; missing tokens count as missing (see the module doc). A
    dataset with no rows (header-only CSVs, empty TFRecords) is a violation, not a pass.

    Args:
      path: A file, a glob or a folder (searched recursively, see `find_inputs`).
      schema: Optional schema: its features absent from the data are reported 100% missing, and
        a FLOAT/INT feature holding strings is an error.
      label_key: Optional label feature name, checked with the label policy.
      config: The data guard config (defaults if None); `mode` is not used here.
      beam_pipeline_args: Run on Beam with these options, e.g.
        `['--direct_running_mode=multi_processing', '--direct_num_workers=2']`; in-process
        when empty.

    Returns:
      `{"rows": N, "features": {NAME: {...}}, "violations": [...], "label_rows_to_drop": int,
      "blessed": bool, "source": path, "format": "csv" | "tfrecord"}`.

    Raises:
      InputError: unreadable or unrecognised input (names the file or folder), or a string in
        a numeric column (names the feature, the file and line, and the value).
    """
    config = DataGuardConfig.from_dict(config)
    kind, files = find_inputs(path)
    logging.info("Scanning %s %s file(s) under %s.", len(files), kind, path)
    header, batches = _record_batches(kind, files, path)
    try:
        if beam_pipeline_args:
            profile = _profile_on_beam(kind, files, batches, beam_pipeline_args)
        else:
            profile = counts.profile_record_batches(batches)
    except InputError:
        raise
    except Exception as e:  # noqa: BLE001 - a corrupt record or mixed types deep in a file
        raise InputError(f"{path}: cannot be profiled: {e}") from e
    counts.complete_profile(profile, header)
    result = core.judge_splits({SPLIT: profile}, schema, config, label_key, source=path)
    split = result["splits"][SPLIT]
    for v in split["violations"]:
        if v["kind"] == "type":
            where = _locate_string(files, v["feature"], v["value"]) if kind == CSV else path
            message = v["message"].replace(f" in split {SPLIT!r}", "", 1)
            raise InputError(f"{where}: {message}")
    return {
        "rows": split["rows"],
        "features": split["features"],
        "violations": split["violations"],
        "label_rows_to_drop": split["label_rows_to_drop"],
        "blessed": result["blessed"],
        "source": path,
        "format": kind,
    }
