"""`nanguard check-model`: the finite-prediction gate, standalone on a SavedModel and a CSV.

    nanguard check-model MODEL_DIR --data PATH [--config YAML | --run ROOT] [--json OUT]
                         [--signature NAME] [--label NAME]

The CSV is read as `nanguard run` read its training file: delimiter, decimal mark, encoding,
missing spellings and stray strings follow the data guard's reading keys from --config, or
those a run recorded when it staged its data (--run ROOT). A row with a stray string in a
numeric feature is rejected and named (under stray_strings: treat_as_missing the cell is read
as missing); the other rows are checked.

Exit codes (components/vocab.py): 0 blessed, 3 not blessed (non-finite predictions or failed
probes), 2 bad input (the message names the file or flag).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

# Argument parsing stays light: TensorFlow, Beam and TFDV are imported inside the command.
from nanguard.components import vocab
from nanguard.components.errors import InputError
from nanguard.components.gate.config import GateConfig


def gate_config(args: argparse.Namespace) -> GateConfig:
    """The GateConfig the flags ask for (flags left out keep GateConfig's defaults)."""
    values = {"signature_name": args.signature, "batch_size": args.batch_size}
    if args.no_probes:
        values["probe_families"] = []
    return GateConfig.from_dict({k: v for k, v in values.items() if v is not None})


def check_model_on_csv(
    model_dir: str,
    data: str,
    config: GateConfig | None = None,
    label_key: str = vocab.NO_LABEL,
    beam_pipeline_args: Sequence[str] | None = None,
    reading=None,
) -> dict:
    """Runs the gate's check on a SavedModel and CSV data; returns the report (see core).

    The CSV is read as the run read it (``csv_rows.read_rows`` with ``reading``, the data
    guard config whose reading keys apply; None: the defaults), typed as CsvExampleGen types
    it: NaN and Inf cells are sent to the model as float values, missing cells as features
    without value; rows with a stray string in a numeric feature are left out and named in the
    report's ``reading`` entry (``rejected_rows``, ``rejected``, ``strays``,
    ``missing_spellings``, ``dialect``). Probes are profiled from the same data (label column
    excluded).
    The rows go through the signature in this process, in batches (``core.check_tables``: no
    Beam); with ``beam_pipeline_args`` they go through the gate's Beam pipeline instead, whose
    counts pass through a local temporary folder that is removed afterwards, also on failure.
    Both give the same report.

    Raises:
        InputError: on a missing/unreadable/empty CSV, an unknown --label, or a bad model
            dir/signature.
    """
    from nanguard.components import profiles
    from nanguard.components.gate import core, csv_rows
    from nanguard.components.gate.signature import ModelSignature

    config = config or GateConfig()
    if reading is None:  # the run's defaults: the data guard section as `nanguard run` has it
        from nanguard.pipelines.config import PipelineConfig

        reading = PipelineConfig().data_guard
    rows = csv_rows.read_rows(data, reading)
    table = rows.table
    if label_key and label_key not in table.column_names:
        raise InputError(
            f"--label {label_key!r} is not a column of {data!r} (columns: {table.column_names})."
        )
    try:
        signature = ModelSignature(model_dir, config.signature_name)
    except (ValueError, OSError) as e:
        raise InputError(f"MODEL_DIR / --signature: {e}") from e
    feature_profiles = profiles.profiles_from_table(table, label_key=label_key)
    if beam_pipeline_args:
        from nanguard.components.gate import records

        report = core.check_model(
            model_dir,
            {"data": records.table_to_examples(table)},
            config,
            profiles=feature_profiles,
            beam_pipeline_args=beam_pipeline_args,
        )
    else:
        report = core.check_tables(
            model_dir, {"data": table}, config, profiles=feature_profiles, signature=signature
        )
    report["model"] = model_dir
    report["data"] = data
    report["reading"] = rows.report()
    return report


def _reading(args: argparse.Namespace):
    """The data guard config whose reading keys --config or --run give (else the defaults)."""
    if args.config and args.run:
        raise InputError("--config and --run: pass one (--run reads what that run used)")
    if args.run:
        from nanguard.pipelines.data import reading_from_run

        return reading_from_run(args.run)
    if args.config:
        from nanguard.pipelines.config import PipelineConfig

        return PipelineConfig.load(args.config).data_guard
    return None


def run(args: argparse.Namespace) -> int:
    """Entry point of `nanguard check-model`; returns the exit code (0, 2 or 3)."""
    try:
        report = check_model_on_csv(
            args.model_dir,
            args.data,
            gate_config(args),
            label_key=args.label,
            beam_pipeline_args=args.beam_arg,
            reading=_reading(args),
        )
    except InputError as e:
        print(f"nanguard check-model: {e}", file=sys.stderr)
        return vocab.EXIT_USAGE
    except Exception as e:  # noqa: BLE001 - raised by the signature on the data
        print(
            f"nanguard check-model: the model {args.model_dir} cannot read --data {args.data}: "
            f"{type(e).__name__}: {e}",
            file=sys.stderr,
        )
        return vocab.EXIT_USAGE
    print(
        f"examples={report['examples']} non_finite={report['non_finite']} "
        f"nan={report['nan']} pos_inf={report['pos_inf']} neg_inf={report['neg_inf']} "
        f"probes_run={report['probes_run']} probes_failed={len(report['probes_failed'])} "
        f"blessed={str(report['blessed']).lower()}"
    )
    for name, counts in sorted(report["outputs"].items()):
        print(f"  output {name}: {counts}")
    reading = report["reading"]
    if reading["rejected_rows"]:
        named = ", ".join(
            f"row {r['row']} {r['feature']!r}={r['value']!r}" for r in reading["rejected"][:5]
        )
        print(
            f"  REJECTED: {reading['rejected_rows']} row(s) with a stray string in a numeric "
            f"feature, not sent to the model: {named}"
            + (" ..." if reading["rejected_rows"] > 5 else "")
        )
    for name, stray in sorted(reading["strays"].items()):
        if stray["action"] == "read_as_missing":
            print(f"  READ AS MISSING: {stray['count']} stray string(s) in {name!r}")
    for reason in report["reasons"]:
        print(f"  NOT BLESSED: {reason}")
    if args.json:
        try:
            os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
            with open(args.json, "w") as f:
                f.write(vocab.dumps(report, indent=1))
        except OSError as e:
            print(f"nanguard check-model: cannot write --json {args.json!r}: {e}", file=sys.stderr)
            return vocab.EXIT_USAGE
    return vocab.EXIT_OK if report["blessed"] else vocab.EXIT_BLOCKED


def add_parsers(subparsers) -> argparse.ArgumentParser:
    """Registers the `check-model` subcommand (sets ``func`` to :func:`run`)."""
    defaults = GateConfig()
    parser = subparsers.add_parser(
        "check-model",
        help="Check that a SavedModel predicts finite values on CSV data and hostile probes.",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("model_dir", metavar="MODEL_DIR", help="SavedModel directory.")
    parser.add_argument("--data", required=True, help="CSV file or folder of *.csv files.")
    parser.add_argument(
        "--config",
        help="Pipeline YAML whose data_guard reading keys (csv_delimiter, csv_decimal, "
        "csv_encoding, missing_tokens, default_missing_tokens, stray_strings, text_features) "
        "apply, as in `nanguard run --config`.",
    )
    parser.add_argument(
        "--run",
        metavar="ROOT",
        help="Read --data as the run under ROOT read its data (its newest staging record; "
        "or a staged folder / its .staging.json).",
    )
    parser.add_argument("--json", help="Write the full report as JSON to this file.")
    parser.add_argument(
        "--signature", help=f"Signature name (gate.signature_name; {defaults.signature_name})."
    )
    parser.add_argument(
        "--label", default=vocab.NO_LABEL, help="Label column, excluded from the probes."
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        help=f"Examples per signature call (gate.batch_size; {defaults.batch_size}).",
    )
    parser.add_argument("--no-probes", action="store_true", help="Run on the data only.")
    parser.add_argument(
        "--beam-arg",
        action="append",
        default=[],
        help="Beam pipeline argument (repeatable); with one, the data goes through the gate's "
        "Beam pipeline instead of this process.",
    )
    parser.set_defaults(func=run)
    return parser
