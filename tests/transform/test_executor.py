"""executor.py: after the stock Transform's Do, the record lands in the TransformGraph artifact."""

from __future__ import annotations

import json
import os

from tfx.components.transform import executor as transform_executor
from tfx.types import standard_artifacts, standard_component_specs

from nanguard.components.transform import executor, spec
from tests.transform import _data


def test_do_writes_the_record_into_the_transform_graph_artifact(monkeypatch):
    _, _, graph = _data.analyzed()
    path = os.path.join(graph, spec.RECORD_FILENAME)
    if os.path.exists(path):
        os.remove(path)
    calls = []
    # The stock Do (a whole Beam Transform run) is replaced: its output is the graph above.
    monkeypatch.setattr(
        transform_executor.Executor, "Do", lambda self, i, o, e: calls.append((i, o, e))
    )
    artifact = standard_artifacts.TransformGraph()
    artifact.uri = graph
    outputs = {standard_component_specs.TRANSFORM_GRAPH_KEY: [artifact]}
    executor.Executor().Do({}, outputs, {"custom_config": "{}"})
    assert calls == [({}, outputs, {"custom_config": "{}"})]
    with open(path) as f:
        written = json.load(f)
    assert written["features"]["f_mean"]["chosen"] == "mean"
    assert set(written["features"]) == set(_data.recs(graph)["features"])


def test_do_without_a_transform_graph_output_writes_nothing(monkeypatch, tmp_path):
    monkeypatch.setattr(transform_executor.Executor, "Do", lambda self, i, o, e: None)
    executor.Executor().Do({}, {}, {})
    assert list(tmp_path.iterdir()) == []
