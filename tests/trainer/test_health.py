"""The health report file: one JSON spelling of NaN and Inf, strict JSON, read back."""

from __future__ import annotations

import json
import math

import numpy as np

from nanguard.components import vocab
from nanguard.components.trainer import health
from tests.trainer import _shared


def test_write_health_report_spells_nonfinite_as_vocab(tmp_path):
    report = {
        "status": "stopped",
        "loss_per_epoch": [0.5, float("nan")],
        "max_grad_norm": float("inf"),
        "nested": {"low": -math.inf, "array": np.array([1.0, np.nan], "float32")},
        "config": {"hidden_units": (16, 8)},
    }
    path = health.write_health_report(report, str(tmp_path / "run"))
    assert path == str(tmp_path / "run" / health.HEALTH_REPORT_FILE)
    text = open(path).read()
    assert "NaN" in text and "nan" not in text.replace("NaN", "")
    back = _shared.strict_json(path)  # no bare NaN/Infinity token
    assert back["loss_per_epoch"] == [0.5, "NaN"]
    assert back["max_grad_norm"] == "Infinity" and back["nested"]["low"] == "-Infinity"
    assert back["nested"]["array"] == [1.0, "NaN"]
    assert back["config"]["hidden_units"] == [16, 8]
    assert back == json.loads(vocab.dumps(report))
    assert health.read_health_report(str(tmp_path / "run")) == back
    assert health.read_health_report(str(tmp_path / "elsewhere")) is None


def test_json_float_spelling():
    assert health.json_float(np.float32(1.5)) == 1.5
    assert health.json_float(float("nan")) == vocab.NAN == "NaN"
    assert health.json_float(np.inf) == vocab.POS_INF == "Infinity"
    assert health.json_float(-np.inf) == vocab.NEG_INF == "-Infinity"
    assert math.isinf(vocab.as_float(health.json_float(-np.inf)))
