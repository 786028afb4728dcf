"""What the `run` and `compile` subcommands share: their flags and how they become a config.

Imports nothing heavy: the parsers are built for `nanguard --help`.
"""

from __future__ import annotations

import argparse

from nanguard.components.errors import InputError


def default_schema() -> str:
    from importlib import resources

    return str(resources.files("nanguard.schemas") / "penguins.pbtxt")


def add_pipeline_flags(p: argparse.ArgumentParser) -> None:
    """The flags `run` and `compile` share: label, config, schema, steps, Beam arguments."""
    p.add_argument("--label", help="the label column (default: `label` in --config, else species)")
    p.add_argument(
        "--config",
        help="YAML with the keys label, data_guard, transform, trainer, gate "
        "(see `nanguard config`)",
    )
    p.add_argument(
        "--beam-arg",
        action="append",
        default=[],
        metavar="ARG",
        help="a Beam pipeline argument, repeatable (e.g. --beam-arg=--direct_num_workers=2)",
    )
    p.add_argument("--train-steps", type=int, help="overrides trainer.train_steps")
    p.add_argument("--eval-steps", type=int, help="overrides trainer.eval_steps")


def load_config(args):
    """The validated PipelineConfig from --config, --label and the step flags (InputError)."""
    from nanguard.pipelines.config import PipelineConfig

    for flag in ("train_steps", "eval_steps"):
        value = getattr(args, flag)
        if value is not None and value < 1:
            raise InputError(f"--{flag.replace('_', '-')} {value}: must be at least 1")
    config = PipelineConfig.load(args.config, label=args.label)
    return config.with_trainer_steps(args.train_steps, args.eval_steps)
