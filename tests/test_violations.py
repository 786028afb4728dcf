"""The shared violation record: one line per finding, strict JSON both ways."""

import math

import pytest

from nanguard.components import violations
from nanguard.components.violations import Violation


def test_line_names_key_and_passing_value():
    v = Violation(
        guard="DataGuard",
        kind="missing",
        reason="data",
        message="feature 'x' in split 'train': 40 of 100 rows missing (0.4 > 0.3)",
        feature="x",
        split="train",
        observed=0.4,
        limit=0.3,
        key="data_guard.max_missing_fraction",
        passing_value=0.4,
    )
    assert v.line() == (
        "feature 'x' in split 'train': 40 of 100 rows missing (0.4 > 0.3); "
        "set data_guard.max_missing_fraction: 0.4"
    )


def test_json_round_trip_keeps_non_finite_observations():
    v = Violation(
        guard="FinitePredictionGate",
        kind="non_finite_prediction",
        reason="non_finite",
        message="3 NaN predictions",
        observed=math.nan,
        limit=0,
        details={"nan": 3, "pos_inf": math.inf},
    )
    text = violations.to_json([v])
    assert "NaN" in text and "Infinity" in text
    (back,) = violations.from_json(text)
    assert math.isnan(back.observed) and back.limit == 0
    assert back.details["nan"] == 3 and back.message == v.message
    assert violations.from_json("") == []


def test_unknown_reason_is_refused():
    with pytest.raises(ValueError, match="reason"):
        Violation(guard="g", kind="k", reason="nan", message="m")
