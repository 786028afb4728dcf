"""`nanguard scan`'s logic: the data guard's counting and verdict, standalone, on files.

CSV files are streamed by the one input layer (`components/inputs.py`: pyarrow's streaming
reader, ~1 MB record batches, so memory is flat in the row count; quoted fields may hold commas,
quotes and newlines; a byte-order mark is skipped; any UTF-8 text is accepted) and typed as
CsvExampleGen types them (`csv_types.example_gen_batches`: int64, float32, text, the types of all
rows). A cell spelled as a missing token (`cells.MISSING_TOKENS` plus the config's
`missing_tokens`) is **missing**; `nan`, `NaN`, `inf`, `-inf` and `Infinity` are float NaN/Inf.
A numeric column holding stray strings (`cells`) is a violation naming its tokens and counts
(`stray_strings: block`), or, under `treat_as_missing`, those cells are read as missing (a
second streaming pass) and the column is counted as numbers. `.csv.gz` files are read as
text. TFRecords of tf.Example (gzip or not) are read in batches with TFXIO's decoder. Counting
and judging are the component's own (`counts`, `core`).

By default the profile is computed in this process (no Beam, no temporary files); local CSV
input imports neither TensorFlow nor Beam. With `beam_pipeline_args` it runs on Beam (each file
read by a worker, its types merged over all files first); the per-split JSON then goes through a
temporary folder that is always deleted (a standalone scan has no artifact URI to write to).
"""

from __future__ import annotations

import dataclasses
import glob
import gzip
import json
import os
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from absl import logging
from tensorflow_metadata.proto.v0 import schema_pb2

from nanguard.components import cells, inputs, vocab
from nanguard.components.data_guard import core, policy, profiling, scan_csv
from nanguard.components.data_guard import schema as schema_lib
from nanguard.components.data_guard.config import DataGuardConfig
from nanguard.components.errors import InputError

CSV = "csv"
TFRECORD = "tfrecord"
SPLIT = "all"  # a scan is one split
_CRC32C_TABLE: list[int] = []


def _crc32c(data: bytes) -> int:
    if not _CRC32C_TABLE:
        for n in range(256):
            for _ in range(8):
                n = (n >> 1) ^ (0x82F63B78 if n & 1 else 0)
            _CRC32C_TABLE.append(n)
    crc = 0xFFFFFFFF
    for byte in data:
        crc = _CRC32C_TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def _may_be_tfrecord(path: str) -> bool:
    """False when a local file cannot be a TFRecord file (its first record header's masked
    CRC-32C does not match), without importing TensorFlow; True means "ask TensorFlow"."""
    try:
        with open(path, "rb") as f:
            head = f.read(12)
            if head[:2] == b"\x1f\x8b":
                f.seek(0)
                head = gzip.GzipFile(fileobj=f).read(12)
    except Exception:  # noqa: BLE001 (unreadable, or a broken gzip stream: let TensorFlow judge)
        return True
    if not head:
        return True  # an empty file is an empty TFRecord file
    if len(head) < 12:
        return False
    crc = _crc32c(head[:8])
    masked = (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF
    return masked == int.from_bytes(head[8:12], "little")


def _is_tfrecord_of_examples(path: str) -> bool:
    if "://" not in path and not _may_be_tfrecord(path):
        return False
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
    if "://" in path:  # remote storage: TensorFlow's file system
        import tensorflow as tf

        isdir, walk, exists, glob_ = (
            tf.io.gfile.isdir,
            tf.io.gfile.walk,
            tf.io.gfile.exists,
            tf.io.gfile.glob,
        )
    else:
        isdir, walk, exists, glob_ = os.path.isdir, os.walk, os.path.exists, glob.glob
    if isdir(path):
        found: list[str] = []
        for root, _, names in walk(path):
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
    files = [path] if exists(path) else sorted(glob_(path))
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
        except inputs.HeaderError:
            raise  # a CSV header read, with an empty or a repeated name: say that, plainly
        except InputError as e:
            if file.lower().endswith(inputs.CSV_SUFFIXES):
                raise  # named as CSV: what is wrong with it as CSV is the whole answer
            raise InputError(f"neither TFRecords of tf.Example nor CSV: {e}") from None
        kinds[file] = CSV
    if len(set(kinds.values())) > 1:
        raise InputError(f"{path}: mixed CSV and TFRecord files: {sorted(kinds)}.")
    return next(iter(kinds.values())), files


def _tfrecord_batches(files: Sequence[str]) -> Iterator:
    from nanguard.components.data_guard import beam_io

    for file in files:
        yield from beam_io.read_tfexample_file(file)


def _profile_on_beam(
    kind: str,
    files: Sequence[str],
    header: Sequence[str],
    beam_pipeline_args: Iterable[str],
    missing: Sequence[str] = inputs.MISSING_TOKENS,
    as_missing: Sequence[str] = (),
    dialect: inputs.CsvDialect | None = None,
    spellings: dict | None = None,
) -> dict[str, Any]:
    """The profile on Beam: each file read by a worker; CSV types (and the missing spellings,
    into `spellings`) merged over all files first."""
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions

    from nanguard.components.data_guard import beam_io, outputs

    @beam.ptransform_fn
    def read_csv_files(pipeline, spellings_path):
        names = pipeline | "Files" >> beam.Create(list(files)) | "Spread" >> beam.Reshuffle()
        read = (list(missing), list(as_missing), dialect)
        found = (
            names
            | "Kinds" >> beam.Map(scan_csv.file_kinds, list(header), *read)
            | "AllKinds" >> beam.CombineGlobally(scan_csv.widest)
        )
        _ = found | "Spellings" >> beam.Map(lambda f: scan_csv.save_json(f[1], spellings_path))
        kinds = found | "KindsOnly" >> beam.Map(lambda f: f[0])
        return names | "Batches" >> beam.FlatMap(
            scan_csv.file_batches, list(header), beam.pvalue.AsSingleton(kinds), *read
        )

    with tempfile.TemporaryDirectory(prefix="nanguard_scan_") as tmp:
        spellings_path = os.path.join(tmp, "spellings.json")
        if kind == CSV:
            source = read_csv_files(spellings_path)  # pylint: disable=no-value-for-parameter
        else:
            source = beam_io.ReadTFExampleFiles(list(files))  # pylint: disable=E1120
        with beam.Pipeline(options=PipelineOptions(list(beam_pipeline_args))) as pipeline:
            paths = beam_io.add_profile_steps(pipeline, {SPLIT: source}, tmp)
        if spellings is not None and os.path.exists(spellings_path):
            with open(spellings_path, encoding="utf-8") as f:
                spellings.update(json.load(f))
        return outputs.read_json(paths[SPLIT])


def scan_path(
    path: str,
    schema: schema_pb2.Schema | None = None,
    label_key: str = vocab.NO_LABEL,
    config: DataGuardConfig | Mapping[str, Any] | None = None,
    beam_pipeline_args: Iterable[str] | None = None,
    baseline: Mapping[str, Any] | None = None,
    baseline_name: str = "baseline",
) -> dict[str, Any]:
    """Profiles a CSV file, a folder of CSVs, or TFRecords of tf.Example, and judges it.

    All files under `path` form one dataset (split 'all'). NaN and Inf are counted per feature
    and left out of every statistic; missing tokens (`config.missing_values()`) count as
    missing (see the module doc). CSV files with no data row are an InputError (as in `run`);
    empty TFRecords are an 'empty' violation. A numeric column holding stray strings is a
    'type' violation naming its tokens, counts and first file and line, or, under
    `stray_strings: treat_as_missing`, those cells count as missing (the feature's
    `stray_strings` and a line in `notes` name them).

    Args:
      path: A file, a glob or a folder (searched recursively, see `find_inputs`).
      schema: Optional schema: its features absent from the data are reported 100% missing, and
        a FLOAT/INT feature holding strings is numeric whatever its share of numbers.
      label_key: Optional label feature name, checked with the label policy.
      config: The data guard config (defaults if None); `mode` is not used here.
      beam_pipeline_args: Run on Beam with these options, e.g.
        `['--direct_running_mode=multi_processing', '--direct_num_workers=2']`; in-process
        when empty.
      baseline: An earlier profile document (`{"splits": {"all": profile}}`): rates that
        moved from it are `drift` violations, judged by the guard's own `core.judge_splits`
        (under `config.skew`, so `skew.check: false` turns it off).
      baseline_name: How findings name the baseline (its file).

    Returns:
      `{"rows": N, "features": {NAME: {...}}, "violations": [Violation.to_dict()] (warnings
      included: `details.severity`), "notes": [str], "missing_spellings": {column: {spelling:
      count}}, "dialect": {file: {delimiter, decimal, encoding}}, "label_missing": int (rows
      without a usable label), "blessed": bool, "source": path, "format": "csv" | "tfrecord"}`
      (CSV: each feature's `missing_spellings` too).

    Raises:
      InputError: unreadable or unrecognised input, a bad header (names the file and the
        column position), CSV files with no data row (names the path).
    """
    config = DataGuardConfig.from_dict(config)
    kind, files = find_inputs(path)
    logging.info("Scanning %s %s file(s) under %s.", len(files), kind, path)
    dialect = config.dialect()
    header = (
        inputs.csv_header(files, flag="scan", where=path, dialect=dialect) if kind == CSV else []
    )
    missing = config.missing_values()
    spellings: dict[str, dict[str, int]] = {}
    read = (beam_pipeline_args, missing, dialect, spellings)
    profile = _profile(path, kind, files, header, *read)
    if kind == CSV and profile["rows"] == 0:
        raise InputError(f"{path}: no data rows; pass a CSV with a header and rows")
    profiling.complete_profile(profile, header)
    strays: dict[str, Any] = {}
    if kind == CSV and config.stray_strings == "treat_as_missing":
        kinds = schema_lib.feature_kinds(schema)
        strays = {
            v.feature: v.details for v in policy.type_violations(profile, kinds, SPLIT, config)
        }
        if strays:  # read again, the stray cells of those columns as missing
            logging.info("scan: reading %s again, stray strings as missing.", sorted(strays))
            spellings.clear()
            profile = _profile(path, kind, files, header, *read, as_missing=strays)
            profiling.complete_profile(profile, header)
    result = core.judge_splits(
        {SPLIT: profile}, schema, config, label_key, path, baseline, baseline_name
    )
    split = result["splits"][SPLIT]
    found = []
    for v in result["violations"]:
        if v.kind == "type":
            where = (
                scan_csv.locate_string(files, v.feature, v.details["value"], dialect)
                if kind == CSV
                else path
            )
            message = v.message.replace(f" in split {SPLIT!r}", "", 1)
            value = v.details["value"]  # the smallest stray: the same on every runner
            v = dataclasses.replace(v, message=f"{message}. First {value!r} at {where}")
        found.append(v.to_dict())
    notes = inputs.header_notes(files, dialect) if kind == CSV else []
    for name, read_as_missing in sorted(spellings.items()):
        if read_as_missing and name in split["features"]:
            split["features"][name]["missing_spellings"] = read_as_missing
            notes.append(
                f"feature {name!r}: {sum(read_as_missing.values())} cell(s) read as missing: "
                + cells.describe_tokens(read_as_missing)
            )
    for name, v in strays.items():
        split["features"][name]["stray_strings"] = v["tokens"]
        notes.append(
            f"feature {name!r}: {v['count']} value(s) that are not numbers read as missing "
            f"(stray_strings: treat_as_missing): "
            f"{cells.describe_tokens(v['tokens'], v['count'] if v['tokens_exact'] else None)}"
        )
    return {
        "rows": split["rows"],
        "features": split["features"],
        "violations": found,
        "notes": notes,
        "missing_spellings": {name: n for name, n in spellings.items() if n},
        "dialect": {f: inputs.dialect_of(f, dialect).to_dict() for f in files}
        if kind == CSV
        else {},
        "label_missing": split["label_missing"],
        "blessed": result["blessed"],
        "source": path,
        "format": kind,
    }


def _profile(
    path: str,
    kind: str,
    files: Sequence[str],
    header: Sequence[str],
    beam_pipeline_args: Iterable[str] | None,
    missing: Sequence[str],
    dialect: inputs.CsvDialect | None = None,
    spellings: dict | None = None,
    as_missing: Iterable[str] = (),
) -> dict[str, Any]:
    """The profile of the files (see `scan_path`); InputError for a corrupt record."""
    as_missing = sorted(as_missing)
    try:
        if beam_pipeline_args:
            return _profile_on_beam(
                kind, files, header, beam_pipeline_args, missing, as_missing, dialect, spellings
            )
        if kind == CSV:
            return scan_csv.profile_csv(files, header, missing, as_missing, dialect, spellings)
        return profiling.profile_record_batches(_tfrecord_batches(files))
    except InputError:
        raise
    except Exception as e:  # noqa: BLE001 - a corrupt record or mixed types deep in a file
        raise InputError(f"{path}: cannot be profiled: {e}") from e
