"""`nanguard launch SPEC`: runs a compiled Vertex JSON or Kubeflow YAML here, task by task.

Each task's command runs as compiled, in a subprocess, or with `--containers` in a container of
its compiled image (podman, network off). See `launcher` for what this proves and what it does
not. Imports nothing heavy: the parser is built for `nanguard --help`.
"""

from __future__ import annotations

import subprocess
import sys

# Rootless podman on these machines: crun refuses hybrid cgroups, and raising the file and
# process limits past the user's is not permitted (both seen here; see the README).
PODMAN_GLOBAL_ARGS = ("--runtime", "runc", "--cgroup-manager", "cgroupfs")
PODMAN_RUN_ARGS = ("--ulimit", "nofile=1024:1024", "--ulimit", "nproc=4096:4096")


def add_parsers(subparsers) -> None:
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
