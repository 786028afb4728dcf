"""knn.py: KNN imputation (preprocessing_fn and knn_impute) against scikit-learn's KNNImputer,
and the seeded bottom-k sample of complete rows."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.impute import KNNImputer

from nanguard.components.errors import InputError
from nanguard.components.transform import knn, knn_impute
from tests.transform import _data


@pytest.fixture(scope="module")
def ordered():
    return _data.analyzed()


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
    rec = _data.recs(graph)["features"]["k2"]
    assert rec["chosen"] == "knn" and rec["sample_rows"] == len(complete)


def test_public_knn_impute_through_impute(ordered):
    truth, res, _ = ordered
    names = ["k1", "k2", "k3"]
    raw = np.stack([truth[n] for n in names], axis=1)
    mean, std = np.nanmean(raw, axis=0), np.nanstd(raw, axis=0)
    z = (raw - mean) / std
    expected = KNNImputer(n_neighbors=3).fit(z[~np.isnan(z).any(axis=1)]).transform(z)
    np.testing.assert_allclose(res["pub_knn_k1"], expected[:, 0] * std[0] + mean[0], rtol=1e-5)


def test_bottom_k_sample_does_not_depend_on_batching():
    """The sample is the same whatever the batches and the merge order (Beam's freedom)."""
    rng = np.random.default_rng(0)
    rows = rng.normal(size=(500, 3))
    rows[rng.random(500) < 0.2, 1] = np.nan  # incomplete rows never enter the sample
    fn = knn._SampleCombineFn(k=50, n_features=3, seed=4)
    whole = fn.extract_output(fn.add_input(fn.create_accumulator(), (rows,)))
    parts = [fn.add_input(fn.create_accumulator(), (b,)) for b in np.array_split(rows, 7)]
    merged = fn.extract_output(fn.merge_accumulators(parts[::-1]))
    np.testing.assert_array_equal(whole, merged)
    assert np.isfinite(whole).all() and len({tuple(r) for r in whole}) == 50
    complete = {tuple(r) for r in rows[np.isfinite(rows).all(axis=1)]}
    assert {tuple(r) for r in whole} <= complete
    other = knn._SampleCombineFn(k=50, n_features=3, seed=5)
    other_sample = other.extract_output(other.add_input(other.create_accumulator(), (rows,)))
    assert not np.array_equal(whole, other_sample)  # the seed matters


def test_sample_pads_with_nan_rows_when_few_complete_rows():
    fn = knn._SampleCombineFn(k=4, n_features=2, seed=0)
    out = fn.extract_output(fn.add_input(fn.create_accumulator(), (np.array([[1.0, 2.0]]),)))
    np.testing.assert_array_equal(out[0], [1.0, 2.0])
    assert np.isnan(out[1:]).all()


@pytest.mark.parametrize(
    "kwargs, where",
    [
        ({"n_neighbors": 0}, "knn_impute.knn.n_neighbors: 0 is not allowed"),
        ({"sample_size": 0}, "knn_impute.knn.sample_size: 0 is not allowed"),
        ({"seed": 1.5}, "knn_impute.knn.seed: 1.5 is not allowed"),
        ({"inf": "fail"}, "knn_impute.inf: 'fail' is not allowed"),
    ],
)
def test_knn_impute_arguments_are_checked_by_the_config_constraints(kwargs, where):
    with pytest.raises(InputError, match=where):
        knn_impute({}, **kwargs)
