"""scaling.py: scale() and the scalings of the preprocessing_fn, against scikit-learn's
RobustScaler, MinMaxScaler and StandardScaler."""

from __future__ import annotations

import numpy as np
import pytest
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
