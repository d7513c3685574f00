"""Theorem 4.3's scalar formulas and its bound (docs/theory.md section 2; Gillman et al., ICML 2024).

* C = 1 + epsilon L / alpha,   rho(lambda) = lambda C / (1 - lambda C)  (+inf when lambda C >= 1),
* q = rho(lambda) / (1 + gamma), the geometric rate of the bound (one name, :func:`q`),
* lambda_max(gamma) = (1 + gamma) / ((2 + gamma) C): the hypothesis lambda C < (1+gamma)/(2+gamma),
  i.e. lambda < lambda_max, equivalently q < 1,
* B(t) = c sum_{i=0}^t q^i + q^t ||theta_0 - theta*||, with limit c (1 + gamma) / (1 + gamma - rho),
* bound satisfaction: trajectories stay within B with probability >= (1 - delta)^t.

``rho``, ``lambda_max``, ``q`` and ``is_admissible`` take Python scalars (validated, a float back) or
arrays: NumPy arrays give NumPy float64 results, JAX arrays (also under ``jit`` / ``vmap``) give JAX
results, so sweeps and the conjecture explorer call these instead of their own copies.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Optional

import jax
import jax.numpy as jnp
import numpy as np

from .._validate import SCSCInputError, check_int, check_nonneg, check_open_unit, check_positive


def _is_scalar(*xs) -> bool:
    return all(np.ndim(x) == 0 and not isinstance(x, jax.Array) for x in xs)


def _xp(*xs):
    """jax.numpy for JAX inputs (tracers included), NumPy otherwise."""
    return jnp if any(isinstance(x, jax.Array) for x in xs) else np


def _arrays(*xs):
    xp = _xp(*xs)
    return xp, [x if isinstance(x, jax.Array) else np.asarray(x, float) for x in xs]


def constant_C(alpha: float, eps: float, L: float) -> float:
    """C = 1 + epsilon L / alpha (Bertrand et al.; docs/theory.md section 2)."""
    alpha = check_positive("alpha", alpha)
    return 1.0 + check_nonneg("eps", eps) * check_nonneg("L", L) / alpha


def rho(lam, C):
    """rho(lambda) = lambda C / (1 - lambda C); +inf when lambda C >= 1 (no contraction estimate)."""
    if _is_scalar(lam, C):
        lam = check_nonneg("lam", lam)
        C = check_positive("C", C)
        x = lam * C
        return math.inf if x >= 1.0 else x / (1.0 - x)
    xp, (lam, C) = _arrays(lam, C)
    x = lam * C
    if xp is np:
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(x < 1, x / (1 - x), np.inf)
    return jnp.where(x < 1, x / jnp.where(x < 1, 1 - x, 1.0), jnp.inf)


def q(lam, gamma, C):
    """q = rho(lambda) / (1 + gamma) = lambda C / ((1 - lambda C)(1 + gamma)), the rate of Theorem 4.3's
    bound (+inf outside lambda C < 1). The Jacobian of pi_gamma G_lambda at theta* is at most q."""
    if _is_scalar(lam, gamma, C):
        gamma = check_nonneg("gamma", gamma)
        return rho(lam, C) / (1.0 + gamma)
    xp, (gamma,) = _arrays(gamma)
    return rho(lam, C) / (1 + gamma)


def lambda_max(C, gamma):
    """lambda_max(gamma) = (1 + gamma) / ((2 + gamma) C): Theorem 4.3 needs lambda < lambda_max (1/C at gamma = inf)."""
    if _is_scalar(C, gamma):
        C = check_positive("C", C)
        gamma = check_nonneg("gamma", gamma)
        if math.isinf(gamma):
            return 1.0 / C
        return (1.0 + gamma) / ((2.0 + gamma) * C)
    xp, (C, gamma) = _arrays(C, gamma)
    return (1.0 + gamma) / ((2.0 + gamma) * C)


def is_admissible(lam, C, gamma):
    """Theorem 4.3's hypothesis lambda C < (1+gamma)/(2+gamma) (elementwise for arrays)."""
    if _is_scalar(lam, C, gamma):
        return check_nonneg("lam", lam) < lambda_max(C, gamma)
    xp, (lam,) = _arrays(lam)
    return lam < lambda_max(C, gamma)


def _check_q(rho_value, gamma):
    gamma = check_nonneg("gamma", gamma)
    r = float(rho_value)
    if not r >= 0:
        raise SCSCInputError(f"rho must be >= 0 (got {rho_value!r})")
    qv = r / (1.0 + gamma)
    if not qv < 1.0:
        raise SCSCInputError(
            f"lambda is outside Theorem 4.3's admissible region: rho/(1+gamma) = {qv:.4g} >= 1 "
            f"(need lambda C < (1+gamma)/(2+gamma), i.e. rho < 1 + gamma = {1 + gamma:.4g})"
        )
    return gamma, r, qv


def theorem_bound(c: float, rho_value: float, gamma: float, t: int, d0: float) -> np.ndarray:
    """Theorem 4.3's bound for s = 0..t, as an array of length t + 1:

        B(s) = c sum_{i=0}^s q^i + q^s d0 = c (1 - q^{s+1}) / (1 - q) + q^s d0,   q = rho/(1+gamma).

    Raises :class:`SCSCInputError` unless 0 <= q < 1 (lambda admissible), c >= 0, d0 >= 0.
    """
    c = check_nonneg("c", c)
    d0 = check_nonneg("d0 = ||theta_0 - theta*||", d0)
    t = check_int("t", t, 0)
    _, _, qv = _check_q(rho_value, gamma)
    s = np.arange(t + 1, dtype=np.float64)
    return c * (1.0 - qv ** (s + 1)) / (1.0 - qv) + qv**s * d0


def bound_limit(c: float, rho_value: float, gamma: float) -> float:
    """lim_{t->inf} of Theorem 4.3's bound: c (1 + gamma) / (1 + gamma - rho)."""
    c = check_nonneg("c", c)
    gamma, r, _ = _check_q(rho_value, gamma)
    return c * (1.0 + gamma) / (1.0 + gamma - r)


def require_admissible(lam: float, C: float, gamma: float) -> None:
    """Raise :class:`SCSCInputError` (naming lambda_max) unless lambda is in Theorem 4.3's admissible region."""
    if not is_admissible(lam, C, gamma):
        raise SCSCInputError(
            f"lam={lam:g} is outside the admissible region of Theorem 4.3 for gamma={gamma:g}: "
            f"need lam < lambda_max = (1+gamma)/((2+gamma) C) = {lambda_max(C, gamma):.6g} (C = {C:.6g})"
        )


def bound_for(lam: float, gamma: float, C: float, c: float, t: int, d0: float) -> np.ndarray:
    """Theorem 4.3's bound curve from (lambda, gamma, C); raises if lambda is not admissible."""
    lam = check_nonneg("lam", lam)
    gamma = check_nonneg("gamma", gamma)
    require_admissible(lam, C, gamma)
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
