"""`nanguard check-model`: the finite-prediction gate, standalone on a SavedModel and a CSV.

    nanguard check-model MODEL_DIR --data PATH [--json OUT] [--signature NAME] [--label NAME]

Exit codes: 0 blessed, 3 not blessed (non-finite predictions or failed probes), 2 bad input
(the message names the file or flag).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
from tfx_bsl.coders import example_coder

from nanguard.components.gate import core, probes
from nanguard.components.inputs import MISSING_TOKENS, InputError, csv_files

EXIT_BLESSED = 0
EXIT_BAD_INPUT = 2
EXIT_BLOCKED = 3

# Project decision: these CSV cells mean "missing"; nan/NaN/inf/-inf/Infinity are float values.
CSV_NULL_VALUES = list(MISSING_TOKENS)


class BadInputError(InputError):
    """Input the user must fix (maps to exit code 2)."""


def read_csv(path: str) -> pa.Table:
    """Reads a CSV file or every *.csv of a folder into one Arrow table.

    Empty cells and the tokens NA, null, None become nulls (missing); nan, NaN, inf, -inf and
    Infinity are read as float NaN / +Inf / -Inf values.

    Raises:
        BadInputError: naming the file when it is missing, unreadable or its columns do not
            match the other files'.
    """
    convert = pcsv.ConvertOptions(null_values=CSV_NULL_VALUES, strings_can_be_null=True)
    tables = []
    try:
        files = csv_files(path)
    except InputError as e:
        raise BadInputError(str(e)) from e
    for file in files:
        try:
            tables.append(pcsv.read_csv(file, convert_options=convert))
        except (pa.ArrowInvalid, OSError) as e:
            raise BadInputError(f"Cannot read CSV {file!r}: {e}") from e
    try:
        return pa.concat_tables(tables, promote=True) if len(tables) > 1 else tables[0]
    except pa.ArrowInvalid as e:
        raise BadInputError(f"CSV files in {path!r} have incompatible columns: {e}") from e


def _to_list_array(column: pa.ChunkedArray) -> pa.Array | None:
    """Scalar column -> list column: null -> null list (feature without value), x -> [x]."""
    array = column.combine_chunks()
    if pa.types.is_null(array.type):
        return None
    if pa.types.is_floating(array.type):
        array = array.cast(pa.float32())  # tf.Example float_list is float32
    elif pa.types.is_integer(array.type) or pa.types.is_boolean(array.type):
        array = array.cast(pa.int64())
    else:
        array = array.cast(pa.string()).cast(pa.binary())
    valid = array.is_valid().to_numpy(zero_copy_only=False)
    offsets = np.concatenate([[0], np.cumsum(valid)]).astype(np.int32)
    offsets = pa.array(offsets, mask=np.concatenate([~valid, [False]]))
    return pa.ListArray.from_arrays(offsets, array.drop_null())


def table_to_examples(table: pa.Table) -> list[bytes]:
    """Serializes each row of a table as a tf.Example, vectorised per column (tfx-bsl encoder).

    Nulls give a feature with no value (read as missing by tf.io.parse_example, as CsvExampleGen
    writes an empty cell); NaN and Inf are kept as float values; all-null columns are left out.
    """
    arrays, names = [], []
    for name in table.column_names:
        array = _to_list_array(table.column(name))
        if array is not None:
            arrays.append(array)
            names.append(name)
    if not arrays:
        return [b""] * table.num_rows
    batch = pa.RecordBatch.from_arrays(arrays, names)
    return example_coder.RecordBatchToExamplesEncoder().encode(batch)


def check_model_on_csv(
    model_dir: str,
    data: str,
    signature_name: str = core.DEFAULT_SIGNATURE,
    label_key: str | None = None,
    probe_families: Sequence[str] = probes.PROBE_FAMILIES,
    batch_size: int = core.DEFAULT_BATCH_SIZE,
    beam_pipeline_args: Sequence[str] | None = None,
) -> dict:
    """Runs the gate's check on a SavedModel and CSV data; returns the report (see core).

    NaN and Inf in the CSV are sent to the model as float values; missing cells as missing
    features. Probes are profiled from the same data (label column excluded).

    Raises:
        BadInputError: on a missing/unreadable CSV, an empty one, or a bad model dir/signature.
    """
    if batch_size < 1:
        raise BadInputError(f"--batch-size must be >= 1, got {batch_size}.")
    table = read_csv(data)
    if table.num_rows == 0:
        raise BadInputError(f"--data {data!r} has no rows.")
    if label_key and label_key not in table.column_names:
        raise BadInputError(
            f"--label {label_key!r} is not a column of {data!r} (columns: {table.column_names})."
        )
    try:
        core.ModelSignature(model_dir, signature_name)
    except (ValueError, OSError) as e:
        raise BadInputError(f"MODEL_DIR / --signature: {e}") from e
    records = table_to_examples(table)
    profiles = probes.profiles_from_table(table, label_key=label_key)
    report = core.check_model(
        model_dir,
        {"data": records},
        profiles=profiles,
        signature_name=signature_name,
        batch_size=batch_size,
        probe_families=probe_families,
        beam_pipeline_args=beam_pipeline_args,
    )
    report["model"] = model_dir
    report["data"] = data
    return report


def run(args: argparse.Namespace) -> int:
    """Entry point of `nanguard check-model`; returns the exit code (0, 2 or 3)."""
    families = [] if args.no_probes else list(probes.PROBE_FAMILIES)
    try:
        report = check_model_on_csv(
            args.model_dir,
            args.data,
            signature_name=args.signature,
            label_key=args.label,
            probe_families=families,
            batch_size=args.batch_size,
            beam_pipeline_args=args.beam_arg,
        )
    except BadInputError as e:
        print(f"nanguard check-model: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except Exception as e:  # noqa: BLE001 - raised inside the Beam run over the data
        print(
            f"nanguard check-model: the model {args.model_dir} cannot read --data {args.data}: "
            f"{type(e).__name__}: {e}",
            file=sys.stderr,
        )
        return EXIT_BAD_INPUT
    print(
        f"examples={report['examples']} non_finite={report['non_finite']} "
        f"nan={report['nan']} pos_inf={report['pos_inf']} neg_inf={report['neg_inf']} "
        f"probes_run={report['probes_run']} probes_failed={len(report['probes_failed'])} "
        f"blessed={str(report['blessed']).lower()}"
    )
    for name, counts in sorted(report["outputs"].items()):
        print(f"  output {name}: {counts}")
    for reason in report["reasons"]:
        print(f"  NOT BLESSED: {reason}")
    if args.json:
        try:
            os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
            with open(args.json, "w") as f:
                json.dump(report, f, indent=1, allow_nan=False)
        except OSError as e:
            print(f"nanguard check-model: cannot write --json {args.json!r}: {e}", file=sys.stderr)
            return EXIT_BAD_INPUT
    return EXIT_BLESSED if report["blessed"] else EXIT_BLOCKED


def add_parsers(subparsers) -> argparse.ArgumentParser:
    """Registers the `check-model` subcommand (sets ``func`` to :func:`run`)."""
    parser = subparsers.add_parser(
        "check-model",
        help="Check that a SavedModel predicts finite values on CSV data and hostile probes.",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("model_dir", metavar="MODEL_DIR", help="SavedModel directory.")
    parser.add_argument("--data", required=True, help="CSV file or folder of *.csv files.")
    parser.add_argument("--json", help="Write the full report as JSON to this file.")
    parser.add_argument("--signature", default=core.DEFAULT_SIGNATURE, help="Signature name.")
    parser.add_argument("--label", help="Label column, excluded from the probes.")
    parser.add_argument("--batch-size", type=int, default=core.DEFAULT_BATCH_SIZE)
    parser.add_argument("--no-probes", action="store_true", help="Run on the data only.")
    parser.add_argument(
        "--beam-arg", action="append", default=[], help="Beam pipeline argument (repeatable)."
    )
    parser.set_defaults(func=run)
    return parser
