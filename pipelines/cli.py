"""The `nanguard` command.

Exit codes, kept by every subcommand:
  0  the run finished (for `run`: a model was pushed)
  2  bad invocation or unreadable input; the message names the flag or file
  3  a guard blocked the run and nothing was pushed; the message says why
  1  anything else (a bug or an environment problem); the log file has the details
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import logging
import os
import sys
import time
import warnings

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_BLOCKED = 0, 1, 2, 3
DEFAULT_ROOT = "nanguard_runs"


class UsageError(Exception):
    """Bad invocation or unreadable input (exit 2)."""


def _default_schema() -> str:
    from importlib import resources

    return str(resources.files("nanguard.schemas") / "penguins.pbtxt")


def _add_run_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "run",
        help="run the pipeline locally on LocalDagRunner",
        description="Runs the pipeline from CSV to pushed model on LocalDagRunner. "
        "With no flags: the bundled Palmer penguins data, label `species`, "
        f"everything under ./{DEFAULT_ROOT}/.",
    )
    p.add_argument("--data", help="a CSV file or a folder of CSVs (default: bundled penguins)")
    p.add_argument("--label", default="species", help="the label column (default: species)")
    p.add_argument(
        "--schema",
        help="schema .pbtxt (default: schemas/penguins.pbtxt for the bundled data; with --data, "
        "one is inferred and hardened)",
    )
    p.add_argument("--config", help="YAML: data_guard, transform, trainer, gate sections")
    p.add_argument(
        "--root",
        default=DEFAULT_ROOT,
        help=f"folder for artifacts, ML Metadata, staged data and logs (default: {DEFAULT_ROOT})",
    )
    p.add_argument("--serving-dir", help="where the Pusher writes (default: ROOT/serving)")
    p.add_argument(
        "--beam-arg",
        action="append",
        default=[],
        metavar="ARG",
        help="a Beam pipeline argument, repeatable (e.g. --beam-arg=--direct_num_workers=2)",
    )
    p.add_argument("--baseline", action="store_true", help="the stock TFX variant, no guards")
    p.add_argument("--train-steps", type=int, default=200)
    p.add_argument("--eval-steps", type=int, default=20)
    p.add_argument("--verbose", action="store_true", help="show TFX's full log on the console")
    p.set_defaults(func=_run_command)


def _load_config(path: str | None) -> dict:
    if not path:
        return {}
    import yaml

    try:
        with open(path) as f:
            config = yaml.safe_load(f) or {}
    except OSError as e:
        raise UsageError(f"--config {path}: {e.strerror}") from e
    except yaml.YAMLError as e:
        raise UsageError(f"--config {path}: not valid YAML ({e})") from e
    if not isinstance(config, dict):
        raise UsageError(f"--config {path}: expected a mapping of sections")
    unknown = set(config) - {"transform", "trainer", "data_guard", "gate"}
    if unknown:
        raise UsageError(
            f"--config {path}: unknown section(s) {sorted(unknown)}; "
            "allowed: transform, trainer, data_guard, gate"
        )
    try:
        _validate_config(config)
    except (ValueError, TypeError) as e:
        raise UsageError(f"--config {path}: {e}") from e
    return config


def _validate_config(config: dict) -> None:
    """Checks every section with its component's own validator, before anything runs."""
    from nanguard.components.data_guard import DataGuardPolicy
    from nanguard.components.gate import FinitePredictionGateSpec
    from nanguard.components.trainer import TrainerConfig
    from nanguard.components.transform.preprocessing import resolve_config

    guard = dict(config.get("data_guard") or {})
    guard.pop("mode", None)  # validated by DataGuard itself, together with the policy
    DataGuardPolicy.from_dict(guard)
    # A section that names a team's own function is that function's config, not nanguard's.
    transform = dict(config.get("transform") or {})
    if "preprocessing_fn" not in transform:
        resolve_config(transform)
    trainer = dict(config.get("trainer") or {})
    if "run_fn" not in trainer:
        TrainerConfig.from_dict(trainer)
    gate = config.get("gate") or {}
    unknown = set(gate) - set(FinitePredictionGateSpec.PARAMETERS) | ({"label_key"} & set(gate))
    if unknown:
        raise ValueError(f"gate: unknown key(s) {sorted(unknown)} (the label comes from --label)")


@contextlib.contextmanager
def _stage_lines(out):
    """Prints one line per component as LocalDagRunner launches it: started, finished, seconds.

    TFX's own "Component X is running" log lines cannot be relied on (a component may lower the
    absl verbosity mid-run), so the launcher's `launch` is timed directly. Yields the list of
    `(component, seconds)` of the components that finished.
    """
    from tfx.orchestration.portable import launcher

    original, stages = launcher.Launcher.launch, []

    def timed_launch(self, *args, **kwargs):
        name = self._pipeline_node.node_info.id
        out.write(f"  {name:<22} started\n")
        start = time.monotonic()
        result = original(self, *args, **kwargs)
        stages.append((name, time.monotonic() - start))
        out.write(f"  {name:<22} finished in {stages[-1][1]:6.1f} s\n")
        return result

    launcher.Launcher.launch = timed_launch
    try:
        yield stages
    finally:
        launcher.Launcher.launch = original


@contextlib.contextmanager
def _quiet_console(log_path: str, verbose: bool):
    """Sends everything (Python logging, TF's C++ log, prints) to `log_path`; yields a console.

    With `verbose`, nothing is redirected. The console stream yielded writes to the real terminal.
    """
    os.makedirs(os.path.dirname(log_path), exist_ok=True)
    file_handler = logging.FileHandler(log_path)
    file_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(file_handler)
    root.setLevel(logging.INFO)
    logging.captureWarnings(True)
    if verbose:
        console = sys.stdout
        try:
            yield console
        finally:
            root.removeHandler(file_handler)
        return
    sys.stdout.flush()
    sys.stderr.flush()
    saved_out, saved_err = os.dup(1), os.dup(2)
    console = os.fdopen(os.dup(saved_out), "w", buffering=1)
    log_fd = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    quiet = []
    for h in root.handlers:
        if h is not file_handler:
            quiet.append((h, h.level))
            h.setLevel(logging.CRITICAL + 1)
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    try:
        yield console
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved_out, 1)
        os.dup2(saved_err, 2)
        for fd in (saved_out, saved_err, log_fd):
            os.close(fd)
        for h, level in quiet:
            h.setLevel(level)
        root.removeHandler(file_handler)


def _run_command(args) -> int:
    from nanguard.pipelines import data as data_lib

    config = _load_config(args.config)
    # The curated penguins schema goes with the bundled data; other data without --schema gets
    # an inferred, hardened schema.
    schema = args.schema or (None if args.data else _default_schema())
    if schema is not None and not os.path.isfile(schema):
        raise UsageError(f"--schema {schema}: no such file")
    root = os.path.abspath(args.root)
    serving_dir = os.path.abspath(args.serving_dir or os.path.join(root, "serving"))

    from nanguard.pipelines import local_runner

    layout = local_runner.Layout(root=root, serving_dir=serving_dir)
    try:
        table = data_lib.read_csv(args.data or data_lib.bundled_penguins_csv())
    except data_lib.InputError as e:
        raise UsageError(str(e)) from e
    if args.label not in table.column_names:
        raise UsageError(
            f"--label {args.label}: not a column of the data (columns: {table.column_names})"
        )
    try:
        layout.claim()
    except local_runner.RootError as e:
        raise UsageError(str(e)) from e
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    data_root = data_lib.write_staged(table, layout.new_staging_dir(stamp))
    log_path = os.path.join(layout.log_dir, f"run-{stamp}.log")
    variant = "baseline (stock TFX)" if args.baseline else "guarded"
    print(f"nanguard run: {variant} pipeline, log in {log_path}", flush=True)
    before = local_runner.max_artifact_id(layout.metadata_path)
    with _quiet_console(log_path, args.verbose) as console, _stage_lines(console):
        try:
            pipeline = local_runner.build(
                layout,
                pipeline_name="nanguard-baseline" if args.baseline else "nanguard",
                data_root=data_root,
                schema_path=schema and os.path.abspath(schema),
                label_key=args.label,
                beam_pipeline_args=args.beam_arg,
                baseline=args.baseline,
                config=config,
                train_steps=args.train_steps,
                eval_steps=args.eval_steps,
            )
        except (ValueError, TypeError) as e:
            logging.exception("The pipeline could not be built")
            bad_config = e
        else:
            bad_config = None
            try:
                local_runner.run(pipeline)
                error = None
            except Exception as e:  # noqa: BLE001 - reported below with the log's path
                logging.exception("The pipeline failed")
                error = e
    if bad_config is not None:
        flag = f"--config {args.config}" if args.config else "the pipeline's arguments"
        raise UsageError(f"{flag}: {bad_config}")
    return _report(layout, before, error, log_path)


def _blocked_by(error: BaseException | None):
    from nanguard.components.errors import GuardBlockedError

    while error is not None:
        if isinstance(error, GuardBlockedError):
            return error
        error = error.__cause__ or error.__context__
    return None


def _summary_lines(metadata_path: str, before: int) -> list[str]:
    """One line per guard, read back from the artifacts this run wrote (absent ones skipped)."""
    import json

    from nanguard.pipelines import local_runner as lr

    def properties(type_name: str, marker: str) -> dict | None:
        """Custom properties of this run's newest `type_name` artifact that has `marker`."""
        for artifact in lr.artifacts(metadata_path, type_name, before):
            if marker in artifact.custom_properties:
                return {k: lr.custom_property(artifact, k) for k in artifact.custom_properties}
        return None

    def report(type_name: str, file_name: str) -> dict | None:
        """A JSON report that a component wrote into this run's newest `type_name` artifact."""
        artifact = lr.latest_artifact(metadata_path, type_name, before)
        path = artifact and os.path.join(artifact.uri, file_name)
        if not path or not os.path.exists(path):
            return None
        with open(path) as f:
            return json.load(f)

    lines = []
    if guard := properties("ExampleAnomalies", "num_rows"):
        verdict = "pass" if guard["blessed"] == 1 else f"{guard['num_violations']} violation(s)"
        lines.append(
            f"  data guard   {guard['num_rows']} rows: {guard['num_missing']} missing, "
            f"{guard['num_nan']} NaN, {guard['num_pos_inf']} +Inf, {guard['num_neg_inf']} -Inf, "
            f"{guard['num_huge']} huge; {verdict}"
        )
    if record := report("TransformGraph", "nanguard_transform_record.json"):
        chosen = ", ".join(
            f"{name}={f.get('chosen') or f.get('strategy')}"
            for name, f in sorted(record.get("features", {}).items())
        )
        lines.append(f"  transform    imputation: {chosen}")
    if health := report("ModelRun", "nanguard_training_health.json"):
        lines.append(
            f"  trainer      status {health.get('status')}, "
            f"{len(health.get('nonfinite_events', []))} non-finite event(s), "
            f"{len(health.get('epochs', []))} epoch(s)"
        )
    if gate := properties("ModelBlessing", "probes_failed"):
        verdict = "blessed" if gate["blessed"] == 1 else f"NOT blessed ({gate['blessing_message']})"
        lines.append(
            f"  gate         {gate['examples']} examples, {gate['non_finite']} non-finite, "
            f"{gate['probes_failed']} probe(s) failed: {verdict}"
        )
    return lines


def _report(layout, before: int, error: BaseException | None, log_path: str) -> int:
    from nanguard.pipelines import local_runner

    summary = _summary_lines(layout.metadata_path, before)
    if summary:
        print("Summary", *summary, sep="\n")
    blocked = _blocked_by(error)
    if blocked is not None:
        print(f"BLOCKED: {blocked}\nNothing was pushed. Log: {log_path}")
        return EXIT_BLOCKED
    if error is not None:
        print(f"FAILED: {type(error).__name__}: {error}\nLog: {log_path}", file=sys.stderr)
        return EXIT_ERROR
    pushed = local_runner.latest_artifact(layout.metadata_path, "PushedModel", before)
    if local_runner.custom_property(pushed, "pushed") == 1:
        destination = local_runner.custom_property(pushed, "pushed_destination")
        print(f"Pushed model: {destination}")
        return EXIT_OK
    blessing = local_runner.latest_artifact(layout.metadata_path, "ModelBlessing", before)
    reason = local_runner.custom_property(blessing, "blessing_message") or (
        "the model was not blessed" if blessing is not None else "no Pusher output found"
    )
    print(f"BLOCKED: {reason}; nothing was pushed. Log: {log_path}")
    return EXIT_BLOCKED


def _add_compile_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "compile",
        help="compile the pipeline for Vertex AI Pipelines or Kubeflow Pipelines (offline)",
        description="Writes the pipeline spec with KubeflowV2DagRunner; submits nothing.",
    )
    p.add_argument("--target", required=True, choices=["vertex", "kubeflow"])
    p.add_argument("--image", required=True, help="container image with nanguard installed")
    p.add_argument("--root", required=True, help="pipeline root URI, e.g. gs://bucket/root")
    p.add_argument("--data", required=True, help="URI of a folder of CSVs (empty cell = missing)")
    p.add_argument("--output", required=True, help="file to write (.json or .yaml)")
    p.add_argument("--serving-dir", help="push destination (default: ROOT/serving)")
    p.add_argument("--schema", help="schema URI inside the image or in storage")
    p.add_argument("--label", default="species")
    p.add_argument("--config", help="YAML: data_guard, transform, trainer, gate sections")
    p.add_argument("--name", default="nanguard", help="pipeline name ([a-z0-9][a-z0-9-]*)")
    p.add_argument("--beam-arg", action="append", default=[], metavar="ARG")
    p.add_argument("--train-steps", type=int, default=200)
    p.add_argument("--eval-steps", type=int, default=20)
    p.set_defaults(func=_compile_command)


def _compile_command(args) -> int:
    import re

    if not re.fullmatch(r"[a-z0-9][a-z0-9-]*", args.name):
        raise UsageError(f"--name {args.name!r}: must match [a-z0-9][a-z0-9-]* (Kubeflow's rule)")
    config = _load_config(args.config)
    from nanguard.pipelines import kubeflow_runner

    extra = {"schema_path": args.schema} if args.schema else {}
    try:
        job = kubeflow_runner.compile_pipeline(
            target=args.target,
            image=args.image,
            pipeline_root=args.root,
            data_root=args.data,
            serving_model_dir=args.serving_dir or args.root.rstrip("/") + "/serving",
            output=args.output,
            pipeline_name=args.name,
            beam_pipeline_args=args.beam_arg,
            label_key=args.label,
            config=config,
            train_steps=args.train_steps,
            eval_steps=args.eval_steps,
            **extra,
        )
    except (ValueError, TypeError) as e:  # a config value that only create_pipeline can judge
        raise UsageError(f"--config {args.config}: {e}" if args.config else str(e)) from e
    tasks = sorted(job["pipelineSpec"]["root"]["dag"]["tasks"])
    print(f"Wrote {args.output} ({args.target}): {len(tasks)} tasks: {', '.join(tasks)}")
    return EXIT_OK


# Subcommands that live with their component; their modules import TensorFlow, so they are only
# loaded when asked for (or for the full --help).
_COMPONENT_COMMANDS = {
    "scan": "nanguard.components.data_guard.cli",
    "harden-schema": "nanguard.components.data_guard.cli",
    "check-model": "nanguard.components.gate.cli",
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The argument parser; `command` (the first argument) limits which modules are imported."""
    import importlib

    parser = argparse.ArgumentParser(
        prog="nanguard", description="TFX components that keep NaN and Inf out of models."
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_run_parser(subparsers)
    _add_compile_parser(subparsers)
    if command in ("run", "compile"):
        return parser
    modules = {_COMPONENT_COMMANDS[command]} if command in _COMPONENT_COMMANDS else None
    for module in dict.fromkeys(modules or _COMPONENT_COMMANDS.values()):
        importlib.import_module(module).add_parsers(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if "--verbose" not in argv:
        # TensorFlow's C++ start-up chatter and the Google client libraries' Python 3.10
        # FutureWarnings say nothing about the run; --verbose keeps them.
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        warnings.filterwarnings("ignore", category=FutureWarning)
    args = build_parser(argv[0] if argv else None).parse_args(argv)
    try:
        return args.func(args)
    except UsageError as e:
        print(f"nanguard {args.command}: {e}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
