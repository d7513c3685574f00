"""alpha, L and the Constants record of Theorem 4.3 (docs/theory.md section 2; Bertrand et al.,
ICLR 2024, Assumptions 1-3).

* alpha: A = E_{p_data}[H_theta log p_theta*(x)] <= -alpha I, i.e. alpha = -lambda_max(A);
* L: x -> H_theta log p_theta(x) is L-Lipschitz (spectral norm) for theta near theta*. For the
  Gaussian family the Hessian is quadratic in x, so L exists only on a bounded domain: L is reported
  with its domain (a ball holding 1 - tail of p_data's mass, and a theta-ball);
* :func:`constants`: alpha, L, eps, C, rho, lambda_max, q and the Jacobian at theta* together.
"""
from __future__ import annotations

import dataclasses
import functools
import math
from typing import Any, Dict

import jax
import jax.numpy as jnp
import numpy as np

from .._validate import SCSCInputError, check_nonneg, check_open_unit
from .bound import constant_C, is_admissible, lambda_max, q, rho
from .charts import get_parametrization
from .expectations import Estimate, data_rule, expected_hessian, hessian_fn
from .jacobian import population_jacobian
from .wasserstein import epsilon_constant


def alpha_constant(family, data_law, parametrization=None, *, n_mc: int = 200_000, seed: int = 0) -> Estimate:
    """alpha = -lambda_max(A), A = E_{p_data}[H_theta log p_theta*(x)] (autodiff Hessian).

    Exact for the Gaussian family (the Hessian is quadratic in x, so the moment-matched
    Gauss-Hermite rule integrates it exactly); otherwise Monte Carlo with a batch-means standard error.
    """
    with jax.enable_x64(True):
        par = get_parametrization(family, data_law, parametrization)
        tv = par.to_vec(family.theta_star(data_law))
        rule = data_rule(family, data_law, n_mc=n_mc, seed=seed)
        A, parts = expected_hessian(family, par, tv, rule, batches=1 if rule.exact else 10)
        alpha = -float(np.linalg.eigvalsh(A)[-1])
        se = 0.0
        if parts is not None:
            vals = np.array([-np.linalg.eigvalsh(0.5 * (p + p.T))[-1] for p in parts])
            se = float(vals.std(ddof=1) / math.sqrt(len(vals)))
        return Estimate(alpha, se, rule.method)


def data_radius(data_law, tail: float = 1e-3, *, n_mc: int = 1_000_000, seed: int = 0) -> Estimate:
    """Radius R of the ball around E x holding 1 - tail of p_data's mass.

    Exact in 1-D (root of the cdf) and for N(mu, s^2 I) (chi-square quantile); otherwise the
    empirical quantile of ||x - E x|| over ``n_mc`` draws (se from the order-statistic spread).
    """
    from scipy.optimize import brentq
    from scipy.stats import chi2

    from ..data import Normal

    tail = check_open_unit("tail", tail)
    m = np.asarray(data_law.mean(), np.float64)
    d = data_law.dim
    if d == 1:
        def mass(R):
            return float(data_law.cdf(m[0] + R) - data_law.cdf(m[0] - R)) - (1.0 - tail)

        hi = 1.0
        while mass(hi) < 0:
            hi *= 2
        R = brentq(mass, 0.0, hi, xtol=1e-13)
        return Estimate(R, 0.0, "exact (1-D cdf)")
    cov = np.asarray(data_law.cov(), np.float64)
    if isinstance(data_law, Normal) and np.allclose(cov, cov[0, 0] * np.eye(d)):
        return Estimate(float(math.sqrt(cov[0, 0] * chi2.ppf(1.0 - tail, d))), 0.0, "exact (chi-square quantile)")
    with jax.enable_x64(True):
        x = np.asarray(data_law.sample(jax.random.PRNGKey(seed), n_mc), np.float64)
    r = np.sort(np.linalg.norm(x - m, axis=1))
    p = 1.0 - tail
    k = int(math.ceil(p * n_mc)) - 1
    s = math.sqrt(n_mc * p * (1 - p))
    lo, hi = r[max(0, int(k - 2 * s))], r[min(n_mc - 1, int(k + 2 * s))]
    return Estimate(float(r[k]), float((hi - lo) / 4), f"Monte Carlo quantile of |x - E x| (N={n_mc})")


@dataclasses.dataclass
@dataclasses.dataclass
class LipschitzResult:
    L: float
    domain: Dict[str, Any]
    method: str
    argmax: Dict[str, Any]


@functools.partial(jax.jit, static_argnums=(0, 1))
def _lipschitz_values(family, par, X, TH, V):
    """||D_x H_theta log p_theta(x)[v]|| (spectral norm) for each row (x, theta, v)."""
    hess = hessian_fn(family, par)

    def g(x, th, v):
        _, jv = jax.jvp(lambda xx: hess(th, xx), (x,), (v,))
        jv = 0.5 * (jv + jv.T)
        return jnp.max(jnp.abs(jnp.linalg.eigvalsh(jv)))

    return jax.vmap(g)(X, TH, V)


def lipschitz_constant(family, data_law, parametrization=None, *, tail: float = 1e-3, theta_radius: float = 0.05,
                       n_init: int = 1024, rounds: int = 40, top: int = 8, seed: int = 0) -> LipschitzResult:
    """L = sup ||D_x H_theta log p_theta(x)|| over x in the ball {|x - E x| <= R} (mass 1 - tail) and
    theta in {|theta - theta*| <= theta_radius}: the Lipschitz constant of x -> H_theta log p_theta(x)
    (spectral norm) on that convex domain.

    The derivative in direction v is a jvp of the autodiff Hessian. The supremum over (x, theta, v)
    is maximised by random search (``n_init`` points, half on the x-sphere, theta* included) followed
    by ``rounds`` of shrinking random perturbations around the ``top`` best points (projected back
    onto the domain), all through one compiled batch evaluation. A maximiser returns a lower bound
    of the sup; for the Gaussian family it is checked against a closed form in the tests.
    """
    tail = check_open_unit("tail", tail)
    theta_radius = check_nonneg("theta_radius", theta_radius)
    with jax.enable_x64(True):
        par = get_parametrization(family, data_law, parametrization)
        tv0 = np.asarray(par.to_vec(family.theta_star(data_law)), np.float64)
        Rr = data_radius(data_law, tail)
        R = Rr.value
        center = np.asarray(data_law.mean(), np.float64)
        m = data_law.dim
        P = tv0.shape[0]
        g_all = functools.partial(_lipschitz_values, family, par)
        rng = np.random.default_rng(seed)

        def unit(n, dim):
            u = rng.standard_normal((n, dim))
            return u / np.linalg.norm(u, axis=1, keepdims=True)

        def ball(n, dim, rad):
            r = rad * rng.uniform(size=(n, 1)) ** (1.0 / dim)
            r[: n // 2] = rad  # half on the boundary, where quadratic Hessians peak
            return unit(n, dim) * r

        def project(X, TH, V):
            dx = X - center
            nx = np.linalg.norm(dx, axis=1, keepdims=True)
            X = center + dx * np.minimum(1.0, R / np.maximum(nx, 1e-300))
            dt = TH - tv0
            nt = np.linalg.norm(dt, axis=1, keepdims=True)
            TH = tv0 + (dt * np.minimum(1.0, theta_radius / np.maximum(nt, 1e-300)) if theta_radius > 0 else 0 * dt)
            return X, TH, V / np.linalg.norm(V, axis=1, keepdims=True)

        X = center + ball(n_init, m, R)
        TH = tv0 + ball(n_init, P, theta_radius)
        V = unit(n_init, m)
        X[0], TH[0] = center, tv0
        vals = np.asarray(g_all(jnp.asarray(X), jnp.asarray(TH), jnp.asarray(V)))
        per = n_init // top
        for k in range(rounds):
            idx = np.argsort(-vals)[:top]
            X, TH, V, vals = X[idx], TH[idx], V[idx], vals[idx]
            scale = 0.3 * 0.85**k
            Xn = np.repeat(X, per - 1, 0) + scale * R * rng.standard_normal(((per - 1) * top, m))
            THn = np.repeat(TH, per - 1, 0) + scale * max(theta_radius, 1e-12) * rng.standard_normal(((per - 1) * top, P))
            Vn = np.repeat(V, per - 1, 0) + scale * rng.standard_normal(((per - 1) * top, m))
            Xn, THn, Vn = project(Xn, THn, Vn)
            X, TH, V = np.concatenate([X, Xn]), np.concatenate([TH, THn]), np.concatenate([V, Vn])
            vals = np.concatenate([vals, np.asarray(g_all(jnp.asarray(Xn), jnp.asarray(THn), jnp.asarray(Vn)))])
        j = int(np.nanargmax(vals))
        L = float(vals[j])
        domain = {
            "x": f"ball |x - E x| <= {R:.6g} holding {1 - tail:g} of p_data's mass ({Rr.method})",
            "x_center": center.tolist(),
            "x_radius": R,
            "x_radius_se": Rr.se,
            "x_mass": 1.0 - tail,
            "theta": f"ball |theta - theta*| <= {theta_radius:g} in the {par.name} chart",
            "theta_radius": theta_radius,
            "norm": "spectral norm of the P x P Hessian, Euclidean norm on x",
        }
        return LipschitzResult(
            L, domain,
            f"autodiff (jvp of the Hessian) + random search ({n_init}) and {rounds} rounds of shrinking local search",
            {"x": X[j].tolist(), "theta": TH[j].tolist(), "v": V[j].tolist()},
        )


@dataclasses.dataclass
class Constants:
    """Theorem 4.3's constants for one (family, data law, parametrization, lambda, gamma)."""

    family: str
    data: str
    dim: int
    parametrization: str
    parametrization_description: str
    lam: float
    gamma: float
    alpha: float
    alpha_se: float
    alpha_method: str
    L: float
    L_domain: Dict[str, Any]
    L_method: str
    eps: float
    eps_se: float
    eps_method: str
    eps_bias: Any  # the eps estimator's sampling-bias level (None for exact / bracketed estimators)
    C: float
    rho: float
    lambda_max: float
    q: float  # rho / (1 + gamma): the bound on the Jacobian at theta* and the rate of Theorem 4.3's bound
    admissible: bool
    jacobian_norm: float
    jacobian_spectral_radius: float
    jacobian_method: str
    jacobian_factor_error: float
    extras: Dict[str, Any] = dataclasses.field(default_factory=dict)

    def to_dict(self) -> Dict[str, Any]:
        d = dataclasses.asdict(self)
        extras = d.pop("extras")
        d.update(extras)
        return d


def constants(family, data_law, *, lam: float, gamma: float, parametrization=None, tail: float = 1e-3,
              theta_radius: float = 0.05, n_mc: int = 200_000, seed: int = 0, jacobian_method: str = "auto") -> Constants:
    """alpha, L (with its domain), epsilon, C, rho(lambda), lambda_max(gamma), the Jacobian of
    pi_gamma G_lambda at theta* (spectral norm and radius) and the bound q = rho/(1+gamma) on it."""
    lam = check_nonneg("lam", lam)
    gamma = check_nonneg("gamma", gamma)
    family.validate(data_law)
    with jax.enable_x64(True):
        par = get_parametrization(family, data_law, parametrization)
        a = alpha_constant(family, data_law, par, n_mc=n_mc, seed=seed)
        if not a.value > 0:
            raise SCSCInputError(f"E_p_data[Hessian] is not negative definite in the {par.name} chart (alpha = {a.value:.3g})")
        lip = lipschitz_constant(family, data_law, par, tail=tail, theta_radius=theta_radius, seed=seed)
        e = epsilon_constant(family, data_law, seed=seed)
        C = constant_C(a.value, e.value, lip.L)
        r = rho(lam, C)
        jac = population_jacobian(family, data_law, lam=lam, gamma=gamma, parametrization=par, method=jacobian_method,
                                  n_mc=n_mc, seed=seed)
        jac0 = population_jacobian(family, data_law, lam=lam, gamma=0.0, parametrization=par, method=jacobian_method,
                                   n_mc=n_mc, seed=seed)
        ferr = float(np.max(np.abs(jac.matrix - jac0.matrix / (1.0 + gamma))))
        return Constants(
            family=family.name, data=data_law.name, dim=data_law.dim,
            parametrization=par.name, parametrization_description=par.description, lam=lam, gamma=gamma,
            alpha=a.value, alpha_se=a.se, alpha_method=a.method, L=lip.L, L_domain=lip.domain, L_method=lip.method,
            eps=e.value, eps_se=e.se, eps_method=e.method, eps_bias=e.bias, C=C, rho=r, lambda_max=lambda_max(C, gamma),
            q=q(lam, gamma, C), admissible=is_admissible(lam, C, gamma),
            jacobian_norm=jac.spectral_norm, jacobian_spectral_radius=jac.spectral_radius,
            jacobian_method=jac.method, jacobian_factor_error=ferr,
            extras={"jacobian_norm_gamma0": jac0.spectral_norm},
        )

