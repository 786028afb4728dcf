"""``nanguard scan`` and ``nanguard harden-schema`` subcommands (argparse).

Exit codes: 0 ok; 2 bad input (unreadable file, not CSV/TFRecord, string in a numeric column,
bad policy); 3 with ``scan --check`` when the policy is violated.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

import tensorflow as tf
import tensorflow_data_validation as tfdv
from absl import logging

from nanguard.components.data_guard import policy as policy_lib
from nanguard.components.data_guard import profile as profile_lib
from nanguard.components.data_guard import scan as scan_lib
from nanguard.components.data_guard import schema as schema_lib

EXIT_OK = 0
EXIT_BAD_INPUT = 2
EXIT_BLOCKED = 3

_COLUMNS = ("present", "missing", "nan", "pos_inf", "neg_inf", "huge")


def add_parsers(subparsers: argparse._SubParsersAction) -> None:
    """Registers ``scan`` and ``harden-schema`` on an argparse subparsers object.

    Each sets ``func`` to a callable ``(args) -> int`` (the exit code).
    """
    scan = subparsers.add_parser(
        "scan",
        help="Count missing/NaN/Inf/huge values per feature in CSV or TFRecord files.",
        description=(
            "Counts rows, present, missing (empty cell, NA, null, None, absent), NaN, +Inf, -Inf "
            "and huge (|x| > 1.8e19) values per feature, plus mean/std/median/skewness over "
            "finite values. Exit 0; with --check, 3 if the policy is violated; 2 on bad input."
        ),
    )
    scan.add_argument("path", help="CSV file, folder of CSVs, or TFRecord file(s)/folder.")
    scan.add_argument("--schema", help="Schema text proto (schema.pbtxt).")
    scan.add_argument("--json", dest="json_out", help="Write the profile as JSON here.")
    scan.add_argument("--check", action="store_true", help="Exit 3 if the policy is violated.")
    scan.add_argument("--label", default="", help="Label feature name.")
    scan.add_argument(
        "--policy",
        help="Policy as JSON or a path to a JSON file, e.g. '{\"max_missing_fraction\": 0.2}'.",
    )
    scan.add_argument(
        "--beam-arg",
        dest="beam_args",
        action="append",
        default=[],
        help="Beam pipeline argument (repeatable), e.g. --beam-arg=--direct_num_workers=2.",
    )
    scan.set_defaults(func=run_scan)

    harden = subparsers.add_parser(
        "harden-schema",
        help="Set disallow_nan and disallow_inf on every FLOAT feature of a schema.",
    )
    harden.add_argument("input", help="Input schema text proto.")
    harden.add_argument("output", help="Output schema text proto.")
    harden.add_argument(
        "--exclude",
        action="append",
        default=[],
        help="FLOAT feature to leave unhardened (repeatable).",
    )
    harden.set_defaults(func=run_harden_schema)


def _load_policy(value: str | None) -> policy_lib.DataGuardPolicy:
    if not value:
        return policy_lib.DataGuardPolicy()
    if os.path.exists(value):
        with open(value) as f:
            value = f.read()
    return policy_lib.as_policy(value)


def format_table(result: dict[str, Any]) -> str:
    """A fixed-width table of the profile, one line per feature."""
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
    for v in result.get("violations", []):
        lines.append(f"VIOLATION: {v['message']}")
    if result.get("label_rows_to_drop"):
        lines.append(f"label rows to drop: {result['label_rows_to_drop']}")
    return "\n".join(lines)


def run_scan(args: argparse.Namespace) -> int:
    """``nanguard scan``: prints a table, writes JSON, returns the exit code."""
    try:
        policy = _load_policy(args.policy)
    except (ValueError, OSError) as e:
        print(f"nanguard scan: bad --policy: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    schema = None
    if args.schema:
        try:
            schema = tfdv.load_schema_text(args.schema)
        except Exception as e:  # noqa: BLE001 (any parse/read error is bad input)
            print(f"nanguard scan: cannot read schema {args.schema}: {e}", file=sys.stderr)
            return EXIT_BAD_INPUT
    try:
        result = scan_lib.scan_path(
            args.path,
            schema=schema,
            label_key=args.label,
            policy=policy,
            beam_pipeline_args=args.beam_args,
        )
    except scan_lib.InputError as e:
        print(f"nanguard scan: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(format_table(result))
    if args.json_out:
        profile_lib.write_json(result, args.json_out)
        logging.info("Wrote %s", args.json_out)
    if args.check and not result["blessed"]:
        print(
            f"nanguard scan: policy violated ({len(result['violations'])} violation(s)).",
            file=sys.stderr,
        )
        return EXIT_BLOCKED
    return EXIT_OK


def run_harden_schema(args: argparse.Namespace) -> int:
    """``nanguard harden-schema IN OUT``: returns the exit code."""
    if not tf.io.gfile.exists(args.input):
        print(f"nanguard harden-schema: {args.input}: no such file.", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        schema_lib.harden_schema_file(args.input, args.output, exclude=args.exclude)
    except Exception as e:  # noqa: BLE001 (parse errors, bad exclude names)
        print(f"nanguard harden-schema: {args.input}: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(f"Wrote hardened schema to {args.output}")
    return EXIT_OK
