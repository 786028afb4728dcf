"""The `nanguard` command.

Exit codes, kept by every subcommand (`nanguard.components.vocab`):
  0  the run finished (for `run`: a model was pushed)
  2  bad invocation or unreadable input; the message names the flag or file
  3  a guard blocked the run and nothing was pushed; the message says why
  1  anything else (a bug or an environment problem); the log file has the details
"""

from __future__ import annotations

import argparse
import datetime
import logging
import os
import sys
import tempfile
import traceback
import warnings

from nanguard.components.errors import GuardBlockedError, InputError
from nanguard.components.vocab import EXIT_BLOCKED, EXIT_ERROR, EXIT_OK, EXIT_USAGE
from nanguard.pipelines import cli_flags

DEFAULT_ROOT = "nanguard_runs"


def _add_run_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "run",
        help="run the pipeline locally on LocalDagRunner",
        description="Runs the pipeline from CSV to pushed model locally. With no flags: the "
        f"bundled Palmer penguins data, label `species`, everything under ./{DEFAULT_ROOT}/.",
    )
    p.add_argument("--data", help="a CSV file or a folder of CSVs (default: bundled penguins)")
    p.add_argument(
        "--schema",
        help="schema .pbtxt (default: schemas/penguins.pbtxt for the bundled data; with --data, "
        "one is inferred and hardened)",
    )
    p.add_argument(
        "--root",
        default=DEFAULT_ROOT,
        help=f"folder for artifacts, ML Metadata, staged data and logs (default: {DEFAULT_ROOT})",
    )
    p.add_argument("--serving-dir", help="where the Pusher writes (default: ROOT/serving)")
    p.add_argument("--baseline", action="store_true", help="the stock TFX variant, no guards")
    p.add_argument("--verbose", action="store_true", help="show TFX's full log on the console")
    cli_flags.add_pipeline_flags(p)
    p.set_defaults(func=_run_command)


def _run_command(args) -> int:
    from nanguard.pipelines import data as data_lib
    from nanguard.pipelines import local_runner, table_notes

    config = cli_flags.load_config(args)
    # The curated penguins schema goes with the bundled data; other data without --schema gets
    # an inferred, hardened schema.
    schema = args.schema or (None if args.data else cli_flags.default_schema())
    if schema is not None and not os.path.isfile(schema):
        raise InputError(f"--schema {schema}: no such file")
    root = os.path.abspath(args.root)
    serving_dir = os.path.abspath(args.serving_dir or os.path.join(root, "serving"))
    layout = local_runner.Layout(root=root, serving_dir=serving_dir)
    try:  # missing tokens and stray strings, judged before anything is claimed or staged
        data = args.data or data_lib.bundled_penguins_csv()
        table, notes = data_lib.read_data(data, config.data_guard, schema)
    except GuardBlockedError as e:
        print(f"BLOCKED: {e}\nNothing was run or pushed.")
        return EXIT_BLOCKED
    for note in notes:
        print(f"nanguard run: {note}")
    if config.label not in table.column_names:
        quoted = [n for n in (f"'{config.label}'", f'"{config.label}"') if n in table.column_names]
        # `a, b, y`: a space after each comma belongs to the next name.
        spaced = [
            n for n in table.column_names if n.strip() == config.label.strip() and n != n.strip()
        ]
        hint = ""
        if quoted:
            hint = (
                f"; the header's names hold their quotes (statsmodels' anes96.csv: 'vote'): pass "
                f"--label {quoted[0]!r}, or write the header without them"
            )
        elif spaced:
            hint = (
                f"; the header spells it {spaced[0]!r}, with spaces: pass --label "
                f"{spaced[0]!r}, or write the header without them"
            )
        raise InputError(
            f"--label {config.label}: not a column of the data (columns: {table.column_names}); "
            f"pass --label with the column to predict{hint}"
        )
    # Warnings about the features the model will see; every column stays. Printed before the
    # task is decided, so a refused label still shows what was read (e.g. `$1,001` as text).
    # (The config refuses the label in exclude; a repeated name would make drop() take two.)
    kept = table.drop(
        [c for c in dict.fromkeys(config.transform.exclude) if c in table.column_names]
    )
    # Numbers or dates read as text, spellings read as categories: the report's cautions, with
    # the leaks.
    features = kept.drop([config.label])
    readings = table_notes.formatted_number_notes(kept) + table_notes.unit_notes(kept)
    readings += table_notes.spelling_notes(kept) + table_notes.date_notes(features)
    added = readings + table_notes.identifier_notes(features)
    added += table_notes.duplicate_notes(table)
    for note in added:
        print(f"nanguard run: {note}")
    # The task (`task: auto` -> from the label's values, typed as CsvExampleGen types them) is
    # decided once, here, on the table that is staged; every component is then told the same.
    from nanguard.components import task as task_lib
    from nanguard.components.csv_types import example_gen_types

    label_column = example_gen_types(table.select([config.label])).column(0)
    classes = None
    if config.task == task_lib.AUTO:
        classes = task_lib.classes_note(label_column, config.label)
    config = config.with_task(label_column)
    rare = table_notes.class_notes(table, config.label, config.task)
    leaks = table_notes.leak_notes(kept, config.label, config.task)
    for note in ([classes] if classes else []) + rare + leaks:
        print(f"nanguard run: {note}")
        added.append(note)
    # The report's "How the data was read"; a quality block repeats the label's notes, and the
    # report's outcome the cautions (what the model reads may not be what the user meant).
    rare = rare[0] if rare else None
    table = data_lib.with_notes(
        table, added, label_as_classes=classes, rare_classes=rare, cautions=readings + leaks
    )
    layout.claim()
    with layout.lock():
        layout.check_serving_dir()
        from nanguard.pipelines import report_data, run_record

        earlier = set(run_record.run_ids(layout.metadata_path))
        code = _run_locked(args, config, layout, table, schema)
        # The report of this run, pushed or blocked; it never changes the exit code.
        new = [r for r in run_record.run_ids(layout.metadata_path) if r not in earlier]
        try:
            if not new:
                raise InputError("ML Metadata records no new run")
            print(f"Report: {report_data.write_report(layout.root, new[-1])}")
        except Exception as e:  # noqa: BLE001 - the outcome above stands
            logging.exception("The report could not be written")
            print(f"Report: not written ({type(e).__name__}: {e})")
    return code


def _run_locked(args, config, layout, table, schema: str | None) -> int:
    """The run itself, with `layout`'s root claimed and locked."""
    from nanguard.pipelines import data as data_lib
    from nanguard.pipelines import local_runner, run_record

    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    data_root = data_lib.write_staged(table, layout.new_staging_dir(stamp))
    drift = None if args.baseline else run_record.last_pushed_guard_output(layout.metadata_path)
    log_path = os.path.join(layout.log_dir, f"run-{stamp}.log")
    variant = "baseline (stock TFX)" if args.baseline else "guarded"
    print(
        f"nanguard run: {variant} pipeline, {config.task} of {config.label!r}, log in {log_path}",
        flush=True,
    )
    if not args.baseline:
        print(
            f"nanguard run: missing/NaN/Inf rates compared with the last pushed run {drift[0]}"
            if drift
            else "nanguard run: no earlier pushed run under this root: no drift baseline yet",
            flush=True,
        )
    run_id, error = "", None
    with (
        local_runner.scratch_dir(layout),
        local_runner.quiet_console(log_path, args.verbose) as console,
    ):
        pipeline = local_runner.build(
            layout,
            pipeline_name="nanguard-baseline" if args.baseline else "nanguard",
            data_root=data_root,
            schema_path=schema and os.path.abspath(schema),
            beam_pipeline_args=args.beam_arg,
            baseline=args.baseline,
            config=config,
            drift_baseline_uri=drift[1] if drift else None,
        )
        try:
            run_id = local_runner.run(pipeline, console)
        except Exception as e:  # noqa: BLE001 - reported below with the log's path
            logging.exception("The pipeline failed")
            run_id, error = getattr(e, "nanguard_run_id", ""), e
    return _report(layout, run_id, error, log_path)


def _report(layout, run_id: str, error: BaseException | None, log_path: str) -> int:
    """Prints the summary and the outcome of a run (its `RunRecord`); returns its exit code."""
    from nanguard.pipelines import run_record
    from nanguard.pipelines import summary as summary_lib

    try:
        record = run_record.read_run(
            layout.metadata_path, run_id, layout.pipeline_root, layout.log_dir, error
        )
    except Exception:  # noqa: BLE001 - the outcome stands on the error alone
        logging.exception("The run could not be read back from ML Metadata")
        record = run_record.read_run("", "", error=error)
    lines = summary_lib.summary_lines(record)
    if lines:
        print("Summary", *lines, sep="\n")
    outcome = record.outcome
    stream = sys.stderr if outcome.status == "failed" else sys.stdout
    print(*summary_lib.outcome_lines(outcome, log_path), sep="\n", file=stream)
    for item in summary_lib.task_advice(outcome, record.staging):
        print(f"nanguard run: {item}", file=stream)
    return outcome.exit_code


def _add_report_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "report",
        help="write the NaN health report of a run as one self-contained HTML page",
        description="Writes one HTML page (no script, works offline) showing, stage by stage, "
        "where NaN/Inf were found, repaired or stopped, for pushed and blocked runs alike.",
    )
    p.add_argument("root", metavar="ROOT", help="the --root of `nanguard run`")
    p.add_argument("--run", metavar="RUN_ID", help="a run id ML Metadata records (default: latest)")
    p.add_argument("--output", metavar="FILE", help="default: ROOT/reports/<run id>.html")
    p.set_defaults(func=_report_command)


def _report_command(args) -> int:
    from nanguard.pipelines import report_data

    root = os.path.abspath(args.root)
    if not os.path.isdir(root):
        raise InputError(f"ROOT {args.root}: no such folder; pass the --root of `nanguard run`")
    print(f"Report: {report_data.write_report(root, args.run, args.output)}")
    return EXIT_OK


def _add_history_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "history",
        help="print each feature's missing/NaN/Inf rates across the runs under ROOT",
        description="Reads every run ML Metadata records under ROOT (oldest first) and prints, "
        "per feature, the data guard's missing, NaN, +Inf and -Inf rates of one split.",
    )
    p.add_argument("root", metavar="ROOT", help="the --root of `nanguard run`")
    p.add_argument("--split", default="train", help="the split to show (default: train)")
    p.set_defaults(func=_history_command)


def _history_command(args) -> int:
    from nanguard.pipelines import history

    print(history.format_history(history.collect_history(os.path.abspath(args.root)), args.split))
    return EXIT_OK


def _add_config_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "config",
        help="print every config key with its default and meaning (YAML for --config)",
        description="Prints the defaults of every key as YAML; with --check FILE, validates FILE.",
    )
    p.add_argument("--check", metavar="FILE", help="validate FILE and print what it sets")
    p.set_defaults(func=_config_command)


def _config_command(args) -> int:
    from nanguard.pipelines.config import PipelineConfig, example_yaml

    if args.check:
        config = PipelineConfig.load(args.check)
        print(f"{args.check}: valid; label {config.label!r}")
    else:
        sys.stdout.write(example_yaml())
    return EXIT_OK


# Subcommands that live with their component; their parsers import nothing heavy.
_COMPONENT_COMMANDS = (
    "nanguard.components.data_guard.cli",  # scan, harden-schema
    "nanguard.components.gate.cli",  # check-model
    "nanguard.components.serving_guard.wrap_cli",  # wrap-model
    "nanguard.components.serving_guard.monitor_cli",  # monitor
    "nanguard.pipelines.kubeflow_cli",  # compile, launch
)


class _VersionAction(argparse.Action):
    """`--version`: the installed version, looked up only when asked (importlib.metadata
    costs every other command ~0.02 s of start-up)."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, **kw):
        kw.setdefault("help", "show program's version number and exit")
        super().__init__(option_strings, dest, default=default, nargs=0, **kw)

    def __call__(self, parser, namespace, values, option_string=None):
        from importlib import metadata

        print(f"{parser.prog} {metadata.version('nanguard')}")  # to stdout, as argparse's
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand (imports no TensorFlow, Beam, TFDV or TFMA)."""
    import importlib

    parser = argparse.ArgumentParser(
        prog="nanguard", description="TFX components that keep NaN and Inf out of models."
    )
    parser.add_argument("--version", action=_VersionAction)
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_run_parser(subparsers)
    for module in _COMPONENT_COMMANDS:
        importlib.import_module(module).add_parsers(subparsers)
    _add_config_parser(subparsers)
    _add_report_parser(subparsers)
    _add_history_parser(subparsers)
    return parser


def _unexpected(command: str, error: BaseException) -> int:
    """An error that is not the user's: the traceback goes to a log file the message names."""
    fd, path = tempfile.mkstemp(prefix=f"nanguard-{command}-", suffix=".log")
    with os.fdopen(fd, "w") as f:
        traceback.print_exception(type(error), error, error.__traceback__, file=f)
    print(
        f"nanguard {command}: unexpected error {type(error).__name__}: {error}\n"
        f"The details are in {path}; please report them.",
        file=sys.stderr,
    )
    return EXIT_ERROR


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if "--verbose" not in argv:
        # TensorFlow's C++ start-up chatter and the Google client libraries' Python 3.10
        # FutureWarnings say nothing about the run; --verbose keeps them.
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        warnings.filterwarnings("ignore", category=FutureWarning)
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:  # the subcommand's own usage, not the top level's, says what it takes
        commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        commands.choices[args.command].error(f"unrecognized arguments: {' '.join(unknown)}")
    try:
        return args.func(args)
    except InputError as e:
        print(f"nanguard {args.command}: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"nanguard {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001 - anything else is a bug or the environment
        return _unexpected(args.command, e)


def entry() -> None:
    """The console script: `main`, then exit without tearing the interpreter down.

    TensorFlow's objects print 'Exception ignored in AtomicFunction.__del__' tracebacks when
    Python destroys them at shutdown; everything nanguard wrote is flushed before it exits.
    """
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    logging.shutdown()
    os._exit(code)


if __name__ == "__main__":
    entry()
