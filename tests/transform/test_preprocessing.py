"""preprocessing.py: the output contract of nanguard's preprocessing_fn, at training and at
serving, its config reading, and a run on the multi-process DirectRunner."""

from __future__ import annotations

import ast
import functools
import math
import os
import tempfile

import apache_beam as beam
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
import tensorflow_transform as tft
import tensorflow_transform.beam as tft_beam
from apache_beam.options.pipeline_options import PipelineOptions
from sklearn.impute import KNNImputer, SimpleImputer
from sklearn.preprocessing import MinMaxScaler, StandardScaler

from nanguard.components import transform_record as record
from nanguard.components.errors import InputError
from nanguard.components.transform import preprocessing
from tests.transform import _data
from tests.transform._data import FEATURE_SPEC, NUMERIC, N, finite_col, sk


@pytest.fixture(scope="module")
def ordered():
    return _data.analyzed()


def test_outputs_contract_and_finite(ordered):
    truth, res, _ = ordered
    for name in NUMERIC + ["f_big", "n_int"]:
        assert res[name].dtype == np.float32 and res[name].shape == (N,), name
        assert np.isfinite(res[name]).all(), name
        missing = ~np.isfinite(truth[name].astype(np.float64))
        np.testing.assert_array_equal(res[name + "_missing"], missing.astype(np.float32), name)
    assert res["island"].dtype == np.int64 and res["y"].dtype == np.int64
    assert "island_missing" not in res


def test_int_and_string_features(ordered):
    truth, res, graph = ordered
    x = truth["n_int"]
    expected = StandardScaler().fit(finite_col(x)).transform(sk("mean", x)[:, None])[:, 0]
    # n_int is near-uniform over 0..6: auto picks the mean.
    np.testing.assert_allclose(res["n_int"], expected, rtol=1e-5, atol=1e-5)
    tf_out = tft.TFTransformOutput(graph)
    vocab = tf_out.vocabulary_by_name("island")
    isl = truth["island"]
    present = np.array([v is not None for v in isl])
    values, counts = np.unique(isl[present].astype(bytes), return_counts=True)
    mode = values[np.argmax(counts)]
    assert vocab[0] == mode
    expected_idx = np.array([vocab.index(v if v is not None else mode) for v in isl])
    np.testing.assert_array_equal(res["island"], expected_idx)
    y = truth["y"]
    yv = tf_out.vocabulary_by_name("y")
    np.testing.assert_array_equal(res["y"], [yv.index(v) if v is not None else -1 for v in y])
    recs = _data.recs(graph)
    assert recs["features"]["island"]["fill_value"] == mode.decode()
    assert recs["features"]["island"]["add_indicator"] is False
    assert recs["vocabularies"]["island"]["size"] == 2
    assert "y" not in recs["features"]  # the label is encoded, never imputed


def test_serving_missing_feature_nan_and_inf(ordered):
    """A serialized tf.Example batch as serving sees it: feature absent, NaN, Inf."""
    truth, _, graph = ordered
    tf_out = tft.TFTransformOutput(graph)
    recs = _data.recs(graph)["features"]
    examples = []
    for v in [None, math.nan, math.inf, -math.inf, 11.0]:
        feats = {"k1": tf.train.Feature(float_list=tf.train.FloatList(value=[1.0]))}
        if v is not None:
            feats["f_mean"] = tf.train.Feature(float_list=tf.train.FloatList(value=[v]))
        examples.append(
            tf.train.Example(features=tf.train.Features(feature=feats)).SerializeToString()
        )
    parsed = tf.io.parse_example(tf.constant(examples), FEATURE_SPEC)
    out = {k: v.numpy() for k, v in tf_out.transform_features_layer()(parsed).items()}
    for name in NUMERIC + ["f_big", "n_int"]:
        assert np.isfinite(out[name]).all(), name
    r = recs["f_mean"]
    z_fill = (r["fill_value"] - r["mean"]) / r["std"]
    np.testing.assert_allclose(out["f_mean"][:4], z_fill, rtol=1e-5)
    np.testing.assert_allclose(out["f_mean"][4], (11.0 - r["mean"]) / r["std"], rtol=1e-5)
    np.testing.assert_array_equal(out["f_mean_missing"], [1, 1, 1, 1, 0])
    np.testing.assert_array_equal(out["f_skew_missing"], 1.0)  # absent everywhere
    np.testing.assert_array_equal(out["y"], -1)
    np.testing.assert_array_equal(out["island"], 0)  # most frequent


def test_bad_config_raises_input_error_naming_the_key_before_any_tensor():
    with pytest.raises(InputError, match=r"transform.features.bill.strategy: 'mode'"):
        preprocessing.preprocessing_fn(
            {}, {"label_key": "y", "features": {"bill": {"strategy": "mode"}}}
        )
    with pytest.raises(InputError, match=r"transform: unknown key\(s\) \['lable_key'\]"):
        preprocessing.preprocessing_fn({}, {"lable_key": "y"})


def test_a_column_named_like_an_indicator_is_refused_not_overwritten():
    inputs = {"Bill (mm)": tf.constant([1.0]), "Bill (mm)_missing": tf.constant([0.0])}
    with pytest.raises(InputError, match=r"column 'Bill \(mm\)_missing' has the name of the"):
        preprocessing.preprocessing_fn(inputs, {"label_key": "y"})


N_MP = 120
SPEC = {n: tf.io.VarLenFeature(tf.float32) for n in "abc"}


MP_CONFIG = {
    "label_key": "none",
    "features": {
        "a": {"strategy": "median", "scale": "min_max", "add_indicator": True},
        "c": {"strategy": "knn", "scale": "none"},
        "b": {"strategy": "knn", "scale": "none", "add_indicator": False},
    },
    "knn": {"n_neighbors": 2, "sample_size": 500, "seed": 0},
}


def _mp_data():
    rng = np.random.default_rng(3)
    a = rng.normal(5, 2, N_MP).astype(np.float32).astype(np.float64)
    a[::7] = np.nan
    a[3::11] = np.inf
    a_absent = np.arange(N_MP) % 5 == 1
    b = np.arange(N_MP, dtype=np.float64) + 0.5  # unique and always present: also the row id
    c = (a * 0 + rng.normal(0, 1, N_MP)).astype(np.float32).astype(np.float64)
    c[np.isnan(c)] = rng.normal(0, 1, np.isnan(c).sum()).astype(np.float32)
    c_absent = np.arange(N_MP) % 9 == 4
    rows = [
        {
            "a": [] if a_absent[i] else [float(a[i])],
            "b": [float(b[i])],
            "c": [] if c_absent[i] else [float(c[i])],
        }
        for i in range(N_MP)
    ]
    return rows, np.where(a_absent, np.nan, a), b, np.where(c_absent, np.nan, c)


@pytest.mark.e2e  # ~60-100 s: two worker processes each import TensorFlow
def test_preprocessing_fn_on_multiprocess_direct_runner(tmp_path):
    rows, a, b, c = _mp_data()
    tmp = str(tmp_path)  # pytest's own folder: nothing is left in the system temp folder
    args = ["--direct_running_mode=multi_processing", "--direct_num_workers=2"]
    fn = functools.partial(preprocessing.preprocessing_fn, custom_config=MP_CONFIG)
    with beam.Pipeline(options=PipelineOptions(args)) as p:
        with tft_beam.Context(temp_dir=os.path.join(tmp, "tmp")):
            data = p | beam.Create(rows)
            meta = tft.DatasetMetadata.from_feature_spec(SPEC)
            (out, _), _ = (data, meta) | tft_beam.AnalyzeAndTransformDataset(fn)
            _ = (
                out
                | beam.Map(str)  # builtins only: the workers cannot import this test module
                | beam.io.WriteToText(os.path.join(tmp, "out"), shard_name_template="")
            )
    with open(os.path.join(tmp, "out")) as f:
        res = pd.DataFrame([ast.literal_eval(line) for line in f]).astype(np.float64)
    res = res.iloc[np.argsort(res["b"].to_numpy())].reset_index(drop=True)
    np.testing.assert_allclose(res["b"], b)
    fin = np.where(np.isfinite(a), a, np.nan)[:, None]
    missing = ~np.isfinite(a)
    np.testing.assert_array_equal(res["a_missing"], missing.astype(float))
    # 'a': median (odd count of finite values: the sketch returns the exact middle value) then
    # min-max with the finite min/max, as SimpleImputer + MinMaxScaler.
    assert np.isfinite(a).sum() % 2 == 1
    expected = (
        MinMaxScaler().fit(fin).transform(SimpleImputer(strategy="median").fit_transform(fin))[:, 0]
    )
    np.testing.assert_allclose(res["a"], expected, rtol=1e-6, atol=1e-6)
    # 'b' and 'c' are KNN-imputed together (scale 'none'): sklearn's KNNImputer on the
    # standardised complete rows, mapped back to the original units.
    both = np.stack([b, c], axis=1)
    mu, sd = np.nanmean(both, axis=0), np.nanstd(both, axis=0)
    z = (both - mu) / sd
    knn = KNNImputer(n_neighbors=2).fit(z[~np.isnan(z).any(axis=1)]).transform(z)
    np.testing.assert_allclose(res["c"], knn[:, 1] * sd[1] + mu[1], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(res["c_missing"], np.isnan(c).astype(float))


CLIP_CONFIG = {
    "label_key": "price",
    "inf": "clip",
    "exclude": ["yr"],
    "defaults": {"string": {"add_indicator": True}},
    "features": {"a": {"strategy": "mean", "scale": "none"}},
}
CLIP_SPEC = {
    "a": tf.io.VarLenFeature(tf.float32),
    "s": tf.io.VarLenFeature(tf.string),
    "yr": tf.io.VarLenFeature(tf.int64),
    "price": tf.io.VarLenFeature(tf.float32),
}


def test_inf_clip_exclude_string_indicator_and_numeric_label():
    """The config keys that the shared run does not cover, read through TransformConfig."""
    a = [1.0, math.inf, None, 4.0, -math.inf, math.nan, 2.0, 8.0]
    s = [b"x", b"", None, b"y", b"x", b"x", b"y", None]
    price = [3.0, math.nan, 1.0, None, 2.0, 5.0, math.inf, 4.0]
    rows = [
        {
            "a": [] if a[i] is None else [a[i]],
            "s": [] if s[i] is None else [s[i]],
            "yr": [2007 + i],
            "price": [] if price[i] is None else [price[i]],
        }
        for i in range(len(a))
    ]
    tmp = tempfile.mkdtemp()
    fn = functools.partial(preprocessing.preprocessing_fn, custom_config=CLIP_CONFIG)
    with beam.Pipeline() as p:
        with tft_beam.Context(temp_dir=os.path.join(tmp, "tmp")):
            data = p | beam.Create(rows)
            meta = tft.DatasetMetadata.from_feature_spec(CLIP_SPEC)
            transform_fn = (data, meta) | tft_beam.AnalyzeDataset(fn)
            _ = transform_fn | tft_beam.WriteTransformFn(os.path.join(tmp, "graph"))
    graph = os.path.join(tmp, "graph")
    sparse = {}
    for name, spec in CLIP_SPEC.items():
        idx = [[i, 0] for i, r in enumerate(rows) if r[name]]
        vals = [r[name][0] for r in rows if r[name]]
        sparse[name] = tf.SparseTensor(
            tf.constant(idx, tf.int64), tf.constant(vals, spec.dtype), [len(rows), 1]
        )
    out = tft.TFTransformOutput(graph).transform_features_layer()(sparse)
    out = {k: v.numpy() for k, v in out.items()}
    assert set(out) == {"a", "a_missing", "s", "s_missing", "price"}  # yr excluded
    finite = np.array([v for v in a if v is not None and math.isfinite(v)])
    # clip: +Inf -> finite max, -Inf -> finite min, not flagged; absent/NaN -> the finite mean.
    expected = [1.0, finite.max(), finite.mean(), 4.0, finite.min(), finite.mean(), 2.0, 8.0]
    np.testing.assert_allclose(out["a"], expected, rtol=1e-6)
    np.testing.assert_array_equal(out["a_missing"], [0, 0, 1, 0, 0, 1, 0, 0])
    np.testing.assert_array_equal(out["s_missing"], [0, 1, 1, 0, 0, 0, 0, 1])
    vocab = tft.TFTransformOutput(graph).vocabulary_by_name("s")
    assert vocab[0] == b"x"  # most frequent, also the fill
    np.testing.assert_array_equal(out["s"], [vocab.index(v or b"x") for v in s])
    # A numeric label is standardised, not imputed: absent, NaN and Inf are NaN (rows dropped).
    known = np.array([3.0, 1.0, 2.0, 5.0, 4.0])
    expected = (np.array([3.0, np.nan, 1.0, np.nan, 2.0, 5.0, np.nan, 4.0]) - 3.0) / known.std()
    np.testing.assert_allclose(out["price"], expected, rtol=1e-6)
    recs = record.read_transform_record(graph)["features"]
    assert recs["a"]["clip_max"] == finite.max() and recs["a"]["clip_min"] == finite.min()
    assert recs["a"]["inf"] == "clip" and recs["s"]["add_indicator"] is True
    assert "yr" not in recs and "price" not in recs


# ---- spreadsheet headers (issue #10) ------------------------------------------------------

LONG = "Länge des Schnabels " + "x" * 180  # 200 characters
HEADER_NUMERIC = ["Bill Length (mm)", "a b", "a_b", "A B", "a.b", "中文", "中文 ", LONG]
HEADER_KNN = ["3rd-island/site", "Flipper Länge"]
HEADER_EM = ["体重 (g)", "é.ü"]
HEADER_STRING = ["Island (é)", "s x", "s-x"]  # `s x` and `s-x` share a file name in tft's rewrite
HEADER_LABEL = "Species (类)"
HEADER_CONFIG = {
    "label_key": HEADER_LABEL,
    "defaults": {"numeric": {"strategy": "mean", "scale": "z_score", "add_indicator": True}},
    "features": {
        **{n: {"strategy": "knn"} for n in HEADER_KNN},
        **{n: {"strategy": "em"} for n in HEADER_EM},
        "中文 ": {"strategy": "constant", "fill_value": -2.0, "scale": "none"},
        "s-x": {"strategy": "constant", "fill_value": "zz"},
    },
    "knn": {"n_neighbors": 2},
}
HEADER_SPEC = {
    **{n: tf.io.VarLenFeature(tf.float32) for n in HEADER_NUMERIC + HEADER_KNN + HEADER_EM},
    **{n: tf.io.VarLenFeature(tf.string) for n in [*HEADER_STRING, HEADER_LABEL]},
}


def _header_rows(n=40):
    rng = np.random.default_rng(11)
    rows = []
    for i in range(n):
        row = {}
        for j, name in enumerate(HEADER_NUMERIC + HEADER_KNN + HEADER_EM):
            # Distinct data per column (`a b` vs `a_b`...): a merged column would show.
            row[name] = [] if (i + j) % 6 == 0 else [float(rng.normal(10 * j, 1 + j))]
        for j, name in enumerate(HEADER_STRING):
            row[name] = (
                [] if (i + j) % 5 == 0 else [rng.choice([b"p", b"q", b"r"], p=[0.6, 0.3, 0.1])]
            )
        row[HEADER_LABEL] = [] if i == 7 else [[b"Adelie", b"Gentoo"][i % 2]]
        rows.append(row)
    return rows


def _examples(rows, drop=()):
    out = []
    for row in rows:
        feature = {}
        for name, values in row.items():
            if name in drop or not values:
                continue
            if isinstance(values[0], bytes):
                feature[name] = tf.train.Feature(bytes_list=tf.train.BytesList(value=values))
            else:
                feature[name] = tf.train.Feature(float_list=tf.train.FloatList(value=values))
        out.append(
            tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()
        )
    return out


@pytest.fixture(scope="module")
def header_graph(tmp_path_factory):
    tmp = str(tmp_path_factory.mktemp("headers"))
    rows = _header_rows()
    fn = functools.partial(preprocessing.preprocessing_fn, custom_config=HEADER_CONFIG)
    with beam.Pipeline() as p:
        with tft_beam.Context(temp_dir=os.path.join(tmp, "tmp")):
            data = p | beam.Create(rows)
            meta = tft.DatasetMetadata.from_feature_spec(HEADER_SPEC)
            transform_fn = (data, meta) | tft_beam.AnalyzeDataset(fn)
            _ = transform_fn | tft_beam.WriteTransformFn(os.path.join(tmp, "graph"))
    graph = os.path.join(tmp, "graph")
    parsed = tf.io.parse_example(tf.constant(_examples(rows)), HEADER_SPEC)
    out = tft.TFTransformOutput(graph).transform_features_layer()(parsed)
    return rows, {k: v.numpy() for k, v in out.items()}, graph


def test_spreadsheet_headers_keep_their_names_and_values(header_graph):
    from nanguard.components.names import tf_name

    rows, out, graph = header_graph
    numeric = HEADER_NUMERIC + HEADER_KNN + HEADER_EM
    assert set(out) == {
        *numeric,
        *(f"{n}_missing" for n in numeric),
        *HEADER_STRING,  # no indicator: the string default
        HEADER_LABEL,
    }
    for name in numeric:
        x = np.array([r[name][0] if r[name] else np.nan for r in rows])
        assert np.isfinite(out[name]).all(), name
        np.testing.assert_array_equal(out[name + "_missing"], np.isnan(x).astype(np.float32))
        if name in HEADER_KNN + HEADER_EM:
            continue
        if name == "中文 ":
            np.testing.assert_allclose(out[name], np.where(np.isnan(x), -2.0, x), rtol=1e-6)
            continue
        # Each column imputed and scaled from its own data (`a b`, `a_b`, `A B`, `a.b` apart).
        expected = StandardScaler().fit(x[:, None]).transform(sk("mean", x)[:, None])[:, 0]
        np.testing.assert_allclose(out[name], expected, rtol=1e-5, atol=1e-5, err_msg=name)
    tf_out = tft.TFTransformOutput(graph)
    recs = record.read_transform_record(graph)
    assert set(recs["features"]) == set(numeric + HEADER_STRING)  # the original names
    assert [recs["features"][n]["strategy"] for n in HEADER_KNN + HEADER_EM] == ["knn"] * 2 + [
        "em"
    ] * 2
    for name in HEADER_STRING:
        vocab_file = tf_name(name)
        assert recs["features"][name]["vocabulary"] == vocab_file
        vocab = tf_out.vocabulary_by_name(vocab_file)
        fill = "zz" if name == "s-x" else vocab[0].decode()
        assert recs["features"][name]["fill_value"] == fill
        values = [r[name][0] if r[name] else fill.encode() for r in rows]
        expected = [vocab.index(v) if v in vocab else len(vocab) for v in values]  # OOV bucket
        np.testing.assert_array_equal(out[name], expected, err_msg=name)
    assert tf_name("s x") != tf_name("s-x") and {tf_name("s x"), tf_name("s-x")} <= set(
        recs["vocabularies"]
    )
    labels = tf_out.vocabulary_by_name(tf_name(HEADER_LABEL))
    assert sorted(labels) == [b"Adelie", b"Gentoo"]
    expected = [labels.index(r[HEADER_LABEL][0]) if r[HEADER_LABEL] else -1 for r in rows]
    np.testing.assert_array_equal(out[HEADER_LABEL], expected)


def test_spreadsheet_headers_at_serving(header_graph):
    """Requests keyed by the original names, every feature absent in one of them."""
    rows, out, graph = header_graph
    layer = tft.TFTransformOutput(graph).transform_features_layer()
    request_spec = {k: v for k, v in HEADER_SPEC.items() if k != HEADER_LABEL}
    requests = _examples(rows[:5], drop={HEADER_LABEL}) + _examples([{}])
    served = layer(tf.io.parse_example(tf.constant(requests), request_spec))
    for name, value in served.items():
        value = value.numpy()
        if value.dtype == np.float32:
            assert np.isfinite(value).all(), name
        np.testing.assert_array_equal(value[:5], out[name][:5], err_msg=name)
