"""Full-covariance Gaussians N(mu, Sigma) in R^d: the paper's toy family.

Parametrization used for ||theta - theta*||: theta = (mu, Sigma) with the Frobenius norm on Sigma,
    ||theta - theta*||^2 = ||mu - mu*||^2 + ||Sigma - Sigma*||_F^2.

Finite-sample update: the weighted MLE is closed form (weighted mean, biased weighted covariance).
Population update: the objective E_{p_data} log p + sum_k w_k E_{pi_gamma p_theta_k} log p is
maximised by moment matching the (unnormalised) mixture measure
    p_data + sum_k w_k/(1+gamma) p_theta_k + sum_k w_k gamma/(1+gamma) p_theta*,
which needs only the first two moments of p_data, so it is exact for misspecified laws too.
theta* = (E x, Cov x) under p_data (KL projection onto Gaussians = moment matching).
"""
from __future__ import annotations

import dataclasses
from typing import NamedTuple

import jax
import jax.numpy as jnp

from .._validate import SCSCInputError
from .base import Family


class GaussianParams(NamedTuple):
    mean: jax.Array  # (d,)
    cov: jax.Array  # (d, d)


def _sym(a):
    return 0.5 * (a + jnp.swapaxes(a, -1, -2))


def sqrtm_psd(a):
    """Principal square root of a symmetric PSD matrix (jit-safe; negative eigenvalues clipped to 0).

    d = 1, 2 use closed forms (for 2x2: sqrt(A) = (A + s I)/t with s = sqrt(det A),
    t = sqrt(tr A + 2 s)), which on CPU are far cheaper than a batched LAPACK eigh;
    larger d use eigh.
    """
    a = _sym(a)
    d = a.shape[-1]
    if d == 1:
        return jnp.sqrt(jnp.clip(a, 0.0))
    if d == 2:
        det = a[..., 0, 0] * a[..., 1, 1] - a[..., 0, 1] * a[..., 1, 0]
        s = jnp.sqrt(jnp.clip(det, 0.0))
        t = jnp.sqrt(jnp.clip(a[..., 0, 0] + a[..., 1, 1] + 2.0 * s, 0.0))
        safe_t = jnp.where(t > 0, t, 1.0)
        root = (a + s[..., None, None] * jnp.eye(2, dtype=a.dtype)) / safe_t[..., None, None]
        return jnp.where((t > 0)[..., None, None], root, jnp.zeros_like(a))
    w, v = jnp.linalg.eigh(a)
    return (v * jnp.sqrt(jnp.clip(w, 0.0))[..., None, :]) @ jnp.swapaxes(v, -1, -2)


def trace_sqrtm_psd(a):
    """tr(A^{1/2}) for symmetric PSD A: sum of sqrt of eigenvalues (2x2: sqrt(tr A + 2 sqrt(det A)))."""
    a = _sym(a)
    d = a.shape[-1]
    if d == 1:
        return jnp.sqrt(jnp.clip(a[..., 0, 0], 0.0))
    if d == 2:
        det = a[..., 0, 0] * a[..., 1, 1] - a[..., 0, 1] * a[..., 1, 0]
        return jnp.sqrt(jnp.clip(a[..., 0, 0] + a[..., 1, 1] + 2.0 * jnp.sqrt(jnp.clip(det, 0.0)), 0.0))
    return jnp.sum(jnp.sqrt(jnp.clip(jnp.linalg.eigvalsh(a), 0.0)), axis=-1)


def gaussian_w2(mean1, cov1, mean2, cov2):
    """Closed-form 2-Wasserstein distance between N(m1, S1) and N(m2, S2):

        W2^2 = ||m1 - m2||^2 + tr(S1 + S2 - 2 (S2^{1/2} S1 S2^{1/2})^{1/2}).

    Computed with symmetric eigendecompositions (no scipy.linalg.sqrtm), so it jits and vmaps.
    """
    r2 = sqrtm_psd(cov2)
    tr = jnp.trace(cov1) + jnp.trace(cov2) - 2.0 * trace_sqrtm_psd(r2 @ cov1 @ r2)
    w2sq = jnp.sum((mean1 - mean2) ** 2) + tr
    return jnp.sqrt(jnp.clip(w2sq, 0.0))


def weighted_moments(x, w):
    """Weighted mean and biased weighted covariance: sum w x / sum w and sum w (x-m)(x-m)^T / sum w.

    The sums are matrix-vector / matrix-matrix contractions over the point axis (one einsum gives
    sum w x and sum w together): under ``vmap`` XLA's CPU backend lowers a plain ``jnp.sum`` over
    points with a batch-size-dependent summation order, while these contractions keep, per config,
    the same order for any number of configs, so a sweep gives bit-identical per-config numbers
    however it is batched or sharded (``tests/test_sharding_exact.py``).
    """
    xa = jnp.concatenate([x, jnp.ones(x.shape[:-1] + (1,), x.dtype)], axis=-1)
    s = jnp.einsum("n,ni->i", w, xa)
    wsum = s[-1]
    mean = s[:-1] / wsum
    d = x - mean
    cov = jnp.einsum("ni,nj->ij", w[:, None] * d, d) / wsum
    return mean, _sym(cov)


@dataclasses.dataclass(frozen=True)
class Gaussian(Family):
    """Gaussian family N(mu, Sigma) on R^dim with full covariance."""

    dim: int
    name: str = "gaussian"
    parametrization: str = "theta = (mu, Sigma), ||.|| = sqrt(|mu|^2 + |Sigma|_F^2)"
    has_population_map: bool = True

    def validate(self, data_law) -> None:
        if data_law.dim != self.dim:
            raise SCSCInputError(
                f"data law dimension {data_law.dim} does not match the family's dim={self.dim}"
            )

    def fit(self, state, x, w, key=None) -> GaussianParams:
        """Weighted MLE (closed form; the warm start ``state`` is not needed)."""
        mean, cov = weighted_moments(x, w)
        return GaussianParams(mean, cov)

    def suff_stats(self, x):
        """Per-point sufficient statistics (x, x x^T), for the O(T) accumulate mode."""
        return (x, jnp.einsum("ni,nj->nij", x, x))

    def fit_from_stats(self, state, stats, wsum) -> GaussianParams:
        """MLE from summed statistics: mean = S1/W, cov = S2/W - mean mean^T (= :meth:`fit`)."""
        s1, s2 = stats
        mean = s1 / wsum
        return GaussianParams(mean, _sym(s2 / wsum - jnp.outer(mean, mean)))

    def sample(self, key, params: GaussianParams, m: int):
        # eigh-based square root: well defined for any PSD covariance (cholesky needs PD).
        root = sqrtm_psd(params.cov)
        z = jax.random.normal(key, (m, self.dim), dtype=params.cov.dtype)
        return params.mean + z @ root

    def log_prob(self, params: GaussianParams, x):
        d = x - params.mean
        chol = jnp.linalg.cholesky(params.cov)
        sol = jax.scipy.linalg.solve_triangular(chol, d.T, lower=True)
        logdet = 2.0 * jnp.sum(jnp.log(jnp.diag(chol)))
        return -0.5 * (jnp.sum(sol**2, axis=0) + logdet + self.dim * jnp.log(2 * jnp.pi))

    def theta_star(self, data_law) -> GaussianParams:
        self.validate(data_law)
        return GaussianParams(jnp.asarray(data_law.mean()), jnp.asarray(data_law.cov()))

    def distance(self, params: GaussianParams, theta_star: GaussianParams):
        return jnp.sqrt(
            jnp.sum((params.mean - theta_star.mean) ** 2) + jnp.sum((params.cov - theta_star.cov) ** 2)
        )

    def metrics(self, params, theta_star, key=None):
        return {
            "dist": self.distance(params, theta_star),
            "w2": gaussian_w2(params.mean, params.cov, theta_star.mean, theta_star.cov),
        }

    def population_update(self, data_law, theta_star, thetas, weights, gamma) -> GaussianParams:
        """Exact pi_gamma G_lambda for a population: moment matching of the mixture measure.

        ``thetas``: GaussianParams with a leading axis K; ``weights``: (K,) lambda coefficients.
        """
        m_d, s_d = data_law.mean(), data_law.cov()
        weights = jnp.asarray(weights)
        wm = weights / (1.0 + gamma)  # weight of each model component
        ws = jnp.sum(weights) * gamma / (1.0 + gamma)  # total weight of theta*
        total = 1.0 + jnp.sum(weights)
        mean = (m_d + wm @ thetas.mean + ws * theta_star.mean) / total

        def second(m, s):
            return s + jnp.outer(m, m)

        sec_models = jnp.einsum("k,kij->ij", wm, thetas.cov + jnp.einsum("ki,kj->kij", thetas.mean, thetas.mean))
        sec = (second(m_d, s_d) + sec_models + ws * second(theta_star.mean, theta_star.cov)) / total
        return GaussianParams(mean, _sym(sec - jnp.outer(mean, mean)))
