"""nanguard's container entrypoint: a guard's block exits 3 with one line; blessings name models."""

import argparse
import json
import os
import subprocess
import sys

from tfx.dsl.components.base import base_executor

from nanguard.components.errors import GuardBlockedError, guard_block
from nanguard.components.violations import Violation
from nanguard.pipelines import entrypoint

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
MODEL_NAME = "projects/1/locations/l/metadataStores/default/artifacts/17"
BLESSING_NAME = "projects/1/locations/l/metadataStores/default/artifacts/18"
_TYPE = "title: tfx.{}\ntype: object\n"

MISSING = Violation(
    guard="DataGuard",
    kind="missing",
    reason="data",
    message="feature 'bill_length_mm' in split 'train' is 40% missing (limit 30%)",
    feature="bill_length_mm",
    split="train",
    observed=0.4,
    limit=0.3,
    key="data_guard.max_missing_fraction",
    passing_value=0.4,
)
INF = Violation(
    guard="DataGuard",
    kind="inf",
    reason="data",
    message="feature 'mass' in split 'eval' holds 2 Inf",
    feature="mass",
    observed=float("inf"),
    key="data_guard.inf",
    passing_value="clip",
)


class BlockingExecutor(base_executor.BaseExecutor):
    """Raises as DataGuard does, wrapped the way a Beam pipeline wraps errors."""

    def Do(self, input_dict, output_dict, exec_properties):  # noqa: N802
        try:
            raise GuardBlockedError("2 violations", violations=[MISSING, INF])
        except GuardBlockedError as e:
            raise RuntimeError("Beam stage failed") from e


class BlessingExecutor(base_executor.BaseExecutor):
    """Writes the blessing with the gate's own `write_blessing`."""

    def Do(self, input_dict, output_dict, exec_properties):  # noqa: N802
        from nanguard.components.gate.executor import write_blessing

        report = {n: 0 for n in ("examples", "non_finite", "nan", "pos_inf", "neg_inf")}
        report.update(blessed=True, probes_failed=[], reasons=[])
        write_blessing(output_dict["blessing"][0], input_dict["model"][0], report)


def _executor_input(tmp_path):
    return {
        "inputs": {
            "artifacts": {
                "model": {
                    "artifacts": [
                        {
                            "name": MODEL_NAME,
                            "type": {"instanceSchema": _TYPE.format("Model")},
                            "uri": str(tmp_path / "model"),
                        }
                    ]
                }
            }
        },
        "outputs": {
            "artifacts": {
                "blessing": {
                    "artifacts": [
                        {
                            "name": BLESSING_NAME,
                            "type": {"instanceSchema": _TYPE.format("ModelBlessing")},
                            "uri": str(tmp_path / "blessing"),
                        }
                    ]
                }
            },
            "outputFile": str(tmp_path / "task" / "executor_output.json"),
        },
    }


def test_block_lines_name_the_guard_and_reason_first_then_every_violation():
    lines = entrypoint.block_lines(
        GuardBlockedError("x", violations=[MISSING, INF]), "nanguard.components.gate.executor.E"
    )
    assert lines[0] == (
        "BLOCKED by DataGuard (data): feature 'bill_length_mm' in split 'train' is 40% missing "
        "(limit 30%)"
    )
    assert lines[1] == f"  - {MISSING.line()}"
    assert lines[2] == f"  - {INF.line()}"
    assert "data_guard.max_missing_fraction: 0.4" in lines[1]
    assert lines[3] == "  exit code 3: nothing downstream of it runs"


def test_block_lines_without_records_name_the_executor_guard():
    error = GuardBlockedError("Training stopped: loss is NaN at step 7\nlast finite step 6")
    lines = entrypoint.block_lines(error, "tfx.components.trainer.executor.GenericExecutor")
    assert lines[:2] == [
        "BLOCKED by Trainer (training): Training stopped: loss is NaN at step 7",
        "  last finite step 6",
    ]
    lines = entrypoint.block_lines(GuardBlockedError("no"), "my.pkg.custom.executor.Executor")
    assert lines[0] == "BLOCKED by custom: no"


def test_guard_block_follows_causes_and_contexts():
    inner = GuardBlockedError("inner")
    try:
        try:
            raise inner
        except GuardBlockedError:
            raise ValueError("during handling") from None
    except ValueError as e:
        outer = e
    assert guard_block(outer) is None  # `from None` hides the context on purpose
    wrapped = RuntimeError("wrapped")
    wrapped.__cause__ = inner
    assert guard_block(wrapped) is inner
    assert guard_block(ValueError("plain")) is None


def test_a_block_in_the_container_exits_3_with_one_line_first(tmp_path):
    termination = tmp_path / "termination-log"
    argv = [sys.executable, "-m", "nanguard.pipelines.entrypoint", "--executor_class_path"]
    argv += [f"{__name__}.BlockingExecutor", "--json_serialized_invocation_args"]
    argv.append(json.dumps(_executor_input(tmp_path)))
    env = {**os.environ, "NANGUARD_TERMINATION_LOG": str(termination)}
    result = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 3, result.stderr[-3000:]
    expected = entrypoint.block_lines(
        GuardBlockedError("", violations=[MISSING, INF]), "x.executor.E"
    )
    # The traceback is logged first; the block's report is the end of stderr, line first.
    assert result.stderr.rstrip("\n").splitlines()[-len(expected) :] == expected
    assert "Traceback" in result.stderr
    assert termination.read_text().splitlines() == expected
    assert not (tmp_path / "task" / "executor_output.json").exists()


def test_the_gate_blessing_names_its_model_like_the_evaluators(tmp_path):
    args = argparse.Namespace(
        executor_class_path=f"{__name__}.BlessingExecutor",
        json_serialized_invocation_args=json.dumps(_executor_input(tmp_path)),
        json_serialized_inputs_spec_args=None,
    )
    assert entrypoint.run(args, []) == 0
    output = json.loads((tmp_path / "task" / "executor_output.json").read_text())
    (blessing,) = output["artifacts"]["blessing"]["artifacts"]
    assert blessing["name"] == BLESSING_NAME
    assert blessing["metadata"]["current_model_id"] == MODEL_NAME
    assert blessing["metadata"]["current_model"] == str(tmp_path / "model")
    assert blessing["metadata"]["blessed"] == 1.0
    assert (tmp_path / "blessing" / "BLESSED").exists()


def test_name_blessed_models_leaves_unknown_ids_and_other_types():
    from tfx.types import standard_artifacts

    blessing, examples = standard_artifacts.ModelBlessing(), standard_artifacts.Examples()
    blessing.set_int_custom_property("current_model_id", 5)
    blessing.set_int_custom_property("baseline_model_id", 6)
    examples.set_int_custom_property("current_model_id", 5)
    entrypoint.name_blessed_models({"b": [blessing], "e": [examples]}, {5: "models/5"})
    assert blessing.get_string_custom_property("current_model_id") == "models/5"
    assert blessing.get_int_custom_property("baseline_model_id") == 6  # not an input here
    assert examples.get_int_custom_property("current_model_id") == 5
