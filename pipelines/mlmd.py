"""What ML Metadata records of a run, read with its own client (no TensorFlow, no TFX).

TFX's IR-based runners record each run as a `pipeline_run` context and each component as a
`node` context; an execution's output artifacts are found through its OUTPUT events. A failed
execution keeps its traceback in `__execution_result__` when the executor returned one; an
executor that raised leaves none, so the run's log is read instead (`error_from_logs`).
`run_record.read_run` builds a run's record from these.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import re
from collections.abc import Iterator, Mapping
from typing import Any

from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2

from nanguard.components.errors import InputError

# ML Metadata context types TFX's IR-based runners record (tfx/dsl/compiler/constants.py).
PIPELINE_RUN_CONTEXT = "pipeline_run"
NODE_CONTEXT = "node"
# Set by TFX on executions (tfx/orchestration/portable/mlmd/execution_lib.py, outputs_utils.py).
EXECUTION_RESULT = "__execution_result__"
_STATES = metadata_store_pb2.Execution.State


@dataclasses.dataclass(frozen=True)
class Stage:
    """One execution of the run: its node id, state (COMPLETE, FAILED, ...), seconds, error."""

    node: str
    execution_id: int
    state: str
    seconds: float
    error: str = ""


@dataclasses.dataclass(frozen=True)
class Output:
    """One output artifact: its URI and custom properties (plain values).

    `published` is False for the kept copy of a guard that failed the run (no MLMD artifact).
    """

    node: str
    key: str
    uri: str
    properties: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    published: bool = True


def store(metadata_path: str) -> metadata_store.MetadataStore:
    config = metadata_store_pb2.ConnectionConfig()
    config.sqlite.filename_uri = metadata_path
    config.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READONLY
    return metadata_store.MetadataStore(config)


def run_contexts(store) -> list:
    contexts = store.get_contexts_by_type(PIPELINE_RUN_CONTEXT)
    return sorted(contexts, key=lambda c: (c.create_time_since_epoch, c.id))


def run_ids(metadata_path: str) -> list[str]:
    """The run ids ML Metadata records (TFX's pipeline_run contexts), oldest first."""
    if not os.path.exists(metadata_path):
        return []
    return [c.name for c in run_contexts(store(metadata_path))]


def latest_run(metadata_path: str) -> str:
    """The newest run id (InputError if the store holds none)."""
    if not os.path.exists(metadata_path):
        raise InputError(f"{metadata_path}: no ML Metadata here; pass the root of a nanguard run")
    runs = run_ids(metadata_path)
    if not runs:
        raise InputError(f"{metadata_path}: ML Metadata records no run yet")
    return runs[-1]


def value_of(value: metadata_store_pb2.Value) -> Any:
    """An MLMD property value as a plain int, string or float."""
    kind = value.WhichOneof("value")
    return getattr(value, kind) if kind else None


def custom_property(artifact: metadata_store_pb2.Artifact | None, name: str) -> Any:
    """A custom property's value (int, string or float), or None."""
    if artifact is None or name not in artifact.custom_properties:
        return None
    return value_of(artifact.custom_properties[name])


def artifacts(metadata_path: str, type_name: str) -> list[metadata_store_pb2.Artifact]:
    """Every artifact of `type_name` in the store, newest first (any run, any runner)."""
    if not os.path.exists(metadata_path):
        return []
    return sorted(store(metadata_path).get_artifacts_by_type(type_name), key=lambda a: -a.id)


def read_executions(store, context) -> tuple[list[Stage], dict, dict]:
    """(stages, outputs {node: {key: [Output]}}, execution properties {node: {name: value}})."""
    node_type = store.get_context_type(NODE_CONTEXT).id
    stages, outputs, properties = [], {}, {}
    for execution in sorted(store.get_executions_by_context(context.id), key=lambda e: e.id):
        nodes = [
            c.name.split(".", 1)[-1]
            for c in store.get_contexts_by_execution(execution.id)
            if c.type_id == node_type
        ]
        node = nodes[0] if nodes else str(execution.id)
        props = execution.custom_properties
        error = props[EXECUTION_RESULT].string_value if EXECUTION_RESULT in props else ""
        seconds = (execution.last_update_time_since_epoch - execution.create_time_since_epoch) / 1e3
        stages.append(
            Stage(
                node=node,
                execution_id=execution.id,
                state=_STATES.Name(execution.last_known_state),
                seconds=max(0.0, seconds),
                error=error_line(error) if error else "",
            )
        )
        properties[node] = {k: value_of(v) for k, v in props.items() if k != EXECUTION_RESULT}
        events = [
            e
            for e in store.get_events_by_execution_ids([execution.id])
            if e.type == metadata_store_pb2.Event.OUTPUT
        ]
        found = {a.id: a for a in store.get_artifacts_by_id([e.artifact_id for e in events])}
        for event in events:
            key = event.path.steps[0].key if event.path.steps else ""
            artifact = found[event.artifact_id]
            output = Output(
                node=node,
                key=key,
                uri=artifact.uri,
                properties={k: value_of(v) for k, v in artifact.custom_properties.items()},
            )
            outputs.setdefault(node, {}).setdefault(key, []).append(output)
    return stages, outputs, properties


def error_line(result_json: str) -> str:
    """The exception line(s) at the end of the traceback TFX stores as the execution result."""
    try:
        message = json.loads(result_json).get("resultMessage", "")
    except ValueError:
        message = result_json
    # The last "SomeError: message" line starts the final exception; keep it and what follows.
    matches = list(re.finditer(r"^[\w.]*(?:Error|Exception|Exit)\b.*$", message, re.M))
    return message[matches[-1].start() :].strip() if matches else message.strip()[-2000:]


def error_from_logs(log_dir: str | None, run_id: str) -> str:
    """The last exception line of the newest log in `log_dir` that mentions `run_id` ("" if none).

    TFX stores no message for an executor that raised (only for a non-zero ExecutorOutput), so
    for local runs the reason is read from the run's log, which holds the traceback.
    """
    if not log_dir or not os.path.isdir(log_dir):
        return ""
    logs = [os.path.join(log_dir, n) for n in os.listdir(log_dir) if n.endswith(".log")]
    for path in sorted(logs, key=os.path.getmtime, reverse=True):
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
        if run_id in text:
            lines = re.findall(r"^[\w.]*(?:Error|Exception)\b: .*$", text, re.M)
            return lines[-1] if lines else ""
    return ""


@contextlib.contextmanager
def quiet(*names: str) -> Iterator[None]:
    """Silences INFO/WARNING of these loggers (ML Metadata's connection lines, TFMA's notes)."""
    loggers = [logging.getLogger(n) for n in names]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)
