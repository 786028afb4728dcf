"""`nanguard compile`: the Vertex / Kubeflow spec, checked by structure (no golden file)."""

import json

import pytest
import yaml

from nanguard.pipelines import cli, kubeflow_runner
from tests.conftest import GUARDED_COMPONENTS

IMAGE = "europe-docker.pkg.dev/proj/repo/nanguard:0.1.0"
SERVING = "gs://bucket/root/serving"
# TFX 1.15 (the compatibility lane's floor) writes only the 2.0.0 spec.
needs_spec_2_1 = pytest.mark.skipif(
    not kubeflow_runner.spec_2_1_supported(), reason="this TFX writes only the 2.0.0 spec"
)


def _compile(tmp_path, target, output, *extra):
    code = cli.main(
        [
            "compile",
            "--target",
            target,
            "--image",
            IMAGE,
            "--root",
            "gs://bucket/root",
            "--data",
            "gs://bucket/data",
            "--output",
            str(tmp_path / output),
            "--beam-arg=--runner=DataflowRunner",
            "--beam-arg=--region=europe-west1",
            *extra,
        ]
    )
    assert code == 0
    return tmp_path / output


def test_vertex_spec_structure(tmp_path):
    job = json.loads(_compile(tmp_path, "vertex", "spec.json").read_text())
    spec = job["pipelineSpec"]
    tasks = spec["root"]["dag"]["tasks"]
    assert set(tasks) == set(GUARDED_COMPONENTS)
    assert {"Trainer", "FinitePredictionGate"} <= set(tasks["Pusher"]["dependentTasks"])
    assert "Evaluator" in tasks["FinitePredictionGate"]["dependentTasks"]
    assert "DataGuard" in tasks["Transform"]["dependentTasks"]
    gate_args = json.dumps(spec["deploymentSpec"]["executors"]["FinitePredictionGate_executor"])
    assert "nanguard.components.gate.executor.Executor" in gate_args
    executors = spec["deploymentSpec"]["executors"]
    assert len(executors) == len(tasks)
    for name, executor in executors.items():
        assert executor.get("container", {}).get("image") == IMAGE or "importer" in executor, name
    text = json.dumps(spec)
    assert "module_file" not in text and ".whl" not in text
    assert "nanguard.components.transform.preprocessing.preprocessing_fn" in text
    assert "nanguard.components.trainer.run_fn.run_fn" in text
    assert "--runner=DataflowRunner" in json.dumps(executors["Transform_executor"])
    assert job["runtimeConfig"]["gcsOutputDirectory"] == "gs://bucket/root"


def _parameters(spec, task):
    return spec["root"]["dag"]["tasks"][task]["inputs"]["parameters"]


@needs_spec_2_1
def test_kubeflow_spec_is_yaml_2_1_with_the_root(tmp_path):
    spec = yaml.safe_load(_compile(tmp_path, "kubeflow", "spec.yaml").read_text())
    assert spec["pipelineInfo"]["name"] == "nanguard"
    assert set(spec["root"]["dag"]["tasks"]) == set(GUARDED_COMPONENTS)
    # Without it a KFP cluster puts every artifact under its own default root.
    assert spec["defaultPipelineRoot"] == "gs://bucket/root"
    # 2.1.0: the form KFP's backend driver resolves (runtimeValue.constant).
    assert spec["schemaVersion"] == "2.1.0"
    push = _parameters(spec, "Pusher")["push_destination"]["runtimeValue"]
    assert json.loads(push["constant"]) == {"filesystem": {"base_directory": SERVING}}
    args = spec["deploymentSpec"]["executors"]["Trainer_executor"]["container"]["args"]
    assert "--json_serialized_inputs_spec_args" in args


@needs_spec_2_1
def test_spec_version_2_0_and_2_1_on_both_targets(tmp_path):
    job = json.loads(_compile(tmp_path, "vertex", "v.json").read_text())
    assert job["pipelineSpec"]["schemaVersion"] == "2.0.0"  # Vertex's default here
    push = _parameters(job["pipelineSpec"], "Pusher")["push_destination"]["runtimeValue"]
    assert json.loads(push["constantValue"]["stringValue"])["filesystem"] == {
        "base_directory": SERVING
    }
    job = json.loads(_compile(tmp_path, "vertex", "v21.json", "--spec-version", "2.1").read_text())
    assert job["pipelineSpec"]["schemaVersion"] == "2.1.0"
    assert (
        "constant" in _parameters(job["pipelineSpec"], "Pusher")["push_destination"]["runtimeValue"]
    )
    spec = yaml.safe_load(
        _compile(tmp_path, "kubeflow", "k20.yaml", "--spec-version", "2.0").read_text()
    )
    assert spec["schemaVersion"] == "2.0.0"
    assert "constantValue" in _parameters(spec, "Pusher")["push_destination"]["runtimeValue"]


def test_every_task_runs_the_nanguard_entrypoint(tmp_path):
    job = json.loads(_compile(tmp_path, "vertex", "spec.json").read_text())
    executors = job["pipelineSpec"]["deploymentSpec"]["executors"]
    for name, executor in executors.items():
        assert executor["container"]["command"] == [
            "python",
            "-m",
            "nanguard.pipelines.entrypoint",
        ], name
    # The example gen's pre-cache-check driver stays TFX's own.
    hook = executors["CsvExampleGen_executor"]["container"]["lifecycle"]["preCacheCheck"]
    assert hook["command"][-1] == "tfx.orchestration.kubeflow.v2.file_based_example_gen.driver"


def test_bad_spec_version_exits_2(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(
            ["compile", "--target", "vertex", "--image", IMAGE, "--root", "gs://b"]
            + ["--data", "gs://d", "--output", str(tmp_path / "x.json"), "--spec-version", "3"]
        )
    assert exit_info.value.code == 2
    assert "--spec-version: invalid choice: '3'" in capsys.readouterr().err


def test_bad_pipeline_name_exits_2(tmp_path, capsys):
    code = cli.main(
        ["compile", "--target", "vertex", "--image", IMAGE, "--root", "gs://b", "--data", "gs://d"]
        + ["--output", str(tmp_path / "x.json"), "--name", "Bad_Name"]
    )
    assert code == 2
    assert "--name 'Bad_Name'" in capsys.readouterr().err


def test_bad_config_value_exits_2(tmp_path, capsys):
    config = tmp_path / "c.yaml"
    config.write_text("gate: {batch_size: 0}\n")
    code = cli.main(
        ["compile", "--target", "vertex", "--image", IMAGE, "--root", "gs://b", "--data", "gs://d"]
        + ["--output", str(tmp_path / "x.json"), "--config", str(config)]
    )
    assert code == 2
    assert f"--config {config}:" in capsys.readouterr().err
    assert not (tmp_path / "x.json").exists()


def test_drift_baseline_is_an_importer_feeding_the_data_guard(tmp_path):
    uri = "gs://bucket/root/DataGuard/anomalies/7"
    job = json.loads(
        _compile(tmp_path, "vertex", "drift.json", "--drift-baseline", uri).read_text()
    )
    spec = job["pipelineSpec"]
    tasks = spec["root"]["dag"]["tasks"]
    assert set(tasks) == set(GUARDED_COMPONENTS) | {"DriftBaselineImporter"}
    assert "DriftBaselineImporter" in tasks["DataGuard"]["dependentTasks"]
    baseline = tasks["DataGuard"]["inputs"]["artifacts"]["baseline"]["taskOutputArtifact"]
    assert baseline == {"outputArtifactKey": "result", "producerTask": "DriftBaselineImporter"}
    assert uri in json.dumps(spec["deploymentSpec"]["executors"])


def test_asking_a_tfx_without_the_2_1_spec_for_it_exits_2_naming_the_way_out(
    tmp_path, capsys, monkeypatch
):
    """TFX 1.15's KubeflowV2DagRunnerConfig has no `use_pipeline_spec_2_1` (the tfx-1.15 lane):
    the 2.0 spec still compiles, 2.1 (kubeflow's default) exits 2 naming both fixes."""
    monkeypatch.setattr(kubeflow_runner, "spec_2_1_supported", lambda: False)
    job = json.loads(_compile(tmp_path, "vertex", "v.json").read_text())
    assert job["pipelineSpec"]["schemaVersion"] == "2.0.0"
    args = ["compile", "--target", "kubeflow", "--image", IMAGE, "--root", "gs://b"]
    assert cli.main([*args, "--data", "gs://d", "--output", str(tmp_path / "k.yaml")]) == 2
    err = capsys.readouterr().err
    assert "--target kubeflow's default spec, 2.1, needs TFX 1.16" in err
    assert "tfx>=1.16" in err and "--spec-version 2.0" in err
    assert not (tmp_path / "k.yaml").exists()
    asked = [*args, "--data", "gs://d", "--output", str(tmp_path / "v.json")]
    assert cli.main([*asked, "--spec-version", "2.1"]) == 2
    assert "--spec-version 2.1 needs TFX 1.16" in capsys.readouterr().err
