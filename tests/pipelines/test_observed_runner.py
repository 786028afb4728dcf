"""ObservedLocalDagRunner against TFX's own LocalDagRunner: the same pipeline, run by each into
its own ML Metadata, records the same executions in the same order with the same states and
outputs; the observed one also reports each component's start and finish, and a failure
propagates unchanged after it has been reported.

No `from __future__ import annotations` here: TFX's @component reads the annotations as types.
"""

import os

import pytest
from tfx import v1 as tfx
from tfx.types import standard_artifacts

from nanguard.pipelines import mlmd, run_record
from nanguard.pipelines.observed_runner import ObservedLocalDagRunner

OutputArtifact = tfx.dsl.components.OutputArtifact
InputArtifact = tfx.dsl.components.InputArtifact
Parameter = tfx.dsl.components.Parameter


@tfx.dsl.components.component
def Produce(  # noqa: N802 - a component's name
    text: Parameter[str], out: OutputArtifact[standard_artifacts.Examples]
) -> None:
    os.makedirs(out.uri, exist_ok=True)
    with open(os.path.join(out.uri, "data.txt"), "w") as f:
        f.write(text)


@tfx.dsl.components.component
def Consume(  # noqa: N802
    examples: InputArtifact[standard_artifacts.Examples],
    fail: Parameter[int],
    model: OutputArtifact[standard_artifacts.Model],
) -> None:
    if fail:
        raise ValueError("Consume was told to fail")
    with open(os.path.join(examples.uri, "data.txt")) as f:
        text = f.read()
    os.makedirs(model.uri, exist_ok=True)
    with open(os.path.join(model.uri, "model.txt"), "w") as f:
        f.write(text.upper())


def _pipeline(root, fail=0):
    produce = Produce(text="penguins")
    consume = Consume(examples=produce.outputs["out"], fail=fail)
    return tfx.dsl.Pipeline(
        pipeline_name="observed",
        pipeline_root=str(root / "pipeline"),
        components=[consume, produce],  # out of order: the compiler sorts them
        metadata_connection_config=tfx.orchestration.metadata.sqlite_metadata_connection_config(
            str(root / "metadata.sqlite")
        ),
        enable_cache=False,
    )


def _seen(root):
    metadata = str(root / "metadata.sqlite")
    record = run_record.read_run(metadata, mlmd.latest_run(metadata), read=())
    stages = [(s.node, s.state) for s in record.stages]
    outputs = {
        node: {key: len(found) for key, found in keys.items()}
        for node, keys in record.outputs.items()
    }
    return stages, outputs, record


def test_same_executions_and_outputs_as_local_dag_runner(tmp_path):
    tfx.orchestration.LocalDagRunner().run(_pipeline(tmp_path / "stock"))
    events = []
    runner = ObservedLocalDagRunner(
        on_start=lambda node: events.append(("start", node)),
        on_finish=lambda node, seconds, error: events.append(("finish", node, error)),
    )
    runner.run(_pipeline(tmp_path / "observed"))
    stock, observed = _seen(tmp_path / "stock"), _seen(tmp_path / "observed")
    assert observed[:2] == stock[:2]
    assert stock[0] == [("Produce", "COMPLETE"), ("Consume", "COMPLETE")]
    assert stock[1] == {"Produce": {"out": 1}, "Consume": {"model": 1}}
    assert events == [
        ("start", "Produce"), ("finish", "Produce", None),
        ("start", "Consume"), ("finish", "Consume", None),
    ]  # fmt: skip
    assert runner.run_id == observed[2].run_id
    model = observed[2].output("Consume", "model").uri
    with open(os.path.join(model, "model.txt")) as f:
        assert f.read() == "PENGUINS"


def test_a_failing_component_fails_both_runners_alike(tmp_path):
    with pytest.raises(ValueError, match="told to fail"):
        tfx.orchestration.LocalDagRunner().run(_pipeline(tmp_path / "stock", fail=1))
    finished = []
    runner = ObservedLocalDagRunner(on_finish=lambda *args: finished.append(args))
    with pytest.raises(ValueError, match="told to fail") as raised:
        runner.run(_pipeline(tmp_path / "observed", fail=1))
    stock, observed = _seen(tmp_path / "stock"), _seen(tmp_path / "observed")
    assert observed[0] == stock[0] == [("Produce", "COMPLETE"), ("Consume", "FAILED")]
    assert [(node, error) for node, _, error in finished] == [
        ("Produce", None),
        ("Consume", raised.value),
    ]
    assert observed[2].outcome.status == "failed" and observed[2].outcome.stage == "Consume"


def test_partial_runs_are_refused():
    from tfx.proto.orchestration import pipeline_pb2

    with pytest.raises(ValueError, match="runs whole pipelines"):
        ObservedLocalDagRunner().run_with_ir(pipeline_pb2.Pipeline(), pipeline_pb2.RunOptions())
