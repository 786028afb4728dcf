"""imputation.py: impute() and the strategies of the preprocessing_fn, against scikit-learn's
SimpleImputer (StandardScaler/MinMaxScaler for the scaling the features also get)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.preprocessing import MinMaxScaler, StandardScaler

from nanguard.components.errors import InputError
from nanguard.components.transform import config, impute
from tests.transform import _data
from tests.transform._data import finite_col, sk


@pytest.fixture(scope="module")
def ordered():
    return _data.analyzed()


def test_mean_zscore_matches_sklearn(ordered):
    truth, res, _ = ordered
    x = truth["f_mean"]
    expected = StandardScaler().fit(finite_col(x)).transform(sk("mean", x)[:, None])[:, 0]
    np.testing.assert_allclose(res["f_mean"], expected, rtol=1e-5, atol=1e-5)


def test_most_frequent_minmax_matches_sklearn(ordered):
    truth, res, _ = ordered
    x = truth["f_mf"]
    expected = MinMaxScaler().fit(finite_col(x)).transform(sk("most_frequent", x)[:, None])[:, 0]
    np.testing.assert_allclose(res["f_mf"], expected, rtol=1e-6, atol=1e-6)


def test_constant_fill_and_no_scaling(ordered):
    truth, res, _ = ordered
    x = truth["f_const"]
    np.testing.assert_allclose(res["f_const"], sk("constant", x, fill_value=7.0), rtol=1e-6)


def test_auto_picks_median_for_skewed_and_mean_for_symmetric(ordered):
    truth, res, graph = ordered
    recs = _data.recs(graph)["features"]
    skew = truth["f_skew"][np.isfinite(truth["f_skew"])]
    pearson = 3 * (skew.mean() - np.median(skew)) / skew.std()
    assert pearson > 0.5
    assert recs["f_skew"]["chosen"] == "median"
    assert recs["f_skew"]["skewness"] == pytest.approx(pearson, rel=0.05)
    assert recs["f_sym"]["chosen"] == "mean"
    sym = truth["f_sym"]
    expected = StandardScaler().fit(finite_col(sym)).transform(sk("mean", sym)[:, None])[:, 0]
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
    rec = _data.recs(graph)["features"]["f_allnan"]
    assert rec["fill_value"] == -3.0 and rec["count_finite"] == 0.0
    assert "no finite value" in rec["warning"]
    assert np.isnan(rec["mean"])  # read back as a float NaN (written "NaN")
    np.testing.assert_array_equal(res["f_allnan"], 0.0)  # zero/undefined std -> 0
    np.testing.assert_array_equal(res["f_allnan_missing"], 1.0)


def test_inf_treated_as_missing(ordered):
    truth, res, _ = ordered
    x = truth["f_inf"]
    assert np.isinf(x).sum() > 20
    expected = StandardScaler().fit(finite_col(x)).transform(sk("mean", x)[:, None])[:, 0]
    np.testing.assert_allclose(res["f_inf"], expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(res["f_inf_missing"][np.isinf(x)], 1.0)


def test_public_impute(ordered):
    truth, res, _ = ordered
    x = truth["f_sym"]
    np.testing.assert_allclose(res["pub_mean"], sk("mean", x), rtol=1e-6)
    np.testing.assert_array_equal(res["pub_mean_ind"], (~np.isfinite(x)).astype(np.float32))
    isl = truth["island"]
    values, counts = np.unique(isl[isl != None].astype(bytes), return_counts=True)  # noqa: E711
    mode = values[np.argmax(counts)]
    np.testing.assert_array_equal(res["pub_island"], [v if v is not None else mode for v in isl])


@pytest.mark.parametrize(
    "kwargs, where",
    [
        ({"strategy": "mode"}, "impute.strategy: 'mode' is not allowed"),
        ({"strategy": None}, "impute.strategy: None is not allowed"),
        ({"inf": "fail"}, "impute.inf: 'fail' is not allowed"),
        ({"fill_value": float("nan")}, "impute.fill_value"),
        ({"n_neighbors": 0}, "impute.knn.n_neighbors: 0 is not allowed"),
        ({"sample_size": 2.5}, "impute.knn.sample_size"),
    ],
)
def test_impute_arguments_are_checked_by_the_config_constraints(kwargs, where):
    """Checked before any tensor is touched, by the same declared constraints as the config."""
    with pytest.raises(InputError, match=where.replace("(", r"\(")):
        impute(None, **{"strategy": "mean", **kwargs})


def test_impute_strategy_error_lists_the_config_strategies():
    with pytest.raises(InputError) as e:
        impute(None, "mode")
    assert str(list(config.STRATEGIES)) in str(e.value)
