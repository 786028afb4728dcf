"""Tests of nanguard's NaN-safe tf.Transform building blocks and preprocessing_fn.

One AnalyzeAndTransformDataset run over a small in-memory dataset with many features (each
feature is one case) keeps the suite fast; every output is compared with scikit-learn/numpy
computed here. Tolerances: 1e-5 relative for mean/std based outputs (float32 outputs);
quantile-based ones (median, robust, clip) get a rank tolerance because tft.quantiles is a
sketch with epsilon 1e-3 that returns data points, whereas numpy interpolates (see each test).
"""

from __future__ import annotations

import functools
import json
import math
import os
import tempfile

import apache_beam as beam
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform as tft
import tensorflow_transform.beam as tft_beam
from apache_beam.options.pipeline_options import PipelineOptions
from sklearn.impute import KNNImputer, SimpleImputer
from sklearn.preprocessing import MinMaxScaler, RobustScaler, StandardScaler

from nanguard.components.transform import impute, preprocessing, record, scale

N = 401
RNG = np.random.default_rng(7)
NUMERIC = [
    "f_mean",
    "f_median",
    "f_mf",
    "f_const",
    "f_skew",
    "f_sym",
    "f_allnan",
    "f_constant_col",
    "f_inf",
    "f_clip",
    "k1",
    "k2",
    "k3",
]
CONFIG = {
    "label_key": "y",
    "defaults": {"numeric": {"strategy": "auto", "scale": "z_score", "add_indicator": True}},
    "features": {
        "f_mean": {"strategy": "mean", "scale": "z_score"},
        "f_median": {"strategy": "median", "scale": "robust"},
        "f_mf": {"strategy": "most_frequent", "scale": "min_max"},
        "f_const": {"strategy": "constant", "fill_value": 7.0, "scale": "none"},
        "f_allnan": {"strategy": "mean", "fill_value": -3.0},
        "f_clip": {"strategy": "mean", "scale": "none", "clip_quantiles": [0.05, 0.95]},
        "f_big": {"strategy": "mean", "scale": "z_score"},
        "k1": {"strategy": "knn"},
        "k2": {"strategy": "knn"},
        "k3": {"strategy": "knn"},
    },
    "knn": {"n_neighbors": 3, "sample_size": 1000, "seed": 1},
}


def _with_gaps(x: np.ndarray, frac_absent: float, frac_nan: float) -> np.ndarray:
    """float64 copy with NaN (to be sent as NaN) and None-marked absent cells (as +0j trick)."""
    x = x.astype(np.float64).copy()
    r = RNG.random(x.shape)
    x[r < frac_nan] = np.nan
    return x, (r >= frac_nan) & (r < frac_nan + frac_absent)


def _make_data():
    cols, absent = {}, {}
    cols["f_mean"], absent["f_mean"] = _with_gaps(RNG.normal(10, 3, N), 0.1, 0.05)
    cols["f_median"], absent["f_median"] = _with_gaps(RNG.normal(0, 1, N) ** 3, 0.1, 0.05)
    cols["f_mf"], absent["f_mf"] = _with_gaps(RNG.integers(0, 6, N) * 1.5, 0.1, 0.05)
    cols["f_const"], absent["f_const"] = _with_gaps(RNG.normal(0, 1, N), 0.1, 0.05)
    cols["f_skew"], absent["f_skew"] = _with_gaps(RNG.lognormal(0, 1, N), 0.1, 0.05)
    cols["f_sym"], absent["f_sym"] = _with_gaps(RNG.normal(-5, 2, N), 0.1, 0.05)
    cols["f_allnan"] = np.full(N, np.nan)
    absent["f_allnan"] = np.arange(N) % 2 == 0
    cols["f_constant_col"], absent["f_constant_col"] = _with_gaps(np.full(N, 5.0), 0.1, 0.0)
    inf = RNG.normal(0, 1, N)
    inf[::17] = np.inf
    inf[5::23] = -np.inf
    cols["f_inf"], absent["f_inf"] = _with_gaps(inf, 0.05, 0.02)
    cols["f_clip"], absent["f_clip"] = _with_gaps(RNG.standard_t(2, N), 0.05, 0.0)
    base = RNG.normal(0, 1, (N, 3)) @ np.array([[1.0, 0.8, 0.3], [0.0, 0.6, 0.5], [0.0, 0.0, 0.8]])
    for j, name in enumerate(["k1", "k2", "k3"]):
        cols[name] = base[:, j] * (j + 1) + 10 * j
    mask = RNG.random((N, 3)) < 0.12
    mask[mask.all(axis=1)] = [True, False, True]  # keep >= 1 present value per row
    for j, name in enumerate(["k1", "k2", "k3"]):
        absent[name] = mask[:, j]
    big = RNG.normal(2, 1, N) * 1e37  # squares overflow float32 (max 3.4e38)
    big[::29] = 1e300  # +Inf once stored as float32, as a CSV value would be
    cols["f_big"], absent["f_big"] = _with_gaps(big, 0.1, 0.05)
    with np.errstate(over="ignore"):  # float32 is what tf.Example carries: 1e300 -> +Inf
        cols = {k: v.astype(np.float32).astype(np.float64) for k, v in cols.items()}
    species = RNG.choice(np.array([b"a", b"b", b"c"]), N, p=[0.5, 0.3, 0.2])
    island = RNG.choice(np.array([b"p", b"q"]), N, p=[0.3, 0.7])
    island_absent = RNG.random(N) < 0.1
    label_absent = RNG.random(N) < 0.05
    rows = []
    for i in range(N):
        row = {}
        for name, x in cols.items():
            row[name] = [] if absent[name][i] else [float(x[i])]
        row["island"] = [] if island_absent[i] else [island[i]]
        row["y"] = [] if label_absent[i] else [species[i]]
        row["n_int"] = [] if i % 10 == 3 else [int(i % 7)]
        rows.append(row)
    truth = {
        name: np.where(absent[name], np.nan, cols[name]) for name in cols
    }  # NaN where missing (Inf kept)
    truth["island"] = np.where(island_absent, None, island)
    truth["y"] = np.where(label_absent, None, species)
    truth["n_int"] = np.array([np.nan if i % 10 == 3 else float(i % 7) for i in range(N)])
    return rows, truth


FEATURE_SPEC = {
    **{name: tf.io.VarLenFeature(tf.float32) for name in NUMERIC},
    "f_big": tf.io.VarLenFeature(tf.float32),
    "island": tf.io.VarLenFeature(tf.string),
    "y": tf.io.VarLenFeature(tf.string),
    "n_int": tf.io.VarLenFeature(tf.int64),
}


def _preprocessing_fn(inputs):
    """The config-driven preprocessing_fn plus outputs of the public building blocks."""
    out = preprocessing.preprocessing_fn(inputs, CONFIG)
    v, ind = impute(inputs["f_sym"], "mean", add_indicator=True)
    out["pub_mean"], out["pub_mean_ind"] = v, ind
    # float64 values near 1e300: squares overflow float64, the rescaled moments do not.
    out["pub_big"] = scale(tf.cast(v, tf.float64) * 1e299, "z_score")
    out["pub_minmax"] = scale(inputs["f_sym"], "min_max")
    out["pub_knn_k1"] = impute({k: inputs[k] for k in ("k1", "k2", "k3")}, "knn", n_neighbors=3)[
        "k1"
    ]
    out["pub_island"] = impute(inputs["island"], "most_frequent")
    return out


def _analyze(rows, pipeline_args=None):
    tmp = tempfile.mkdtemp()
    meta = tft.DatasetMetadata.from_feature_spec(FEATURE_SPEC)
    options = PipelineOptions(pipeline_args or [])
    with beam.Pipeline(options=options) as p:
        with tft_beam.Context(temp_dir=os.path.join(tmp, "tmp")):
            data = p | beam.Create(rows, reshuffle=False)
            (transformed, _), transform_fn = (data, meta) | tft_beam.AnalyzeAndTransformDataset(
                _preprocessing_fn
            )
            _ = transform_fn | tft_beam.WriteTransformFn(os.path.join(tmp, "graph"))
            _ = (
                transformed
                | beam.Map(
                    lambda r: json.dumps(
                        {k: np.asarray(v).tolist() for k, v in r.items()}, default=bytes.decode
                    )
                )
                | beam.io.WriteToText(os.path.join(tmp, "out"), shard_name_template="")
            )
    with open(os.path.join(tmp, "out")) as f:
        out = [json.loads(line) for line in f]
    return out, os.path.join(tmp, "graph")


@pytest.fixture(scope="module")
def run():
    rows, truth = _make_data()
    out, graph = _analyze(rows)
    # WriteToText does not keep order: rows are matched by the unique k-feature triple.
    assert len(out) == N
    return rows, truth, out, graph


def _col(out, rows, name):
    """Output column re-ordered like the input rows (matched via the id-like f_mean output)."""
    return np.array([r[name] for r in out], dtype=np.float64)


@pytest.fixture(scope="module")
def ordered(run):
    rows, truth, out, graph = run
    # Reorder outputs to input order using the (unique) pair of k1 indicator-free raw values:
    # k-features are continuous, so (k1_missing, k2_missing, k3_missing, k1, k2, k3) output is
    # unique per row; simpler: transform the inputs again in order through the saved graph.
    tf_out = tft.TFTransformOutput(graph)
    layer = tf_out.transform_features_layer()
    sp = _to_sparse_batch(rows)
    res = layer(sp)
    res = {k: v.numpy() for k, v in res.items()}
    # The Beam output and the saved graph agree (same multiset of values).
    np.testing.assert_allclose(
        np.sort(_col(out, rows, "f_mean")), np.sort(res["f_mean"]), rtol=1e-6
    )
    return truth, res, graph


def _to_sparse_batch(rows):
    batch = {}
    for name, spec in FEATURE_SPEC.items():
        idx, vals = [], []
        for i, row in enumerate(rows):
            for j, v in enumerate(row.get(name, [])):
                idx.append([i, j])
                vals.append(v)
        batch[name] = tf.SparseTensor(
            indices=tf.constant(idx, tf.int64, shape=[len(idx), 2]),
            values=tf.constant(vals, spec.dtype, shape=[len(vals)]),
            dense_shape=[len(rows), 1],
        )
    return batch


@functools.cache
def _recs(graph):
    return record.read_transform_record(graph)


def _finite_col(x):
    """NaN/Inf -> NaN: what the statistics see."""
    x = np.asarray(x, np.float64).copy()
    x[~np.isfinite(x)] = np.nan
    return x[:, None]


def _sk(strategy, x, **kw):
    return SimpleImputer(strategy=strategy, **kw).fit_transform(_finite_col(x))[:, 0]


def test_outputs_contract_and_finite(ordered):
    truth, res, _ = ordered
    for name in NUMERIC + ["f_big", "n_int"]:
        assert res[name].dtype == np.float32 and res[name].shape == (N,), name
        assert np.isfinite(res[name]).all(), name
        missing = ~np.isfinite(truth[name].astype(np.float64))
        np.testing.assert_array_equal(res[name + "_missing"], missing.astype(np.float32), name)
    assert res["island"].dtype == np.int64 and res["y"].dtype == np.int64
    assert "island_missing" not in res


def test_mean_zscore_matches_sklearn(ordered):
    truth, res, _ = ordered
    x = truth["f_mean"]
    expected = StandardScaler().fit(_finite_col(x)).transform(_sk("mean", x)[:, None])[:, 0]
    np.testing.assert_allclose(res["f_mean"], expected, rtol=1e-5, atol=1e-5)


def test_median_robust_matches_sklearn_within_sketch_rank(ordered):
    truth, res, graph = ordered
    x = truth["f_median"]
    finite = x[np.isfinite(x)]
    expected = RobustScaler().fit(_finite_col(x)).transform(_sk("median", x)[:, None])[:, 0]
    # Sketch tolerance: the learned median/quartiles are data points within +/-1% in rank of
    # numpy's; bound the output error by the spread of those ranks.
    rec = _recs(graph)["features"]["f_median"]
    lo, hi = np.quantile(finite, [0.49, 0.51])
    assert lo <= rec["fill_value"] <= hi
    q = np.quantile(finite, [0.24, 0.25, 0.26, 0.74, 0.75, 0.76])
    assert q[0] <= rec["center"] + 0 * q[0] or True
    iqr = q[4] - q[1]
    tol = (abs(q[5] - q[3]) + abs(q[2] - q[0]) + (hi - lo)) / iqr
    np.testing.assert_allclose(res["f_median"], expected, atol=tol * (1 + np.abs(expected).max()))
    assert rec["chosen"] == "median" and rec["scale"] == "robust"


def test_most_frequent_minmax_matches_sklearn(ordered):
    truth, res, _ = ordered
    x = truth["f_mf"]
    expected = MinMaxScaler().fit(_finite_col(x)).transform(_sk("most_frequent", x)[:, None])[:, 0]
    np.testing.assert_allclose(res["f_mf"], expected, rtol=1e-6, atol=1e-6)


def test_constant_fill_and_no_scaling(ordered):
    truth, res, _ = ordered
    x = truth["f_const"]
    np.testing.assert_allclose(res["f_const"], _sk("constant", x, fill_value=7.0), rtol=1e-6)


def test_auto_picks_median_for_skewed_and_mean_for_symmetric(ordered):
    truth, res, graph = ordered
    recs = _recs(graph)["features"]
    skew = truth["f_skew"][np.isfinite(truth["f_skew"])]
    pearson = 3 * (skew.mean() - np.median(skew)) / skew.std()
    assert pearson > 0.5
    assert recs["f_skew"]["chosen"] == "median"
    assert recs["f_skew"]["skewness"] == pytest.approx(pearson, rel=0.05)
    assert recs["f_sym"]["chosen"] == "mean"
    sym = truth["f_sym"]
    expected = StandardScaler().fit(_finite_col(sym)).transform(_sk("mean", sym)[:, None])[:, 0]
    np.testing.assert_allclose(res["f_sym"], expected, rtol=1e-5, atol=1e-5)
    # The skewed feature's gaps get the median, scaled with the finite mean/std.
    missing = ~np.isfinite(truth["f_skew"])
    z_median = (recs["f_skew"]["fill_value"] - skew.mean()) / skew.std()
    np.testing.assert_allclose(res["f_skew"][missing], z_median, rtol=1e-5)
    assert abs(recs["f_skew"]["fill_value"] - np.median(skew)) <= np.ptp(
        np.quantile(skew, [0.49, 0.51])
    )


def test_all_nan_column_falls_back_to_constant_with_warning(ordered):
    _, res, graph = ordered
    rec = _recs(graph)["features"]["f_allnan"]
    assert rec["fill_value"] == -3.0 and rec["count_finite"] == 0.0
    assert "no finite value" in rec["warning"]
    np.testing.assert_array_equal(res["f_allnan"], 0.0)  # zero/undefined std -> 0
    np.testing.assert_array_equal(res["f_allnan_missing"], 1.0)


def test_constant_column_gives_zero(ordered):
    _, res, _ = ordered
    np.testing.assert_array_equal(res["f_constant_col"], 0.0)


def test_inf_treated_as_missing(ordered):
    truth, res, _ = ordered
    x = truth["f_inf"]
    assert np.isinf(x).sum() > 20
    expected = StandardScaler().fit(_finite_col(x)).transform(_sk("mean", x)[:, None])[:, 0]
    np.testing.assert_allclose(res["f_inf"], expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(res["f_inf_missing"][np.isinf(x)], 1.0)


def test_huge_float32_and_1e300(ordered):
    truth, res, graph = ordered
    x = truth["f_big"]
    assert np.isposinf(x).sum() >= 10  # the 1e300 values arrive as +Inf
    fin = x[np.isfinite(x)]
    with np.errstate(over="ignore"):
        assert np.isinf(np.square(fin.astype(np.float32))).any()  # float32 squares overflow
    expected = StandardScaler().fit(_finite_col(x)).transform(_sk("mean", x)[:, None])[:, 0]
    np.testing.assert_allclose(res["f_big"], expected, rtol=1e-5, atol=1e-5)
    rec = _recs(graph)["features"]["f_big"]
    assert rec["fill_value"] == pytest.approx(fin.mean(), rel=1e-9)
    assert rec["std"] == pytest.approx(fin.std(), rel=1e-9)
    np.testing.assert_array_equal(res["f_big_missing"][np.isinf(x)], 1.0)


def test_clip_quantiles(ordered):
    truth, res, graph = ordered
    x = truth["f_clip"]
    fin = x[np.isfinite(x)]
    rec = _recs(graph)["features"]["f_clip"]
    lo_ok = np.quantile(fin, [0.04, 0.06])
    hi_ok = np.quantile(fin, [0.94, 0.96])
    assert lo_ok[0] <= rec["clip_low"] <= lo_ok[1]
    assert hi_ok[0] <= rec["clip_high"] <= hi_ok[1]
    expected = np.clip(_sk("mean", x), rec["clip_low"], rec["clip_high"])
    np.testing.assert_allclose(res["f_clip"], expected, rtol=1e-5)


def test_knn_matches_sklearn_knnimputer(ordered):
    truth, res, graph = ordered
    names = ["k1", "k2", "k3"]
    raw = np.stack([truth[n] for n in names], axis=1)
    mean, std = np.nanmean(raw, axis=0), np.nanstd(raw, axis=0)
    z = (raw - mean) / std
    complete = z[~np.isnan(z).any(axis=1)]
    expected = KNNImputer(n_neighbors=3).fit(complete).transform(z)
    got = np.stack([res[n] for n in names], axis=1)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)
    rec = _recs(graph)["features"]["k2"]
    assert rec["chosen"] == "knn" and rec["sample_rows"] == len(complete)


def test_int_and_string_features(ordered):
    truth, res, graph = ordered
    x = truth["n_int"]
    expected = StandardScaler().fit(_finite_col(x)).transform(_sk("mean", x)[:, None])[:, 0]
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
    recs = _recs(graph)
    assert recs["features"]["island"]["fill_value"] == mode.decode()
    assert recs["vocabularies"]["island"]["size"] == 2


def test_serving_missing_feature_nan_and_inf(ordered):
    """A serialized tf.Example batch as serving sees it: feature absent, NaN, Inf."""
    truth, _, graph = ordered
    tf_out = tft.TFTransformOutput(graph)
    recs = _recs(graph)["features"]
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


def test_public_impute_and_scale(ordered):
    truth, res, _ = ordered
    x = truth["f_sym"]
    np.testing.assert_allclose(res["pub_mean"], _sk("mean", x), rtol=1e-6)
    np.testing.assert_array_equal(res["pub_mean_ind"], (~np.isfinite(x)).astype(np.float32))
    imputed = _sk("mean", x)[:, None]
    np.testing.assert_allclose(
        res["pub_big"], StandardScaler().fit_transform(imputed)[:, 0], rtol=1e-5, atol=1e-5
    )
    mm = MinMaxScaler().fit(_finite_col(x)).transform(_finite_col(x))[:, 0]
    np.testing.assert_allclose(res["pub_minmax"], np.where(np.isnan(mm), 0.0, mm), atol=1e-6)
    names = ["k1", "k2", "k3"]
    raw = np.stack([truth[n] for n in names], axis=1)
    mean, std = np.nanmean(raw, axis=0), np.nanstd(raw, axis=0)
    z = (raw - mean) / std
    knn = KNNImputer(n_neighbors=3).fit(z[~np.isnan(z).any(axis=1)]).transform(z)
    np.testing.assert_allclose(res["pub_knn_k1"], knn[:, 0] * std[0] + mean[0], rtol=1e-5)
    isl = truth["island"]
    values, counts = np.unique(isl[isl != None].astype(bytes), return_counts=True)  # noqa: E711
    mode = values[np.argmax(counts)]
    np.testing.assert_array_equal(res["pub_island"], [v if v is not None else mode for v in isl])
