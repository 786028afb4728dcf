"""`nanguard monitor`: served request logs against the training profile of the pushed run.

    nanguard monitor LOGS (--run ROOT [--run-id RUN_ID] | --profile PROFILE_JSON)
                     [--format auto|tfrecord|jsonl] [--output RESULT_JSON]

LOGS: a file, a folder of files or a glob of TF Serving's PredictionLog TFRecords or of JSON
lines of instances/predictions (`served_logs.py`). Per feature: the missing, NaN, +Inf, -Inf,
wrong-type and repaired rates of the requests, next to the training split's; the examples
answered with a NaN or Inf prediction. NaN and Inf are counted, never dropped or imputed.

Exit codes (components/vocab.py): 0 every rate within the data guard's drift rule and every
prediction finite; 3 a violation (a rate drifted, a wrong-type value, a non-finite
prediction); 2 bad input (the message names the file or flag).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

# Argument parsing stays light: TensorFlow and Arrow are imported inside the command.
from nanguard.components import vocab
from nanguard.components.errors import InputError

_RATES = ("missing", "nan", "pos_inf", "neg_inf", "wrong_type", "repaired")
_HEADS = ("missing", "NaN", "+Inf", "-Inf", "wrong type", "repaired")


def read_reference(path: str, split: str = "train", flag: str = "--profile") -> dict[str, Any]:
    """The data guard profile document at `path`; InputError names `flag`, the file and what
    to do."""
    from nanguard.components.data_guard.outputs import read_json

    try:
        document = read_json(path)
    except (OSError, ValueError) as e:
        raise InputError(
            f"{flag}: {path} cannot be read as JSON ({e}); pass a data_guard_profile.json"
        ) from e
    splits = document.get("splits") if isinstance(document, dict) else None
    if not isinstance(splits, dict) or split not in splits:
        raise InputError(
            f"{flag}: {path} has no {split!r} split profile; pass the data_guard_profile.json "
            "the DataGuard wrote under its ExampleAnomalies output"
        )
    return document


def monitor_logs(
    logs: str,
    profile_path: str,
    fmt: str = "auto",
    split: str = "train",
    flag: str = "--profile",
    ranges: dict | None = None,
) -> dict[str, Any]:
    """Counts every request in `logs` and judges it against `split` of the profile at
    `profile_path` (`monitor.judge`); returns the JSON-able result. NaN and Inf are counted
    per feature and in the predictions, never dropped. `ranges` (`results.ranges_from_run`):
    finite values outside them are counted as `out_of_range`, and so as repaired."""
    from nanguard.components.serving_guard import monitor, served_logs

    document = read_reference(profile_path, split, flag)
    reference = monitor.reference_split(document, split)
    files = served_logs.log_files(logs)
    served_logs.import_readers()  # TensorFlow's import is not the monitor's time
    start = time.perf_counter()
    counts = monitor.ServedCounts(monitor.kinds_of(reference), ranges or {})
    for chunk in served_logs.read_logs(logs, fmt):
        counts.add_chunk(chunk)
    if counts.rows == 0 and counts.predictions[0] == 0:
        raise InputError(
            f"LOGS {logs}: no request read ({counts.skipped} record(s) of another kind); "
            "pass PredictionLog TFRecords or JSON lines with instances/predictions"
        )
    result = monitor.judge(counts, reference, monitor.tolerance_of(document))
    result.update(
        logs=files,
        reference={"profile": profile_path, "split": split, "rows": reference["rows"]},
        seconds=time.perf_counter() - start,
    )
    return result


def format_result(result: dict[str, Any]) -> str:
    """The summary: totals, one line per feature (served rate, training rate), violations."""
    from nanguard.components.serving_guard.monitor import fmt_rate

    p = result["predictions"]
    lines = [
        f"requests={result['requests']} examples={result['examples']} "
        f"skipped={result['skipped']} undecodable={result['undecodable_examples']} "
        f"non_finite_predictions={p['non_finite']} "
        f"(of {p['examples']}) ok={str(result['ok']).lower()}"
    ]
    if p["repaired_flagged"]:
        lines.append(
            f"nanguard_repaired: {p['repaired_examples']} of {p['repaired_flagged']} examples "
            f"had input repaired ({p['repaired_values']} values)"
        )
    names = list(result["features"])
    width = max([len("feature"), *map(len, names)])
    lines.append(f"{'feature':<{width}}" + "".join(f"{h:>20}" for h in _HEADS))
    for name in names:
        f = result["features"][name]
        cells = [f"{fmt_rate(f['rates'][r])} ({fmt_rate(f['train_rates'].get(r))})" for r in _RATES]
        lines.append(f"{name:<{width}}" + "".join(f"{c:>20}" for c in cells))
    lines.append("(served rate (training rate); missing and repaired of rows, others of values)")
    if result["unknown_features"]:
        lines.append(f"NOTE: features the model does not read: {result['unknown_features']}")
    from nanguard.components.violations import Violation

    lines += [f"VIOLATION: {Violation.from_dict(v).line()}" for v in result["violations"]]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Entry point of `nanguard monitor`; returns the exit code (0, 2 or 3)."""
    try:
        if bool(args.run) == bool(args.profile):
            raise InputError("--run and --profile: pass one (the training profile to compare)")
        if args.run_id and not args.run:
            raise InputError("--run-id: needs --run ROOT")
        run_id, ranges = None, {}
        profile = args.profile
        if args.run:
            from nanguard.components.serving_guard import results

            run_id, profile = results.reference_from_run(os.path.abspath(args.run), args.run_id)
            ranges = results.ranges_from_run(os.path.abspath(args.run), run_id)
        flag = f"--run {args.run}" if args.run else "--profile"
        result = monitor_logs(args.logs, profile, args.format, flag=flag, ranges=ranges)
        result["run_id"] = run_id
        print(format_result(result))
        if args.output:
            try:
                os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
                with open(args.output, "w", encoding="utf-8") as f:
                    f.write(vocab.dumps(result, indent=1, sort_keys=True))
            except OSError as e:
                raise InputError(f"--output {args.output}: cannot be written ({e})") from e
        if args.run:
            from nanguard.components.serving_guard.results import write_result

            print(f"Result: {write_result(os.path.abspath(args.run), run_id, result)}")
    except InputError as e:
        print(f"nanguard monitor: {e}", file=sys.stderr)
        return vocab.EXIT_USAGE
    return vocab.EXIT_OK if result["ok"] else vocab.EXIT_BLOCKED


def add_parsers(subparsers) -> argparse.ArgumentParser:
    """Registers the `monitor` subcommand (sets ``func`` to :func:`run`)."""
    parser = subparsers.add_parser(
        "monitor",
        help="Check served request logs: missing/NaN/Inf rates vs training, non-finite answers.",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("logs", metavar="LOGS", help="Log file, folder of log files, or glob.")
    parser.add_argument(
        "--run",
        metavar="ROOT",
        help="The --root of `nanguard run`: compare with the training profile of the newest "
        "run that pushed a model (or --run-id), and keep the result for `nanguard report`.",
    )
    parser.add_argument("--run-id", help="A run id under --run (default: the newest pushed).")
    parser.add_argument(
        "--profile", help="A data_guard_profile.json to compare with (its train split)."
    )
    parser.add_argument(
        "--format",
        default="auto",
        choices=("auto", "tfrecord", "jsonl"),
        help="Log format (default: by suffix, else by the first byte).",
    )
    parser.add_argument("--output", help="Write the result as JSON to this file.")
    parser.set_defaults(func=run)
    return parser
