"""core.py: the whole check (data + probes) and the verdict, without any artifact."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from nanguard.components import profiles
from nanguard.components.gate import core, records, testing
from nanguard.components.gate.config import GateConfig


@pytest.fixture(scope="module")
def exp_model(tmp_path_factory):
    return testing.save_model(str(tmp_path_factory.mktemp("models") / "exp"), "exp")


def test_exp_model_is_finite_on_data_but_blocked_by_probes(exp_model, tmp_path):
    data = testing.eval_rows()
    feature_profiles = profiles.profiles_from_schema(testing.raw_schema(), label_key="label")
    # The exp model is finite on rows with x < 88: build such data.
    clean = [r for r, xi in zip(data["records"], data["x"], strict=True) if not xi > 80]
    report = core.check_model(
        exp_model, {"eval": clean}, profiles=feature_profiles, work_dir=str(tmp_path)
    )
    assert report["examples"] == len(clean)
    assert report["non_finite"] == 0
    assert sorted(report["probes_failed"]) == ["out_of_range:x", "pos_extreme:x", "pos_inf:x"]
    assert report["probes_rejected"] == ["as_bytes:x", "as_bytes:n"]
    assert report["blessed"] is False
    assert report["reasons"] == ["3 probe(s) failed: pos_inf:x (non_finite), out_of_range:x "
                                 "(non_finite), pos_extreme:x (non_finite); "
                                 + core.NON_FINITE_ADVICE]  # fmt: skip
    (found,) = report["violations"]
    assert (found["reason"], found["kind"], found["observed"]) == ("non_finite", "probe", 3)
    assert "out_of_range:x" in core.block_message(report)
    # Probes off: the same model passes.
    no_probes = GateConfig().replace(probe_families=[])
    report = core.check_model(
        exp_model, {"eval": clean}, no_probes, profiles=feature_profiles, work_dir=str(tmp_path)
    )
    assert report["blessed"] is True and report["probes_run"] == 0 and report["reasons"] == []


def _report(**overrides):
    report = {"examples": 10, "non_finite": 0, "nan": 0, "pos_inf": 0, "neg_inf": 0,
              "outputs": {"p": {"total": 10, "nan": 0, "pos_inf": 0, "neg_inf": 0}},
              "probe_failures": []}  # fmt: skip
    return {**report, **overrides}


def test_verdict_reasons():
    assert core.verdict_reasons(_report(), ["eval"], None) == []
    assert core.verdict_reasons(_report(), ["eval"], True) == []
    assert core.verdict_reasons(_report(examples=0), ["eval"], None) == [
        "no examples were read from splits ['eval']; see gate.splits; point the gate at splits "
        "that hold rows"
    ]
    bad = _report(
        non_finite=2, nan=3, neg_inf=1,
        outputs={"p": {"total": 10, "nan": 3, "pos_inf": 0, "neg_inf": 1},
                 "q": {"total": 10, "nan": 0, "pos_inf": 0, "neg_inf": 0}},
    )  # fmt: skip
    assert core.verdict_reasons(bad, ["eval"], None) == [
        "2 of 10 examples got non-finite predictions (nan=3, +inf=0, -inf=1) in outputs ['p']; "
        + core.NON_FINITE_ADVICE
    ]
    (found,) = core.verdict_violations(bad, ["eval"], None)
    assert (found.reason, found.kind, found.observed, found.limit) == (
        "non_finite",
        "non_finite_prediction",
        2,
        0,
    )
    assert core.verdict_reasons(_report(), ["eval"], False) == [
        "the upstream model_blessing is not blessed"
    ]


def test_check_tables_gives_the_report_of_check_model(tmp_path):
    """In-process (no Beam) and Beam: the same report for the same rows, probes included."""
    model = testing.save_model(str(tmp_path / "log"), "log")
    rows = testing.eval_rows(300)
    table = pa.table(
        {"x": pa.array(rows["x"], mask=rows["absent"]), "n": rows["n"], "color": rows["color"]}
    )
    feature_profiles = profiles.profiles_from_table(table)
    config = GateConfig().replace(batch_size=50, max_offending=4)
    local = core.check_tables(model, {"data": table}, config, profiles=feature_profiles)
    beam = core.check_model(
        model,
        {"data": records.table_to_examples(table)},
        config,
        profiles=feature_profiles,
        work_dir=str(tmp_path),
    )
    assert local == beam
    out_ref, scale_ref = testing.log_reference(rows)
    assert local["examples"] == 300 and len(local["offending_examples"]) == 4
    assert local["non_finite"] == int((~np.isfinite(out_ref) | ~np.isfinite(scale_ref)).sum())
    assert local["probes_run"] == 20 and local["blessed"] is False
    assert (
        core.check_tables(model, {"data": table}, config, upstream_blessed=False)["reasons"][-1]
        == "the upstream model_blessing is not blessed"
    )
