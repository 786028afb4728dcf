"""The run summary: one line per guard, each written by the guard's own `summarize`.

The components that produced each output are found through ML Metadata's lineage
(`local_runner.run_outputs`); what each output says is read by the component's `summary`
module from the files it wrote, so the same functions serve the console and the report.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

# node id -> (console label, output key, module with summarize(uri) and summary_line(summary))
GUARDS = {
    "DataGuard": ("data guard", "anomalies", "nanguard.components.data_guard.summary"),
    "Transform": ("transform", "transform_graph", "nanguard.components.transform.summary"),
    "Trainer": ("trainer", "model_run", "nanguard.components.trainer.summary"),
    "FinitePredictionGate": ("gate", "blessing", "nanguard.components.gate.summary"),
}


def summarize_run(outputs: Mapping[str, Mapping[str, list]]) -> dict[str, dict[str, Any]]:
    """`{node_id: summary}` for every guard that wrote its output in this run."""
    summaries = {}
    for node_id, (_, key, module) in GUARDS.items():
        artifacts = outputs.get(node_id, {}).get(key)
        if artifacts:
            summaries[node_id] = importlib.import_module(module).summarize(artifacts[0].uri)
    return summaries


def summary_lines(summaries: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """One console line per guard, in pipeline order."""
    lines = []
    for node_id, (label, _, module) in GUARDS.items():
        if node_id in summaries:
            line = importlib.import_module(module).summary_line(summaries[node_id])
            lines.append(f"  {label:<12} {line}")
    return lines
