"""The analysis half of EM imputation (`em.py`): the E- and M-steps in numpy, run by Beam.

`EmAnalyzer` is the PTransform of em.py's `tft.experimental.ptransform_analyzer`: `iterations`
passes over the batches of standardised values (NaN = not observed), each pass an E-step per
batch, a CombineGlobally of the sums and the M-step. The fill at serving time is graph code in
`em.py` (`regularised`, `conditional`); `regularised_np` is the numpy twin of `regularised`.
"""

from __future__ import annotations

import math

import apache_beam as beam
import numpy as np


def regularised_np(cov: np.ndarray, ridge: float) -> np.ndarray:
    """numpy twin of `regularised` (the analysis runs in Beam, the fill in the graph)."""
    sym = 0.5 * (cov + cov.T)
    if not np.isfinite(sym).all():
        sym = np.eye(cov.shape[0])
    e, v = np.linalg.eigh(sym)
    return (v * (np.maximum(e, 0.0) + ridge)) @ v.T


def e_step_sums(z: np.ndarray, mu: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """One batch's expected sufficient statistics: [n, sum x_hat (p), sum x_hat x_hat' + C (p*p)].

    `z` [b, p] float64, NaN where not observed; rows with nothing observed are left out (they
    carry no information). `sigma` must be positive definite (`regularised_np`).
    """
    p = z.shape[1]
    observed = np.isfinite(z)
    keep = observed.any(axis=1)
    x, observed = np.where(observed, z, 0.0)[keep], observed[keep]
    c_sum = np.zeros((p, p))
    gap = ~observed.all(axis=1)
    if gap.any():
        o = observed[gap].astype(np.float64)
        a = o[:, :, None] * sigma[None] * o[:, None, :] + np.eye(p)[None] * (1.0 - o)[:, None, :]
        inv = np.linalg.inv(a)  # [[S_oo^-1, 0], [0, I]] per row
        beta = np.einsum("bij,bj->bi", inv, o * (x[gap] - mu))
        x[gap] = np.where(o > 0, x[gap], mu + beta @ sigma)
        d = o[:, :, None] * inv * o[:, None, :]
        c = sigma[None] - sigma[None] @ d @ sigma[None]
        m = 1.0 - o
        c_sum = (c * m[:, :, None] * m[:, None, :]).sum(axis=0)
    t2 = x.T @ x + c_sum
    return np.concatenate([[float(x.shape[0])], x.sum(axis=0), t2.ravel()])


class _State:
    """EM parameters between passes: mu, sigma, iterations run, last change, converged."""

    def __init__(self, p: int):
        self.mu = np.zeros(p)
        self.sigma = np.eye(p)
        self.run = 0
        self.change = math.inf
        self.done = False

    def m_step(self, sums: np.ndarray, tolerance: float) -> _State:
        if self.done:  # converged (or stuck) earlier: this pass is a no-op
            return self
        p = self.mu.shape[0]
        n = sums[0]
        out = _State(p)
        out.mu, out.sigma, out.run, out.change = self.mu, self.sigma, self.run, self.change
        with np.errstate(all="ignore"):
            mu = sums[1 : 1 + p] / n
            sigma = sums[1 + p :].reshape(p, p) / n - np.outer(mu, mu)
        sigma = 0.5 * (sigma + sigma.T)
        if not (n > 0 and np.isfinite(mu).all() and np.isfinite(sigma).all()):
            out.done = True  # nothing to learn from: keep the previous parameters
            return out
        delta = max(np.abs(mu - self.mu).max(), np.abs(sigma - self.sigma).max())
        out.mu, out.sigma, out.run, out.change = mu, sigma, self.run + 1, float(delta)
        out.done = delta < tolerance
        return out


def _e_step(batch, state: _State, ridge: float) -> np.ndarray:
    (z,) = batch
    z = np.asarray(z, np.float64)
    p = state.mu.shape[0]
    if state.done:  # converged: the pass still happens, its E-step is skipped
        return np.zeros(1 + p + p * p)
    return e_step_sums(z.reshape(-1, p), state.mu, regularised_np(state.sigma, ridge))


class EmAnalyzer(beam.PTransform):
    """`iterations` passes over the batches of standardised values (one E-step per batch and
    pass, summed; the M-step on the sums); outputs mu, sigma and [run, change, converged]."""

    def __init__(self, p: int, iterations: int, tolerance: float, ridge: float):
        super().__init__()
        self._p, self._iterations, self._tolerance, self._ridge = p, iterations, tolerance, ridge

    def expand(self, pcoll):
        p, tol, ridge = self._p, self._tolerance, self._ridge
        state = pcoll.pipeline | "EmStart" >> beam.Create([_State(p)])
        for k in range(1, self._iterations + 1):
            sums = (
                pcoll
                | f"EStep{k}" >> beam.Map(_e_step, beam.pvalue.AsSingleton(state), ridge)
                | f"Sum{k}" >> beam.CombineGlobally(lambda xs: sum(xs, np.zeros(1 + p + p * p)))
            )
            state = sums | f"MStep{k}" >> beam.Map(
                lambda s, prev: prev.m_step(s, tol), beam.pvalue.AsSingleton(state)
            )
        return (
            state | "Mean" >> beam.Map(lambda s: s.mu),
            state | "Covariance" >> beam.Map(lambda s: s.sigma),
            state
            | "Progress"
            >> beam.Map(lambda s: np.array([s.run, s.change, float(s.change < tol)], np.float64)),
        )
