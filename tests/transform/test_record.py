"""record.py: the per-feature record in the transform graph and its JSON file."""

from __future__ import annotations

import json
import math
import os

import numpy as np
import pytest
import tensorflow as tf

from nanguard.components import transform_record as record
from nanguard.components import vocab
from tests.transform import _data
from tests.transform._data import NUMERIC


def _strict(text):
    """json.loads that refuses the bare NaN/Infinity tokens (strict JSON)."""

    def refuse(token):
        raise ValueError(f"non-strict JSON token {token}")

    return json.loads(text, parse_constant=refuse)


@pytest.fixture(scope="module")
def ordered():
    return _data.analyzed()


def test_write_transform_record_file(ordered):
    truth, _, graph = ordered
    path = record.write_transform_record(graph)
    assert path == os.path.join(graph, record.RECORD_FILENAME)
    with open(path) as f:
        data = json.load(f)
    fin = truth["f_mean"][np.isfinite(truth["f_mean"])]
    assert data["features"]["f_mean"]["fill_value"] == pytest.approx(fin.mean(), rel=1e-9)
    assert data["features"]["f_mean"]["count_finite"] == fin.size
    assert set(NUMERIC) <= set(data["features"])


def test_record_file_is_strict_json_with_vocab_spelling(ordered):
    _, _, graph = ordered
    with open(record.write_transform_record(graph)) as f:
        data = _strict(f.read())
    allnan = data["features"]["f_allnan"]
    # No finite value: mean/std/median are NaN, spelled as vocab spells it; the fill falls back.
    assert allnan["mean"] == vocab.NAN and allnan["std"] == vocab.NAN
    assert allnan["fill_value"] == -3.0 and allnan["count_finite"] == 0
    assert data["features"]["f_mean"]["mean"] == pytest.approx(
        _data.recs(graph)["features"]["f_mean"]["mean"], rel=1e-15
    )
    # The Python view reads them back as floats.
    assert math.isnan(record.read_transform_record(graph)["features"]["f_allnan"]["mean"])


def test_record_content_per_kind(ordered):
    _, _, graph = ordered
    feats = _data.recs(graph)["features"]
    assert feats["f_clip"]["kind"] == "numeric" and feats["f_clip"]["add_indicator"] is True
    assert feats["f_clip"]["clip_quantiles"] == [0.05, 0.95]
    assert feats["f_skew"]["strategy"] == "auto" and "reason" in feats["f_skew"]
    assert feats["island"]["kind"] == "string" and feats["island"]["vocabulary"] == "island"
    assert feats["k1"]["knn_features"] == ["k1", "k2", "k3"]
    assert not any("feature" in f or "nanguard_transform_record" in f for f in feats.values())


@pytest.mark.parametrize(
    "value, text",
    [
        (1.5, "1.5"),
        (math.nan, '"NaN"'),
        (math.inf, '"Infinity"'),
        (-math.inf, '"-Infinity"'),
    ],
)
def test_json_value_of_a_number_tensor(value, text):
    got = record._json_value(tf.constant(value, tf.float64)).numpy().decode()
    assert json.loads(got) == json.loads(text)


def test_json_value_of_a_string_tensor_is_escaped():
    got = record._json_value(tf.constant('a "q"\\ \n')).numpy().decode()
    assert json.loads(got) == 'a "q"\\  '


def test_numbers_reads_non_finite_back_but_keeps_string_data():
    num = record._numbers({"kind": "numeric", "mean": "NaN", "clip_max": "Infinity", "x": 1.0})
    assert math.isnan(num["mean"]) and num["clip_max"] == math.inf and num["x"] == 1.0
    text = record._numbers({"kind": "string", "fill_value": "NaN", "strategy": "most_frequent"})
    assert text["fill_value"] == "NaN"


def test_json_value_of_vectors_matrices_and_flags():
    """EM's mean vector and covariance matrix are nested JSON lists, vocab-spelled."""
    m = record._json_value(tf.constant([[1.0, math.nan], [math.inf, -2.5]], tf.float64))
    assert _strict(m.numpy()) == [[1.0, vocab.NAN], [vocab.POS_INF, -2.5]]
    assert _strict(record._json_value(tf.constant([0.1, 3e38])).numpy()) == [
        pytest.approx(0.1, rel=1e-7),
        pytest.approx(3e38, rel=1e-7),
    ]
    assert record._json_value(tf.constant(True)).numpy() == b"true"
    assert record._json_value(tf.constant(False)).numpy() == b"false"
    assert math.isnan(record._numbers({"em_mean": [1.0, vocab.NAN]})["em_mean"][1])
