"""The serving contract's helpers on a real tf.Transform output."""

from __future__ import annotations

import tensorflow as tf

from nanguard.components.trainer import serving
from tests.trainer import _shared


def test_feature_inputs_and_num_classes():
    transformed = _shared.transformed()
    tft_out = _shared.transform_output(transformed)
    inputs, numeric, categorical = serving.feature_inputs(tft_out, _shared.LABEL)
    assert numeric == sorted([*_shared.NUMERIC, *(f"{n}_missing" for n in _shared.NUMERIC)])
    frame = transformed["frame"]
    assert categorical == [("island", frame["island"].nunique() + 1)]
    assert sorted(inputs) == sorted(numeric + ["island"])
    assert inputs["island"].dtype == tf.int64
    assert serving.num_classes(tft_out, _shared.LABEL) == frame[_shared.LABEL].nunique()
