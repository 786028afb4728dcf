"""`nanguard scan` and `nanguard harden-schema` subcommands (argparse).

Parsing imports nothing heavy: TensorFlow, Beam and TFDV are imported inside the command that
needs them, so `--help` and a bad flag answer at once. Exit codes (`vocab`): 0 ok; 2 bad input
(`InputError`: unreadable file, not CSV/TFRecord, a folder with no data file, an empty or a
repeated header name, CSV files with no data row, a bad `--policy`, an unwritable `--json`); 3
with `scan --check` when the data violates the policy (stray strings in a numeric column under
`stray_strings: block` and empty TFRecords included).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from nanguard.components import vocab
from nanguard.components.errors import InputError
from nanguard.components.violations import Violation

_COLUMNS = ("present", "missing", "nan", "pos_inf", "neg_inf", "huge")


def add_parsers(subparsers: argparse._SubParsersAction) -> None:
    """Registers `scan` and `harden-schema` on an argparse subparsers object.

    Each sets `func` to a callable `(args) -> int` (the exit code).
    """
    scan = subparsers.add_parser(
        "scan",
        help="Count missing/NaN/Inf/huge values per feature in CSV or TFRecord files.",
        description=(
            "Counts rows, present, missing (an empty cell, a missing token: NA, null, None, ?, "
            "-, n/a, N/A, #N/A, NULL, missing, a lone space, the policy's missing_tokens; "
            "absent), NaN, +Inf, -Inf and huge (|x| > 1.8e19) values per feature, plus "
            "mean/std/median/skewness over finite values, and the stray strings in numeric "
            "columns. Exit 0; with --check, 3 if the policy is violated; 2 on bad input."
        ),
    )
    scan.add_argument(
        "path", nargs="?", help="CSV file, folder of CSVs, or TFRecord file(s)/folder."
    )
    scan.add_argument("--data", help="the same as PATH, as `nanguard run --data` takes it")
    scan.add_argument("--schema", help="Schema text proto (schema.pbtxt).")
    scan.add_argument("--json", dest="json_out", help="Write the profile as JSON here.")
    scan.add_argument("--check", action="store_true", help="Exit 3 if the policy is violated.")
    scan.add_argument("--label", default=vocab.NO_LABEL, help="Label feature name.")
    scan.add_argument(
        "--baseline",
        help="A profile to compare rates with: an earlier `scan --json` output, or a data "
        "guard's data_guard_profile.json (its train split). A missing/NaN/Inf rate that moved "
        "beyond the policy's skew tolerance is a violation (exit 3 with --check).",
    )
    scan.add_argument(
        "--policy",
        help="Data guard config as JSON or a path to a JSON file, e.g. "
        "'{\"max_missing_fraction\": 0.2}'.",
    )
    scan.add_argument(
        "--beam-arg",
        dest="beam_args",
        action="append",
        default=[],
        help="Run on Beam with this pipeline argument (repeatable), e.g. "
        "--beam-arg=--direct_num_workers=2; in-process without any.",
    )
    scan.set_defaults(func=run_scan)

    harden = subparsers.add_parser(
        "harden-schema",
        help="Disallow NaN/Inf on every FLOAT feature and make every non-label feature optional.",
        description="Writes the schema the HardenSchema component writes (the same function).",
    )
    harden.add_argument("input", help="Input schema text proto.")
    harden.add_argument("output", help="Output schema text proto.")
    harden.add_argument(
        "--label", default=vocab.NO_LABEL, help="Label feature, left required (default: none)."
    )
    harden.add_argument(
        "--exclude",
        action="append",
        default=[],
        help="FLOAT feature to leave unhardened (repeatable).",
    )
    harden.set_defaults(func=run_harden_schema)


def _load_config(value: str | None):
    """The DataGuardConfig from `--policy` (JSON text or a JSON file); InputError names it."""
    from nanguard.components.data_guard.config import DataGuardConfig

    if not value:
        return DataGuardConfig()
    if os.path.isfile(value):
        try:
            with open(value, encoding="utf-8") as f:
                value = f.read()
        except (OSError, UnicodeDecodeError) as e:
            raise InputError(f"--policy {value}: cannot be read ({e})") from e
    try:
        data = json.loads(value)
    except json.JSONDecodeError as e:
        raise InputError(f"--policy: not JSON ({e}); pass a JSON object or a file") from e
    return DataGuardConfig.from_dict(data, "--policy")


def _check_writable(path: str, flag: str) -> None:
    """InputError naming `flag` if `path` cannot be created as a file (local paths only)."""
    if "://" in path:
        return
    target = os.path.abspath(path)
    if os.path.isdir(target):
        raise InputError(f"{flag} {path}: is a folder; pass a file path")
    parent = os.path.dirname(target)
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        raise InputError(f"{flag} {path}: {parent} is a file, not a folder; pick another path")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(f"{flag} {path}: {parent} is not writable; pick another path")


def format_table(result: dict[str, Any]) -> str:
    """A fixed-width table of the profile, one line per feature, then the violations."""
    rows = result["rows"]
    names = list(result["features"])
    width = max([len("feature")] + [len(n) for n in names])
    header = f"{'feature':<{width}}  {'type':<7}" + "".join(f"{c:>10}" for c in _COLUMNS)
    header += f"{'missing%':>10}{'mean':>12}{'median':>12}{'std':>12}"
    lines = [f"rows: {rows}", header, "-" * len(header)]

    def _num(x):
        return f"{x:>12.4g}" if x is not None else f"{'-':>12}"

    for name in names:
        feat = result["features"][name]
        line = f"{name:<{width}}  {feat['type']:<7}" + "".join(f"{feat[c]:>10}" for c in _COLUMNS)
        line += f"{100 * feat['missing_fraction']:>9.2f}%"
        line += _num(feat.get("mean")) + _num(feat.get("median")) + _num(feat.get("std"))
        lines.append(line)
    for note in result.get("notes", []):
        lines.append(f"NOTE: {note}")
    if result.get("label_missing"):
        lines.append(f"rows without a label (left out of training): {result['label_missing']}")
    for record in result.get("violations", []):
        v = Violation.from_dict(record)
        warning = v.details.get("severity") == "warning"
        lines.append(f"{'WARNING' if warning else 'VIOLATION'}: {v.line()}")
    return "\n".join(lines)


def _write_json(result: dict[str, Any], path: str) -> None:
    """`outputs.write_json`'s bytes; a local path is written without importing TensorFlow."""
    if "://" in path:
        from nanguard.components.data_guard import outputs

        outputs.write_json(result, path)
        return
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(vocab.dumps(result, indent=2, sort_keys=True))


def _scan(args: argparse.Namespace) -> int:
    if bool(args.path) == bool(args.data):
        raise InputError(
            "pass the data once: a PATH (`nanguard scan FILE.csv`) or --data FILE.csv"
            if args.path
            else "no data: pass a CSV file, a folder of CSVs or TFRecords (`nanguard scan "
            "FILE.csv` or --data FILE.csv)"
        )
    args.path = args.path or args.data
    config = _load_config(args.policy)
    if args.json_out:
        _check_writable(args.json_out, "--json")
    schema = None
    if args.schema:
        import tensorflow_data_validation as tfdv

        try:
            schema = tfdv.load_schema_text(args.schema)
        except Exception as e:  # noqa: BLE001 (any parse/read error is bad input)
            raise InputError(f"--schema {args.schema}: cannot be read as a schema ({e})") from e

    from nanguard.components.data_guard import scan

    baseline = _read_baseline(args.baseline) if args.baseline else None
    result = scan.scan_path(
        args.path,
        schema=schema,
        label_key=args.label,
        config=config,
        beam_pipeline_args=args.beam_args,
        baseline=baseline,
        baseline_name=args.baseline or "baseline",
    )
    print(format_table(result))
    if args.json_out:
        try:
            _write_json(result, args.json_out)
        except Exception as e:  # noqa: BLE001 (OSError or tf.errors.OpError: cannot write there)
            raise InputError(f"--json {args.json_out}: cannot be written ({e})") from e
    if args.check and not result["blessed"]:
        stopping = [v for v in result["violations"] if v["details"].get("severity") != "warning"]
        print(f"nanguard scan: policy violated ({len(stopping)} violation(s)).", file=sys.stderr)
        return vocab.EXIT_BLOCKED
    return vocab.EXIT_OK


def _read_baseline(baseline: str) -> dict[str, Any]:
    """The `--baseline` file as a profile document of the scan's one split (`scan.SPLIT`)."""
    try:
        with open(baseline, encoding="utf-8") as f:
            old = json.load(f)
    except (OSError, ValueError) as e:
        raise InputError(f"--baseline {baseline}: cannot be read as a JSON profile ({e})") from e
    if isinstance(old, dict) and "splits" in old:  # a data guard's profile: its training split
        old = old["splits"].get("train") or next(iter(old["splits"].values()), {})
    if not isinstance(old, dict) or "features" not in old or "rows" not in old:
        raise InputError(
            f"--baseline {baseline}: not a profile (no rows/features); pass a `scan --json` "
            "output or a data_guard_profile.json"
        )
    return {"splits": {"all": old}}


def run_scan(args: argparse.Namespace) -> int:
    """`nanguard scan`: prints a table, writes JSON, returns the exit code."""
    try:
        return _scan(args)
    except InputError as e:
        print(f"nanguard scan: {e}", file=sys.stderr)
        return vocab.EXIT_USAGE


def run_harden_schema(args: argparse.Namespace) -> int:
    """`nanguard harden-schema IN OUT`: the HardenSchema component's schema; the exit code."""
    if not os.path.isfile(args.input) and "://" not in args.input:
        print(f"nanguard harden-schema: {args.input}: no such file.", file=sys.stderr)
        return vocab.EXIT_USAGE
    from nanguard.components import schema

    try:
        _check_writable(args.output, "output")
        schema.harden_schema_file(
            args.input, args.output, exclude=args.exclude, label_key=args.label
        )
    except InputError as e:
        print(f"nanguard harden-schema: {e}", file=sys.stderr)
        return vocab.EXIT_USAGE
    except Exception as e:  # noqa: BLE001 (a text proto that does not parse)
        print(f"nanguard harden-schema: {args.input}: {e}", file=sys.stderr)
        return vocab.EXIT_USAGE
    print(f"Wrote hardened schema to {args.output}")
    return vocab.EXIT_OK
