"""A run written into a real ML Metadata store as TFX's IR-based runners record it (pipeline_run
and node contexts, executions, OUTPUT events), with guard files built by hand: for testing
`run_record` without running a pipeline."""

from __future__ import annotations

import json
import os

from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2

from nanguard.components import vocab
from nanguard.components.violations import to_json

_STATES = metadata_store_pb2.Execution.State


def _value(target, value) -> None:
    if isinstance(value, bool) or isinstance(value, int):
        target.int_value = int(value)
    elif isinstance(value, float):
        target.double_value = value
    else:
        target.string_value = value


class FakeStore:
    """A writable ML Metadata SQLite store under `root/metadata.sqlite`."""

    def __init__(self, root):
        self.root = str(root)
        os.makedirs(self.root, exist_ok=True)
        self.path = os.path.join(self.root, "metadata.sqlite")
        self.pipeline_root = os.path.join(self.root, "pipeline")
        config = metadata_store_pb2.ConnectionConfig()
        config.sqlite.filename_uri = self.path
        config.sqlite.connection_mode = (
            metadata_store_pb2.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
        )
        self.store = metadata_store.MetadataStore(config)
        self.run_type = self.store.put_context_type(
            metadata_store_pb2.ContextType(name="pipeline_run")
        )
        self.node_type = self.store.put_context_type(metadata_store_pb2.ContextType(name="node"))
        self.exec_type = self.store.put_execution_type(metadata_store_pb2.ExecutionType(name="X"))
        self.artifact_type = self.store.put_artifact_type(metadata_store_pb2.ArtifactType(name="A"))
        self.time = 1_000_000

    def run(self, run_id: str) -> FakeRun:
        context = metadata_store_pb2.Context(type_id=self.run_type, name=run_id)
        [context_id] = self.store.put_contexts([context])
        return FakeRun(self, context_id)


class FakeRun:
    def __init__(self, fake: FakeStore, context_id: int):
        self.fake, self.context_id = fake, context_id

    def execution(self, node, state="COMPLETE", outputs=None, properties=None):
        """Records `node`'s execution; `outputs`: {key: (uri, {custom properties})}.

        Returns the execution id."""
        fake = self.fake
        fake.time += 10_000
        execution = metadata_store_pb2.Execution(
            type_id=fake.exec_type,
            last_known_state=_STATES.Value(state),
            create_time_since_epoch=fake.time,
        )
        for name, value in (properties or {}).items():
            _value(execution.custom_properties[name], value)
        artifacts, events = [], []
        for key, (uri, props) in (outputs or {}).items():
            artifact = metadata_store_pb2.Artifact(type_id=fake.artifact_type, uri=uri)
            for name, value in props.items():
                _value(artifact.custom_properties[name], value)
            event = metadata_store_pb2.Event(type=metadata_store_pb2.Event.OUTPUT)
            event.path.steps.add().key = key
            event.path.steps.add().index = 0
            artifacts.append(artifact)
            events.append(event)
        node_ctx = metadata_store_pb2.Context(type_id=fake.node_type, name=f"nanguard.{node}")
        existing = fake.store.get_context_by_type_and_name("node", f"nanguard.{node}")
        [run_context] = fake.store.get_contexts_by_id([self.context_id])
        contexts = [run_context]
        contexts.append(existing if existing is not None else node_ctx)
        pairs = list(zip(artifacts, events, strict=True))
        execution_id, _, _ = fake.store.put_execution(execution, pairs, contexts)
        return execution_id


def guard_profile(splits, violations=None, blessed=None, label_key="species") -> dict:
    """A data_guard_profile.json document: splits {split: {rows, features, violations,
    label_missing}}; `violations` (Violation records) at the top when given."""
    totals = {
        "num_rows": 0, "num_missing": 0, "num_nan": 0, "num_pos_inf": 0, "num_neg_inf": 0,
        "num_huge": 0, "num_violations": 0, "num_label_missing": 0,
    }  # fmt: skip
    for split in splits.values():
        split.setdefault("violations", [])
        split.setdefault("label_missing", 0)
        totals["num_rows"] += split["rows"]
        totals["num_label_missing"] += split["label_missing"]
        for feature in split["features"].values():
            for k in ("missing", "nan", "pos_inf", "neg_inf", "huge"):
                feature.setdefault(k, 0)
                totals[f"num_{k}"] += feature[k]
    totals["num_violations"] = (
        len(violations)
        if violations is not None
        else sum(len(s["violations"]) for s in splits.values())
    )
    document = {
        "blessed": (totals["num_violations"] == 0) if blessed is None else blessed,
        "label_key": label_key,
        "policy": {},
        "totals": totals,
        "splits": splits,
    }
    if violations is not None:
        document["violations"] = json.loads(to_json(violations))
    return document


def gate_report(blessed=True, non_finite=0, probes_failed=(), reasons=(), evaluation=None):
    return {
        "examples": 80, "non_finite": non_finite, "nan": non_finite, "pos_inf": 0,
        "neg_inf": 0, "probes_run": 20, "probes_failed": list(probes_failed),
        "blessed": blessed, "reasons": list(reasons), "outputs": {}, "task": "classification",
        "evaluation": evaluation,
    }  # fmt: skip


def write_json(folder, name, document) -> str:
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name), "w", encoding="utf-8") as f:
        f.write(vocab.dumps(document))
    return str(folder)
