"""Diagnosis: non-finite weights, extreme inputs, the stage and layer of the first NaN/Inf."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from nanguard.components.trainer import diagnosis
from tests.trainer import _shared


def test_nonfinite_weights_counts_nan_and_inf_per_variable():
    model, _ = _shared.model()
    assert diagnosis.nonfinite_weights(model) == []
    kernel = model.get_layer("dense_1").kernel
    value = kernel.numpy()
    value[0, :3] = np.nan
    value[1, 0] = np.inf
    value[1, 1] = -np.inf
    kernel.assign(value)
    assert diagnosis.nonfinite_weights(model) == [
        {"layer": "dense_1", "variable": kernel.name, "nan": 3, "inf": 2}
    ]


def test_extreme_inputs_matches_numpy():
    rng = np.random.default_rng(2)
    a = rng.normal(size=50).astype("float32")
    b = (rng.normal(size=50) * 1e4).astype("float32")
    a[[3, 9]] = np.nan
    a[4] = -np.inf
    small = rng.normal(size=50).astype("float32")
    found = diagnosis.extreme_inputs(
        {"a": a, "b": b, "small": small, "ints": np.arange(50)}, threshold=1e3
    )
    assert [f["feature"] for f in found] == ["a", "b"]  # non-finite first, then by max |value|
    assert found[0] == {
        "feature": "a",
        "max_abs": pytest.approx(float(np.abs(a[np.isfinite(a)]).max())),
        "nan": 2,
        "inf": 1,
        "rows": 50,
    }
    assert found[1]["max_abs"] == pytest.approx(float(np.abs(b).max()))
    assert found[1]["nan"] == found[1]["inf"] == 0


def test_diagnose_batch_names_weights_stage_and_handles_no_batch():
    model, _ = _shared.model()
    result = diagnosis.diagnose_batch(model, None, None)
    assert result["stage"] == "not_reproduced" and result["note"] == "no captured batch"
    kernel = model.get_layer("dense_0").kernel
    kernel.assign(tf.fill(kernel.shape, np.inf))
    x, y = _shared.data(32)
    result = diagnosis.diagnose_batch(model, x, y, check_numerics=True)
    assert result["stage"] == "weights" and result["layer"] == "dense_0"
    assert result["nonfinite_weights"][0]["inf"] == int(np.prod(kernel.shape))
    assert result["loss"] in ("NaN", "Infinity")  # the report's spelling
    assert result["op"] is not None and result["check_numerics_message"]


def test_diagnose_batch_finite_batch_is_not_reproduced():
    model, _ = _shared.model()
    x, y = _shared.data(32)
    result = diagnosis.diagnose_batch(model, x, y)
    assert result["stage"] == "not_reproduced" and result["op"] is None
    assert result["nonfinite_layer_outputs"] == [] and result["nonfinite_gradients"] == []
    assert result["extreme_inputs"] == []
    assert 0 < result["loss"] < 10
