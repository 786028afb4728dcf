"""scaling.py: scale() and the scalings of the preprocessing_fn, against scikit-learn's
RobustScaler, MinMaxScaler and StandardScaler."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform as tft
from sklearn.preprocessing import MinMaxScaler, RobustScaler, StandardScaler

from nanguard.components.errors import InputError
from nanguard.components.transform import config, scale
from tests.transform import _data
from tests.transform._data import finite_col, sk


@pytest.fixture(scope="module")
def ordered():
    return _data.analyzed()


def test_median_robust_matches_sklearn_within_sketch_rank(ordered):
    truth, res, graph = ordered
    x = truth["f_median"]
    finite = x[np.isfinite(x)]
    robust = RobustScaler().fit(finite_col(x))
    expected = robust.transform(sk("median", x)[:, None])[:, 0]
    # Sketch tolerance: the learned median/quartiles are data points within +/-1% in rank of
    # numpy's; bound the output error by the spread of those ranks.
    rec = _data.recs(graph)["features"]["f_median"]
    lo, hi = np.quantile(finite, [0.49, 0.51])
    assert lo <= rec["fill_value"] <= hi
    q = np.quantile(finite, [0.24, 0.25, 0.26, 0.74, 0.75, 0.76])
    # The centre is RobustScaler's (the median) and the factor its IQR, up to the sketch's rank.
    assert lo <= rec["center"] <= hi
    assert abs(rec["center"] - robust.center_[0]) <= hi - lo
    assert abs(rec["scale_factor"] - robust.scale_[0]) <= (q[5] - q[3]) + (q[2] - q[0])
    iqr = q[4] - q[1]
    tol = (abs(q[5] - q[3]) + abs(q[2] - q[0]) + (hi - lo)) / iqr
    np.testing.assert_allclose(res["f_median"], expected, atol=tol * (1 + np.abs(expected).max()))
    assert rec["chosen"] == "median" and rec["scale"] == "robust"


def test_constant_column_gives_zero(ordered):
    _, res, _ = ordered
    np.testing.assert_array_equal(res["f_constant_col"], 0.0)


def test_huge_float32_and_1e300(ordered):
    truth, res, graph = ordered
    x = truth["f_big"]
    assert np.isposinf(x).sum() >= 10  # the 1e300 values arrive as +Inf
    fin = x[np.isfinite(x)]
    with np.errstate(over="ignore"):
        assert np.isinf(np.square(fin.astype(np.float32))).any()  # float32 squares overflow
    expected = StandardScaler().fit(finite_col(x)).transform(sk("mean", x)[:, None])[:, 0]
    np.testing.assert_allclose(res["f_big"], expected, rtol=1e-5, atol=1e-5)
    rec = _data.recs(graph)["features"]["f_big"]
    assert rec["fill_value"] == pytest.approx(fin.mean(), rel=1e-9)
    assert rec["std"] == pytest.approx(fin.std(), rel=1e-9)
    np.testing.assert_array_equal(res["f_big_missing"][np.isinf(x)], 1.0)


def test_clip_quantiles(ordered):
    truth, res, graph = ordered
    x = truth["f_clip"]
    fin = x[np.isfinite(x)]
    rec = _data.recs(graph)["features"]["f_clip"]
    lo_ok = np.quantile(fin, [0.04, 0.06])
    hi_ok = np.quantile(fin, [0.94, 0.96])
    assert lo_ok[0] <= rec["clip_low"] <= lo_ok[1]
    assert hi_ok[0] <= rec["clip_high"] <= hi_ok[1]
    expected = np.clip(sk("mean", x), rec["clip_low"], rec["clip_high"])
    np.testing.assert_allclose(res["f_clip"], expected, rtol=1e-5)


def test_public_scale(ordered):
    truth, res, _ = ordered
    x = truth["f_sym"]
    imputed = sk("mean", x)[:, None]
    np.testing.assert_allclose(
        res["pub_big"], StandardScaler().fit_transform(imputed)[:, 0], rtol=1e-5, atol=1e-5
    )
    mm = MinMaxScaler().fit(finite_col(x)).transform(finite_col(x))[:, 0]
    np.testing.assert_allclose(res["pub_minmax"], np.where(np.isnan(mm), 0.0, mm), atol=1e-6)


@pytest.mark.parametrize(
    "kwargs, where",
    [
        ({"method": "log"}, "scale.method: 'log' is not allowed"),
        ({"method": None}, "scale.method: None is not allowed"),
        ({"clip_quantiles": [0.9, 0.1]}, r"scale.clip_quantiles: \[0.9, 0.1\] is not allowed"),
        ({"clip_quantiles": [0.1]}, "scale.clip_quantiles: "),
        ({"clip_quantiles": np.array([0.1, 1.5])}, r"scale.clip_quantiles\[1\]: 1.5"),
    ],
)
def test_scale_arguments_are_checked_by_the_config_constraints(kwargs, where):
    with pytest.raises(InputError, match=where):
        scale(None, **kwargs)


def test_scale_method_error_lists_the_config_scalers():
    with pytest.raises(InputError) as e:
        scale(None, "log")
    assert str(list(config.SCALERS)) in str(e.value)


# Finite float32 values at the edges of the line: the largest magnitudes, the smallest
# subnormal, and a negative zero (a serving request may hold any of them).
EXTREMES = [3e38, -3.4e38, 1.4e-45, -0.0]
BOUNDED = ["f_mean", "f_median", "f_mf", "f_const", "f_sym", "f_inf", "f_clip", "f_big", "k1"]


def _serve(graph, names, values):
    examples = []
    for v in values:
        feats = {n: tf.train.Feature(float_list=tf.train.FloatList(value=[v])) for n in names}
        examples.append(
            tf.train.Example(features=tf.train.Features(feature=feats)).SerializeToString()
        )
    parsed = tf.io.parse_example(tf.constant(examples), _data.FEATURE_SPEC)
    layer = tft.TFTransformOutput(graph).transform_features_layer()
    return {k: v.numpy() for k, v in layer(parsed).items()}


def test_extreme_finite_inputs_stay_within_the_recorded_bound(ordered):
    _, _, graph = ordered
    recs = _data.recs(graph)["features"]
    out = _serve(graph, BOUNDED, EXTREMES)
    for name in BOUNDED:
        lo, hi = recs[name]["output_low"], recs[name]["output_high"]
        assert recs[name]["range_margin"] == 3.0
        assert np.isfinite([lo, hi]).all() and lo < hi, name
        assert (out[name] >= lo).all() and (out[name] <= hi).all(), name
        if name not in ("f_clip",):  # f_clip clips to its 5%/95% quantiles before the bound
            assert out[name][0] == np.float32(hi) and out[name][1] == np.float32(lo), name
    np.testing.assert_array_equal(out["f_mean_missing"], 0.0)  # extreme, but present


def test_bound_is_the_training_range_plus_k_spreads(ordered):
    """z_score: k std beyond the training min/max; min_max: [-k, 1 + k]; robust: k IQRs;
    none: k std, the constant fill value counting as part of the training range."""
    truth, _, graph = ordered
    recs = _data.recs(graph)["features"]
    k = 3.0

    def fin(name):
        x = truth[name]
        return x[np.isfinite(x)]

    x = fin("f_mean")
    lo, hi = (x.min() - x.mean()) / x.std() - k, (x.max() - x.mean()) / x.std() + k
    assert recs["f_mean"]["output_low"] == pytest.approx(lo, rel=1e-6)
    assert recs["f_mean"]["output_high"] == pytest.approx(hi, rel=1e-6)
    assert (recs["f_mf"]["output_low"], recs["f_mf"]["output_high"]) == (-k, 1 + k)
    r = recs["f_median"]
    x = fin("f_median")
    assert r["output_low"] == pytest.approx((x.min() - r["center"]) / r["scale_factor"] - k, 1e-6)
    assert r["output_high"] == pytest.approx((x.max() - r["center"]) / r["scale_factor"] + k, 1e-6)
    x = fin("f_const")
    assert x.max() < 7.0  # the fill value is above the data: it widens the range
    assert recs["f_const"]["output_low"] == pytest.approx(x.min() - k * x.std(), rel=1e-6)
    assert recs["f_const"]["output_high"] == pytest.approx(7.0 + k * x.std(), rel=1e-6)
    # A feature without any finite value: its only output is 0 (z-score of the fill).
    assert (recs["f_allnan"]["output_low"], recs["f_allnan"]["output_high"]) == (-k, k)
    # float32-exact bounds: the cast of a clipped value cannot step outside them.
    for name in BOUNDED:
        for key in ("output_low", "output_high"):
            assert float(np.float32(recs[name][key])) == recs[name][key]


def test_public_scale_with_range_margin(ordered):
    truth, res, graph = ordered
    x = truth["f_sym"]
    fin = x[np.isfinite(x)]
    robust = RobustScaler().fit(fin[:, None])
    lo = (fin.min() - robust.center_[0]) / robust.scale_[0] - 1.0
    hi = (fin.max() - robust.center_[0]) / robust.scale_[0] + 1.0
    out = _serve(graph, ["f_sym"], EXTREMES)["pub_bounded"]
    assert np.isfinite(out).all()
    iqr_tol = 0.05  # the sketch's quartiles are within ~1% in rank of numpy's
    assert out[0] == pytest.approx(hi, abs=iqr_tol) and out[1] == pytest.approx(lo, abs=iqr_tol)
    assert out.max() == out[0] and out.min() == out[1]
    # In the training data nothing moves (the bound lies beyond every training value).
    expected = robust.transform(np.where(np.isnan(x), robust.center_[0], x)[:, None])[:, 0]
    np.testing.assert_allclose(res["pub_bounded"], expected, atol=iqr_tol)


def test_scale_range_margin_is_checked_by_the_config_constraint():
    with pytest.raises(InputError, match="scale.range_margin: -1.0 is not allowed"):
        scale(None, "z_score", range_margin=-1.0)
