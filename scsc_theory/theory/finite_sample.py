"""The finite-sample constant c and bound-satisfaction experiments (docs/theory.md section 2).

c: P(||G^n(theta) - G(theta)|| <= c) >= 1 - delta for theta near theta* (G^n the family's fit on n
real and floor(lambda n) corrected synthetic points, G the exact population map); Theorem 4.3's
bound B(t) = c sum_{i<=t} q^i + q^t d0 against finite-sample loops of the loop engine.
"""
from __future__ import annotations

import dataclasses
import functools
import math
from typing import Optional

import jax
import jax.numpy as jnp
import numpy as np

from .._validate import SCSCInputError, check_int, check_nonneg, check_open_unit, check_positive
from .bound import BoundCheck, check_bound_satisfaction, q, require_admissible, rho, theorem_bound
from .charts import get_parametrization


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


@functools.partial(jax.jit, static_argnums=(0, 1, 2, 3, 4, 5))
def _c_errors(family, data_law, par, n, M, corrector, keys, lam, gamma, m, radius, ts, tsv):
    """||G^n(theta) - G(theta)|| for one draw per key: theta uniform in the ball of ``radius`` around
    theta* (in the chart), n real points, m of M synthetic slots corrected and weighted lambda/m."""
    from .. import correction as _corr
    from ..loop import fixed_weights

    P = tsv.shape[0]

    def one(key):
        k_th, k_r, k_real, k_syn, k_corr, k_fit = jax.random.split(key, 6)
        u = jax.random.normal(k_th, (P,))
        u = u / jnp.linalg.norm(u)
        tv = tsv + radius * jax.random.uniform(k_r) ** (1.0 / P) * u
        params = par.from_vec(tv)
        x_real = data_law.sample(k_real, n)
        x_syn = family.sample(k_syn, params, M)
        x_syn = _corr.correct(corrector, k_corr, x_syn, m, gamma, family, ts)
        w = fixed_weights(n, M, m, lam, x_real.dtype)
        fit = family.params(family.fit(family.init_state(params), jnp.concatenate([x_real, x_syn]), w, k_fit))
        stacked = jax.tree_util.tree_map(lambda a: a[None], params)
        Gp = family.population_update(data_law, ts, stacked, jnp.asarray([lam]), gamma)
        return jnp.linalg.norm(par.to_vec(fit) - par.to_vec(Gp))

    return jax.vmap(one)(keys)


def estimate_c(family, data_law, *, lam: float, gamma: float, n: int, delta: float = 0.05, n_draws: int = 2000,
               radius: float = 0.1, seed: int = 10_000, parametrization=None, corrector: str = "ideal",
               eps_opt: float = 0.0) -> CEstimate:
    """Finite-sample constant c of Theorem 4.3 (docs/theory.md section 2):

        P(||G^n(theta) - G(theta)|| <= c) >= 1 - delta  for theta near theta*,

    estimated as the empirical (1 - delta) quantile over ``n_draws`` Monte Carlo draws, each with
    theta uniform in the ball of ``radius`` around theta*, fresh real data (n points) and
    floor(lambda n) corrected synthetic points, exactly the loop engine's weights (real 1/n,
    synthetic lambda/m). G^n is the family's fit; G its exact population map. ``eps_opt`` (the
    optimisation error of iteratively fitted families; 0 for closed-form fits) is added to c.
    ``ci`` is a distribution-free 95% order-statistic interval for the quantile.
    Use a ``seed`` different from the loop seeds so that c is estimated on other seeds.
    """
    from ..loop import synthetic_count

    lam = check_nonneg("lam", lam)
    gamma = check_nonneg("gamma", gamma)
    delta = check_open_unit("delta", delta)
    n = check_int("n", n, 2)
    n_draws = check_int("n_draws", n_draws, 10)
    radius = check_nonneg("radius", radius)
    eps_opt = check_nonneg("eps_opt", eps_opt)
    family.validate(data_law)
    if not family.has_population_map:
        raise SCSCInputError(f"estimate_c needs the exact population map G; family {family.name!r} has none")
    with jax.enable_x64(True):
        par = get_parametrization(family, data_law, parametrization)
        m = int(synthetic_count(lam, n))
        M = max(1, int(math.ceil(max(lam, 1e-12))) * n)
        ts = family.theta_star(data_law)
        keys = jax.random.split(jax.random.PRNGKey(seed), n_draws)
        errs = np.asarray(_c_errors(family, data_law, par, n, M, corrector, keys, lam, gamma, m, radius, ts,
                                    par.to_vec(ts)), np.float64)
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
    from ..loop import run_loop

    lam = check_nonneg("lam", lam)
    gamma = check_nonneg("gamma", gamma)
    delta = check_open_unit("delta", delta)
    seeds = check_int("seeds", seeds, 2)
    generations = check_int("generations", generations, 1)
    d0 = check_nonneg("d0", d0)
    check_positive("c_scale", c_scale)
    correction_power = check_int("correction_power", correction_power, 1)
    require_admissible(lam, C, gamma)
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
        q_true = q(lam, gamma, C)
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
