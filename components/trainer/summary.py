"""The trainer's facts read back from its ModelRun artifact: the training health report.

`summarize(uri)` reads `<uri>/nanguard_training_health.json` (written by `run_fn` into the
ModelRun artifact's URI, `fn_args.model_run_dir`), not ML Metadata, so it works for any
orchestrator. Imports nothing heavy (TensorFlow only inside, for a gs:// URI).
"""

from __future__ import annotations

from nanguard.components.trainer.health import HEALTH_REPORT_FILE, read_health_report

NO_REPORT = "no_report"


def summarize(uri: str) -> dict:
    """JSON-able facts of one guarded training run, from the health report under `uri`.

    Args:
        uri: the ModelRun artifact's URI (the directory holding `HEALTH_REPORT_FILE`).

    Returns:
        `status` (`ok`, `recovered`, `stopped`, `raised`, `export_blocked`, `not_started`, or
        `no_report` when `uri` holds no report, e.g. a team's own run_fn ran), `exported`,
        `nonfinite_events` (count), `recoveries`, `epochs` (epochs run), `steps`, `examples`
        (rows of every applied step, summed over epochs), `early_stopped`,
        `max_grad_norm_per_epoch` (the largest finite global gradient norm of each epoch),
        `final_loss` (training loss of the last epoch, None if no epoch ended) and `file` (the
        report's path).
        NaN and Inf stay in the report's spelling: "NaN", "Infinity", "-Infinity".
    """
    report = read_health_report(uri)
    if report is None:
        report = {"status": NO_REPORT}
    losses = report.get("loss_per_epoch") or []
    return {
        "status": report.get("status"),
        "exported": report.get("exported"),
        "nonfinite_events": len(report.get("nonfinite_events") or []),
        "recoveries": report.get("recoveries", 0),
        "epochs": len(report.get("epochs") or []),
        "steps": report.get("steps", 0),
        "examples": report.get("examples", 0),
        "early_stopped": bool((report.get("early_stopping") or {}).get("stopped")),
        "max_grad_norm_per_epoch": report.get("max_grad_norm_per_epoch") or [],
        "final_loss": losses[-1] if losses else None,
        "file": f"{uri.rstrip('/')}/{HEALTH_REPORT_FILE}",
    }


def summary_line(summary: dict) -> str:
    """One console line, e.g.
    "status ok, 0 non-finite event(s), 7 epoch(s) (early stop), 1,610 examples trained"."""
    if summary["status"] == NO_REPORT:
        return f"no training health report ({summary['file']})"
    stop = " (early stop)" if summary.get("early_stopped") else ""
    return (
        f"status {summary['status']}, {summary['nonfinite_events']} non-finite event(s), "
        f"{summary['epochs']} epoch(s){stop}, {summary.get('examples', 0):,} examples trained"
    )
