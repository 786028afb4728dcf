"""The guarded pipeline with every Beam stage on a Flink cluster equals the DirectRunner's run.

Run by `make flink` (deploy/flink/cluster.py starts the cluster and sets
NANGUARD_FLINK_BEAM_ARGS); skipped without a cluster, so `make test` never starts one. Both runs
are `nanguard run` on the bundled penguins, as a user types it; the Flink run with parallelism 2.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.request

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "deploy", "flink"))
import stages  # noqa: E402

BEAM_ARGS = os.environ.get("NANGUARD_FLINK_BEAM_ARGS", "")
REST = os.environ.get("NANGUARD_FLINK_REST", "")
pytestmark = [
    pytest.mark.flink,
    pytest.mark.skipif(not BEAM_ARGS, reason="needs a Flink cluster: `make flink` starts one"),
]


def _flink_jobs() -> list[dict]:
    with urllib.request.urlopen(f"{REST}/jobs/overview", timeout=30) as r:
        return json.load(r)["jobs"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("flink")
    flink = stages.nanguard_run(str(tmp / "flink"), BEAM_ARGS.split("\n"))
    stages.assign_jobs(flink.stages, _flink_jobs())
    direct = stages.nanguard_run(str(tmp / "direct"), [])
    print("\nFlink (parallelism 2):", *stages.engine_lines(flink.stages, "Flink"), sep="\n")
    print("DirectRunner:", *stages.engine_lines(direct.stages, "DirectRunner"), sep="\n")
    return flink, direct


def test_both_runs_push_a_model(runs):
    for run in runs:
        assert run.returncode == 0, run.stdout[-3000:]
        assert "Pushed model:" in run.stdout


def test_every_beam_stage_ran_as_finished_flink_jobs(runs):
    flink, _ = runs
    by_node = {s["node"]: s for s in flink.stages}
    for node in stages.BEAM_STAGES:
        jobs = by_node[node]["flink_jobs"]
        assert jobs, f"{node} ran no Flink job"
        assert all(j.endswith(" FINISHED") for j in jobs), (node, jobs)
    for node in ("Trainer", "Pusher", "ImportSchemaGen"):
        assert by_node[node]["flink_jobs"] == [], node


def test_the_guard_counts_are_the_bundled_data_s(runs):
    numbers = stages.numbers(runs[0], examples=False)
    totals = numbers["DataGuard"]
    assert totals["totals/num_rows"] == 344
    assert totals["totals/num_missing"] == 19
    assert [totals[f"totals/num_{k}"] for k in ("nan", "pos_inf", "neg_inf", "huge")] == [0] * 4


def test_every_number_equals_the_direct_runner_s(runs):
    flink, direct = (stages.numbers(r) for r in runs)
    assert set(flink) == set(stages.BEAM_STAGES) - {"Evaluator"}
    assert stages.differences(flink, direct) == []
    assert flink["FinitePredictionGate"]["blessed"] is True
