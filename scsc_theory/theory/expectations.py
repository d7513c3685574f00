"""Expectations for the theory's integrals: quadrature and Monte Carlo rules, expected Hessians
(docs/theory.md section 1).

A :class:`Rule` (nodes x, weights w) approximates E[f(x)] ~ sum_k w_k f(x_k). The rule for
E_{p_data} is exact (Gauss-Hermite on the moment-matched Gaussian) when the family's Hessian
H_theta log p_theta(x) is quadratic in x (``family.hessian_quadratic_in_x``); the rule for
E_{p_theta*} is Gauss-Hermite when p_theta* is Gaussian (``family.gaussian_law``); otherwise both
are Monte Carlo.

    A = E_{p_data}[H_theta log p_theta*(x)],   B = E_{p_theta*}[H_theta log p_theta*(x)].
"""
from __future__ import annotations

import dataclasses
import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

from .charts import get_parametrization


@dataclasses.dataclass
class Rule:
    """Nodes x (K, m) and weights w (K,) for E[f(x)] ~ sum_k w_k f(x_k)."""

    x: np.ndarray
    w: np.ndarray
    method: str
    exact: bool


@dataclasses.dataclass
class Estimate:
    """A number with its standard error (0 for exact values) and how it was obtained."""

    value: float
    se: float
    method: str


def gauss_hermite_rule(mean, cov, order: int = 5) -> Rule:
    """Tensor Gauss-Hermite rule for N(mean, cov): exact for polynomials of degree <= 2 order - 1 in each coordinate."""
    mean = np.asarray(mean, np.float64)
    cov = np.asarray(cov, np.float64)
    d = mean.shape[0]
    z, w = np.polynomial.hermite_e.hermegauss(order)
    w = w / math.sqrt(2 * math.pi)
    grids = np.meshgrid(*([z] * d), indexing="ij")
    Z = np.stack([g.reshape(-1) for g in grids], axis=-1)
    W = np.ones(Z.shape[0])
    for wg in np.meshgrid(*([w] * d), indexing="ij"):
        W = W * wg.reshape(-1)
    chol = np.linalg.cholesky(cov)
    return Rule(mean + Z @ chol.T, W, f"Gauss-Hermite ({order}^{d} nodes)", True)


def _moment_rule(data_law) -> Rule:
    """For integrands polynomial of degree <= 2 in x, E_{p_data} equals E under N(E x, Cov x): exact."""
    r = gauss_hermite_rule(np.asarray(data_law.mean()), np.asarray(data_law.cov()))
    r.method = "exact: integrand quadratic in x, Gauss-Hermite on the moment-matched Gaussian"
    return r


def mc_rule(sample_fn, n_mc: int, key) -> Rule:
    x = np.asarray(sample_fn(key, n_mc), np.float64)
    return Rule(x, np.full(x.shape[0], 1.0 / x.shape[0]), f"Monte Carlo (N={n_mc})", False)


def data_rule(family, data_law, *, n_mc: int = 200_000, seed: int = 0) -> Rule:
    """Rule for E_{p_data}[Hessian-like integrands]: exact when the family's Hessian is quadratic in x, else MC."""
    if family.hessian_quadratic_in_x:
        return _moment_rule(data_law)
    return mc_rule(data_law.sample, n_mc, jax.random.fold_in(jax.random.PRNGKey(seed), 11))


def model_rule(family, theta_star, *, n_mc: int = 200_000, seed: int = 0) -> Rule:
    """Rule for E_{p_theta*}: Gauss-Hermite when p_theta* is Gaussian (exact for polynomial integrands of degree <= 9), else MC."""
    law = family.gaussian_law(theta_star)
    if law is not None:
        return gauss_hermite_rule(np.asarray(law[0]), np.asarray(law[1]))
    return mc_rule(lambda k, m: family.sample(k, theta_star, m), n_mc, jax.random.fold_in(jax.random.PRNGKey(seed), 12))


def logp_scalar(family, par):
    """(theta_vec, x) -> log p_theta(x) for one point x, theta in the chart ``par``."""
    def f(theta, x):
        return family.log_prob(par.from_vec(theta), x[None, :])[0]

    return f


def hessian_fn(family, par):
    """(theta_vec, x) -> H_theta log p_theta(x) (P, P), by autodiff."""
    return jax.hessian(logp_scalar(family, par), argnums=0)


@functools.partial(jax.jit, static_argnums=(0, 1))
def _weighted_hessians(family, par, th, x, w):
    """w_k H_theta log p_theta(x_k) for every node (compiled once per family, chart and shape)."""
    H = jax.vmap(hessian_fn(family, par), in_axes=(None, 0))
    return jnp.einsum("k,kij->kij", w, H(th, x))


def expected_hessian(family, par, theta_vec, rule: Rule, batches: int = 1):
    """sum_k w_k H_theta log p_theta(x_k) (P, P); with ``batches`` > 1 also the per-batch estimates."""
    x = jnp.asarray(rule.x)
    w = jnp.asarray(rule.w)
    chunks = []
    size = 8192
    for i in range(0, x.shape[0], size):
        xi, wi = x[i:i + size], w[i:i + size]
        pad = size - xi.shape[0] if x.shape[0] > size else 0
        if pad:
            xi = jnp.concatenate([xi, jnp.repeat(xi[:1], pad, 0)])
            wi = jnp.concatenate([wi, jnp.zeros(pad, wi.dtype)])
        out = _weighted_hessians(family, par, jnp.asarray(theta_vec), xi, wi)
        chunks.append(out[: out.shape[0] - pad] if pad else out)
    per = jnp.concatenate(chunks)
    total = np.asarray(per.sum(0))
    total = 0.5 * (total + total.T)
    if batches <= 1:
        return total, None
    K = per.shape[0] // batches * batches
    parts = np.asarray(per[:K].reshape(batches, K // batches, *per.shape[1:]).sum(1)) * batches
    return total, parts


def expected_hessians(family, data_law, parametrization=None, *, n_mc: int = 200_000, seed: int = 0):
    """(A, B, par): A = E_{p_data}[H log p_theta*], B = E_{p_theta*}[H log p_theta*] in the chart ``par``."""
    with jax.enable_x64(True):
        par = get_parametrization(family, data_law, parametrization)
        ts = family.theta_star(data_law)
        tv = par.to_vec(ts)
        A, _ = expected_hessian(family, par, tv, data_rule(family, data_law, n_mc=n_mc, seed=seed))
        B, _ = expected_hessian(family, par, tv, model_rule(family, ts, n_mc=n_mc, seed=seed))
        return A, B, par
