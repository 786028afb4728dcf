"""The shared dataset of the transform tests and its one AnalyzeAndTransformDataset run.

One run over a small in-memory dataset with many features (each feature is one case) keeps the
tests fast; every output is compared with scikit-learn/numpy in the test modules. Tolerances:
1e-5 relative for mean/std based outputs (float32 outputs); quantile-based ones (median, robust,
clip) get a rank tolerance because tft.quantiles is a sketch with epsilon 1e-3 that returns data
points, whereas numpy interpolates (see each test). Not a conftest: the run is a cached function
each test module calls from its own fixture.
"""

from __future__ import annotations

import fcntl
import functools
import json
import os
import pickle
import shutil
import tempfile

import apache_beam as beam
import numpy as np
import tensorflow as tf
import tensorflow_transform as tft
import tensorflow_transform.beam as tft_beam
from apache_beam.options.pipeline_options import PipelineOptions
from sklearn.impute import SimpleImputer

from nanguard.components import transform_record as record
from nanguard.components.transform import impute, preprocessing, scale

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


def make_data():
    """The same rows at every call (the stream restarts from its seed)."""
    global RNG
    RNG = np.random.default_rng(7)
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


def preprocessing_fn_under_test(inputs):
    """The config-driven preprocessing_fn plus outputs of the public building blocks."""
    out = preprocessing.preprocessing_fn(inputs, CONFIG)
    v, ind = impute(inputs["f_sym"], "mean", add_indicator=True)
    out["pub_mean"], out["pub_mean_ind"] = v, ind
    # float64 values near 1e300: squares overflow float64, the rescaled moments do not.
    out["pub_big"] = scale(tf.cast(v, tf.float64) * 1e299, "z_score")
    out["pub_minmax"] = scale(inputs["f_sym"], "min_max")
    out["pub_bounded"] = scale(inputs["f_sym"], "robust", range_margin=1.0)
    out["pub_knn_k1"] = impute({k: inputs[k] for k in ("k1", "k2", "k3")}, "knn", n_neighbors=3)[
        "k1"
    ]
    out["pub_island"] = impute(inputs["island"], "most_frequent")
    return out


def analyze(rows, pipeline_args=None, force_tf_compat_v1=False):
    tmp = tempfile.mkdtemp()
    meta = tft.DatasetMetadata.from_feature_spec(FEATURE_SPEC)
    options = PipelineOptions(pipeline_args or [])
    with beam.Pipeline(options=options) as p:
        context = tft_beam.Context(
            temp_dir=os.path.join(tmp, "tmp"), force_tf_compat_v1=force_tf_compat_v1
        )
        with context:
            data = p | beam.Create(rows, reshuffle=False)
            (transformed, _), transform_fn = (data, meta) | tft_beam.AnalyzeAndTransformDataset(
                preprocessing_fn_under_test
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


@functools.cache
def analyzed():
    """`(truth, res, graph)`: the inputs with NaN where missing, the saved graph's outputs in
    input order, and the transform graph directory; one analysis per test session.

    Under pytest-xdist the workers of one run share it through a folder named by the run's id:
    the first worker analyses (~100 s) while the others wait on a lock, then read its result.
    """
    uid = os.environ.get("PYTEST_XDIST_TESTRUNUID")
    if not uid:
        return _analyze_once()
    shared = os.path.join(tempfile.gettempdir(), f"nanguard-transform-tests-{uid}")
    os.makedirs(shared, exist_ok=True)
    done, graph = os.path.join(shared, "analyzed.pkl"), os.path.join(shared, "graph")
    with open(os.path.join(shared, "lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if not os.path.exists(done):
            truth, res, own_graph = _analyze_once()
            shutil.copytree(own_graph, graph)
            with open(done + ".tmp", "wb") as f:
                pickle.dump((truth, res), f)
            os.replace(done + ".tmp", done)
        with open(done, "rb") as f:
            truth, res = pickle.load(f)
    return truth, res, graph


def _analyze_once():
    rows, truth = make_data()
    out, graph = analyze(rows)
    # WriteToText does not keep order: the rows are transformed again, in order, through the
    # saved graph below.
    assert len(out) == N
    tf_out = tft.TFTransformOutput(graph)
    layer = tf_out.transform_features_layer()
    res = {k: v.numpy() for k, v in layer(to_sparse_batch(rows)).items()}
    # The Beam output and the saved graph agree (same multiset of values).
    np.testing.assert_allclose(np.sort(_col(out, "f_mean")), np.sort(res["f_mean"]), rtol=1e-6)
    return truth, res, graph


def _col(out, name):
    return np.array([r[name] for r in out], dtype=np.float64)


def to_sparse_batch(rows):
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
def recs(graph):
    return record.read_transform_record(graph)


def finite_col(x):
    """NaN/Inf -> NaN: what the statistics see."""
    x = np.asarray(x, np.float64).copy()
    x[~np.isfinite(x)] = np.nan
    return x[:, None]


def sk(strategy, x, **kw):
    return SimpleImputer(strategy=strategy, **kw).fit_transform(finite_col(x))[:, 0]
