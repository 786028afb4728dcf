"""summarize / summary_line on health reports written by the real write_health_report."""

from __future__ import annotations

import json

from nanguard.components.trainer import fit, health, summary
from tests.trainer import _shared


def test_summary_of_a_recovered_run(tmp_path):
    model, config = _shared.model()
    x, y = _shared.data()
    report = fit.fit_guarded(
        model, _shared.batches(_shared.with_huge_batch(x), y), config, verbose=0
    )
    report["exported"] = True
    health.write_health_report(report, str(tmp_path))
    facts = summary.summarize(str(tmp_path))
    assert facts == {
        "status": "recovered",
        "exported": True,
        "nonfinite_events": 2,
        "recoveries": 2,
        "epochs": 2,
        "steps": 16,
        "examples": 12 * 32,
        "early_stopped": False,
        "max_grad_norm_per_epoch": report["max_grad_norm_per_epoch"],
        "final_loss": report["loss_per_epoch"][-1],
        "file": f"{tmp_path}/{health.HEALTH_REPORT_FILE}",
    }
    assert 0 < facts["final_loss"] < 10
    json.dumps(facts, allow_nan=False)  # JSON-able as is
    assert len(facts["max_grad_norm_per_epoch"]) == 2
    assert summary.summary_line(facts) == (
        "status recovered, 2 non-finite event(s), 2 epoch(s), 384 examples trained"
    )


def test_summary_keeps_the_nonfinite_spelling(tmp_path):
    report = {
        "status": "stopped",
        "epochs": [{"epoch": 0}, {"epoch": 1}],
        "loss_per_epoch": [0.7, float("nan")],
        "nonfinite_events": [{"step": 3}],
        "recoveries": 0,
        "steps": 8,
        "examples": 1234,
        "early_stopping": {"stopped": True},
        "exported": False,
    }
    health.write_health_report(report, str(tmp_path))
    facts = summary.summarize(str(tmp_path) + "/")
    assert facts["final_loss"] == "NaN" and facts["status"] == "stopped"
    assert (facts["nonfinite_events"], facts["epochs"], facts["steps"]) == (1, 2, 8)
    assert facts["file"] == f"{tmp_path}/{health.HEALTH_REPORT_FILE}"
    assert summary.summary_line(facts) == (
        "status stopped, 1 non-finite event(s), 2 epoch(s) (early stop), 1,234 examples trained"
    )


def test_summary_of_a_run_without_report(tmp_path):
    facts = summary.summarize(str(tmp_path))
    assert facts["status"] == summary.NO_REPORT and facts["epochs"] == 0
    assert facts["final_loss"] is None and facts["nonfinite_events"] == 0
    assert summary.summary_line(facts).startswith("no training health report")
