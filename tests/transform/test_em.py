"""em.py: strategy `em` against a reference EM written here with numpy (a per-row loop, not the
vectorised code under test), its serving fill, its early stop, and its error on the bundled
palmerpenguins table against mean imputation.

Tolerances: the EM means and covariance agree with the reference to 1e-8 (both float64, same
start, same ridge, same stopping rule); the filled outputs (float32) to 1e-5 relative.
"""

from __future__ import annotations

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

from nanguard.components import transform_record as record
from nanguard.components.errors import InputError
from nanguard.components.transform import _em_analysis, em, em_impute, impute, preprocessing

N = 500
NAMES = ["e0", "e1", "e2"]
TRUE_MEAN = np.array([1.0, -2.0, 5.0])
TRUE_COV = np.array([[1.0, 0.8, 0.5], [0.8, 1.5, 0.6], [0.5, 0.6, 2.0]])
ITERATIONS, TOLERANCE, RIDGE = 25, 1e-6, 1e-6


def reference_em(x, iterations, tolerance, ridge):
    """Textbook EM (Little & Rubin 11.2) on the standardised data, row by row: the same start
    (mu 0, S = I), ridge and stopping rule as em.py. Returns (mean, cov, iterations run) in the
    data's units."""
    m, s = np.nanmean(x, axis=0), np.nanstd(x, axis=0)
    z = (x - m) / s
    z = z[~np.isnan(z).all(axis=1)]
    p = z.shape[1]
    mu, sigma, run = np.zeros(p), np.eye(p), 0
    for _ in range(iterations):
        reg = sigma + ridge * np.eye(p)
        t1, t2 = np.zeros(p), np.zeros((p, p))
        for row in z:
            o = ~np.isnan(row)
            mi = ~o
            xh, c = row.copy(), np.zeros((p, p))
            if mi.any():
                coef = reg[np.ix_(mi, o)] @ np.linalg.inv(reg[np.ix_(o, o)])
                xh[mi] = mu[mi] + coef @ (row[o] - mu[o])
                c[np.ix_(mi, mi)] = reg[np.ix_(mi, mi)] - coef @ reg[np.ix_(o, mi)]
            t1 += xh
            t2 += np.outer(xh, xh) + c
        new_mu = t1 / len(z)
        new_sigma = t2 / len(z) - np.outer(new_mu, new_mu)
        change = max(np.abs(new_mu - mu).max(), np.abs(new_sigma - sigma).max())
        mu, sigma, run = new_mu, new_sigma, run + 1
        if change < tolerance:
            break
    return m + s * mu, sigma * np.outer(s, s), run


def conditional_fill(x, mean, cov, ridge_raw):
    """Each NaN of `x` replaced by its conditional expectation given the row's present values."""
    out = x.copy()
    reg = cov + np.diag(ridge_raw)
    for i, row in enumerate(x):
        o = ~np.isnan(row)
        if o.all():
            continue
        if not o.any():
            out[i] = mean
            continue
        coef = reg[np.ix_(~o, o)] @ np.linalg.inv(reg[np.ix_(o, o)])
        out[i, ~o] = mean[~o] + coef @ (row[o] - mean[o])
    return out


def correlated_data():
    """3 correlated Gaussians; e1 and e2 missing at random given e0 (more gaps where e0 is high),
    20% of the cells overall; a few rows with nothing present."""
    rng = np.random.default_rng(11)
    x = rng.multivariate_normal(TRUE_MEAN, TRUE_COV, N).astype(np.float32).astype(np.float64)
    gaps = np.zeros_like(x, bool)
    gaps[:, 0] = rng.random(N) < 0.1
    high = x[:, 0] > TRUE_MEAN[0]
    for j in (1, 2):
        gaps[:, j] = rng.random(N) < np.where(high, 0.4, 0.1)
    gaps[:4] = True  # rows without any value: excluded from the fit, filled with the mean
    return x, np.where(gaps, np.nan, x)


def run_transform(table, config, names):
    """AnalyzeDataset with nanguard's preprocessing_fn on a float table (NaN = absent), then the
    saved graph applied to the same rows; returns (outputs, record features, graph dir)."""
    spec = {n: tf.io.VarLenFeature(tf.float32) for n in names}
    rows = [
        {n: [] if math.isnan(v) else [float(v)] for n, v in zip(names, r, strict=True)}
        for r in table
    ]
    tmp = tempfile.mkdtemp()
    fn = functools.partial(preprocessing.preprocessing_fn, custom_config=config)
    with beam.Pipeline() as p:
        with tft_beam.Context(temp_dir=os.path.join(tmp, "tmp")):
            data = p | beam.Create(rows, reshuffle=False)
            meta = tft.DatasetMetadata.from_feature_spec(spec)
            transform_fn = (data, meta) | tft_beam.AnalyzeDataset(fn)
            _ = transform_fn | tft_beam.WriteTransformFn(os.path.join(tmp, "graph"))
    graph = os.path.join(tmp, "graph")
    layer = tft.TFTransformOutput(graph).transform_features_layer()
    out = {k: v.numpy() for k, v in layer(sparse_batch(table, names)).items()}
    return out, record.read_transform_record(graph)["features"], graph


def sparse_batch(table, names):
    batch = {}
    for j, n in enumerate(names):
        present = ~np.isnan(table[:, j])
        idx = np.stack([np.flatnonzero(present), np.zeros(present.sum(), int)], axis=1)
        batch[n] = tf.SparseTensor(
            tf.constant(idx, tf.int64, shape=[len(idx), 2]),
            tf.constant(table[present, j], tf.float32),
            [len(table), 1],
        )
    return batch


EM_CONFIG = {
    "label_key": "",
    "defaults": {"numeric": {"strategy": "em", "scale": "none"}},
    "em": {"iterations": ITERATIONS, "tolerance": TOLERANCE, "ridge": RIDGE},
}


@pytest.fixture(scope="module")
def fitted():
    x, observed = correlated_data()
    out, recs, graph = run_transform(observed, EM_CONFIG, NAMES)
    return x, observed, out, recs, graph


def test_em_mean_and_covariance_match_the_numpy_reference(fitted):
    _, observed, _, recs, _ = fitted
    mean, cov, run = reference_em(observed, ITERATIONS, TOLERANCE, RIDGE)
    rec = recs["e1"]
    assert rec["strategy"] == rec["chosen"] == "em" and rec["em_features"] == NAMES
    np.testing.assert_allclose(rec["em_mean"], mean, rtol=1e-8, atol=1e-8)
    np.testing.assert_allclose(rec["em_covariance"], cov, rtol=1e-8, atol=1e-8)
    # Early stop: converged before the last pass, at the iteration the reference stops at.
    assert rec["em_iterations"] == run < ITERATIONS
    assert rec["em_converged"] is True and rec["em_change"] < TOLERANCE
    assert rec["fill_value"] == pytest.approx(mean[1], rel=1e-12)
    assert all(recs[n]["em_covariance"] == rec["em_covariance"] for n in NAMES)


def test_em_corrects_the_bias_of_missing_at_random_gaps(fitted):
    """e1 and e2 go missing more often where e0 is high: their available-case means are biased
    low; EM, using e0, recovers the means (and the correlations) of the complete data."""
    x, observed, _, recs, _ = fitted
    em_mean = np.array(recs["e0"]["em_mean"])
    complete_mean = x.mean(axis=0)
    available = np.nanmean(observed, axis=0)
    for j in (1, 2):
        assert abs(em_mean[j] - complete_mean[j]) < 0.3 * abs(available[j] - complete_mean[j])
    em_corr = np.array(recs["e0"]["em_covariance"])
    em_corr = em_corr / np.sqrt(np.outer(np.diag(em_corr), np.diag(em_corr)))
    np.testing.assert_allclose(em_corr, np.corrcoef(x.T), atol=0.05)


def test_em_fills_each_gap_with_its_conditional_expectation(fitted):
    _, observed, out, recs, _ = fitted
    mean, cov = np.array(recs["e0"]["em_mean"]), np.array(recs["e0"]["em_covariance"])
    std = np.array([recs[n]["std"] for n in NAMES])
    expected = conditional_fill(observed, mean, cov, RIDGE * std**2)
    got = np.stack([out[n] for n in NAMES], axis=1)
    assert got.dtype == np.float32 and np.isfinite(got).all()
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    present = ~np.isnan(observed)
    np.testing.assert_array_equal(got[present], observed[present].astype(np.float32))
    np.testing.assert_allclose(got[:4], np.broadcast_to(mean, (4, 3)), rtol=1e-6)  # none present
    for j, n in enumerate(NAMES):
        np.testing.assert_array_equal(out[n + "_missing"], np.isnan(observed[:, j]))


def test_em_serving_with_nan_inf_and_extreme_values(fitted):
    """A serving batch: NaN and Inf are gaps (filled from the present values); a 3e38 is
    present and pulls the conditional fill of its row, which the safe range then bounds."""
    _, _, _, recs, graph = fitted
    layer = tft.TFTransformOutput(graph).transform_features_layer()
    table = np.array(
        [[math.nan, 0.0, 6.0], [math.inf, -math.inf, 4.0], [3e38, math.nan, math.nan]], np.float64
    )
    batch = {}
    for j, n in enumerate(NAMES):
        idx = [[i, 0] for i in range(3)]
        batch[n] = tf.SparseTensor(
            tf.constant(idx, tf.int64), tf.constant(table[:, j], tf.float32), [3, 1]
        )
    out = {k: v.numpy() for k, v in layer(batch).items()}
    mean, cov = np.array(recs["e0"]["em_mean"]), np.array(recs["e0"]["em_covariance"])
    std = np.array([recs[n]["std"] for n in NAMES])
    gaps = np.where(np.isfinite(table[:2]), table[:2], np.nan)
    expected = conditional_fill(gaps, mean, cov, RIDGE * std**2)
    got = np.stack([out[n] for n in NAMES], axis=1)
    np.testing.assert_allclose(got[:2], expected, rtol=1e-5, atol=1e-5)
    assert np.isfinite(got).all()
    for j, n in enumerate(NAMES):
        assert (
            recs[n]["output_low"] <= got[:, j].min() and got[:, j].max() <= recs[n]["output_high"]
        )
    assert got[2, 0] == np.float32(recs["e0"]["output_high"])


def test_penguins_em_beats_mean_imputation_on_hidden_cells(penguins_csv):
    """The four correlated measurements of the bundled palmerpenguins table (complete rows);
    20% of the cells hidden at random: EM's RMSE on them (in standard deviations) is below
    mean imputation's. The numbers are quoted in the transform README."""
    cols = ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g"]
    table = pd.read_csv(penguins_csv)[cols].dropna().to_numpy(np.float64)
    rng = np.random.default_rng(0)
    hidden = rng.random(table.shape) < 0.2
    shown = np.where(hidden, np.nan, table)
    config = {**EM_CONFIG, "em": {"iterations": 50, "tolerance": 1e-6, "ridge": RIDGE}}
    out, recs, _ = run_transform(shown, config, cols)
    em_filled = np.stack([out[c] for c in cols], axis=1).astype(np.float64)
    std = table.std(axis=0)
    mean_filled = np.where(hidden, np.nanmean(shown, axis=0), table)
    rmse_em = np.sqrt(np.mean(((em_filled - table) / std)[hidden] ** 2))
    rmse_mean = np.sqrt(np.mean(((mean_filled - table) / std)[hidden] ** 2))
    print(
        f"penguins: {len(table)} rows, {hidden.sum()} hidden cells, RMSE in std: "
        f"em {rmse_em:.3f}, mean {rmse_mean:.3f}, EM iterations {recs[cols[0]]['em_iterations']}"
    )
    assert rmse_em < 0.8 * rmse_mean
    np.testing.assert_array_equal(em_filled[~hidden], table[~hidden].astype(np.float32))


def test_regularised_covariance_is_positive_definite_even_when_singular():
    singular = np.array([[1.0, 1.0], [1.0, 1.0]])  # two copies of one feature
    broken = np.array([[1.0, np.nan], [np.nan, 1.0]])
    for cov in (singular, broken, -np.eye(2)):
        reg = _em_analysis.regularised_np(cov, 1e-6)
        assert np.linalg.eigvalsh(reg).min() >= 1e-6 * (1 - 1e-9)
        reg_tf = em.regularised(tf.constant(cov), 1e-6).numpy()
        np.testing.assert_allclose(reg_tf, reg, atol=1e-12)
    # A row whose present value is a copy of the missing one: the solve stays finite.
    z = tf.constant([[2.0, 0.0]], tf.float64)
    filled = em.conditional(
        z,
        tf.constant([[True, False]]),
        tf.zeros(2, tf.float64),
        em.regularised(tf.constant(singular), 1e-6),
    )
    assert np.isfinite(filled.numpy()).all() and filled.numpy()[0, 1] == pytest.approx(2.0, 1e-5)


def test_e_step_sums_match_the_reference_on_one_batch():
    x, observed = correlated_data()
    m, s = np.nanmean(observed, axis=0), np.nanstd(observed, axis=0)
    z = (observed - m) / s
    sums = _em_analysis.e_step_sums(z, np.zeros(3), _em_analysis.regularised_np(np.eye(3), RIDGE))
    kept = ~np.isnan(z).all(axis=1)
    assert sums[0] == kept.sum()
    # With S = I the features are independent: gaps are filled with 0 and C is the identity
    # block of the missing entries.
    np.testing.assert_allclose(sums[1:4], np.nansum(z, axis=0))
    t2 = np.nan_to_num(z[kept]).T @ np.nan_to_num(z[kept])
    t2 += np.diag(np.isnan(z[kept]).sum(axis=0) * (1 + RIDGE))
    np.testing.assert_allclose(sums[4:].reshape(3, 3), t2, rtol=1e-12)


@pytest.mark.parametrize(
    "kwargs, where",
    [
        ({"iterations": 0}, "em_impute.em.iterations: 0 is not allowed"),
        ({"tolerance": -1.0}, "em_impute.em.tolerance: -1.0 is not allowed"),
        ({"ridge": 0.0}, "em_impute.em.ridge: 0.0 is not allowed"),
        ({"inf": "fail"}, "em_impute.inf: 'fail' is not allowed"),
    ],
)
def test_em_impute_arguments_are_checked_by_the_config_constraints(kwargs, where):
    with pytest.raises(InputError, match=where):
        em_impute({}, **kwargs)


def test_impute_em_needs_a_mapping():
    with pytest.raises(ValueError, match="strategy='em' needs a mapping"):
        impute(tf.constant([1.0]), "em")
    with pytest.raises(InputError, match="impute.em.ridge"):
        impute({}, "em", ridge=-1.0)
