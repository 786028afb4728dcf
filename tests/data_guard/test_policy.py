"""policy.py / core.judge_splits: the verdict as `Violation` records, and the defaults.

Profiles are counted by the guard's own `counts` from small in-memory tables shaped like real
ones (83 rows, a few label gaps, a feature mostly missing).
"""

from __future__ import annotations

import logging

import numpy as np
import pyarrow as pa
import pytest

from nanguard.components import violations as violations_lib
from nanguard.components.data_guard import anomalies, core, counts, policy, profiling, summary
from nanguard.components.data_guard.config import DataGuardConfig, SkewConfig
from nanguard.components.errors import InputError
from nanguard.components.violations import Violation


def test_config_validation_names_key_and_allowed_values():
    with pytest.raises(InputError, match=r"inf: 'drop'.*'fail', 'treat_as_missing', 'clip'"):
        DataGuardConfig.from_dict({"inf": "drop"})
    with pytest.raises(InputError, match=r"mode: 'stop'.*\['fail', 'warn'\]"):
        DataGuardConfig.from_dict({"mode": "stop"})
    with pytest.raises(InputError, match=r"unknown key\(s\) \['max_nan'\]"):
        DataGuardConfig.from_dict({"max_nan": 0.1})
    with pytest.raises(InputError, match=r"max_missing_fraction_by_feature\.x: 1\.5"):
        DataGuardConfig.from_dict({"max_missing_fraction_by_feature": {"x": 1.5}})
    with pytest.raises(InputError, match=r"data_guard\.all_missing: 'drop'"):
        DataGuardConfig.from_dict({"all_missing": "drop"})
    with pytest.raises(InputError, match=r"data_guard\.max_unlabelled_fraction: 2"):
        DataGuardConfig.from_dict({"max_unlabelled_fraction": 2})
    assert DataGuardConfig.from_json(DataGuardConfig(mode="warn").to_json()).mode == "warn"
    default = DataGuardConfig()
    assert (default.max_missing_fraction, default.warn_missing_fraction) == (None, 0.3)
    assert (default.unlabelled_rows, default.max_unlabelled_fraction) == ("drop", 0.5)
    assert (default.all_missing, default.inf, default.exclude) == ("block", "fail", ())
    assert DataGuardConfig.from_dict({"max_missing_fraction": None}).max_missing_fraction is None


def test_old_label_key_is_read_as_unlabelled_rows_with_a_warning(caplog):
    with caplog.at_level(logging.WARNING):
        config = DataGuardConfig.from_dict({"label": "block"})
    assert config.unlabelled_rows == "block"
    assert "data_guard.label is deprecated" in caplog.text
    assert "data_guard.unlabelled_rows" in caplog.text
    assert "label" not in config.to_dict()  # written back under the new name only
    with pytest.raises(InputError, match=r"data_guard\.unlabelled_rows: 'keep'"):
        DataGuardConfig.from_dict({"label": "keep"})


# ---------------------------------------------------------------------------------------------
# Real-looking profiles.
# ---------------------------------------------------------------------------------------------

RNG = np.random.default_rng(23)


def _profile(columns: dict) -> dict:
    table = pa.table(columns)
    profile = profiling.profile_record_batches(table.to_batches())
    profiling.complete_profile(profile, table.column_names)
    return profile


def _numbers(n: int, missing: int = 0, inf: int = 0) -> pa.Array:
    values = list(RNG.normal(50.0, 10.0, n))
    for i in RNG.choice(n, missing + inf, replace=False)[:missing]:
        values[i] = None
    holes = [i for i, v in enumerate(values) if v is not None][:inf]
    for i in holes:
        values[i] = float("inf")
    return pa.array(values, pa.float64())


def _labels(n: int, missing: int) -> pa.Array:
    labels = [("a", "b", "c")[i % 3] for i in range(n)]
    for i in RNG.choice(n, missing, replace=False):
        labels[i] = None
    return pa.array(labels, pa.string())


def _table(n: int, label_missing: int = 0, **special) -> dict:
    """An n-row split: `x` complete, `w` 10% missing, `y` the label; `special` adds columns."""
    return _profile(
        {
            "x": _numbers(n),
            "w": _numbers(n, missing=n // 10),
            **special,
            "y": _labels(n, label_missing),
        }
    )


def _judge(splits: dict, config: DataGuardConfig | None = None, baseline=None) -> dict:
    return core.judge_splits(splits, None, config or DataGuardConfig(), "y", "", baseline)


def _stopping(result) -> list[Violation]:
    return policy.blocking(result["violations"])


def test_a_few_label_gaps_pass_and_are_counted_per_split():
    """83 rows, 4 without a label (3 in train, 1 in eval): no violation, 4 rows left out."""
    result = _judge({"train": _table(66, label_missing=3), "eval": _table(17, label_missing=1)})
    assert result["blessed"] and result["violations"] == []
    assert {s: r["label_missing"] for s, r in result["splits"].items()} == {"train": 3, "eval": 1}
    assert result["totals"]["num_label_missing"] == 4
    facts = {
        **{k: 0 for k in ("missing", "nan", "pos_inf", "neg_inf", "huge", "warnings")},
        "rows": 83,
        "label_missing": 4,
        "blessed": True,
        "violations": 0,
    }
    assert summary.summary_line(facts) == (
        "83 rows (4 without a label, left out): 0 missing, 0 NaN, 0 +Inf, 0 -Inf, 0 huge; pass"
    )


def test_a_mostly_unlabelled_split_blocks_naming_label_split_and_counts():
    result = _judge({"train": _table(50, label_missing=30)})
    (v,) = _stopping(result)
    assert (v.guard, v.kind, v.reason, v.feature, v.split) == (
        "DataGuard",
        "label",
        "data",
        "y",
        "train",
    )
    assert (v.observed, v.limit) == (0.6, 0.5)
    assert (v.key, v.passing_value) == ("data_guard.max_unlabelled_fraction", 0.6)
    assert v.details == {"count": 30, "rows": 50}
    assert "label 'y' in split 'train': 30 of 50 rows have no usable label" in v.message
    assert v.line().endswith(
        "; set data_guard.max_unlabelled_fraction: 0.6; a mostly unlabelled split usually means "
        "a broken join or export: check the label column"
    )
    assert result["splits"]["train"]["label_missing"] == 30
    # Exactly half is not "mostly": it passes, counted.
    assert _judge({"train": _table(50, label_missing=25)})["blessed"]


def test_no_usable_label_blocks_whatever_the_limit_and_block_blocks_any():
    result = _judge(
        {"train": _table(20, label_missing=20)}, DataGuardConfig(max_unlabelled_fraction=1.0)
    )
    (v,) = _stopping(result)
    assert (v.kind, v.observed, v.passing_value) == ("label", 1.0, None)
    assert "20 of 20 rows" in v.message and "nothing to train" in v.advice
    block = DataGuardConfig(unlabelled_rows="block")
    (v,) = _stopping(_judge({"train": _table(40, label_missing=1)}, block))
    assert (v.key, v.passing_value, v.observed) == ("data_guard.unlabelled_rows", "drop", 0.025)


def test_a_feature_mostly_missing_is_a_warning_with_its_rate():
    mostly = _numbers(80, missing=60)
    result = _judge({"train": _table(80, m=mostly)})
    assert result["blessed"] and _stopping(result) == []
    (v,) = result["violations"]
    assert policy.is_warning(v) and v.details == {"count": 60, "rows": 80, "severity": "warning"}
    assert (v.kind, v.feature, v.split, v.observed, v.limit) == ("missing", "m", "train", 0.75, 0.3)
    assert "60 of 80 rows unusable" in v.message and "(75.0%)" in v.message
    assert result["totals"]["num_warnings"] == 1 and result["totals"]["num_violations"] == 0
    # The TFDV proto marks it WARNING, the verdict stays with `blessed`.
    proto = result["splits"]["train"]["anomalies"]
    assert proto.anomaly_info["m"].severity == anomalies._Severity.WARNING


def test_a_feature_with_no_value_blocks_naming_the_key_or_is_left_out():
    empty = pa.array([None] * 40, pa.float64())
    result = _judge({"train": _table(40, e=empty)})
    (v,) = _stopping(result)
    assert (v.kind, v.feature, v.split, v.observed) == ("all_missing", "e", "train", 1.0)
    assert (v.key, v.passing_value) == ("data_guard.all_missing", "exclude")
    assert "feature 'e' has no value in any row of split 'train'" in v.line()
    assert "set data_guard.all_missing: exclude; or list 'e' in transform.exclude" in v.line()
    exclude = _judge({"train": _table(40, e=empty)}, DataGuardConfig(all_missing="exclude"))
    assert exclude["blessed"]
    (w,) = exclude["violations"]
    assert policy.is_warning(w) and w.kind == "all_missing" and w.key == "transform.exclude"
    # Empty only in eval: judged by the moved rate (skew) against train, not as all_missing.
    result = _judge(
        {
            "train": _table(200, e=_numbers(200)),
            "eval": _table(60, e=pa.array([None] * 60, pa.float64())),
        }
    )
    assert [(v.kind, v.feature, v.split) for v in _stopping(result)] == [("skew", "e", "eval")]


def test_an_excluded_feature_is_left_out_of_the_verdict():
    bad = {"e": pa.array([None] * 40, pa.float64()), "i": _numbers(40, inf=3)}
    config = DataGuardConfig(exclude=("e", "i"))
    result = _judge(
        {"train": _table(40, **bad), "eval": _table(40, e=_numbers(40), i=_numbers(40))}, config
    )
    assert result["blessed"] and result["violations"] == []
    assert result["splits"]["train"]["excluded"] == ["e", "i"]
    assert result["splits"]["train"]["features"]["i"]["pos_inf"] == 3  # still counted
    assert not _judge({"train": _table(40, **bad)})["blessed"]
    assert DataGuardConfig().with_excluded(["a", "b"]).with_excluded(["b", "c"]).exclude == (
        "a",
        "b",
        "c",
    )


def test_inf_blocks_under_fail_and_absolute_limits_are_there_when_set():
    result = _judge({"train": _table(100, i=_numbers(100, inf=2), m=_numbers(100, missing=20))})
    (v,) = _stopping(result)
    assert (v.kind, v.feature, v.observed, v.limit) == ("inf", "i", 2, 0)
    assert (v.key, v.passing_value) == ("data_guard.inf", "treat_as_missing")
    limited = DataGuardConfig(
        inf="clip", max_missing_fraction=0.15, max_missing_fraction_by_feature={"w": 0.05}
    )
    result = _judge({"train": _table(100, m=_numbers(100, missing=20))}, limited)
    got = {
        v.feature: (v.kind, v.observed, v.limit, v.key, v.passing_value) for v in _stopping(result)
    }
    assert got == {
        "m": ("missing", 0.2, 0.15, "data_guard.max_missing_fraction", 0.2),
        "w": ("missing", 0.1, 0.05, "data_guard.max_missing_fraction_by_feature.w", 0.1),
    }


def test_empty_split_and_absent_label():
    empty = {"rows": 0, "features": {}}
    violations, label_missing = policy.evaluate(empty, DataGuardConfig(), "y", "eval")
    (v,) = violations
    assert (v.kind, v.split, v.observed, v.passing_value, label_missing) == (
        "empty",
        "eval",
        0,
        None,
        0,
    )
    assert "split 'eval' holds no rows" in v.line()
    assert anomalies.build_anomalies(empty, violations, DataGuardConfig()).data_missing
    no_label = _profile({"x": _numbers(10)})
    (v,) = policy.evaluate(no_label, DataGuardConfig(), "y", "train")[0]
    assert (v.kind, v.feature, v.key) == ("label", "y", "label")


def test_moved_rates_block_as_skew_and_as_drift_from_an_earlier_run():
    train = _table(300, m=_numbers(300, missing=15))
    moved = _table(100, m=_numbers(100, missing=40))
    result = _judge({"train": train, "eval": moved})
    (v,) = _stopping(result)
    assert (v.kind, v.feature, v.split, v.key) == ("skew", "m", "eval", "data_guard.skew.absolute")
    assert v.details["finding"]["rate"] == "missing" and v.observed == 0.4
    # |0.40 - 0.05| is 0.35000000000000003 in floats: 0.35 itself would not let it through.
    assert v.passing_value == 0.3501
    off = DataGuardConfig(skew=SkewConfig(check=False))
    assert _judge({"train": train, "eval": moved}, off)["blessed"]
    # Drift: the same split of an earlier run's profile document.
    baseline = {"splits": {"train": _table(300, m=_numbers(300, missing=15))}}
    now = {"train": _table(300, m=_numbers(300, missing=120))}
    (v,) = _stopping(_judge(now, baseline=baseline))
    assert (v.kind, v.feature, v.split) == ("drift", "m", "train")
    assert (
        "drift: m: missing rate 5.00% in baseline train (15 of 300) vs 40.00% in train" in v.message
    )


def _with_key(config: DataGuardConfig, key: str, value) -> DataGuardConfig:
    """`config` with the dotted `key` (`data_guard.a.b`) set to `value`, validated."""
    data = config.to_dict()
    section, *path = key.split(".")
    assert section == "data_guard", key
    node = data
    for part in path[:-1]:
        node = node.setdefault(part, {})
    node[path[-1]] = value
    return DataGuardConfig.from_dict(data)


def _cases() -> list[tuple[dict, DataGuardConfig, dict | None]]:
    empty = pa.array([None] * 40, pa.float64())
    limited = DataGuardConfig(
        max_missing_fraction=0.05, max_missing_fraction_by_feature={"w": 0.01}
    )
    return [
        ({"train": _table(50, label_missing=30)}, DataGuardConfig(), None),
        ({"train": _table(40, label_missing=3)}, DataGuardConfig(unlabelled_rows="block"), None),
        ({"train": _table(40, e=empty)}, DataGuardConfig(), None),
        ({"train": _table(100, i=_numbers(100, inf=2))}, DataGuardConfig(), None),
        ({"train": _table(100, m=_numbers(100, missing=20))}, limited, None),
        (
            {
                "train": _table(300, m=_numbers(300, missing=15)),
                "eval": _table(100, m=_numbers(100, missing=40)),
            },
            DataGuardConfig(),
            None,
        ),
        (
            {"train": _table(300, m=_numbers(300, missing=120))},
            DataGuardConfig(),
            {"splits": {"train": _table(300, m=_numbers(300, missing=15))}},
        ),
    ]


def test_every_passing_value_really_passes():
    """Re-judging with the violation's key set to its passing value: that finding is gone."""
    checked = 0
    for splits, config, baseline in _cases():
        result = _judge(splits, config, baseline)
        stopping = _stopping(result)
        assert stopping, (splits.keys(), config)
        for v in stopping:
            assert v.key and v.passing_value is not None, v
            again = _judge(splits, _with_key(config, v.key, v.passing_value), baseline)
            same = [(w.kind, w.feature, w.split) for w in _stopping(again)]
            assert (v.kind, v.feature, v.split) not in same, (v.line(), same)
            checked += 1
    assert checked == 8


def test_violations_round_trip_through_json():
    result = _judge({"train": _table(50, label_missing=30, e=pa.array([None] * 50, pa.float64()))})
    text = violations_lib.to_json(result["violations"])
    assert violations_lib.from_json(text) == result["violations"]
    assert len(result["violations"]) == 2


def test_blocked_message_is_one_line_per_violation():
    result = _judge(
        {
            "train": _table(
                50, label_missing=30, e=pa.array([None] * 50, pa.float64()), i=_numbers(50, inf=1)
            )
        }
    )
    lines = core.blocked_message(result, "/x.blocked").splitlines()
    assert lines[0] == "DataGuard blocked the run: 3 violation(s); evidence: /x.blocked"
    assert lines[1:] == [v.line() for v in _stopping(result)]
    assert all(len(line) < 400 for line in lines)


def _feat(**counts):
    base = dict(missing=0, nan=0, pos_inf=0, neg_inf=0, present=10, rows=10)
    base.update(counts)
    return base


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


def test_type_violations_name_feature_split_token_and_key():
    split = {
        "rows": 10,
        "features": {
            "x": _string_feat(10, 9, "abc"),  # schema says FLOAT
            "m": _string_feat(10, 9, "oops"),  # no schema entry, 90% numbers
            "s": _string_feat(10, 0, "red"),  # a real string column
            "few": _string_feat(10, 8, "b"),  # no schema entry, only 80% numbers
        },
    }
    violations = policy.type_violations(
        split, {"x": counts.FLOAT}, "train", DataGuardConfig(stray_strings="block")
    )
    got = {v.feature: (v.kind, v.split, v.details["value"], v.observed) for v in violations}
    assert got == {"x": ("type", "train", "abc", 1), "m": ("type", "train", "oops", 1)}
    x = next(v for v in violations if v.feature == "x")
    assert "'x'" in x.message and "'train'" in x.message and "'abc'" in x.message
    assert "schema says FLOAT" in x.message
    assert (x.key, x.passing_value) == ("data_guard.stray_strings", "treat_as_missing")
    # Already treat_as_missing: a column typed as text before the guard cannot be retyped here.
    (x,) = policy.type_violations(
        split,
        {"x": counts.FLOAT},
        "train",
        DataGuardConfig(stray_strings="treat_as_missing", text_features=("m",)),
    )
    assert x.passing_value is None and "typed as text before the guard" in x.advice
    assert policy.type_violations(split, {}, "train", DataGuardConfig(exclude=("x", "m"))) == []
    proto = anomalies.build_anomalies(split, violations, DataGuardConfig())
    reasons = {r.type for r in proto.anomaly_info["x"].reason}
    assert anomalies._Type.UNEXPECTED_DATA_TYPE in reasons


def test_stray_tokens_and_counts_missing_spellings_left_out_of_the_share():
    """A BYTES column as a pipeline's own ExampleGen types it: 80 numbers, 18 '?', 2 'abc'.

    '?' is a missing token: the share is 80 of 82 non-missing values (>= 90%), so the column
    is flagged, naming both tokens and their counts; a config token extends the set."""
    tokens = {"?": 18, "abc": 2}
    split = {"rows": 100, "features": {"x": _string_feat(100, 80, "?", tokens)}}
    split["features"]["x"]["present"] = 100
    (v,) = policy.type_violations(split, {}, "train", DataGuardConfig())
    assert (v.feature, v.observed, v.details["tokens"], v.details["value"]) == (
        "x",
        20,
        tokens,
        "?",
    )
    assert "80 of its 82 non-missing values are numbers" in v.message
    assert "'?' x18, 'abc' x2" in v.message and "missing tokens among them: 18" in v.message
    assert policy.type_violations(split, {}, "train", None)  # the defaults hold '?'
    words = {"rows": 100, "features": {"w": _string_feat(100, 80, "n.d.", {"n.d.": 20})}}
    assert policy.type_violations(words, {}, "train", DataGuardConfig()) == []
    extended = DataGuardConfig(missing_tokens=("n.d.",))
    (v,) = policy.type_violations(words, {}, "train", extended)
    assert v.details["tokens"] == {"n.d.": 20} and "80 of its 80 non-missing" in v.message
    proto = anomalies.build_anomalies(words, [v], extended)
    reasons = proto.anomaly_info["w"].reason
    assert {r.type for r in reasons} == {anomalies._Type.UNEXPECTED_DATA_TYPE}
    assert reasons[0].description == "20 values are not numbers: 'n.d.' x20."


def test_label_gaps_block_where_the_schema_requires_the_label_in_every_row():
    """tfx_bsl's TensorAdapter fails on a missing value of a fixed-shape feature (checked by
    hand: `ValueError: Error raised when handling tensor 'y'`): the guard says so first."""
    from google.protobuf import text_format
    from tensorflow_metadata.proto.v0 import schema_pb2

    required = (
        'feature { name: "y" type: BYTES presence { min_fraction: 1.0 } shape { dim { size: 1 } } }'
    )
    schema = text_format.Parse(required, schema_pb2.Schema())
    splits = {"train": _table(40, label_missing=2)}
    result = core.judge_splits(splits, schema, DataGuardConfig(), "y")
    (v,) = _stopping(result)
    assert (v.kind, v.feature, v.observed, v.details) == ("label", "y", 2, {"count": 2, "rows": 40})
    assert "the schema requires it in every row" in v.message and "remove shape" in v.advice
    optional = text_format.Parse('feature { name: "y" type: BYTES }', schema_pb2.Schema())
    assert core.judge_splits(splits, optional, DataGuardConfig(), "y")["blessed"]
