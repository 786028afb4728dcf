"""A local stand-in for the Vertex / Kubeflow launcher: runs a compiled spec task by task.

`nanguard compile` writes a Vertex PipelineJob JSON or a Kubeflow pipeline-spec YAML. This module
reads either, walks its DAG in topological order and, for each task, does what the launcher of
Vertex AI Pipelines (and the KFP v2 driver and launcher) does around a container:

- builds the task's ExecutorInput: its parameters as the spec's schema writes them (2.0.0:
  `runtimeValue.constantValue` -> `inputs.parameters`; 2.1.0: `runtimeValue.constant` ->
  `inputs.parameterValues`), its input artifacts as their producers left them (name, type, URI
  and the metadata of the producer's ExecutorOutput), its output artifacts with a new artifact
  name and a URI `ROOT/RUN/TASK/KEY`, and `outputs.outputFile` `ROOT/RUN/TASK/executor_output.json`;
- runs a container's `lifecycle.preCacheCheck` (the example gen's driver) first, and hands the
  executor the driver's ExecutorOutput file and the metadata it set on the outputs;
- resolves an importer task itself (no container), as the launcher does;
- runs the task's command and args verbatim, `{{$}}` replaced by the ExecutorInput JSON, through
  a `Runner` (a subprocess here, or a container: `kubeflow_cli`);
- skips every task downstream of one that failed; independent tasks still run (Vertex's default
  failure policy).

What it does not do: no Cloud Storage (the root is a local folder), no ML Metadata (artifact
names are made up; an importer with `reimport: false` finds an artifact of the same URI only in
the ExecutorOutput files of earlier runs under the same root), no resolver tasks, no caching, no
conditions, loops or runtime placeholders other than `{{$}}`. Imports nothing heavy.
"""

from __future__ import annotations

import dataclasses
import datetime
import glob
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import yaml

from nanguard.components import vocab
from nanguard.components.errors import InputError

PLACEHOLDER = "{{$}}"
EXECUTOR_OUTPUT = "executor_output.json"
TERMINATION_LOG = "termination-log"
TASK_LOG = "task.log"
NAME_PREFIX = "projects/local/locations/local/metadataStores/default/artifacts/"

# runner(argv, env, cwd, log_path, image) -> exit code; env holds only what the launcher adds,
# image is the task's compiled `container.image`.
Runner = Callable[[list[str], dict[str, str], str, str, str], int]


@dataclasses.dataclass(frozen=True)
class Spec:
    """What the launcher needs of a compiled pipeline."""

    name: str
    schema_version: str
    root: str
    tasks: dict[str, Any]
    components: dict[str, Any]
    executors: dict[str, Any]
    runtime_parameters: dict[str, Any]


@dataclasses.dataclass
class TaskRun:
    """One task's outcome: SUCCEEDED, FAILED or SKIPPED, and what it produced."""

    name: str
    state: str
    exit_code: int | None = None
    seconds: float = 0.0
    log: str = ""
    message: list[str] = dataclasses.field(default_factory=list)
    outputs: dict[str, list[dict]] = dataclasses.field(default_factory=dict)


def load_spec(path: str, root: str | None = None) -> Spec:
    """Reads a Vertex PipelineJob JSON or a Kubeflow pipeline-spec YAML (InputError if neither).

    The pipeline root is `root`, else the job's `runtimeConfig.gcsOutputDirectory`, else the
    spec's `defaultPipelineRoot`; it must be a local folder.
    """
    try:
        with open(path) as f:
            data = yaml.safe_load(f)  # JSON is YAML
    except (OSError, yaml.YAMLError) as e:
        raise InputError(f"SPEC {path}: cannot be read ({e})") from e
    if not isinstance(data, dict):
        raise InputError(f"SPEC {path}: not a pipeline spec (expected a mapping)")
    spec = data.get("pipelineSpec", data)
    runtime = data.get("runtimeConfig") or {}
    if "root" not in spec or "deploymentSpec" not in spec:
        raise InputError(f"SPEC {path}: no root DAG or deploymentSpec; pass what compile wrote")
    root = root or runtime.get("gcsOutputDirectory") or spec.get("defaultPipelineRoot")
    if not root:
        raise InputError(f"SPEC {path}: names no pipeline root; pass --root DIR")
    if "://" in root:
        raise InputError(f"--root {root}: the local launcher writes only to a local folder")
    return Spec(
        name=spec.get("pipelineInfo", {}).get("name", "pipeline"),
        schema_version=spec.get("schemaVersion", "2.0.0"),
        root=os.path.abspath(root),
        tasks=spec["root"]["dag"]["tasks"],
        components=spec.get("components", {}),
        executors=spec["deploymentSpec"]["executors"],
        runtime_parameters={**runtime.get("parameters", {}), **runtime.get("parameterValues", {})},
    )


def upstream(task: dict) -> set[str]:
    """The tasks `task` waits for: its `dependentTasks` and the producers of its inputs."""
    names = set(task.get("dependentTasks", []))
    for kind in ("artifacts", "parameters"):
        for spec in task.get("inputs", {}).get(kind, {}).values():
            for ref in ("taskOutputArtifact", "taskOutputParameter"):
                if ref in spec:
                    names.add(spec[ref]["producerTask"])
    return names


def topological_order(tasks: dict[str, dict]) -> list[str]:
    """Task names, each after everything it waits for; ties by name (InputError on a cycle)."""
    waiting = {name: upstream(task) for name, task in tasks.items()}
    for name, deps in waiting.items():
        if deps - tasks.keys():
            raise InputError(f"task {name} waits for unknown tasks {sorted(deps - tasks.keys())}")
    order: list[str] = []
    while waiting:
        ready = sorted(n for n, deps in waiting.items() if not deps - set(order))
        if not ready:
            raise InputError(f"the DAG has a cycle among {sorted(waiting)}")
        order += ready
        for name in ready:
            del waiting[name]
    return order


def _legacy_value(value: Any) -> dict:
    """A JSON value as schema 2.0.0's `Value` (intValue / doubleValue / stringValue)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return {"stringValue": value if isinstance(value, str) else json.dumps(value)}
    return {"intValue": str(value)} if isinstance(value, int) else {"doubleValue": value}


def parameter_inputs(spec: Spec, name: str) -> dict[str, dict]:
    """The task's parameters as ExecutorInput.inputs carries them for the spec's schema."""
    legacy = spec.schema_version.startswith("2.0")
    values = {}
    for key, param in spec.tasks[name].get("inputs", {}).get("parameters", {}).items():
        if "runtimeValue" in param:
            runtime = param["runtimeValue"]
            if legacy and "constantValue" in runtime:
                values[key] = runtime["constantValue"]
            elif not legacy and "constant" in runtime:
                values[key] = runtime["constant"]
            else:  # what KFP's driver answers: "param runtime value spec ... not implemented"
                raise InputError(
                    f"task {name}, parameter {key}: {sorted(runtime)} is not a runtime value of "
                    f"schema {spec.schema_version}"
                )
        elif param.get("componentInputParameter") in spec.runtime_parameters:
            value = spec.runtime_parameters[param["componentInputParameter"]]
            values[key] = value if not legacy or isinstance(value, dict) else _legacy_value(value)
        else:
            raise InputError(f"task {name}, parameter {key}: {sorted(param)} is not supported")
    return {"parameters" if legacy else "parameterValues": values}


def _artifact(name: str, artifact_type: dict, uri: str, metadata: dict | None = None) -> dict:
    return {"name": name, "type": artifact_type, "uri": uri, "metadata": metadata or {}}


def _merged(given: dict, produced: dict | None) -> dict:
    """An output artifact as the launcher records it: the executor's URI and metadata win."""
    if not produced:
        return given
    metadata = {**given.get("metadata", {}), **produced.get("metadata", {})}
    return {**given, "uri": produced.get("uri") or given["uri"], "metadata": metadata}


def _read_output(path: str) -> dict:
    if not os.path.exists(path):
        return {}
    with open(path) as f:
        return json.load(f)


class Launcher:
    """Runs the tasks of `spec` under `ROOT/RUN/`, one `runner` call per command."""

    def __init__(self, spec: Spec, runner: Runner, run_id: str | None = None):
        self.spec, self.runner = spec, runner
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        self.run_id = run_id or f"{spec.name}-{stamp}-{os.getpid()}"
        self.run_dir = os.path.join(spec.root, self.run_id)
        self.runs: dict[str, TaskRun] = {}
        self._names = 0

    def _new_name(self) -> str:
        self._names += 1
        return f"{NAME_PREFIX}{self.run_id}-{self._names}"

    def _component(self, name: str) -> dict:
        ref = self.spec.tasks[name].get("componentRef", {}).get("name", "")
        component = self.spec.components.get(ref)
        if component is None or "executorLabel" not in component:
            raise InputError(f"task {name}: component {ref!r} is not a container or importer")
        return component

    def executor_input(self, name: str) -> dict:
        """The ExecutorInput (protobuf JSON) the launcher hands task `name`."""
        task, component = self.spec.tasks[name], self._component(name)
        inputs: dict[str, Any] = {**parameter_inputs(self.spec, name), "artifacts": {}}
        for key, ref in task.get("inputs", {}).get("artifacts", {}).items():
            if "taskOutputArtifact" not in ref:
                raise InputError(f"task {name}, input {key}: only task outputs are supported")
            out = ref["taskOutputArtifact"]
            produced = self.runs[out["producerTask"]].outputs.get(out["outputArtifactKey"])
            if not produced:
                raise InputError(f"task {name}, input {key}: {out} produced nothing")
            inputs["artifacts"][key] = {"artifacts": produced}
        task_dir = os.path.join(self.run_dir, name)
        outputs = {
            key: {
                "artifacts": [_artifact(self._new_name(), d["artifactType"], f"{task_dir}/{key}")]
            }
            for key, d in component.get("outputDefinitions", {}).get("artifacts", {}).items()
        }
        return {
            "inputs": inputs,
            "outputs": {
                "artifacts": outputs,
                "outputFile": os.path.join(task_dir, EXECUTOR_OUTPUT),
            },
        }

    def _command(self, container: dict, executor_input: dict) -> list[str]:
        argv = [*container.get("command", []), *container.get("args", [])]
        payload = json.dumps(executor_input, sort_keys=True)
        for arg in argv:
            if "{{$" in arg and arg != PLACEHOLDER:
                raise InputError(f"placeholder in {arg!r}: only {PLACEHOLDER} is supported")
        return [payload if arg == PLACEHOLDER else arg for arg in argv]

    def _exec(self, name: str, argv: list[str], log: str, image: str) -> int:
        task_dir = os.path.join(self.run_dir, name)
        env = {"NANGUARD_TERMINATION_LOG": os.path.join(task_dir, TERMINATION_LOG)}
        with open(log, "a") as f:
            f.write(f"$ {' '.join(a if len(a) < 200 else a[:200] + '...' for a in argv)}\n")
        return self.runner(argv, env, self.run_dir, log, image)

    def _import(self, name: str, importer: dict) -> dict[str, list[dict]]:
        """An importer task: the artifact at the spec's URI, reused if an earlier run made it."""
        uri_spec = importer.get("artifactUri", {})
        uri = uri_spec.get("constant", uri_spec.get("constantValue", {}).get("stringValue"))
        if not uri:
            raise InputError(f"task {name}: importer URI {uri_spec} is not a constant")
        artifact = _artifact(
            self._new_name(), importer["typeSchema"], uri, importer.get("metadata")
        )
        if not importer.get("reimport"):
            artifact = {**artifact, **self._earlier_artifact(uri), "type": importer["typeSchema"]}
        keys = list(self._component(name).get("outputDefinitions", {}).get("artifacts", {}))
        return {(keys or ["result"])[0]: [artifact]}

    def _earlier_artifact(self, uri: str) -> dict:
        pattern = os.path.join(self.spec.root, "*", "*", EXECUTOR_OUTPUT)
        for path in sorted(glob.glob(pattern)):
            for produced in _read_output(path).get("artifacts", {}).values():
                for artifact in produced.get("artifacts", []):
                    if artifact.get("uri", "").rstrip("/") == uri.rstrip("/"):
                        return {k: artifact[k] for k in ("name", "metadata") if k in artifact}
        return {}

    def run_task(self, name: str) -> TaskRun:
        """Runs task `name` (its upstream tasks have succeeded) and records what it produced."""
        task_dir = os.path.join(self.run_dir, name)
        os.makedirs(task_dir, exist_ok=True)
        log, start = os.path.join(task_dir, TASK_LOG), time.monotonic()
        executor = self.spec.executors[self._component(name)["executorLabel"]]
        if "importer" in executor:
            outputs = self._import(name, executor["importer"])
            return TaskRun(name, "SUCCEEDED", 0, time.monotonic() - start, log, outputs=outputs)
        if "container" not in executor:
            raise InputError(f"task {name}: executor {sorted(executor)} is not supported")
        container, executor_input = executor["container"], self.executor_input(name)
        given = {k: v["artifacts"] for k, v in executor_input["outputs"]["artifacts"].items()}
        for artifacts in given.values():  # Cloud Storage needs no folders; a local root does
            os.makedirs(artifacts[0]["uri"], exist_ok=True)
        with open(os.path.join(task_dir, "executor_input.json"), "w") as f:
            json.dump(executor_input, f, indent=1, sort_keys=True)
        code = 0
        hook = container.get("lifecycle", {}).get("preCacheCheck")
        if hook:
            code = self._exec(name, self._command(hook, executor_input), log, container["image"])
            driven = _read_output(executor_input["outputs"]["outputFile"]).get("artifacts", {})
            for key, artifacts in given.items():
                produced = driven.get(key, {}).get("artifacts", [None])[0]
                merged = _merged(artifacts[0], produced)
                executor_input["outputs"]["artifacts"][key]["artifacts"] = [merged]
        if code == 0:
            code = self._exec(
                name, self._command(container, executor_input), log, container["image"]
            )
        seconds = time.monotonic() - start
        if code != 0:
            path = os.path.join(task_dir, TERMINATION_LOG)
            message = open(path).read().splitlines() if os.path.exists(path) else []
            return TaskRun(name, "FAILED", code, seconds, log, message=message)
        produced = _read_output(executor_input["outputs"]["outputFile"]).get("artifacts", {})
        outputs = {}
        for key in given:
            artifact = executor_input["outputs"]["artifacts"][key]["artifacts"][0]
            outputs[key] = [
                _merged(artifact, (produced.get(key, {}).get("artifacts") or [None])[0])
            ]
        return TaskRun(name, "SUCCEEDED", 0, seconds, log, outputs=outputs)

    def run(self, report: Callable[[TaskRun], None] = lambda run: None) -> list[TaskRun]:
        """Runs every task in topological order; a task whose upstream did not succeed is
        SKIPPED. `report` is called after each task."""
        os.makedirs(self.run_dir, exist_ok=True)
        for name in topological_order(self.spec.tasks):
            failed = sorted(
                n for n in upstream(self.spec.tasks[name]) if self.runs[n].state != "SUCCEEDED"
            )
            if failed:
                run = TaskRun(
                    name, "SKIPPED", message=[f"upstream {', '.join(failed)} did not run"]
                )
            else:
                run = self.run_task(name)
            self.runs[name] = run
            report(run)
        return list(self.runs.values())


def process_runner(argv: list[str], env: dict[str, str], cwd: str, log: str, image: str) -> int:
    """Runs `argv` here (not in `image`), its stdout and stderr appended to `log`.

    `python` in a compiled command is this interpreter: its folder goes first on PATH.
    """
    path = os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")])
    with open(log, "a") as f:
        return subprocess.run(
            argv, env={**os.environ, "PATH": path, **env}, cwd=cwd, stdout=f, stderr=f
        ).returncode


def outcome(runs: list[TaskRun]) -> tuple[int, str]:
    """The exit code and last line of a launch, as `nanguard run` decides them.

    A task that exited 3 (a guard blocked): 3. Another failure: 1. All succeeded: 0 if an
    output artifact records `pushed: 1`, else 3 with the blessing's message.
    """
    if any(r.exit_code == vocab.EXIT_BLOCKED for r in runs):
        return vocab.EXIT_BLOCKED, "BLOCKED: a guard stopped the run; nothing was pushed."
    failed = [r.name for r in runs if r.state == "FAILED"]
    if failed:
        return vocab.EXIT_ERROR, f"FAILED: {', '.join(failed)}; see the task logs."
    artifacts = [a for r in runs for arts in r.outputs.values() for a in arts]
    for artifact in artifacts:
        if artifact.get("metadata", {}).get("pushed") == 1:
            return vocab.EXIT_OK, f"Pushed model: {artifact['metadata'].get('pushed_destination')}"
    if not any("pushed" in a.get("metadata", {}) for a in artifacts):
        return vocab.EXIT_OK, "The run finished (no Pusher output)."
    messages = [a["metadata"].get("blessing_message") for a in artifacts]
    reason = next((m for m in reversed(messages) if m), "the model was not blessed")
    return vocab.EXIT_BLOCKED, f"BLOCKED: {reason}; nothing was pushed."
