"""The population map pi_gamma G_lambda and its Jacobian (docs/theory.md section 4).

    G(theta) = pi_gamma G_lambda(theta) = local argmax_theta' E_{p_data} log p_theta' + lambda E_{pi_gamma p_theta} log p_theta'

(the population version of Definition 4.2 of Gillman et al.), and, derived at the fixed point theta*,

    J(pi_gamma G_lambda)(theta*) = lambda/(1+gamma) (A + lambda B)^{-1} B = J(G_lambda)(theta*) / (1 + gamma),

with A, B the expected Hessians of :mod:`.expectations`. The Jacobian is computed by autodiff of a
family's exact population map, or by implicit differentiation of the stationarity condition.
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from .._validate import SCSCInputError, check_nonneg
from .charts import get_parametrization
from .expectations import data_rule, logp_scalar, model_rule


@dataclasses.dataclass
@dataclasses.dataclass
class JacobianResult:
    matrix: np.ndarray
    spectral_norm: float
    spectral_radius: float
    method: str
    parametrization: str
    lam: float
    gamma: float
    at: str

    def to_dict(self):
        return {"spectral_norm": self.spectral_norm, "spectral_radius": self.spectral_radius,
                "method": self.method, "parametrization": self.parametrization, "lam": self.lam,
                "gamma": self.gamma, "at": self.at, "matrix": np.asarray(self.matrix).tolist()}


def population_map(family, data_law, *, lam: float, gamma: float, parametrization=None) -> Callable:
    """G(theta) = pi_gamma G_lambda(theta) (population version of Definition 4.2) as a map R^P -> R^P.

    Uses the family's exact ``population_update`` (moment matching for Gaussians).
    """
    lam = check_nonneg("lam", lam)
    gamma = check_nonneg("gamma", gamma)
    if not family.has_population_map:
        raise SCSCInputError(f"family {family.name!r} has no exact population map; use method='implicit'")
    par = get_parametrization(family, data_law, parametrization)
    ts = family.theta_star(data_law)

    def G(theta_vec):
        p = par.from_vec(theta_vec)
        stacked = jax.tree_util.tree_map(lambda a: a[None], p)
        return par.to_vec(family.population_update(data_law, ts, stacked, jnp.asarray([lam]), gamma))

    return G


def _phi(family, par, tp, th, tsv, xd, wd, xm, wm, lam, gamma):
    """Phi(theta', theta) = E_data log p_theta' + lam/(1+g) E_{p_theta} log p_theta' + lam g/(1+g) E_{p*} log p_theta',

    E_{p_theta} by importance weights p_theta/p_theta* on fixed p_theta* nodes (common random numbers),
    so Phi is a smooth function of theta and the implicit function theorem applies.
    """
    logp = jax.vmap(logp_scalar(family, par), in_axes=(None, 0))
    ratio = jnp.exp(logp(th, xm) - logp(tsv, xm))
    lp_m = logp(tp, xm)
    return (jnp.sum(wd * logp(tp, xd)) + lam / (1 + gamma) * jnp.sum(wm * ratio * lp_m)
            + lam * gamma / (1 + gamma) * jnp.sum(wm * lp_m))


def _grad_tp(family, par, tp, th, nodes):
    return jax.grad(lambda a: _phi(family, par, a, th, *nodes))(tp)


@functools.partial(jax.jit, static_argnums=(0, 1))
def _phi_grad(family, par, tp, th, *nodes):
    """grad_theta' Phi (compiled once per family, chart and shapes)."""
    return _grad_tp(family, par, tp, th, nodes)


@functools.partial(jax.jit, static_argnums=(0, 1))
def _phi_hess_tp(family, par, tp, th, *nodes):
    """d^2 Phi / d theta'^2."""
    return jax.jacfwd(lambda a: _grad_tp(family, par, a, th, nodes))(tp)


@functools.partial(jax.jit, static_argnums=(0, 1))
def _phi_hess_tp_th(family, par, tp, th, *nodes):
    """d^2 Phi / d theta' d theta."""
    return jax.jacfwd(lambda b: _grad_tp(family, par, tp, b, nodes))(th)


def population_jacobian(family, data_law, *, lam: float, gamma: float, theta=None, parametrization=None,
                        method: str = "auto", n_mc: int = 200_000, seed: int = 0, newton_steps: int = 20) -> JacobianResult:
    """Jacobian of the population map pi_gamma G_lambda at theta (default theta*), in a chart.

    ``method="autodiff"`` differentiates the family's exact population map (closed form for
    Gaussians); ``method="implicit"`` differentiates the stationarity condition
    grad_theta' Phi(theta', theta) = 0 of the weighted expected log-likelihood (:func:`_phi`):
    J = -[d^2 Phi / d theta'^2]^{-1} d^2 Phi / d theta' d theta, at theta' = G(theta) (found by Newton
    steps warm-started at theta: the *local* argmax); at theta* it is evaluated at (theta*, theta*).
    Expectations are Gauss-Hermite (exact, Gaussians) or Monte Carlo with common random numbers.
    ``auto``: autodiff when the family has a population map, else implicit.
    """
    lam = check_nonneg("lam", lam)
    gamma = check_nonneg("gamma", gamma)
    if method == "auto":
        method = "autodiff" if family.has_population_map else "implicit"
    if method not in ("autodiff", "implicit"):
        raise SCSCInputError(f"method must be 'auto', 'autodiff' or 'implicit' (got {method!r})")
    with jax.enable_x64(True):
        par = get_parametrization(family, data_law, parametrization)
        ts = family.theta_star(data_law)
        tsv = par.to_vec(ts)
        tv = tsv if theta is None else par.to_vec(theta)
        if method == "autodiff":
            J = np.asarray(jax.jacfwd(population_map(family, data_law, lam=lam, gamma=gamma, parametrization=par))(tv))
            how = "autodiff of the exact population map (moment matching)"
        else:
            dr = data_rule(family, data_law, n_mc=n_mc, seed=seed)
            mr = model_rule(family, ts, n_mc=n_mc, seed=seed)
            nodes = (tsv, jnp.asarray(dr.x), jnp.asarray(dr.w), jnp.asarray(mr.x), jnp.asarray(mr.w), lam, gamma)

            def g1(a, b):
                return _phi_grad(family, par, a, b, *nodes)

            def Hpp(a, b):
                return _phi_hess_tp(family, par, a, b, *nodes)

            def Hpt(a, b):
                return _phi_hess_tp_th(family, par, a, b, *nodes)
            tp = tv
            if theta is not None:
                for _ in range(newton_steps):
                    step = jnp.linalg.solve(Hpp(tp, tv), g1(tp, tv))
                    tp = tp - step
                    if float(jnp.linalg.norm(step)) < 1e-13:
                        break
            J = -np.linalg.solve(np.asarray(Hpp(tp, tv)), np.asarray(Hpt(tp, tv)))
            how = f"implicit differentiation of the stationarity condition ({dr.method}; p_theta*: {mr.method})"
        J = np.asarray(J, np.float64)
        return JacobianResult(
            J, float(np.linalg.norm(J, 2)), float(np.max(np.abs(np.linalg.eigvals(J)))), how, par.name,
            lam, gamma, "theta*" if theta is None else "given theta",
        )


def correction_factor_error(family, data_law, *, lam: float, gamma: float, parametrization=None, method="auto") -> float:
    """max |J(pi_gamma G_lambda)(theta*) - J(G_lambda)(theta*) / (1+gamma)| (0 up to round-off: docs/theory.md section 4)."""
    Jg = population_jacobian(family, data_law, lam=lam, gamma=gamma, parametrization=parametrization, method=method).matrix
    J0 = population_jacobian(family, data_law, lam=lam, gamma=0.0, parametrization=parametrization, method=method).matrix
    return float(np.max(np.abs(Jg - J0 / (1.0 + gamma))))


def jacobian_formula(A, B, lam: float, gamma: float) -> np.ndarray:
    """(derived) J(pi_gamma G_lambda)(theta*) = lambda/(1+gamma) (A + lambda B)^{-1} B."""
    lam = check_nonneg("lam", lam)
    gamma = check_nonneg("gamma", gamma)
    A = np.asarray(A, np.float64)
    B = np.asarray(B, np.float64)
    return lam / (1.0 + gamma) * np.linalg.solve(A + lam * B, B)
