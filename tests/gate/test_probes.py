"""probes.py: the hostile requests and how their answers are classified."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from nanguard.components.gate import probes
from nanguard.components.gate.profiles import FeatureProfile

PROFILES = [
    FeatureProfile("x", "float", 2.0, 40.0),
    FeatureProfile("n", "int", 3, 50.0),
    FeatureProfile("color", "bytes", "red", None),
]


def test_build_probes_families_and_values():
    built = {p.name: p for p in probes.build_probes(PROFILES)}
    assert set(built) == {
        'base', 'missing:x', 'nan:x', 'pos_inf:x', 'neg_inf:x', 'out_of_range:x',
        'missing:n', 'out_of_range:n', 'missing:color', 'all_missing',
    }  # fmt: skip
    feats = built["out_of_range:x"].example.features.feature
    assert feats["x"].float_list.value[0] == pytest.approx(40000.0)
    assert feats["color"].bytes_list.value[0] == b"red"
    assert built["out_of_range:n"].example.features.feature["n"].int64_list.value[0] == 50000
    assert np.isnan(built["nan:x"].example.features.feature["x"].float_list.value[0])
    assert "x" not in built["missing:x"].example.features.feature
    assert len(built["all_missing"].example.features.feature) == 0
    only = probes.build_probes(PROFILES, families=["nan"])
    assert [p.name for p in only] == ["base", "nan:x"]
    assert probes.build_probes(PROFILES, families=[]) == []
    # Unknown families are rejected once, by GateConfig (tests/gate/test_config.py).


def test_run_probes_classifies_and_names_the_failing_probe():
    built = probes.build_probes(PROFILES, families=["nan", "missing"])

    def predict(batch):
        if len(batch) > 1:
            raise ValueError("one of them is bad")
        example = tf.train.Example.FromString(batch[0])
        if "n" not in example.features.feature:
            raise ValueError("n is required\nsecond line")
        x = example.features.feature["x"].float_list.value
        return {"p": np.array([[x[0] if x else 0.0]], np.float32), "id": np.array([1])}

    results = {r["probe"]: r for r in probes.run_probes(predict, built)}
    assert results["base"]["status"] == "ok"
    assert results["nan:x"]["status"] == "non_finite"
    assert results["nan:x"]["outputs"] == {"p": ["NaN"], "id": 1}
    assert results["nan:x"]["non_finite_outputs"] == ["p"]
    assert results["missing:n"] == {
        "probe": "missing:n", "family": "missing", "feature": "n", "status": "error",
        "request": {"color": ["red"], "x": [2.0]}, "error": "ValueError: n is required",
    }  # fmt: skip
