"""epsilon = W1(p_theta*, p_data), the misspecification of Theorem 4.3 (docs/theory.md section 3).

Estimators, most exact first (:func:`epsilon_constant`): exact 0 when p_data is in the family; exact
1-D quantile quadrature; a bracket for product laws against a diagonal Gaussian p_theta*; otherwise
the plug-in optimal-transport cost between samples (POT), whose upward sampling bias is measured by
the same estimator between two p_theta* samples and returned as a number (:attr:`EpsilonEstimate.bias`),
with :func:`debiased_eps` the rule that subtracts it.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Callable, Optional

import jax
import numpy as np

from .expectations import Estimate


@dataclasses.dataclass
class EpsilonEstimate(Estimate):
    """An estimate of epsilon; ``bias``: the estimator's own level between two p_theta* samples
    (None for the exact and bracketed estimators, which have no sampling bias)."""

    bias: Optional[float] = None


def debiased_eps(est: EpsilonEstimate) -> float:
    """eps - bias if the difference is significant (> 2 standard errors of the difference, se
    sqrt(2) x the estimate's se), else 0: a plug-in W1 indistinguishable from its own sampling bias
    is read as eps = 0 (p_theta* = p_data up to the estimator's resolution). Unbiased estimators
    (``bias`` None) are returned as they are."""
    if est.bias is None:
        return float(est.value)
    diff = est.value - est.bias
    return float(diff) if diff > 2.0 * (float(est.se or 0.0) * math.sqrt(2.0)) else 0.0


def w1_1d_quantile(q1: Callable, q2: Callable, crossings=()) -> float:
    """W1(P, Q) = int_0^1 |F_P^{-1}(u) - F_Q^{-1}(u)| du in 1-D (adaptive quadrature in u).

    ``crossings``: levels u where the quantile functions cross (kinks of the integrand); passing
    them as breakpoints makes the quadrature fast and accurate.
    """
    from scipy.integrate import quad

    def f(u):
        return abs(float(q1(u)) - float(q2(u)))

    cuts = sorted({0.0, 1e-6, 0.5, 1 - 1e-6, 1.0} | {float(c) for c in crossings if 1e-6 < c < 1 - 1e-6})
    tot = 0.0
    for a, b in zip(cuts[:-1], cuts[1:]):
        val, _ = quad(f, a, b, limit=200, epsabs=1e-12, epsrel=1e-10)
        tot += val
    return tot


def cdf_crossings(F1: Callable, F2: Callable, lo: float, hi: float, n_grid: int = 2001) -> list:
    """Points x in [lo, hi] where F1(x) = F2(x) (sign changes on a grid refined by brentq)."""
    from scipy.optimize import brentq

    xs = np.linspace(lo, hi, n_grid)
    d = np.asarray(F1(xs), np.float64) - np.asarray(F2(xs), np.float64)
    out = []
    for k in range(n_grid - 1):
        if d[k] == 0.0:
            out.append(float(xs[k]))
        elif d[k] * d[k + 1] < 0:
            out.append(brentq(lambda z: float(F1(z)) - float(F2(z)), xs[k], xs[k + 1], xtol=1e-14))
    return out


def w1_1d_cdf(F1: Callable, F2: Callable, lo: float = -np.inf, hi: float = np.inf) -> float:
    """W1(P, Q) = int |F_P(x) - F_Q(x)| dx in 1-D (an independent quadrature of the same distance)."""
    from scipy.integrate import quad

    def f(x):
        return abs(float(F1(x)) - float(F2(x)))

    tot = 0.0
    for a, b in ((lo, -1.0), (-1.0, 0.0), (0.0, 1.0), (1.0, hi)):
        val, _ = quad(f, a, b, limit=200, epsabs=1e-12, epsrel=1e-10)
        tot += val
    return tot


def product_marginals(data_law):
    """The 1-D marginals of a data law whose coordinates are independent, else None.

    Laplace and StudentT have i.i.d. coordinates; a GaussianMixture whose component means differ
    only along the first axis, with one common sigma, is (mixture on axis 0) x N(0, sigma^2) x ...
    """
    from ..data import GaussianMixture, Laplace, Normal, StudentT

    d = data_law.dim
    if isinstance(data_law, Laplace):
        return [Laplace(1, data_law.scale)] * d
    if isinstance(data_law, StudentT):
        return [StudentT(1, data_law.nu, data_law.scale)] * d
    if isinstance(data_law, GaussianMixture):
        mu = np.asarray(data_law.means, np.float64)
        sig = set(data_law.sigmas)
        if len(sig) == 1 and (d == 1 or np.allclose(mu[:, 1:], mu[:1, 1:])):
            s0 = float(next(iter(sig)))
            first = GaussianMixture(data_law.weights, tuple((float(m[0]),) for m in mu), data_law.sigmas)
            return [first] + [Normal((float(mu[0, k]),), ((s0 * s0,),)) for k in range(1, d)]
    return None


def _w1_gauss_1d(mu, sd, law1):
    """Exact W1(N(mu, sd^2), law1) for a 1-D law with cdf and quantile."""
    from scipy.stats import norm

    from ..data import Normal

    if isinstance(law1, Normal) and law1.loc[0] == mu and math.isclose(law1.cov_[0][0], sd * sd, rel_tol=1e-15):
        return 0.0
    xs = cdf_crossings(lambda z: norm.cdf(z, mu, sd), law1.cdf, mu - 12 * sd, mu + 12 * sd)
    return w1_1d_quantile(lambda u: norm.ppf(u, mu, sd), law1.quantile,
                          crossings=[float(norm.cdf(z, mu, sd)) for z in xs])


def epsilon_constant(family, data_law, *, n_ot: int = 1000, repeats: int = 4, n_coupling: int = 400_000,
                     seed: int = 0) -> EpsilonEstimate:
    """epsilon = W1(p_theta*, p_data); the theory needs an upper bound (Assumption: W1 <= epsilon).

    * 0 exactly when the law is in the family (Normal data equal to a Gaussian p_theta*);
    * exact in 1-D through quantile functions (Gaussian p_theta* against a 1-D law);
    * product laws against a diagonal Gaussian p_theta*: bracketed by
      max_i W1(marginals_i) <= W1 <= E|X - Y| under the coordinate-wise quantile (comonotone)
      coupling; epsilon is the upper end (Monte Carlo over U ~ Unif(0,1)^d, with its standard error),
      exact when only one marginal differs;
    * otherwise the mean of ``repeats`` exact OT costs (POT ``ot.emd2``) between ``n_ot`` draws of
      each, with its standard error; this plug-in estimate is biased upwards by the sampling
      distance (O(n^{-1/2}) in 2-D), measured by the same estimator between two p_theta* samples
      (the ``bias`` field).
    """
    from ..data import Normal

    with jax.enable_x64(True):
        ts = family.theta_star(data_law)
        gl = family.gaussian_law(ts)
        if gl is not None and isinstance(data_law, Normal) and np.array_equal(np.asarray(gl[0]), np.asarray(data_law.mean())) \
                and np.array_equal(np.asarray(gl[1]), np.asarray(data_law.cov())):
            return EpsilonEstimate(0.0, 0.0, "exact: p_data is Gaussian, so p_theta* = p_data")
        if gl is not None and data_law.dim == 1:
            mu, sd = float(gl[0][0]), math.sqrt(float(gl[1][0, 0]))
            val = _w1_gauss_1d(mu, sd, data_law)
            return EpsilonEstimate(val, 0.0, "exact (1-D): int_0^1 |F*^-1(u) - F_data^-1(u)| du by adaptive quadrature")
        marg = product_marginals(data_law) if gl is not None else None
        cov = np.asarray(gl[1], np.float64) if marg is not None else None
        if marg is not None and np.allclose(cov, np.diag(np.diag(cov)), atol=1e-14):
            from scipy.stats import norm

            mean = np.asarray(gl[0], np.float64)
            sds = np.sqrt(np.diag(cov))
            per = [_w1_gauss_1d(mean[k], sds[k], marg[k]) for k in range(len(marg))]
            lower = max(per)
            differing = [k for k, w in enumerate(per) if w > 0]
            if len(differing) <= 1:
                return EpsilonEstimate(lower, 0.0, "exact: product law differing from p_theta* in one coordinate only, "
                                                   "W1 = that marginal's 1-D W1 (quantile quadrature)")
            rng = np.random.default_rng(seed)
            U = rng.uniform(size=(n_coupling, len(marg)))
            U = np.clip(U, 1e-15, 1 - 1e-15)
            diff = np.stack([norm.ppf(U[:, k], mean[k], sds[k]) - np.asarray(marg[k].quantile(U[:, k]))
                             for k in range(len(marg))], axis=1)
            dist = np.linalg.norm(diff, axis=1)
            upper = float(dist.mean())
            se = float(dist.std(ddof=1) / math.sqrt(n_coupling))
            return EpsilonEstimate(upper, se, f"upper bound: E|X - Y| under the coordinate-wise quantile coupling "
                                              f"(Monte Carlo N={n_coupling}); exact lower bound max_i W1(marginal_i) = {lower:.6g}")
        import ot

        key = jax.random.PRNGKey(seed)
        vals, null = [], []
        for r in range(repeats):
            k1, k2, k3 = jax.random.split(jax.random.fold_in(key, r), 3)
            x = np.asarray(data_law.sample(k1, n_ot), np.float64)
            y = np.asarray(family.sample(k2, ts, n_ot), np.float64)
            y2 = np.asarray(family.sample(k3, ts, n_ot), np.float64)
            a = np.full(n_ot, 1.0 / n_ot)
            vals.append(ot.emd2(a, a, ot.dist(x, y, metric="euclidean")))
            null.append(ot.emd2(a, a, ot.dist(y2, y, metric="euclidean")))
        vals = np.array(vals)
        null = np.array(null)
        se = float(vals.std(ddof=1) / math.sqrt(repeats))
        return EpsilonEstimate(
            float(vals.mean()), se,
            f"sample estimate: POT emd2 between {n_ot} draws of each, {repeats} repeats (mean +- se); "
            f"same estimator between two p_theta* samples (bias level): {null.mean():.4f}",
            bias=float(null.mean()),
        )
