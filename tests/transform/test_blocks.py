"""Blocks of features that share a config: each column is imputed and scaled as if alone.

The shared dataset (`_data`, `test_golden`) has one most-frequent feature; here a block holds
several, of two dtypes (int64, float32), with ties and a column with no value at all; a z-score
block holds columns of scales 1 and 1e38 (squares beyond float32); and a block of string
features; each checked against
scikit-learn's SimpleImputer or numpy column by column.
"""

from __future__ import annotations

import functools
import math
import os
import tempfile

import apache_beam as beam
import numpy as np
import tensorflow as tf
import tensorflow_transform as tft
import tensorflow_transform.beam as tft_beam
from sklearn.impute import SimpleImputer
from sklearn.preprocessing import OneHotEncoder

from nanguard.components import transform_record as record
from nanguard.components.transform import preprocessing

N = 12
COLUMNS = {
    # ties between 2.0 and 3.0: scikit-learn keeps the smallest
    "m_f32": [2.0, 3.0, None, 3.0, 2.0, math.nan, 9.0, None, 1.0, 1.5, 7.0, 8.0],
    "m_int": [5, 5, 4, None, 4, 4, 5, 1, None, 5, 2, 3],
    "m_none": [None] * N,
    # squares overflow float32; the moments are float64
    "w_big": [1e38, -1e38, 3e37, None, 2e38, math.inf, -5e37, 1e38, None, 0.0, 4e37, 7.0],
    "w_small": [0.5, None, -1.25, 2.0, math.nan, 3.5, 0.25, -0.75, 1.0, None, 2.5, -2.0],
    "s_a": [b"x", b"y", b"", None, b"y", b"x", b"z", b"y", None, b"x", b"y", b"x"],
    "s_b": [b"q", None, b"q", b"r", None, b"r", b"p", b"p", b"r", b"q", None, b"s"],
}
SPEC = {
    "m_f32": tf.io.VarLenFeature(tf.float32),
    "m_int": tf.io.VarLenFeature(tf.int64),
    "m_none": tf.io.VarLenFeature(tf.float32),
    "w_big": tf.io.VarLenFeature(tf.float32),
    "w_small": tf.io.VarLenFeature(tf.float32),
    "s_a": tf.io.VarLenFeature(tf.string),
    "s_b": tf.io.VarLenFeature(tf.string),
}
MODE = {"strategy": "most_frequent", "scale": "none", "add_indicator": True}
CONFIG = {
    "defaults": {"string": {"strategy": "most_frequent", "add_indicator": True}},
    "features": {
        "m_f32": MODE,
        "m_int": MODE,
        "m_none": {**MODE, "fill_value": -1.0},
        "w_big": {"strategy": "mean", "scale": "z_score", "add_indicator": True},
        "w_small": {"strategy": "mean", "scale": "z_score", "add_indicator": True},
    },
}


def _run(config=None):
    rows = [{k: [] if v[i] is None else [v[i]] for k, v in COLUMNS.items()} for i in range(N)]
    tmp = tempfile.mkdtemp()
    fn = functools.partial(preprocessing.preprocessing_fn, custom_config=config or CONFIG)
    with beam.Pipeline() as p:
        with tft_beam.Context(temp_dir=os.path.join(tmp, "tmp")):
            data = p | beam.Create(rows)
            meta = tft.DatasetMetadata.from_feature_spec(SPEC)
            transform_fn = (data, meta) | tft_beam.AnalyzeDataset(fn)
            _ = transform_fn | tft_beam.WriteTransformFn(os.path.join(tmp, "graph"))
    graph = os.path.join(tmp, "graph")
    sparse = {}
    for name, spec in SPEC.items():
        idx = [[i, 0] for i, r in enumerate(rows) if r[name]]
        vals = [r[name][0] for r in rows if r[name]]
        sparse[name] = tf.SparseTensor(
            tf.constant(idx, tf.int64, shape=[len(idx), 2]),
            tf.constant(vals, spec.dtype, shape=[len(vals)]),
            [N, 1],
        )
    out = tft.TFTransformOutput(graph).transform_features_layer()(sparse)
    return {k: v.numpy() for k, v in out.items()}, graph


def _column(name):
    values = [np.nan if v is None else float(v) for v in COLUMNS[name]]
    return np.array(values, np.float64)


def test_a_block_of_most_frequent_columns_matches_scikit_learn_column_by_column():
    out, graph = _run()
    recs = record.read_transform_record(graph)["features"]
    for name in ("m_f32", "m_int"):
        x = _column(name)
        expected = SimpleImputer(strategy="most_frequent").fit_transform(x[:, None])[:, 0]
        np.testing.assert_allclose(out[name], expected, rtol=1e-6, err_msg=name)
        np.testing.assert_array_equal(out[name + "_missing"], np.isnan(x).astype(np.float32))
        assert recs[name]["fill_value"] == expected[np.isnan(x)][0], name
        values, counts = np.unique(x[~np.isnan(x)], return_counts=True)
        assert recs[name]["mode_count"] == counts.max(), name
    assert recs["m_f32"]["fill_value"] == 2.0  # the tie 2.0/3.0 goes to the smaller
    # A column with no value at all in a block: its own fallback fill, recorded with a warning.
    np.testing.assert_array_equal(out["m_none"], np.full(N, -1.0, np.float32))
    assert recs["m_none"]["mode_count"] == 0 and recs["m_none"]["warning"]


def test_columns_of_any_scale_in_one_block_get_their_own_mean_and_spread():
    out, graph = _run()
    recs = record.read_transform_record(graph)["features"]
    for name in ("w_big", "w_small"):
        x = _column(name).astype(np.float32).astype(np.float64)  # what tf.Example carries
        x[~np.isfinite(x)] = np.nan  # Inf is treated as missing by default
        finite = x[~np.isnan(x)]
        mean, std = finite.mean(), finite.std()
        np.testing.assert_allclose([recs[name]["mean"], recs[name]["std"]], [mean, std], 1e-9)
        expected = (np.where(np.isnan(x), mean, x) - mean) / std
        np.testing.assert_allclose(out[name], expected, rtol=1e-5, err_msg=name)
        assert np.isfinite(out[name]).all()


def test_a_block_of_string_columns_fills_each_with_its_own_most_frequent_value():
    out, graph = _run()
    output = tft.TFTransformOutput(graph)
    recs = record.read_transform_record(graph)["features"]
    for name, fill in (("s_a", b"x"), ("s_b", b"q")):  # s_a: x 4 and y 4, s_b: q 3 and r 3
        raw = [v if v else None for v in COLUMNS[name]]
        vocab = output.vocabulary_by_name(name)
        np.testing.assert_array_equal(out[name], [vocab.index(v or fill) for v in raw])
        np.testing.assert_array_equal(out[name + "_missing"], [v is None for v in raw])
        assert recs[name]["fill_value"] == fill.decode() and recs[name]["vocabulary"] == name


def test_min_frequency_groups_rare_values_as_scikit_learn_does_in_the_unknown_slot():
    """`transform.min_frequency: 3`: s_a's z (1 row) and s_b's p (2) and s (1) share the one
    unknown-value id with values never seen; the rows fall into the same groups as
    scikit-learn's `OneHotEncoder(min_frequency=3)` puts them (fitted on the present values)."""
    out, graph = _run({**CONFIG, "min_frequency": 3})
    output = tft.TFTransformOutput(graph)
    for name, fill, kept in (("s_a", "x", ["x", "y"]), ("s_b", "q", ["q", "r"])):
        vocab = [v.decode() for v in output.vocabulary_by_name(name)]
        assert sorted(vocab) == kept, name
        present = np.array([[v.decode()] for v in COLUMNS[name] if v], dtype=object)
        encoder = OneHotEncoder(min_frequency=3, handle_unknown="infrequent_if_exist")
        filled = np.array([[v.decode() if v else fill] for v in COLUMNS[name]], dtype=object)
        groups = encoder.fit(present).transform(filled).toarray().argmax(axis=1)
        ids = out[name]
        assert set(ids[[v not in kept for v in filled[:, 0]]]) == {len(vocab)}, name
        same_id, same_group = ids[:, None] == ids[None, :], groups[:, None] == groups[None, :]
        np.testing.assert_array_equal(same_id, same_group, err_msg=name)
    _, every = _run()  # the default keeps every value seen
    assert sorted(tft.TFTransformOutput(every).vocabulary_by_name("s_b")) == [
        b"p",
        b"q",
        b"r",
        b"s",
    ]
