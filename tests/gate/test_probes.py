"""components/probes.py and gate/probe_runs.py: the hostile requests and how their answers
are classified."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from nanguard.components import probes
from nanguard.components.gate import probe_runs, testing
from nanguard.components.gate.signature import ModelSignature
from nanguard.components.probes import PROBE_FAMILIES
from nanguard.components.profiles import FeatureProfile

PROFILES = [
    FeatureProfile("x", "float", 2.0, 40.0),
    FeatureProfile("n", "int", 3, 50.0),
    FeatureProfile("color", "bytes", "red", None),
]


def _value(probe, feature):
    f = probe.example.features.feature[feature]
    return getattr(f, f.WhichOneof("kind")).value[0]


def test_build_probes_families_and_values():
    built = {p.name: p for p in probes.build_probes(PROFILES)}
    assert list(built) == [
        'base',
        'missing:x', 'nan:x', 'pos_inf:x', 'neg_inf:x', 'out_of_range:x', 'out_of_range_neg:x',
        'pos_extreme:x', 'neg_extreme:x', 'subnormal:x', 'neg_zero:x', 'as_bytes:x',
        'missing:n', 'out_of_range:n', 'out_of_range_neg:n', 'pos_extreme:n', 'neg_extreme:n',
        'as_bytes:n',
        'missing:color', 'all_missing',
    ]  # fmt: skip
    feats = built["out_of_range:x"].example.features.feature
    assert feats["x"].float_list.value[0] == pytest.approx(40000.0)
    assert feats["color"].bytes_list.value[0] == b"red"
    assert _value(built["out_of_range_neg:x"], "x") == pytest.approx(-40000.0)
    assert _value(built["out_of_range:n"], "n") == 50000
    assert _value(built["out_of_range_neg:n"], "n") == -50000
    # The float32 line: +/-max, the smallest subnormal, -0.0 (bit-exact, as float32).
    f32 = np.finfo(np.float32)
    assert _value(built["pos_extreme:x"], "x") == float(f32.max) == pytest.approx(3.4028235e38)
    assert _value(built["neg_extreme:x"], "x") == -float(f32.max)
    assert _value(built["subnormal:x"], "x") == float(f32.smallest_subnormal)
    assert 0 < _value(built["subnormal:x"], "x") < 1.5e-45
    neg_zero = _value(built["neg_zero:x"], "x")
    assert neg_zero == 0.0 and np.signbit(neg_zero)
    assert _value(built["pos_extreme:n"], "n") == np.iinfo(np.int64).max
    assert _value(built["neg_extreme:n"], "n") == np.iinfo(np.int64).min
    # A number sent as bytes: its typical value as text, in a bytes_list.
    assert built["as_bytes:x"].example.features.feature["x"].WhichOneof("kind") == "bytes_list"
    assert _value(built["as_bytes:x"], "x") == b"2.0"
    assert _value(built["as_bytes:n"], "n") == b"3"
    # Every other feature keeps the base row's value.
    for name, probe in built.items():
        if probe.feature != "n" and name != "all_missing":
            assert _value(probe, "n") == 3, name
    assert np.isnan(built["nan:x"].example.features.feature["x"].float_list.value[0])
    assert "x" not in built["missing:x"].example.features.feature
    assert len(built["all_missing"].example.features.feature) == 0
    only = probes.build_probes(PROFILES, families=["nan"])
    assert [p.name for p in only] == ["base", "nan:x"]
    assert probes.build_probes(PROFILES, families=[]) == []
    # Unknown families are rejected once, by GateConfig (tests/gate/test_config.py).


def test_every_family_is_built_and_documented():
    import pathlib

    built = {p.family for p in probes.build_probes(PROFILES)}
    assert built == {"base", *PROBE_FAMILIES}
    readme = (pathlib.Path(probe_runs.__file__).parent / "README.md").read_text()
    for family in PROBE_FAMILIES:
        assert f"| `{family}` |" in readme, family
        assert f"``{family}``" in probes.__doc__, family


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

    results = {r["probe"]: r for r in probe_runs.run_probes(predict, built)}
    assert results["base"]["status"] == "ok"
    assert results["nan:x"]["status"] == "non_finite"
    assert results["nan:x"]["outputs"] == {"p": ["NaN"], "id": 1}
    assert results["nan:x"]["non_finite_outputs"] == ["p"]
    assert results["missing:n"] == {
        "probe": "missing:n", "family": "missing", "feature": "n", "status": "error",
        "request": {"color": ["red"], "x": [2.0]}, "error": "ValueError: n is required",
    }  # fmt: skip


def test_a_rejected_number_as_bytes_is_not_an_error():
    built = probes.build_probes(PROFILES, families=["as_bytes", "nan"])
    batches = []

    def predict(batch):
        batches.append(len(batch))
        examples = [tf.train.Example.FromString(r) for r in batch]
        if any(f.WhichOneof("kind") == "bytes_list" and n != "color"
               for e in examples for n, f in e.features.feature.items()):  # fmt: skip
            raise TypeError("Data types don't match. Data type: float but expected type: string")
        return {"p": np.zeros((len(batch), 1), np.float32)}

    results = {r["probe"]: r for r in probe_runs.run_probes(predict, built)}
    assert results["as_bytes:x"]["status"] == results["as_bytes:n"]["status"] == "rejected"
    assert results["as_bytes:x"]["error"].startswith("TypeError: Data types don't match")
    assert results["as_bytes:x"]["request"]["x"] == ["2.0"]
    assert results["nan:x"]["status"] == results["base"]["status"] == "ok"
    # base and nan:x in one batch, the rejectable ones in theirs (then one by one to name them).
    assert batches == [2, 2, 1, 1]


def test_a_number_as_bytes_answered_with_nan_fails():
    built = probes.build_probes(PROFILES, families=["as_bytes"])

    def predict(batch):  # a lenient model: strings become NaN instead of an error
        return {"p": np.full((len(batch), 1), np.nan, np.float32)}

    results = {r["probe"]: r["status"] for r in probe_runs.run_probes(predict, built)}
    assert results == {"base": "non_finite", "as_bytes:x": "non_finite", "as_bytes:n": "non_finite"}


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    return {k: ModelSignature(testing.save_model(str(root / k), k), "serving_default")
            for k in ("square", "healthy")}  # fmt: skip


def test_a_model_that_overflows_fails_the_float32_extremes(models):
    results = probe_runs.run_probes(models["square"], probes.build_probes(PROFILES))
    status = {r["probe"]: r["status"] for r in results}
    assert sorted(p for p, s in status.items() if s == "non_finite") == [
        "neg_extreme:x", "pos_extreme:x"
    ]  # fmt: skip
    assert status["as_bytes:x"] == status["as_bytes:n"] == "rejected"
    assert {s for p, s in status.items() if not p.startswith("as_bytes")} <= {"ok", "non_finite"}
    by_name = {r["probe"]: r for r in results}
    assert by_name["pos_extreme:x"]["outputs"] == {"outputs": ["Infinity"]}
    assert by_name["out_of_range_neg:x"]["outputs"] == {"outputs": [pytest.approx(1.6e9)]}
    assert by_name["subnormal:x"]["outputs"] == {"outputs": [0.0]}


def test_a_healthy_clipped_model_passes_every_probe(models):
    results = probe_runs.run_probes(models["healthy"], probes.build_probes(PROFILES))
    status = {r["probe"]: r["status"] for r in results}
    assert len(status) == 20
    assert {p for p, s in status.items() if s != "ok"} == {"as_bytes:x", "as_bytes:n"}
    assert status["as_bytes:x"] == status["as_bytes:n"] == "rejected"
