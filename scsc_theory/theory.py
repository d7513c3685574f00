"""The constants and bounds of Theorem 4.3 (Gillman et al., ICML 2024), computed.

Notation (theory.md sections 1-3; Bertrand et al., ICLR 2024, Assumptions 1-3):

* theta* = argmax_theta E_{p_data} log p_theta (the family's ``theta_star``).
* A = E_{p_data}[H_theta log p_theta*(x)],  B = E_{p_theta*}[H_theta log p_theta*(x)].
* alpha: A <= -alpha I, i.e. alpha = -lambda_max(A)  (strong concavity at theta*).
* L: x -> H_theta log p_theta(x) is L-Lipschitz (spectral norm) for theta near theta*. For the
  Gaussian family the Hessian is quadratic in x, so L exists only on a bounded domain: we report
  L together with its domain (a ball holding 1 - tail of p_data's mass, and a theta-ball).
* epsilon = W1(p_theta*, p_data).
* C = 1 + epsilon L / alpha,   rho(lambda) = lambda C / (1 - lambda C),
  lambda_max(gamma) = (1 + gamma) / ((2 + gamma) C)  (Theorem 4.3's hypothesis lambda C < (1+gamma)/(2+gamma)).
* Theorem 4.3: ||theta_t - theta*|| <= c sum_{i=0}^t (rho/(1+gamma))^i + (rho/(1+gamma))^t ||theta_0 - theta*||,
  whose limit as t -> infinity is c (1 + gamma) / (1 + gamma - rho).
* (derived) J(pi_gamma G_lambda)(theta*) = lambda/(1+gamma) (A + lambda B)^{-1} B
  = J(G_lambda)(theta*) / (1 + gamma).

Every quantity depends on the parametrization theta (a :class:`Parametrization`, named in every
output) except the spectral radius of the Jacobian at the fixed point.

Numerics run in float64: the public entry points enable x64 for their duration.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable, Dict, Optional

import jax
import jax.numpy as jnp
import numpy as np

from ._validate import (
    SCSCInputError,
    check_finite_number,
    check_int,
    check_nonneg,
    check_open_unit,
    check_positive,
)

PyTree = Any

# ----------------------------------------------------------------------------------------------
# small scalar formulas (Theorem 4.3)
# ----------------------------------------------------------------------------------------------


def constant_C(alpha: float, eps: float, L: float) -> float:
    """C = 1 + epsilon L / alpha (Bertrand et al.; theory.md section 2)."""
    alpha = check_positive("alpha", alpha)
    return 1.0 + check_nonneg("eps", eps) * check_nonneg("L", L) / alpha


def rho(lam: float, C: float) -> float:
    """rho(lambda) = lambda C / (1 - lambda C); +inf when lambda C >= 1 (no contraction estimate)."""
    lam = check_nonneg("lam", lam)
    C = check_positive("C", C)
    x = lam * C
    return math.inf if x >= 1.0 else x / (1.0 - x)


def lambda_max(C: float, gamma: float) -> float:
    """lambda_max(gamma) = (1 + gamma) / ((2 + gamma) C): Theorem 4.3 needs lambda < lambda_max."""
    C = check_positive("C", C)
    gamma = check_nonneg("gamma", gamma)
    if math.isinf(gamma):
        return 1.0 / C
    return (1.0 + gamma) / ((2.0 + gamma) * C)


def is_admissible(lam: float, C: float, gamma: float) -> bool:
    """Theorem 4.3's hypothesis lambda C < (1+gamma)/(2+gamma)."""
    return check_nonneg("lam", lam) < lambda_max(C, gamma)


def contraction(rho_value: float, gamma: float) -> float:
    """q = rho / (1 + gamma), the geometric rate of the bound."""
    gamma = check_nonneg("gamma", gamma)
    return float(rho_value) / (1.0 + gamma)


def _check_q(rho_value, gamma):
    gamma = check_nonneg("gamma", gamma)
    r = float(rho_value)
    if not r >= 0:
        raise SCSCInputError(f"rho must be >= 0 (got {rho_value!r})")
    q = r / (1.0 + gamma)
    if not q < 1.0:
        raise SCSCInputError(
            f"lambda is outside Theorem 4.3's admissible region: rho/(1+gamma) = {q:.4g} >= 1 "
            f"(need lambda C < (1+gamma)/(2+gamma), i.e. rho < 1 + gamma = {1 + gamma:.4g})"
        )
    return gamma, r, q


def theorem_bound(c: float, rho_value: float, gamma: float, t: int, d0: float) -> np.ndarray:
    """Theorem 4.3's bound for s = 0..t, as an array of length t + 1:

        B(s) = c sum_{i=0}^s q^i + q^s d0 = c (1 - q^{s+1}) / (1 - q) + q^s d0,   q = rho/(1+gamma).

    Raises :class:`SCSCInputError` unless 0 <= q < 1 (lambda admissible), c >= 0, d0 >= 0.
    """
    c = check_nonneg("c", c)
    d0 = check_nonneg("d0 = ||theta_0 - theta*||", d0)
    t = check_int("t", t, 0)
    _, _, q = _check_q(rho_value, gamma)
    s = np.arange(t + 1, dtype=np.float64)
    return c * (1.0 - q ** (s + 1)) / (1.0 - q) + q**s * d0


def bound_limit(c: float, rho_value: float, gamma: float) -> float:
    """lim_{t->inf} of Theorem 4.3's bound: c (1 + gamma) / (1 + gamma - rho)."""
    c = check_nonneg("c", c)
    gamma, r, _ = _check_q(rho_value, gamma)
    return c * (1.0 + gamma) / (1.0 + gamma - r)


def bound_for(lam: float, gamma: float, C: float, c: float, t: int, d0: float) -> np.ndarray:
    """Theorem 4.3's bound curve from (lambda, gamma, C); raises if lambda is not admissible."""
    lam = check_nonneg("lam", lam)
    gamma = check_nonneg("gamma", gamma)
    if not is_admissible(lam, C, gamma):
        raise SCSCInputError(
            f"lam={lam:g} is outside the admissible region of Theorem 4.3 for gamma={gamma:g}: "
            f"need lam < lambda_max = (1+gamma)/((2+gamma) C) = {lambda_max(C, gamma):.6g} (C = {C:.6g})"
        )
    return theorem_bound(c, rho(lam, C), gamma, t, d0)


@dataclasses.dataclass
class BoundCheck:
    """Outcome of :func:`check_bound_satisfaction`.

    ``fraction[s]``: fraction of seeds with ||theta_u - theta*|| <= B(u) for every u <= s;
    ``required[s]`` = (1 - delta)^s; ``p_value[s]``: one-sided binomial p-value of the observed count
    under the hypothesis P(within up to s) = required[s]. ``satisfied`` iff no s rejects at level
    ``alpha`` (Bonferroni over s); ``strict`` iff fraction >= required for every s (no allowance for
    the sampling error of a finite number of seeds).
    """

    fraction: np.ndarray
    required: np.ndarray
    p_value: np.ndarray
    satisfied: bool
    strict: bool
    worst_margin: float
    first_violation: Optional[int]
    n_seeds: int
    delta: float
    alpha: float

    def summary(self) -> str:
        f = self.fraction[-1]
        r = self.required[-1]
        verdict = "holds" if self.satisfied else f"VIOLATED (first at t={self.first_violation})"
        return (f"{f:.3f} of {self.n_seeds} seeds within the bound up to t={len(self.fraction) - 1} "
                f"(need >= (1-delta)^t = {r:.3f}; min binomial p-value {self.p_value.min():.2g}); {verdict}")


def check_bound_satisfaction(dists, bound, delta: float, alpha: float = 1e-3) -> BoundCheck:
    """Do trajectories stay within Theorem 4.3's bound with probability >= (1 - delta)^t?

    ``dists``: (S, T+1) distances ||theta_t - theta*|| of S independent seeds (non-finite counts as
    a violation); ``bound``: (T+1,) the bound curve B(t). For every t, the number of seeds whose
    whole trajectory up to t lies within the bound is compared with Binomial(S, (1 - delta)^t): the
    claim is rejected (a violation) when its one-sided p-value is below alpha / (T + 1). The theorem's
    c is by construction the (1 - delta) quantile of the one-step error, so at t = 1 the probability is
    exactly 1 - delta up to estimation error, and a raw "fraction >= (1 - delta)^t" test (``strict``)
    would fail about half the time on a correct bound.
    """
    from scipy.stats import binom

    delta = check_open_unit("delta", delta)
    alpha = check_open_unit("alpha", alpha)
    d = np.asarray(dists, dtype=np.float64)
    b = np.asarray(bound, dtype=np.float64)
    if d.ndim != 2 or b.ndim != 1 or d.shape[1] != b.shape[0]:
        raise SCSCInputError(f"dists must be (S, T+1) and bound (T+1,) (got {d.shape} and {b.shape})")
    within = np.isfinite(d) & (d <= b[None, :])
    upto = np.logical_and.accumulate(within, axis=1)
    S = d.shape[0]
    count = upto.sum(axis=0)
    fraction = count / S
    required = (1.0 - delta) ** np.arange(b.shape[0])
    p_value = binom.cdf(count, S, required)
    ok = p_value >= alpha / b.shape[0]
    bad = np.nonzero(~ok)[0]
    with np.errstate(invalid="ignore"):
        margin = np.nanmin(b[None, :] - np.where(np.isfinite(d), d, np.inf))
    return BoundCheck(
        fraction=fraction, required=required, p_value=p_value, satisfied=bool(ok.all()),
        strict=bool(np.all(fraction >= required - 1e-12)), worst_margin=float(margin),
        first_violation=None if bad.size == 0 else int(bad[0]), n_seeds=S, delta=delta, alpha=alpha,
    )


# ----------------------------------------------------------------------------------------------
# parametrizations
# ----------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Parametrization:
    """A coordinate chart theta in R^P for a family's parameter pytree.

    ``to_vec(params) -> (P,)`` and ``from_vec((P,)) -> params`` are inverse, jax-traceable maps.
    The theory's norm ||theta - theta*|| is the Euclidean norm of the difference of vectors.
    """

    name: str
    description: str
    to_vec: Callable = dataclasses.field(compare=False, hash=False)
    from_vec: Callable = dataclasses.field(compare=False, hash=False)

    def __str__(self) -> str:
        return f"{self.name}: {self.description}"


def _tril(d):
    r, c = np.tril_indices(d)
    return r, c


def svec(S):
    """Isometric half-vectorisation: diagonal entries and sqrt(2) x strictly-lower entries, so ||svec S|| = ||S||_F."""
    d = S.shape[-1]
    r, c = _tril(d)
    scale = np.where(r == c, 1.0, math.sqrt(2.0))
    return S[..., r, c] * scale


def svec_inv(v, d):
    r, c = _tril(d)
    scale = np.where(r == c, 1.0, math.sqrt(2.0))
    vals = v / scale
    S = jnp.zeros(v.shape[:-1] + (d, d), v.dtype)
    S = S.at[..., r, c].set(vals)
    S = S.at[..., c, r].set(vals)
    return S


def gaussian_parametrizations(dim: int) -> Dict[str, Parametrization]:
    """Charts for :class:`scsc_theory.families.Gaussian`; the first is the default.

    * ``mean-svec``: theta = (mu, svec Sigma); ||theta - theta*|| = sqrt(|mu - mu*|^2 + |Sigma - Sigma*|_F^2),
      the family's own ``distance`` (so the loop engine's ``dist`` metric is this norm).
    * ``mean-chol``: theta = (mu, vech L) with Sigma = L L^T, L lower triangular with positive diagonal.
    * ``natural``: theta = (Sigma^{-1} mu, svec Sigma^{-1}) (exponential-family natural coordinates):
      log p_theta(x) is affine in theta up to the log-partition, so H_theta log p_theta(x) does not
      depend on x and L = 0 in this chart.
    """
    from .families.gaussian import GaussianParams

    d = int(dim)
    r, c = _tril(d)

    def sv_to(p):
        return jnp.concatenate([p.mean, svec(p.cov)])

    def sv_from(v):
        return GaussianParams(v[:d], svec_inv(v[d:], d))

    def ch_to(p):
        Lc = jnp.linalg.cholesky(p.cov)
        return jnp.concatenate([p.mean, Lc[r, c]])

    def ch_from(v):
        Lc = jnp.zeros((d, d), v.dtype).at[r, c].set(v[d:])
        return GaussianParams(v[:d], Lc @ Lc.T)

    def nat_to(p):
        P = jnp.linalg.inv(p.cov)
        P = 0.5 * (P + P.T)
        return jnp.concatenate([P @ p.mean, svec(P)])

    def nat_from(v):
        P = svec_inv(v[d:], d)
        S = jnp.linalg.inv(P)
        S = 0.5 * (S + S.T)
        return GaussianParams(S @ v[:d], S)

    return {
        "mean-svec": Parametrization(
            "mean-svec", "theta = (mu, svec Sigma) [svec: diagonal, sqrt2 x lower entries], |theta| = sqrt(|mu|^2 + |Sigma|_F^2)",
            sv_to, sv_from),
        "mean-chol": Parametrization(
            "mean-chol", "theta = (mu, vech L), Sigma = L L^T (lower Cholesky factor), Euclidean norm", ch_to, ch_from),
        "natural": Parametrization(
            "natural", "theta = (Sigma^-1 mu, svec Sigma^-1) (natural/precision coordinates), Euclidean norm",
            nat_to, nat_from),
    }


def _is_gaussian(family) -> bool:
    from .families.gaussian import Gaussian

    return isinstance(family, Gaussian)


def parametrizations(family, data_law=None) -> Dict[str, Parametrization]:
    """Named charts available for ``family``: Gaussian: three; a family may provide its own through a
    ``theory_parametrizations(data_law) -> dict[str, Parametrization]`` method (first = default; needed
    when the raw parameters are redundant, e.g. mixture weights on a simplex); otherwise ``raw`` =
    ravel_pytree of theta*."""
    if _is_gaussian(family):
        return gaussian_parametrizations(family.dim)
    hook = getattr(family, "theory_parametrizations", None)
    if hook is not None:
        return hook(data_law)
    if data_law is None:
        raise SCSCInputError(f"family {family.name!r}: the raw parametrization needs a data law (for theta*'s structure)")
    from jax.flatten_util import ravel_pytree

    _, unravel = ravel_pytree(family.theta_star(data_law))

    def to_vec(p):
        return ravel_pytree(p)[0]

    return {"raw": Parametrization("raw", f"theta = all parameters of {family.name} flattened (jax ravel_pytree), Euclidean norm",
                                   to_vec, unravel)}


def get_parametrization(family, data_law=None, parametrization=None) -> Parametrization:
    """Resolve ``parametrization`` (None: the family's default, a name, or a :class:`Parametrization`)."""
    if isinstance(parametrization, Parametrization):
        return parametrization
    charts = parametrizations(family, data_law)
    if parametrization is None:
        return next(iter(charts.values()))
    if parametrization not in charts:
        raise SCSCInputError(f"parametrization must be one of {', '.join(map(repr, charts))} for family {family.name!r} "
                             f"(got {parametrization!r})")
    return charts[parametrization]


# ----------------------------------------------------------------------------------------------
# expectations
# ----------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Rule:
    """Nodes x (K, m) and weights w (K,) for E[f(x)] ~ sum_k w_k f(x_k)."""

    x: np.ndarray
    w: np.ndarray
    method: str
    exact: bool


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
    """Rule for E_{p_data}[Hessian-like integrands]: exact for the Gaussian family (Hessian quadratic in x), else MC."""
    if _is_gaussian(family):
        return _moment_rule(data_law)
    return mc_rule(data_law.sample, n_mc, jax.random.fold_in(jax.random.PRNGKey(seed), 11))


def model_rule(family, theta_star, *, n_mc: int = 200_000, seed: int = 0) -> Rule:
    """Rule for E_{p_theta*}: Gauss-Hermite for Gaussians (exact for polynomial integrands of degree <= 9), else MC."""
    if _is_gaussian(family):
        return gauss_hermite_rule(np.asarray(theta_star.mean), np.asarray(theta_star.cov))
    return mc_rule(lambda k, m: family.sample(k, theta_star, m), n_mc, jax.random.fold_in(jax.random.PRNGKey(seed), 12))


def _logp_scalar(family, par):
    def f(theta, x):
        return family.log_prob(par.from_vec(theta), x[None, :])[0]

    return f


def _hessian_fn(family, par):
    return jax.hessian(_logp_scalar(family, par), argnums=0)


_JIT_CACHE: Dict[Any, Any] = {}


def _cached(key, build):
    """Memoise jitted closures by a hashable key (families, laws and chart names are hashable)."""
    if key not in _JIT_CACHE:
        _JIT_CACHE[key] = build()
    return _JIT_CACHE[key]


def _weighted_hessian_fn(family, par):
    def build():
        H = jax.vmap(_hessian_fn(family, par), in_axes=(None, 0))
        return jax.jit(lambda th, x, w: jnp.einsum("k,kij->kij", w, H(th, x)))

    return _cached(("whess", family, par.name), build)


def expected_hessian(family, par, theta_vec, rule: Rule, batches: int = 1):
    """sum_k w_k H_theta log p_theta(x_k) (P, P); with ``batches`` > 1 also the per-batch estimates."""
    fn = _weighted_hessian_fn(family, par)
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
        out = fn(jnp.asarray(theta_vec), xi, wi)
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


def jacobian_formula(A, B, lam: float, gamma: float) -> np.ndarray:
    """(derived) J(pi_gamma G_lambda)(theta*) = lambda/(1+gamma) (A + lambda B)^{-1} B."""
    lam = check_nonneg("lam", lam)
    gamma = check_nonneg("gamma", gamma)
    A = np.asarray(A, np.float64)
    B = np.asarray(B, np.float64)
    return lam / (1.0 + gamma) * np.linalg.solve(A + lam * B, B)


# ----------------------------------------------------------------------------------------------
# alpha, L, epsilon
# ----------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Estimate:
    value: float
    se: float
    method: str


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

    from .data import Normal

    tail = check_open_unit("tail", tail)
    m = np.asarray(data_law.mean(), np.float64)
    d = data_law.dim
    if d == 1 and hasattr(data_law, "cdf"):
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
class LipschitzResult:
    L: float
    domain: Dict[str, Any]
    method: str
    argmax: Dict[str, Any]


def _lipschitz_fn(family, par):
    def build():
        hess = _hessian_fn(family, par)

        def g(x, th, v):
            _, jv = jax.jvp(lambda xx: hess(th, xx), (x,), (v,))
            jv = 0.5 * (jv + jv.T)
            return jnp.max(jnp.abs(jnp.linalg.eigvalsh(jv)))

        return jax.jit(jax.vmap(g))

    return _cached(("lip", family, par.name), build)


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
        g_all = _lipschitz_fn(family, par)
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
    from .data import GaussianMixture, Laplace, Normal, StudentT

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

    from .data import Normal

    if isinstance(law1, Normal) and law1.loc[0] == mu and math.isclose(law1.cov_[0][0], sd * sd, rel_tol=1e-15):
        return 0.0
    xs = cdf_crossings(lambda z: norm.cdf(z, mu, sd), law1.cdf, mu - 12 * sd, mu + 12 * sd)
    return w1_1d_quantile(lambda u: norm.ppf(u, mu, sd), law1.quantile,
                          crossings=[float(norm.cdf(z, mu, sd)) for z in xs])


def epsilon_constant(family, data_law, *, n_ot: int = 1000, repeats: int = 4, n_coupling: int = 400_000,
                     seed: int = 0) -> Estimate:
    """epsilon = W1(p_theta*, p_data); the theory needs an upper bound (Assumption: W1 <= epsilon).

    * 0 exactly when the law is in the family (Normal data, Gaussian family: p_theta* = p_data);
    * exact in 1-D through quantile functions (Gaussian family against a law with ``quantile``);
    * product laws against the (then diagonal) Gaussian p_theta*: bracketed by
      max_i W1(marginals_i) <= W1 <= E|X - Y| under the coordinate-wise quantile (comonotone)
      coupling; epsilon is the upper end (Monte Carlo over U ~ Unif(0,1)^d, with its standard error),
      exact when only one marginal differs;
    * otherwise the mean of ``repeats`` exact OT costs (POT ``ot.emd2``) between ``n_ot`` draws of
      each, with its standard error; this plug-in estimate is biased upwards by the sampling
      distance (O(n^{-1/2}) in 2-D), reported as the same estimator between two p_theta* samples.
    """
    from .data import Normal

    with jax.enable_x64(True):
        ts = family.theta_star(data_law)
        if _is_gaussian(family) and isinstance(data_law, Normal):
            return Estimate(0.0, 0.0, "exact: p_data is Gaussian, so p_theta* = p_data")
        if _is_gaussian(family) and data_law.dim == 1 and hasattr(data_law, "quantile"):
            mu, sd = float(ts.mean[0]), math.sqrt(float(ts.cov[0, 0]))
            val = _w1_gauss_1d(mu, sd, data_law)
            return Estimate(val, 0.0, "exact (1-D): int_0^1 |F*^-1(u) - F_data^-1(u)| du by adaptive quadrature")
        marg = product_marginals(data_law) if _is_gaussian(family) else None
        cov = np.asarray(ts.cov, np.float64) if marg is not None else None
        if marg is not None and np.allclose(cov, np.diag(np.diag(cov)), atol=1e-14):
            from scipy.stats import norm

            mean = np.asarray(ts.mean, np.float64)
            sds = np.sqrt(np.diag(cov))
            per = [_w1_gauss_1d(mean[k], sds[k], marg[k]) for k in range(len(marg))]
            lower = max(per)
            differing = [k for k, w in enumerate(per) if w > 0]
            if len(differing) <= 1:
                return Estimate(lower, 0.0, "exact: product law differing from p_theta* in one coordinate only, "
                                            "W1 = that marginal's 1-D W1 (quantile quadrature)")
            rng = np.random.default_rng(seed)
            U = rng.uniform(size=(n_coupling, len(marg)))
            U = np.clip(U, 1e-15, 1 - 1e-15)
            diff = np.stack([norm.ppf(U[:, k], mean[k], sds[k]) - np.asarray(marg[k].quantile(U[:, k]))
                             for k in range(len(marg))], axis=1)
            dist = np.linalg.norm(diff, axis=1)
            upper = float(dist.mean())
            se = float(dist.std(ddof=1) / math.sqrt(n_coupling))
            return Estimate(upper, se, f"upper bound: E|X - Y| under the coordinate-wise quantile coupling "
                                       f"(Monte Carlo N={n_coupling}); exact lower bound max_i W1(marginal_i) = {lower:.6g}")
        import os

        # POT probes every installed array backend on import; only NumPy is needed here
        for backend in ("PYTORCH", "TENSORFLOW", "CUPY", "JAX"):
            os.environ.setdefault(f"POT_BACKEND_DISABLE_{backend}", "1")
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
        return Estimate(
            float(vals.mean()), se,
            f"sample estimate: POT emd2 between {n_ot} draws of each, {repeats} repeats (mean +- se); "
            f"same estimator between two p_theta* samples (bias level): {null.mean():.4f}",
        )


# ----------------------------------------------------------------------------------------------
# the population map and its Jacobian
# ----------------------------------------------------------------------------------------------


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
    if not getattr(family, "has_population_map", False):
        raise SCSCInputError(f"family {family.name!r} has no exact population map; use method='implicit'")
    par = get_parametrization(family, data_law, parametrization)
    ts = family.theta_star(data_law)

    def G(theta_vec):
        p = par.from_vec(theta_vec)
        stacked = jax.tree_util.tree_map(lambda a: a[None], p)
        return par.to_vec(family.population_update(data_law, ts, stacked, jnp.asarray([lam]), gamma))

    return G


def _implicit_fns(family, par):
    """Phi(theta', theta) = E_data log p_theta' + lam/(1+g) E_{p_theta} log p_theta' + lam g/(1+g) E_{p*} log p_theta',

    E_{p_theta} by importance weights p_theta/p_theta* on fixed p_theta* nodes (common random numbers),
    so Phi is a smooth function of theta and the implicit function theorem applies. Returns jitted
    (grad_theta' Phi, d^2 Phi/d theta'^2, d^2 Phi/d theta' d theta).
    """
    def build():
        logp = jax.vmap(_logp_scalar(family, par), in_axes=(None, 0))

        def phi(tp, th, tsv, xd, wd, xm, wm, lam, gamma):
            ratio = jnp.exp(logp(th, xm) - logp(tsv, xm))
            lp_m = logp(tp, xm)
            return (jnp.sum(wd * logp(tp, xd)) + lam / (1 + gamma) * jnp.sum(wm * ratio * lp_m)
                    + lam * gamma / (1 + gamma) * jnp.sum(wm * lp_m))

        g1 = jax.grad(phi, argnums=0)
        return jax.jit(g1), jax.jit(jax.jacfwd(g1, argnums=0)), jax.jit(jax.jacfwd(g1, argnums=1))

    return _cached(("implicit", family, par.name), build)


def population_jacobian(family, data_law, *, lam: float, gamma: float, theta=None, parametrization=None,
                        method: str = "auto", n_mc: int = 200_000, seed: int = 0, newton_steps: int = 20) -> JacobianResult:
    """Jacobian of the population map pi_gamma G_lambda at theta (default theta*), in a chart.

    ``method="autodiff"`` differentiates the family's exact population map (closed form for
    Gaussians); ``method="implicit"`` differentiates the stationarity condition
    grad_theta' Phi(theta', theta) = 0 of the weighted expected log-likelihood (:func:`_implicit_fns`):
    J = -[d^2 Phi / d theta'^2]^{-1} d^2 Phi / d theta' d theta, at theta' = G(theta) (found by Newton
    steps warm-started at theta: the *local* argmax); at theta* it is evaluated at (theta*, theta*).
    Expectations are Gauss-Hermite (exact, Gaussians) or Monte Carlo with common random numbers.
    ``auto``: autodiff when the family has a population map, else implicit.
    """
    lam = check_nonneg("lam", lam)
    gamma = check_nonneg("gamma", gamma)
    if method == "auto":
        method = "autodiff" if getattr(family, "has_population_map", False) else "implicit"
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
            f_g, f_pp, f_pt = _implicit_fns(family, par)
            nodes = (tsv, jnp.asarray(dr.x), jnp.asarray(dr.w), jnp.asarray(mr.x), jnp.asarray(mr.w), lam, gamma)

            def g1(a, b):
                return f_g(a, b, *nodes)

            def Hpp(a, b):
                return f_pp(a, b, *nodes)

            def Hpt(a, b):
                return f_pt(a, b, *nodes)
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
    """max |J(pi_gamma G_lambda)(theta*) - J(G_lambda)(theta*) / (1+gamma)| (0 up to round-off: theory.md (derived))."""
    Jg = population_jacobian(family, data_law, lam=lam, gamma=gamma, parametrization=parametrization, method=method).matrix
    J0 = population_jacobian(family, data_law, lam=lam, gamma=0.0, parametrization=parametrization, method=method).matrix
    return float(np.max(np.abs(Jg - J0 / (1.0 + gamma))))


# ----------------------------------------------------------------------------------------------
# all constants together
# ----------------------------------------------------------------------------------------------


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
    C: float
    rho: float
    lambda_max: float
    bound: float
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
    pi_gamma G_lambda at theta* (spectral norm and radius) and the bound rho/(1+gamma) on it."""
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
            family=family.name, data=getattr(data_law, "name", type(data_law).__name__), dim=data_law.dim,
            parametrization=par.name, parametrization_description=par.description, lam=lam, gamma=gamma,
            alpha=a.value, alpha_se=a.se, alpha_method=a.method, L=lip.L, L_domain=lip.domain, L_method=lip.method,
            eps=e.value, eps_se=e.se, eps_method=e.method, C=C, rho=r, lambda_max=lambda_max(C, gamma),
            bound=r / (1.0 + gamma), admissible=is_admissible(lam, C, gamma),
            jacobian_norm=jac.spectral_norm, jacobian_spectral_radius=jac.spectral_radius,
            jacobian_method=jac.method, jacobian_factor_error=ferr,
            extras={"jacobian_norm_gamma0": jac0.spectral_norm},
        )


# ----------------------------------------------------------------------------------------------
# the finite-sample constant c
# ----------------------------------------------------------------------------------------------


@dataclasses.dataclass
class CEstimate:
    """c = (1 - delta) quantile of ||G^n(theta) - G(theta)|| over draws (theta uniform in a ball around theta*)."""

    c: float
    ci: tuple
    delta: float
    n: int
    lam: float
    gamma: float
    n_draws: int
    radius: float
    eps_opt: float
    parametrization: str
    errors: np.ndarray

    def to_dict(self):
        d = dataclasses.asdict(self)
        d.pop("errors")
        return d


_C_CACHE: Dict[Any, Any] = {}


def _c_runner(family, data_law, par, n, M, corrector):
    key = (family, data_law, par.name, n, M, corrector)
    if key in _C_CACHE:
        return _C_CACHE[key]
    from . import correction as _corr

    ts = family.theta_star(data_law)
    tsv = par.to_vec(ts)
    P = tsv.shape[0]

    def one(key, lam, gamma, m, radius):
        k_th, k_r, k_real, k_syn, k_corr, k_fit = jax.random.split(key, 6)
        u = jax.random.normal(k_th, (P,))
        u = u / jnp.linalg.norm(u)
        tv = tsv + radius * jax.random.uniform(k_r) ** (1.0 / P) * u
        params = par.from_vec(tv)
        x_real = data_law.sample(k_real, n)
        x_syn = family.sample(k_syn, params, M)
        x_syn = _corr.correct(corrector, k_corr, x_syn, m, gamma, family, ts)
        dt = x_real.dtype
        w_syn = jnp.where(jnp.arange(M) < m, jnp.where(m > 0, lam / jnp.maximum(m, 1), 0.0), 0.0)
        w = jnp.concatenate([jnp.full((n,), 1.0 / n), w_syn]).astype(dt)
        fit = family.params(family.fit(family.init_state(params), jnp.concatenate([x_real, x_syn]), w, k_fit))
        stacked = jax.tree_util.tree_map(lambda a: a[None], params)
        Gp = family.population_update(data_law, ts, stacked, jnp.asarray([lam]), gamma)
        return jnp.linalg.norm(par.to_vec(fit) - par.to_vec(Gp))

    fn = jax.jit(jax.vmap(one, in_axes=(0, None, None, None, None)))
    _C_CACHE[key] = fn
    return fn


def estimate_c(family, data_law, *, lam: float, gamma: float, n: int, delta: float = 0.05, n_draws: int = 2000,
               radius: float = 0.1, seed: int = 10_000, parametrization=None, corrector: str = "ideal",
               eps_opt: float = 0.0) -> CEstimate:
    """Finite-sample constant c of Theorem 4.3 (theory.md section 2):

        P(||G^n(theta) - G(theta)|| <= c) >= 1 - delta  for theta near theta*,

    estimated as the empirical (1 - delta) quantile over ``n_draws`` Monte Carlo draws, each with
    theta uniform in the ball of ``radius`` around theta*, fresh real data (n points) and
    floor(lambda n) corrected synthetic points, exactly the loop engine's weights (real 1/n,
    synthetic lambda/m). G^n is the family's fit; G its exact population map. ``eps_opt`` (the
    optimisation error of iteratively fitted families; 0 for closed-form fits) is added to c.
    ``ci`` is a distribution-free 95% order-statistic interval for the quantile.
    Use a ``seed`` different from the loop seeds so that c is estimated on other seeds.
    """
    from .loop import synthetic_count

    lam = check_nonneg("lam", lam)
    gamma = check_nonneg("gamma", gamma)
    delta = check_open_unit("delta", delta)
    n = check_int("n", n, 2)
    n_draws = check_int("n_draws", n_draws, 10)
    radius = check_nonneg("radius", radius)
    eps_opt = check_nonneg("eps_opt", eps_opt)
    family.validate(data_law)
    if not getattr(family, "has_population_map", False):
        raise SCSCInputError(f"estimate_c needs the exact population map G; family {family.name!r} has none")
    with jax.enable_x64(True):
        par = get_parametrization(family, data_law, parametrization)
        m = int(synthetic_count(lam, n))
        M = max(1, int(math.ceil(max(lam, 1e-12))) * n)
        fn = _c_runner(family, data_law, par, n, M, corrector)
        keys = jax.random.split(jax.random.PRNGKey(seed), n_draws)
        errs = np.asarray(fn(keys, lam, gamma, m, radius), np.float64)
    s = np.sort(errs)
    p = 1.0 - delta
    k = int(math.ceil(p * n_draws)) - 1
    half = 1.96 * math.sqrt(n_draws * p * (1 - p))
    ci = (float(s[max(0, int(math.floor(k - half)))]) + eps_opt, float(s[min(n_draws - 1, int(math.ceil(k + half)))]) + eps_opt)
    return CEstimate(float(s[k]) + eps_opt, ci, delta, n, lam, gamma, n_draws, radius, eps_opt, par.name, errs)


def loop_distances(result, family, data_law, parametrization=None) -> np.ndarray:
    """||theta_t - theta*|| (C, T+1) in a chart, from a :class:`scsc_theory.loop.LoopResult`'s thetas."""
    with jax.enable_x64(True):
        par = get_parametrization(family, data_law, parametrization)
        tsv = par.to_vec(family.theta_star(data_law))
        f = jax.vmap(jax.vmap(lambda p: jnp.linalg.norm(par.to_vec(p) - tsv)))
        th = jax.tree_util.tree_map(jnp.asarray, result.thetas)
        return np.asarray(f(th))


# ----------------------------------------------------------------------------------------------
# bound-satisfaction experiments (Theorem 4.3 against finite-sample loops)
# ----------------------------------------------------------------------------------------------


@dataclasses.dataclass
class BoundExperiment:
    """Finite-sample loops started at distance d0 from theta*, against Theorem 4.3's bound."""

    check: BoundCheck
    c: CEstimate
    bound: np.ndarray
    dists: np.ndarray
    lam: float
    gamma: float
    C: float
    rho: float
    q: float
    c_used: float
    d0: float
    parametrization: str

    def summary(self) -> str:
        return (f"lam={self.lam:.4g}, gamma={self.gamma:.4g}: c={self.c_used:.4g}, q={self.q:.4g}; "
                + self.check.summary())


def bound_experiment(family, data_law, *, lam: float, gamma: float, C: float, n: int = 200, generations: int = 20,
                     seeds: int = 64, delta: float = 0.05, d0: float = 0.1, c_scale: float = 1.0,
                     correction_power: int = 1, c_draws: int = 2000, c_seed: int = 10_000, seed0: int = 0,
                     parametrization=None, anchor_lam: Optional[float] = None, direction=None) -> BoundExperiment:
    """Run ``seeds`` independent finite-sample loops (loop engine, ideal corrector, fixed lambda) from
    theta_0 = theta* + d0 u_s (random unit directions u_s in the chart) and check that they stay within

        B(t) = c sum_{i<=t} q^i + q^t d0,   q = rho(lambda) / (1+gamma)^correction_power,

    for a fraction >= (1 - delta)^t of seeds, with c = c_scale x the (1 - delta) quantile of
    ||G^n - G|| estimated by :func:`estimate_c` on *other* seeds (``c_seed``). ``correction_power=1``
    and ``c_scale=1`` are the theorem; ``c_scale < 1`` (c too small) or ``correction_power=2`` (the
    1/(1+gamma) factor applied twice) are deliberately wrong bounds that the check must reject.
    ``anchor_lam`` adds one extra (discarded) config so that the compiled loop's synthetic buffer
    has a fixed size across calls with different lambdas (no recompilation). ``direction`` (a vector
    in the chart) replaces the random start directions by one fixed direction for every seed.
    """
    from .loop import run_loop

    lam = check_nonneg("lam", lam)
    gamma = check_nonneg("gamma", gamma)
    delta = check_open_unit("delta", delta)
    seeds = check_int("seeds", seeds, 2)
    generations = check_int("generations", generations, 1)
    d0 = check_nonneg("d0", d0)
    check_positive("c_scale", c_scale)
    correction_power = check_int("correction_power", correction_power, 1)
    if not is_admissible(lam, C, gamma):
        raise SCSCInputError(
            f"lam={lam:g} is outside Theorem 4.3's admissible region for gamma={gamma:g} "
            f"(lambda_max = {lambda_max(C, gamma):.6g} with C = {C:.6g})"
        )
    with jax.enable_x64(True):
        par = get_parametrization(family, data_law, parametrization)
        tsv = np.asarray(par.to_vec(family.theta_star(data_law)), np.float64)
        rng = np.random.default_rng(seed0 + 7919)
        if direction is None:
            u = rng.standard_normal((seeds, tsv.shape[0]))
        else:
            u = np.broadcast_to(np.asarray(direction, np.float64), (seeds, tsv.shape[0])).copy()
            if not np.linalg.norm(u[0]) > 0:
                raise SCSCInputError("direction must be a non-zero vector in the chart")
        u /= np.linalg.norm(u, axis=1, keepdims=True)
        th0 = tsv[None, :] + d0 * u
        lams = np.full(seeds, lam)
        gams = np.full(seeds, gamma)
        sds = seed0 + np.arange(seeds)
        if anchor_lam is not None:
            th0 = np.concatenate([th0, tsv[None]])
            lams = np.append(lams, check_nonneg("anchor_lam", anchor_lam))
            gams = np.append(gams, gamma)
            sds = np.append(sds, seed0 + seeds)
        theta0 = jax.vmap(par.from_vec)(jnp.asarray(th0))
        res = run_loop(family, data_law, lam=lams, gamma=gams, seed=sds, n=n, generations=generations,
                       mode="fixed", sampling="finite", corrector="ideal", theta0=theta0)
        dists = loop_distances(res, family, data_law, par)[:seeds]
        # c must hold uniformly on the region the bound lets the iterates visit, |theta - theta*| <= d0 + c/(1-q):
        # a first estimate on the d0-ball fixes that radius, the second estimate is the one used.
        r = rho(lam, C)
        q_true = r / (1.0 + gamma)
        ce0 = estimate_c(family, data_law, lam=lam, gamma=gamma, n=n, delta=delta, n_draws=c_draws,
                         radius=max(d0, 0.05), seed=c_seed, parametrization=par)
        ce = estimate_c(family, data_law, lam=lam, gamma=gamma, n=n, delta=delta, n_draws=c_draws,
                        radius=d0 + ce0.c / (1.0 - q_true), seed=c_seed + 1, parametrization=par)
    rho_arg = r / (1.0 + gamma) ** (correction_power - 1)
    c_used = ce.c * c_scale
    bound = theorem_bound(c_used, rho_arg, gamma, generations, d0)
    return BoundExperiment(
        check=check_bound_satisfaction(dists, bound, delta), c=ce, bound=bound, dists=dists, lam=lam, gamma=gamma,
        C=C, rho=r, q=rho_arg / (1.0 + gamma), c_used=c_used, d0=d0, parametrization=par.name,
    )
