"""The local launcher stand-in on compiled specs, with a fake runner (no task really runs)."""

import json
import os

import pytest
import yaml
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2
from tfx.orchestration.kubeflow.v2.container import kubeflow_v2_entrypoint_utils as utils

from nanguard.components.errors import InputError
from nanguard.pipelines import cli, launcher
from tests.conftest import GUARDED_COMPONENTS

BASELINE = "/data/earlier/DataGuard/anomalies"


@pytest.fixture(scope="module")
def specs(tmp_path_factory):
    """One compiled spec per schema: the Kubeflow YAML (2.1.0), the Vertex JSON (2.0.0)."""
    tmp = tmp_path_factory.mktemp("specs")
    common = ["--image", "img:1", "--root", str(tmp / "root"), "--data", str(tmp / "data")]
    common += ["--train-steps", "7", "--drift-baseline", BASELINE]
    paths = {"2.1": tmp / "spec.yaml", "2.0": tmp / "spec.json"}
    for version, target in (("2.1", "kubeflow"), ("2.0", "vertex")):
        argv = ["compile", "--target", target, "--output", str(paths[version]), *common]
        assert cli.main(argv) == 0
    return paths


def test_topological_order_and_cycles():
    tasks = {
        "c": {"dependentTasks": ["a", "b"]},
        "b": {"inputs": {"artifacts": {"x": {"taskOutputArtifact": {"producerTask": "a"}}}}},
        "a": {},
        "d": {},
    }
    assert launcher.topological_order(tasks) == ["a", "d", "b", "c"]
    with pytest.raises(InputError, match="cycle"):
        launcher.topological_order({"a": {"dependentTasks": ["b"]}, "b": {"dependentTasks": ["a"]}})
    with pytest.raises(InputError, match="unknown tasks"):
        launcher.topological_order({"a": {"dependentTasks": ["z"]}})


@pytest.mark.parametrize("version", ["2.0", "2.1"])
def test_tfx_reads_the_parameters_it_was_compiled_with(specs, version):
    spec = launcher.load_spec(str(specs[version]))
    assert spec.schema_version == f"{version}.0"
    assert set(spec.tasks) == set(GUARDED_COMPONENTS) | {"DriftBaselineImporter"}
    inputs = launcher.parameter_inputs(spec, "Trainer")
    assert list(inputs) == (["parameters"] if version == "2.0" else ["parameterValues"])
    executor_input = pipeline_spec_pb2.ExecutorInput()
    json_format.ParseDict({"inputs": inputs}, executor_input)
    inputs_spec = None
    if version == "2.1":  # the compiled args carry it; TFX then reads parameterValues
        inputs_spec = pipeline_spec_pb2.ComponentInputsSpec()
        json_format.ParseDict(spec.components["Trainer"]["inputDefinitions"], inputs_spec)
    props = utils.parse_execution_properties(
        executor_input.inputs.parameter_values, executor_input.inputs.parameters, inputs_spec
    )
    assert json.loads(props["train_args"]) == {"num_steps": 7}
    assert props["run_fn"] == "nanguard.components.trainer.run_fn.run_fn"


def test_a_2_0_runtime_value_in_a_2_1_spec_is_refused_as_kfp_does(specs):
    spec = launcher.load_spec(str(specs["2.0"]))
    spec = launcher.Spec(**{**spec.__dict__, "schema_version": "2.1.0"})
    with pytest.raises(InputError, match="constantValue.*is not a runtime value of schema 2.1.0"):
        launcher.parameter_inputs(spec, "Trainer")


def test_root_comes_from_the_spec_or_the_flag(specs, tmp_path):
    kubeflow = launcher.load_spec(str(specs["2.1"]))
    assert kubeflow.root == str(specs["2.1"].parent / "root")  # defaultPipelineRoot
    assert launcher.load_spec(str(specs["2.0"]), str(tmp_path)).root == str(tmp_path)
    with pytest.raises(InputError, match="only to a local folder"):
        launcher.load_spec(str(specs["2.0"]), "gs://bucket/root")
    (tmp_path / "x.yaml").write_text("a: 1\n")
    with pytest.raises(InputError, match="SPEC .*x.yaml: no root DAG"):
        launcher.load_spec(str(tmp_path / "x.yaml"))


class FakeTasks:
    """A runner that plays each task: records its ExecutorInput, writes an ExecutorOutput."""

    def __init__(self, exit_codes=None):
        self.exit_codes = exit_codes or {}
        self.calls = []  # (module, ExecutorInput)

    def __call__(self, argv, env, cwd, log, image):
        assert image == "img:1" and os.path.isdir(cwd)
        executor_input = json.loads(argv[argv.index("--json_serialized_invocation_args") + 1])
        module = argv[2]
        task = os.path.basename(os.path.dirname(executor_input["outputs"]["outputFile"]))
        self.calls.append((task, module, executor_input))
        code = self.exit_codes.get(task, 0)
        if code:
            with open(env["NANGUARD_TERMINATION_LOG"], "w") as f:
                f.write(f"BLOCKED by {task} (data): too many NaN\n  detail\n")
            return code
        output = {"artifacts": {}}
        for key, artifacts in executor_input["outputs"]["artifacts"].items():
            artifact = artifacts["artifacts"][0]
            metadata = {"made_by": task, "by_driver": module.endswith("driver")}
            if task == "Pusher":
                metadata.update(pushed=1.0, pushed_destination="/serving/1")
            output["artifacts"][key] = {
                "artifacts": [
                    {"name": artifact["name"], "uri": artifact["uri"], "metadata": metadata}
                ]
            }
        with open(executor_input["outputs"]["outputFile"], "w") as f:
            json.dump(output, f)
        return 0


def test_a_run_hands_each_task_its_producers_artifacts(specs, tmp_path):
    spec = launcher.load_spec(str(specs["2.1"]), str(tmp_path))
    fake = FakeTasks()
    runs = launcher.Launcher(spec, fake, run_id="r1").run()
    assert [r.state for r in runs] == ["SUCCEEDED"] * 11
    assert launcher.outcome(runs) == (0, "Pushed model: /serving/1")
    order = [task for task, _, _ in fake.calls]
    # The example gen's driver runs first, then its executor, with the same output file.
    assert order[:2] == ["CsvExampleGen", "CsvExampleGen"]
    assert fake.calls[0][1] == "tfx.orchestration.kubeflow.v2.file_based_example_gen.driver"
    assert fake.calls[1][1] == "nanguard.pipelines.entrypoint"
    driven = fake.calls[1][2]["outputs"]["artifacts"]["examples"]["artifacts"][0]
    assert driven["metadata"] == {"made_by": "CsvExampleGen", "by_driver": True}
    assert "DriftBaselineImporter" not in order  # the launcher resolves importers itself
    for task, _, executor_input in fake.calls:
        assert order.index(task) >= max(
            [order.index(d) for d in spec.tasks[task].get("dependentTasks", []) if d in order]
            or [0]
        )
        for key, artifacts in executor_input["outputs"]["artifacts"].items():
            (artifact,) = artifacts["artifacts"]
            assert artifact["uri"] == f"{tmp_path}/r1/{task}/{key}"
            assert os.path.isdir(artifact["uri"])
            assert artifact["name"].startswith(launcher.NAME_PREFIX)
    calls = {task: executor_input for task, _, executor_input in fake.calls}
    trainer = calls["Trainer"]["inputs"]["artifacts"]
    transform = calls["Transform"]["outputs"]["artifacts"]["transform_graph"]["artifacts"][0]
    (graph,) = trainer["transform_graph"]["artifacts"]
    assert {k: graph[k] for k in ("name", "uri", "type")} == {
        k: transform[k] for k in ("name", "uri", "type")
    }
    assert graph["metadata"] == {"made_by": "Transform", "by_driver": False}
    (baseline,) = calls["DataGuard"]["inputs"]["artifacts"]["baseline"]["artifacts"]
    assert baseline["uri"] == BASELINE and baseline["metadata"] == {}
    assert "title: tfx.ExampleAnomalies" in baseline["type"]["instanceSchema"]
    assert (
        calls["Trainer"]["outputs"]["outputFile"] == f"{tmp_path}/r1/Trainer/executor_output.json"
    )


def test_a_failed_task_skips_its_downstream_only(specs, tmp_path):
    spec = launcher.load_spec(str(specs["2.0"]), str(tmp_path))
    runs = {r.name: r for r in launcher.Launcher(spec, FakeTasks({"DataGuard": 3})).run()}
    assert runs["DataGuard"].state == "FAILED" and runs["DataGuard"].exit_code == 3
    assert runs["DataGuard"].message == ["BLOCKED by DataGuard (data): too many NaN", "  detail"]
    downstream = {"Transform", "Trainer", "Evaluator", "FinitePredictionGate", "Pusher"}
    assert {n for n, r in runs.items() if r.state == "SKIPPED"} == downstream
    assert runs["ExampleValidator"].state == "SUCCEEDED"  # independent of the guard
    assert runs["Transform"].message == ["upstream DataGuard did not run"]
    code, line = launcher.outcome(list(runs.values()))
    assert code == 3 and line.startswith("BLOCKED")


def test_outcome_of_a_run_that_blessed_nothing():
    blessing = {"metadata": {"blessed": 0.0, "blessing_message": "accuracy 0.4 < 0.9"}}
    runs = [
        launcher.TaskRun("FinitePredictionGate", "SUCCEEDED", 0, outputs={"blessing": [blessing]}),
        launcher.TaskRun("Pusher", "SUCCEEDED", 0, outputs={"m": [{"metadata": {"pushed": 0.0}}]}),
    ]
    assert launcher.outcome(runs) == (3, "BLOCKED: accuracy 0.4 < 0.9; nothing was pushed.")
    runs.append(launcher.TaskRun("X", "FAILED", 1))
    assert launcher.outcome(runs)[0] == 1


def test_an_importer_reuses_an_earlier_artifact_of_its_uri(specs, tmp_path):
    earlier = tmp_path / "r0" / "DataGuard"
    earlier.mkdir(parents=True)
    recorded = {"name": "projects/x/artifacts/9", "uri": BASELINE, "metadata": {"span": 0.0}}
    (earlier / launcher.EXECUTOR_OUTPUT).write_text(
        json.dumps({"artifacts": {"anomalies": {"artifacts": [recorded]}}})
    )
    spec = launcher.load_spec(str(specs["2.1"]), str(tmp_path))
    run = launcher.Launcher(spec, FakeTasks(), run_id="r1")
    (imported,) = run.run_task("DriftBaselineImporter").outputs["result"]
    assert imported["name"] == recorded["name"] and imported["metadata"] == {"span": 0.0}
    assert imported["uri"] == BASELINE


def test_unsupported_placeholders_are_named():
    run = launcher.Launcher(launcher.Spec("p", "2.1.0", "/r", {}, {}, {}, {}), FakeTasks())
    with pytest.raises(InputError, match=r"only \{\{\$\}\} is supported"):
        run._command({"args": ["{{$.inputs.parameters['x']}}"]}, {})


def test_launch_prints_each_task_and_the_outcome(specs, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(launcher, "process_runner", FakeTasks({"Trainer": 1}))
    code = cli.main(["launch", str(specs["2.1"]), "--root", str(tmp_path), "--run-id", "r"])
    out, err = capsys.readouterr()
    assert code == 1
    assert "nanguard launch: nanguard (schema 2.1.0), 11 tasks in subprocesses" in out
    lines = out.splitlines()
    trainer = [line.split() for line in lines if line.split()[:2] == ["Trainer", "FAILED"]]
    assert len(trainer) == 1 and trainer[0][-2:] == ["exit", "1"]
    assert any(line.split()[:2] == ["Pusher", "SKIPPED"] for line in lines)
    assert "BLOCKED by Trainer (data): too many NaN" in out
    assert err.strip() == "FAILED: Trainer; see the task logs."
    assert yaml.safe_load((tmp_path / "r" / "Trainer" / "executor_input.json").read_text())
