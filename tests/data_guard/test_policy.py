"""policy.py: the verdict over a profile (missing, Inf, label, empty split, strings)."""

from __future__ import annotations

import pytest

from nanguard.components.data_guard import counts, policy
from nanguard.components.data_guard.config import DataGuardConfig
from nanguard.components.errors import InputError


def test_config_validation_names_key_and_allowed_values():
    with pytest.raises(InputError, match=r"inf: 'drop'.*'fail', 'treat_as_missing', 'clip'"):
        DataGuardConfig.from_dict({"inf": "drop"})
    with pytest.raises(InputError, match=r"mode: 'stop'.*\['fail', 'warn'\]"):
        DataGuardConfig.from_dict({"mode": "stop"})
    with pytest.raises(InputError, match=r"unknown key\(s\) \['max_nan'\]"):
        DataGuardConfig.from_dict({"max_nan": 0.1})
    with pytest.raises(InputError, match=r"max_missing_fraction_by_feature\.x: 1\.5"):
        DataGuardConfig.from_dict({"max_missing_fraction_by_feature": {"x": 1.5}})
    assert DataGuardConfig.from_json(DataGuardConfig(mode="warn").to_json()).mode == "warn"


def _feat(**counts):
    base = dict(missing=0, nan=0, pos_inf=0, neg_inf=0, present=10, rows=10)
    base.update(counts)
    return base


def test_policy_inf_and_label_modes():
    split = {"rows": 10, "features": {"x": _feat(pos_inf=2, nan=1), "y": _feat(missing=3, nan=1)}}
    split["features"]["label"] = _feat(missing=1, neg_inf=1)
    fail = DataGuardConfig(max_missing_fraction=0.35)
    v, drop = policy.evaluate(split, fail, "label", "train")
    assert sorted((x["feature"], x["kind"], x["count"]) for x in v) == [
        ("label", "label", 2),
        ("x", "inf", 2),
        ("y", "missing", 4),
    ]
    assert drop == 0
    treat = DataGuardConfig(
        max_missing_fraction=0.35,
        inf="treat_as_missing",
        label="drop",
        max_missing_fraction_by_feature={"y": 0.4},
    )
    v, drop = policy.evaluate(split, treat, "label", "train")
    assert v == [] and drop == 2  # x: 3/10 <= 0.35; y: 4/10 <= 0.4
    clip = DataGuardConfig(max_missing_fraction=0.35, inf="clip", label="drop")
    v, _ = policy.evaluate(split, clip, "label", "train")
    assert [(x["feature"], x["kind"]) for x in v] == [("y", "missing")]
    assert (
        "'y'" in v[0]["message"] and "'train'" in v[0]["message"] and "4 of 10" in v[0]["message"]
    )


def test_label_missing_in_every_row_blocks_even_under_drop():
    split = {"rows": 10, "features": {"label": _feat(missing=7, nan=3, present=3)}}
    drop = DataGuardConfig(label="drop")
    violations, to_drop = policy.evaluate(split, drop, "label", "train")
    assert [(v["feature"], v["kind"], v["count"]) for v in violations] == [("label", "label", 10)]
    split["features"]["label"] = _feat(missing=9, present=1)
    assert policy.evaluate(split, drop, "label", "train") == ([], 9)


def test_empty_split_is_a_violation_naming_the_split():
    empty = {"rows": 0, "features": {"x": _feat(rows=0, present=0)}}
    violations, to_drop = policy.evaluate(empty, DataGuardConfig(), "label", "eval")
    assert [(v["split"], v["kind"], v["rows"]) for v in violations] == [("eval", "empty", 0)]
    assert "split 'eval' holds no rows" in violations[0]["message"] and to_drop == 0
    anomalies = policy.build_anomalies(empty, violations, DataGuardConfig())
    assert anomalies.data_missing


def _string_feat(num_values, numeric_like, sample, tokens=None):
    return _feat(
        type=counts.STRING,
        num_values=num_values,
        numeric_like=numeric_like,
        non_numeric_sample=sample,
        non_numeric=tokens or {sample: num_values - numeric_like},
        non_numeric_exact=True,
        huge=0,
    )


def test_type_violations_name_feature_split_and_token():
    split = {
        "rows": 10,
        "features": {
            "x": _string_feat(10, 9, "abc"),  # schema says FLOAT
            "m": _string_feat(10, 9, "oops"),  # no schema entry, 90% numbers
            "s": _string_feat(10, 0, "red"),  # a real string column
            "few": _string_feat(10, 8, "b"),  # no schema entry, only 80% numbers
        },
    }
    violations = policy.type_violations(split, {"x": counts.FLOAT}, "train")
    got = {v["feature"]: (v["kind"], v["split"], v["value"], v["count"]) for v in violations}
    assert got == {"x": ("type", "train", "abc", 1), "m": ("type", "train", "oops", 1)}
    x = next(v for v in violations if v["feature"] == "x")["message"]
    assert "'x'" in x and "'train'" in x and "'abc'" in x and "schema says FLOAT" in x
    anomalies = policy.build_anomalies(split, violations, DataGuardConfig())
    reasons = {r.type for r in anomalies.anomaly_info["x"].reason}
    assert policy._Type.UNEXPECTED_DATA_TYPE in reasons


def test_stray_tokens_and_counts_missing_spellings_left_out_of_the_share():
    """A BYTES column as a pipeline's own ExampleGen types it: 80 numbers, 18 '?', 2 'abc'.

    '?' is a missing token: the share is 80 of 82 non-missing values (>= 90%), so the column
    is flagged, naming both tokens and their counts; a config token extends the set."""
    tokens = {"?": 18, "abc": 2}
    split = {"rows": 100, "features": {"x": _string_feat(100, 80, "?", tokens)}}
    split["features"]["x"]["present"] = 100
    (v,) = policy.type_violations(split, {}, "train", DataGuardConfig())
    assert (v["feature"], v["count"], v["tokens"], v["value"]) == ("x", 20, tokens, "?")
    assert "80 of its 82 non-missing values are numbers" in v["message"]
    assert "'?' x18, 'abc' x2" in v["message"] and "missing tokens among them: 18" in v["message"]
    # Without '?' read as missing (not a default token here: 80 of 100) it is a text column.
    assert policy.type_violations(split, {}, "train", None)  # the defaults hold '?'
    words = {"rows": 100, "features": {"w": _string_feat(100, 80, "n.d.", {"n.d.": 20})}}
    assert policy.type_violations(words, {}, "train", DataGuardConfig()) == []
    extended = DataGuardConfig(missing_tokens=("n.d.",))
    (v,) = policy.type_violations(words, {}, "train", extended)
    assert v["tokens"] == {"n.d.": 20} and "80 of its 80 non-missing" in v["message"]
    anomalies = policy.build_anomalies(words, [v], extended)
    reasons = anomalies.anomaly_info["w"].reason
    assert {r.type for r in reasons} == {policy._Type.UNEXPECTED_DATA_TYPE}
    assert reasons[0].description == "20 values are not numbers: 'n.d.' x20."
