"""The Kubeflow/Vertex commands: `nanguard compile` writes the spec, `nanguard launch SPEC` runs a
compiled Vertex JSON or Kubeflow YAML here, task by task.

In `launch`, each task's command runs as compiled, in a subprocess, or with `--containers` in a
container of its compiled image (podman, network off). See `launcher` for what this proves and
what it does not. Imports nothing heavy: the parsers are built for `nanguard --help`.
"""

from __future__ import annotations

import subprocess
import sys

from nanguard.components.vocab import EXIT_OK
from nanguard.pipelines import cli_flags

# Rootless podman on these machines: crun refuses hybrid cgroups, and raising the file and
# process limits past the user's is not permitted (both seen here; see the README).
PODMAN_GLOBAL_ARGS = ("--runtime", "runc", "--cgroup-manager", "cgroupfs")
PODMAN_RUN_ARGS = ("--ulimit", "nofile=1024:1024", "--ulimit", "nproc=4096:4096")


def add_parsers(subparsers) -> None:
    _add_compile_parser(subparsers)
    p = subparsers.add_parser(
        "launch",
        help="run a compiled Vertex JSON / Kubeflow YAML here, task by task (local stand-in)",
        description="Walks the compiled spec's DAG and runs each task's command verbatim with "
        "the ExecutorInput a Vertex launcher would build (parameters of schema 2.0.0 or 2.1.0, "
        "input artifacts with their producers' metadata, output URIs under the root, the "
        "example gen's driver, importers). Tasks downstream of a failed one are skipped. No "
        "Cloud Storage, ML Metadata, resolvers or caching. Exit codes as `nanguard run`.",
    )
    p.add_argument("spec", metavar="SPEC", help="what `nanguard compile` wrote (.json or .yaml)")
    p.add_argument("--root", help="local pipeline root (default: the one compiled into SPEC)")
    p.add_argument("--run-id", help="folder under the root for this run (default: name-time-pid)")
    p.add_argument(
        "--containers",
        action="store_true",
        help="run each task in a container of its compiled image (podman, --network none); "
        "the root is mounted at the same path",
    )
    p.add_argument(
        "--volume",
        action="append",
        default=[],
        metavar="SRC:DST",
        help="with --containers: one more podman volume, repeatable (data outside the root)",
    )
    p.add_argument("--engine", default="podman", help="with --containers: the engine to call")
    p.set_defaults(func=_launch_command)


def container_runner(root: str, volumes: list[str], engine: str = "podman"):
    """A `launcher.Runner` running each command in a fresh container of the task's image.

    Network off; `root` (and each of `volumes`) mounted at the same path, so every artifact URI
    in the ExecutorInput is valid inside; the launcher's environment additions passed with -e.
    """

    def run(argv: list[str], env: dict[str, str], cwd: str, log: str, image: str) -> int:
        command = [engine, *PODMAN_GLOBAL_ARGS, "run", "--rm", "--network", "none"]
        command += [*PODMAN_RUN_ARGS, "-v", f"{root}:{root}", "-w", cwd]
        for volume in volumes:
            command += ["-v", volume]
        for key, value in sorted(env.items()):
            command += ["-e", f"{key}={value}"]
        with open(log, "a") as f:
            return subprocess.run([*command, image, *argv], stdout=f, stderr=f).returncode

    return run


def _report(run) -> None:
    line = f"  {run.name:<24} {run.state:<9}"
    if run.state != "SKIPPED":
        line += f" {run.seconds:7.1f} s"
    if run.state == "FAILED":
        line += f"  exit {run.exit_code}"
    print(line, flush=True)
    for text in run.message:
        print(f"      {text}", flush=True)
    if run.state == "FAILED":
        if not run.message:  # no termination message: the end of the log says what happened
            with open(run.log, errors="replace") as f:
                for text in f.read().splitlines()[-5:]:
                    print(f"      | {text}", flush=True)
        print(f"      log: {run.log}", flush=True)


def _launch_command(args) -> int:
    from nanguard.components.errors import InputError
    from nanguard.pipelines import launcher

    spec = launcher.load_spec(args.spec, args.root)
    if args.containers:
        try:
            subprocess.run([args.engine, "--version"], capture_output=True, check=True)
        except (OSError, subprocess.CalledProcessError) as e:
            raise InputError(f"--containers: {args.engine} cannot run here ({e})") from e
        runner = container_runner(spec.root, args.volume, args.engine)
    else:
        runner = launcher.process_runner
    run = launcher.Launcher(spec, runner, run_id=args.run_id)
    where = "in containers" if args.containers else "in subprocesses"
    print(
        f"nanguard launch: {spec.name} (schema {spec.schema_version}), {len(spec.tasks)} tasks "
        f"{where}, under {run.run_dir}",
        flush=True,
    )
    code, last = launcher.outcome(run.run(_report))
    print(last, file=sys.stderr if code == 1 else sys.stdout)
    return code


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
    p.add_argument("--name", default="nanguard", help="pipeline name ([a-z0-9][a-z0-9-]*)")
    p.add_argument(
        "--spec-version",
        choices=["2.0", "2.1"],
        help="pipeline spec schema (default: 2.1 for kubeflow, which KFP's backend needs; "
        "2.0 for vertex, which takes both)",
    )
    p.add_argument(
        "--drift-baseline",
        metavar="URI",
        help="a DataGuard output (ExampleAnomalies URI) of a pushed run: imported, and every "
        "split's missing/NaN/Inf rates are compared with it",
    )
    cli_flags.add_pipeline_flags(p)
    p.set_defaults(func=_compile_command)


def _compile_command(args) -> int:
    import re

    if not re.fullmatch(r"[a-z0-9][a-z0-9-]*", args.name):
        from nanguard.components.errors import InputError

        raise InputError(f"--name {args.name!r}: must match [a-z0-9][a-z0-9-]* (Kubeflow's rule)")
    config = cli_flags.load_config(args)
    # `task: auto` is decided from --data when it can be read here, else from the schema's
    # label type (the image ships the bundled one); else exit 2 asking for `task:`.
    config = config.with_task(schema_path=args.schema or cli_flags.default_schema(), data=args.data)
    from nanguard.pipelines import kubeflow_runner

    extra = {"schema_path": args.schema} if args.schema else {}
    if args.drift_baseline:
        extra["drift_baseline_uri"] = args.drift_baseline
    job = kubeflow_runner.compile_pipeline(
        target=args.target,
        image=args.image,
        pipeline_root=args.root,
        data_root=args.data,
        serving_model_dir=args.serving_dir or args.root.rstrip("/") + "/serving",
        output=args.output,
        pipeline_name=args.name,
        beam_pipeline_args=args.beam_arg,
        spec_version=args.spec_version,
        config=config,
        **extra,
    )
    tasks = sorted(job["pipelineSpec"]["root"]["dag"]["tasks"])
    print(f"Wrote {args.output} ({args.target}): {len(tasks)} tasks: {', '.join(tasks)}")
    return EXIT_OK
