"""`nanguard wrap-model`: wrap a SavedModel nanguard did not train with its serving checks.

    nanguard wrap-model --model DIR --output DIR [--signature NAME ...]
                        [--nonfinite-input flag|reject] [--schema SCHEMA.pbtxt]

Each chosen signature (default: all) keeps its inputs and outputs and gains, per example,
`nanguard_nonfinite_inputs` (missing features + NaN + Inf input values) and `nanguard_finite`
(every float output value finite). Nothing is repaired: NaN and Inf reach the model as sent.
`--nonfinite-input reject` fails a request holding NaN or Inf with INVALID_ARGUMENT naming the
feature. A signature it cannot understand is refused and nothing is written (exit 2); --model
is only read; --output must be new or empty.
"""

from __future__ import annotations

import argparse

# Argument parsing stays light: TensorFlow is imported inside the command.
from nanguard.components import vocab


def run(args: argparse.Namespace) -> int:
    """Entry point of `nanguard wrap-model`; an InputError becomes exit 2 in `cli.main`."""
    from nanguard.components.serving_guard import wrap

    plans = wrap.wrap_model(
        args.model, args.output, args.signature, args.nonfinite_input, args.schema
    )
    print(f"nanguard wrap-model: wrote {args.output} ({args.nonfinite_input} policy)")
    for plan in plans:
        print(f"  {plan.signature}: {plan.describe()}; outputs + {', '.join(wrap.FLAG_KEYS)}")
    return vocab.EXIT_OK


def add_parsers(subparsers) -> argparse.ArgumentParser:
    """Registers the `wrap-model` subcommand (sets ``func`` to :func:`run`)."""
    parser = subparsers.add_parser(
        "wrap-model",
        help="Wrap any SavedModel's signatures with nanguard's NaN/Inf flags and checks.",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--model", required=True, help="SavedModel folder (only read).")
    parser.add_argument("--output", required=True, help="New SavedModel folder (new or empty).")
    parser.add_argument(
        "--signature",
        action="append",
        help="A signature to wrap (repeatable; default: all). The others are kept unwrapped.",
    )
    parser.add_argument(
        "--nonfinite-input",
        choices=("flag", "reject"),
        default="flag",
        help="flag (default): count NaN/Inf inputs; reject: fail such a request with "
        "INVALID_ARGUMENT naming the feature.",
    )
    parser.add_argument(
        "--schema",
        help="TFMD schema .pbtxt of the tf.Examples a string signature takes, when its graph "
        "has no ParseExample op to read the features from.",
    )
    parser.set_defaults(func=run)
    return parser
