"""The compiled pipeline run task by task by `nanguard launch` (each task a real subprocess).

Three runs in all: the Kubeflow YAML (schema 2.1.0) pushes; the Vertex JSON (schema 2.0.0) with
the first run's DataGuard output imported as drift baseline and an Evaluator threshold no model
meets runs every task and pushes nothing; a data-guard block skips everything downstream.
"""

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import GUARDED_COMPONENTS

pytestmark = [pytest.mark.e2e, pytest.mark.launch]

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
NANGUARD = [sys.executable, "-m", "nanguard.pipelines.cli"]
SCHEMA = os.path.abspath(os.path.join(ROOT, "schemas", "penguins.pbtxt"))
DOWNSTREAM_OF_GUARD = {"Transform", "Trainer", "Evaluator", "FinitePredictionGate", "Pusher"}


def _nanguard(*argv, timeout=5400):
    return subprocess.run(
        [*NANGUARD, *argv], cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )


def _output(root, run_id, task, key):
    with open(os.path.join(root, run_id, task, "executor_output.json")) as f:
        (artifact,) = json.load(f)["artifacts"][key]["artifacts"]
    return artifact


def _task_lines(stdout):
    return {
        line.split()[0]: line.split()[1:] for line in stdout.splitlines() if line.startswith("  ")
    }


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    from nanguard.pipelines import data as data_lib

    tmp = tmp_path_factory.mktemp("launch")
    table, _ = data_lib.read_data(data_lib.bundled_penguins_csv(), None, SCHEMA)
    data_lib.write_staged(table, str(tmp / "data"))
    return tmp


def _compile(work, target, output, *extra):
    argv = ["compile", "--target", target, "--image", "unused:0", "--root", str(work / "root")]
    argv += ["--data", str(work / "data"), "--schema", SCHEMA, "--output", str(work / output)]
    result = _nanguard(*argv, "--train-steps", "40", "--eval-steps", "5", *extra, timeout=600)
    assert result.returncode == 0, result.stderr
    return str(work / output)


@pytest.fixture(scope="module")
def pushed(work):
    spec = _compile(work, "kubeflow", "spec.yaml")  # 2.1.0, the kubeflow default
    return _nanguard("launch", spec, "--run-id", "pushed")


def test_the_kubeflow_spec_as_compiled_pushes(work, pushed):
    assert pushed.returncode == 0, pushed.stdout + pushed.stderr
    assert "(schema 2.1.0), 10 tasks" in pushed.stdout
    tasks = _task_lines(pushed.stdout)
    assert set(tasks) == set(GUARDED_COMPONENTS)
    assert {t[0] for t in tasks.values()} == {"SUCCEEDED"}
    root = str(work / "root")
    push = _output(root, "pushed", "Pusher", "pushed_model")["metadata"]
    assert push["pushed"] == 1.0
    assert pushed.stdout.splitlines()[-1] == f"Pushed model: {push['pushed_destination']}"
    assert os.path.isfile(os.path.join(push["pushed_destination"], "saved_model.pb"))
    assert os.path.dirname(push["pushed_destination"]) == os.path.join(root, "serving")
    # The gate's blessing names the model by artifact name, as the Evaluator's does.
    model = _output(root, "pushed", "Trainer", "model")
    for task in ("Evaluator", "FinitePredictionGate"):
        blessing = _output(root, "pushed", task, "blessing")["metadata"]
        assert blessing["current_model_id"] == model["name"], task
        assert blessing["blessed"] == 1.0


def test_the_vertex_spec_with_a_drift_baseline_and_a_refusal_pushes_nothing(work, pushed):
    assert pushed.returncode == 0
    root = str(work / "root")
    baseline = _output(root, "pushed", "DataGuard", "anomalies")
    config = work / "refuse.yaml"
    config.write_text("evaluator: {min_accuracy: 1.0}\n")  # 40 steps never reach 100 %
    spec = _compile(
        work, "vertex", "spec.json", "--drift-baseline", baseline["uri"], "--config", str(config)
    )
    serving_before = sorted(os.listdir(os.path.join(root, "serving")))
    result = _nanguard("launch", spec, "--run-id", "refused")
    assert result.returncode == 3, result.stdout + result.stderr
    assert "(schema 2.0.0), 11 tasks" in result.stdout
    tasks = _task_lines(result.stdout)
    assert set(tasks) == set(GUARDED_COMPONENTS) | {"DriftBaselineImporter"}
    assert {t[0] for t in tasks.values()} == {"SUCCEEDED"}  # every task ran, nothing pushed
    assert _output(root, "refused", "Pusher", "pushed_model")["metadata"]["pushed"] == 0.0
    assert sorted(os.listdir(os.path.join(root, "serving"))) == serving_before
    for task in ("Evaluator", "FinitePredictionGate"):
        assert _output(root, "refused", task, "blessing")["metadata"]["blessed"] == 0.0, task
    gate = _output(root, "refused", "FinitePredictionGate", "blessing")["metadata"]
    assert "accuracy" in gate["blessing_message"].lower()
    assert result.stdout.splitlines()[-1].startswith("BLOCKED: ")
    # The importer handed DataGuard the first run's artifact (same name: reimport is off).
    with open(os.path.join(root, "refused", "DataGuard", "executor_input.json")) as f:
        (imported,) = json.load(f)["inputs"]["artifacts"]["baseline"]["artifacts"]
    assert (imported["name"], imported["uri"]) == (baseline["name"], baseline["uri"])


def test_a_data_guard_block_skips_everything_downstream(work):
    config = work / "strict.yaml"
    config.write_text("data_guard: {max_missing_fraction: 0.001}\n")  # penguins: 0.6 % missing
    spec = _compile(work, "kubeflow", "strict-spec.yaml", "--config", str(config))
    serving = work / "root" / "serving"
    before = sorted(os.listdir(serving)) if serving.exists() else []
    result = _nanguard("launch", spec, "--run-id", "blocked")
    assert result.returncode == 3, result.stdout + result.stderr
    tasks = _task_lines(result.stdout)
    assert tasks["DataGuard"][0] == "FAILED" and tasks["DataGuard"][-2:] == ["exit", "3"]
    assert {n for n, t in tasks.items() if t[0] == "SKIPPED"} == DOWNSTREAM_OF_GUARD
    lines = result.stdout.splitlines()
    first = lines[lines.index(next(x for x in lines if x.split()[:1] == ["DataGuard"])) + 1]
    assert first.strip().startswith("BLOCKED by DataGuard (data): ")
    assert "bill_length_mm" in result.stdout  # 2 of 344 missing
    termination = work / "root" / "blocked" / "DataGuard" / "termination-log"
    assert termination.read_text().splitlines()[0] == first.strip()
    assert (sorted(os.listdir(serving)) if serving.exists() else []) == before
    assert not (work / "root" / "blocked" / "Pusher").exists()
