"""Gaussian mixtures sum_k w_k N(mu_k, Sigma_k) in R^d, fitted by weighted EM warm-started at theta_t.

Parametrization (for ||theta - theta*|| and the theory constants)
-----------------------------------------------------------------
theta = (w_k, mu_k, Sigma_k)_{k=1..K}; the distance is label-switching safe:

    ||theta - theta*|| = min_{sigma in S_K} sqrt( sum_k (w_k - w*_sigma(k))^2 + |mu_k - mu*_sigma(k)|^2
                                                   + |Sigma_k - Sigma*_sigma(k)|_F^2 ),

the minimum over all K! relabelings (enumerated statically for K <= 6; a greedy matching beyond).
For Hessians (:meth:`GMM.to_vector`) the free coordinates are (w_1..w_{K-1}, mu_k, vech Sigma_k)
(w_K = 1 - sum of the others; full: the upper triangle of each Sigma_k, diagonal: its diagonal).

The local argmax of Definition 4.2 (Gillman et al.)
---------------------------------------------------
    pi_gamma G_lambda(theta_t) = local argmax_theta' sum_i w_i log p_theta'(x_i)

is computed by ``em_steps`` weighted EM iterations started at theta_t (a fine-tuning step, as the
paper's "local argmax" requires), stopping early (frozen, so shapes stay static under jit) once
the largest parameter change is below ``tol``:

    E: r_ik = w_k N(x_i | mu_k, Sigma_k) / sum_j w_j N(x_i | mu_j, Sigma_j)
    M: N_k = sum_i w_i r_ik,  w_k = N_k / sum_j N_j,  mu_k = sum_i w_i r_ik x_i / N_k,
       Sigma_k = floor_var( sum_i w_i r_ik (x_i - mu_k)(x_i - mu_k)^T / N_k ).

``floor_var`` clips the eigenvalues of Sigma_k at ``var_floor`` (diagonal: the variances), so a
component that collapses onto one point keeps a finite density instead of going to NaN; a
component whose mass N_k / sum N drops below ``dead_mass`` keeps its previous mean and covariance.
Either event is *recorded* by :meth:`GMM.metrics` as ``collapsed = 1``.

theta* (the KL projection of p_data onto K-component mixtures) is a large-sample fit: EM on
``star_n`` draws of p_data (from the true parameters if p_data is itself a K-mixture, otherwise
from a deterministic principal-axis initialization); :func:`theta_star_report` gives its error,
estimated from two more independent fits of the same size (distance between them / sqrt 2).
"""
from __future__ import annotations

import dataclasses
import functools
import itertools
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .._validate import SCSCInputError, check_int, check_positive
from ..data import GaussianMixture
from .base import Family, FitMemory, chart_perturbation
from .charts import Parametrization, raw_chart

COVARIANCES = ("full", "diag")
_MAX_PERM_K = 6


class GMMParams(NamedTuple):
    weights: jax.Array  # (K,)
    means: jax.Array  # (K, d)
    covs: jax.Array  # (K, d, d); diagonal matrices when covariance="diag"


def _sym(a):
    return 0.5 * (a + jnp.swapaxes(a, -1, -2))


@dataclasses.dataclass(frozen=True)
class GMM(Family):
    """K-component Gaussian mixture on R^dim fitted by warm-started weighted EM.

    ``em_steps``: maximum EM iterations per generation (static); ``tol``: stop (freeze) once the
    largest absolute parameter change falls below it (0 = always run ``em_steps``).
    """

    dim: int
    k: int = 2
    covariance: str = "full"
    em_steps: int = 10
    tol: float = 0.0
    var_floor: float = 1e-3
    dead_mass: float = 1e-4
    star_n: int = 20_000
    star_steps: int = 500
    name: str = "gmm"
    has_population_map: bool = False

    def __post_init__(self):
        check_int("dim", self.dim, 1)
        check_int("K (number of mixture components)", self.k, 1)
        if self.covariance not in COVARIANCES:
            raise SCSCInputError(f"covariance must be one of {COVARIANCES} (got {self.covariance!r})")
        check_int("em_steps", self.em_steps, 1)
        if not self.tol >= 0:
            raise SCSCInputError(f"tol must be >= 0 (got {self.tol})")
        check_positive("var_floor", self.var_floor)
        check_int("star_n", self.star_n, 100)
        check_int("star_steps", self.star_steps, 1)

    @property
    def parametrization(self) -> str:  # type: ignore[override]
        return ("theta = (w_k, mu_k, Sigma_k)_k, ||.|| = min over relabelings of "
                "sqrt(sum_k (dw_k^2 + |dmu_k|^2 + |dSigma_k|_F^2)); Hessians in (w_1..w_{K-1}, mu_k, vech Sigma_k)")

    def validate(self, data_law) -> None:
        if data_law.dim != self.dim:
            raise SCSCInputError(f"data law dimension {data_law.dim} does not match the family's dim={self.dim}")

    # ------------------------------------------------------------------ densities
    def _floor_cov(self, cov):
        if self.covariance == "diag":
            v = jnp.clip(jnp.diagonal(cov, axis1=-2, axis2=-1), self.var_floor)
            return v[..., :, None] * jnp.eye(self.dim, dtype=cov.dtype)
        w, v = jnp.linalg.eigh(_sym(cov))
        w = jnp.clip(w, self.var_floor)
        return _sym((v * w[..., None, :]) @ jnp.swapaxes(v, -1, -2))

    def component_log_prob(self, params: GMMParams, x):
        """log w_k + log N(x_i | mu_k, Sigma_k), shape (n, K)."""
        chol = jnp.linalg.cholesky(params.covs)  # (K, d, d)
        d = x[:, None, :] - params.means[None]  # (n, K, d)
        sol = jax.scipy.linalg.solve_triangular(chol[None], d[..., None], lower=True)[..., 0]
        logdet = 2.0 * jnp.sum(jnp.log(jnp.diagonal(chol, axis1=-2, axis2=-1)), -1)
        lp = -0.5 * (jnp.sum(sol**2, -1) + logdet + self.dim * jnp.log(2 * jnp.pi))
        return lp + jnp.log(params.weights)[None]

    def log_prob(self, params: GMMParams, x):
        return jax.scipy.special.logsumexp(self.component_log_prob(params, x), axis=-1)

    def sample(self, key, params: GMMParams, m: int):
        kc, kz = jax.random.split(key)
        u = jax.random.uniform(kc, (m,), dtype=params.means.dtype)
        cdf = jnp.cumsum(params.weights)
        comp = jnp.clip(jnp.sum(u[:, None] > cdf[None, :-1] / cdf[-1], axis=1), 0, self.k - 1)
        z = jax.random.normal(kz, (m, self.dim), dtype=params.means.dtype)
        chol = jnp.linalg.cholesky(params.covs)
        return params.means[comp] + jnp.einsum("nij,nj->ni", chol[comp], z)

    # ------------------------------------------------------------------ EM
    def em_step(self, params: GMMParams, x, w) -> GMMParams:
        """One weighted EM iteration (formulas in the module docstring)."""
        r = jax.nn.softmax(self.component_log_prob(params, x), axis=-1)  # (n, K)
        wr = w[:, None] * r
        nk = jnp.sum(wr, 0)
        total = jnp.sum(nk)
        alive = nk > self.dead_mass * total
        nk_safe = jnp.where(alive, nk, 1.0)
        means = jnp.einsum("nk,nd->kd", wr, x) / nk_safe[:, None]
        dx = x[:, None, :] - means[None]
        covs = jnp.einsum("nk,nki,nkj->kij", wr, dx, dx) / nk_safe[:, None, None]
        covs = self._floor_cov(covs)
        means = jnp.where(alive[:, None], means, params.means)
        covs = jnp.where(alive[:, None, None], covs, params.covs)
        weights = jnp.clip(nk / total, self.dead_mass * 1e-2)
        weights = weights / jnp.sum(weights)
        return GMMParams(weights, means, covs)

    def em(self, params: GMMParams, x, w, steps: int, tol: float) -> GMMParams:
        """``steps`` EM iterations from ``params``; iterations after the change drops below ``tol`` are frozen."""

        def body(_, carry):
            p, done = carry
            q = self.em_step(p, x, w)
            change = jnp.max(jnp.stack([jnp.max(jnp.abs(a - b)) for a, b in zip(q, p)]))
            q = jax.tree_util.tree_map(lambda a, b: jnp.where(done, b, a), q, p)
            return q, done | (change < tol)

        params = jax.tree_util.tree_map(lambda a: jnp.asarray(a, x.dtype), params)  # warm start in the data's dtype
        out, _ = jax.lax.fori_loop(0, steps, body, (params, jnp.asarray(False)))
        return out

    def fit(self, state, x, w, key=None) -> GMMParams:
        """Warm-started weighted EM: the local argmax of sum_i w_i log p(x_i) near theta_t = ``state``."""
        return self.em(state, x, w, self.em_steps, self.tol)

    # ------------------------------------------------------------------ theta*, distance
    def theta_star(self, data_law) -> GMMParams:
        self.validate(data_law)
        p = _theta_star_cached(self._star_family(), data_law)[0]
        return GMMParams(*(jnp.asarray(a) for a in p))

    def theta_star_report(self, data_law) -> dict:
        """theta*'s estimated error and, if p_data is a K-mixture, its distance to the true parameters."""
        self.validate(data_law)
        return dict(_theta_star_cached(self._star_family(), data_law)[1])

    def _star_family(self):
        """The same family with the per-generation settings normalised: theta* does not depend on them,
        so families differing only in em_steps/tol share one cached fit."""
        return dataclasses.replace(self, em_steps=1, tol=0.0)

    def _perms(self):
        return np.asarray(list(itertools.permutations(range(self.k))), dtype=np.int32)

    def distance(self, params: GMMParams, theta_star: GMMParams):
        """Component-matched distance (min over relabelings; see the module docstring)."""
        cost = (
            (params.weights[:, None] - theta_star.weights[None, :]) ** 2
            + jnp.sum((params.means[:, None] - theta_star.means[None]) ** 2, -1)
            + jnp.sum((params.covs[:, None] - theta_star.covs[None]) ** 2, (-1, -2))
        )  # (K, K): cost[i, j] of matching fitted i to target j
        if self.k <= _MAX_PERM_K:
            perms = jnp.asarray(self._perms())
            tot = jnp.sum(cost[jnp.arange(self.k)[None, :], perms], axis=1)
            return jnp.sqrt(jnp.min(tot))
        # greedy matching for large K (an upper bound on the optimal matching)
        def body(i, carry):
            c, acc = carry
            flat = jnp.argmin(c)
            a, b = flat // self.k, flat % self.k
            acc = acc + c[a, b]
            c = c.at[a, :].set(jnp.inf).at[:, b].set(jnp.inf)
            return c, acc

        _, acc = jax.lax.fori_loop(0, self.k, body, (cost, jnp.zeros((), cost.dtype)))
        return jnp.sqrt(acc)

    def collapsed(self, params: GMMParams):
        """1.0 if a component sits on the variance floor or has lost its mass, else 0.0."""
        if self.covariance == "diag":
            ev = jnp.diagonal(params.covs, axis1=-2, axis2=-1)
        else:
            ev = jnp.linalg.eigvalsh(_sym(params.covs))
        on_floor = jnp.any(ev <= self.var_floor * (1 + 1e-4))
        dead = jnp.any(params.weights <= self.dead_mass)
        return (on_floor | dead).astype(params.means.dtype)

    def metrics(self, params, theta_star, key=None):
        return {
            "dist": self.distance(params, theta_star),
            "collapsed": self.collapsed(params),
            "min_weight": jnp.min(params.weights),
        }

    # ------------------------------------------------------------------ flat parametrization (theory)
    def to_vector(self, params: GMMParams):
        """Free coordinates (w_1..w_{K-1}, mu_k, vech Sigma_k) for Hessians / Jacobians."""
        if self.covariance == "diag":
            c = jnp.diagonal(params.covs, axis1=-2, axis2=-1).reshape(-1)
        else:
            iu = np.triu_indices(self.dim)
            c = params.covs[:, iu[0], iu[1]].reshape(-1)
        return jnp.concatenate([params.weights[:-1], params.means.reshape(-1), c])

    def from_vector(self, v) -> GMMParams:
        K, d = self.k, self.dim
        w = jnp.concatenate([v[: K - 1], 1.0 - jnp.sum(v[: K - 1], keepdims=True)])
        mu = v[K - 1: K - 1 + K * d].reshape(K, d)
        rest = v[K - 1 + K * d:]
        if self.covariance == "diag":
            covs = rest.reshape(K, d)[..., :, None] * jnp.eye(d, dtype=v.dtype)
        else:
            iu = np.triu_indices(d)
            ntri = len(iu[0])
            u = jnp.zeros((K, d, d), v.dtype).at[:, iu[0], iu[1]].set(rest.reshape(K, ntri))
            covs = u + jnp.swapaxes(u, -1, -2) - jnp.eye(d, dtype=v.dtype) * u
        return GMMParams(w, mu, covs)

    def charts(self, data_law=None):
        """``gmm-vector`` (:meth:`to_vector`, the free coordinates; default) and ``raw`` (redundant:
        the weights lie on a simplex, so the raw chart's Hessian is singular)."""
        out = {"gmm-vector": Parametrization("gmm-vector", str(self.parametrization), self.to_vector, self.from_vector)}
        if data_law is not None:
            out["raw"] = raw_chart(self, self.theta_star(data_law))
        return out

    def log_cholesky_chart(self):
        """(to_chart, from_chart): a chart in which every point is a valid parameter: log-weights
        (softmax), means, and the log-Cholesky factor of each covariance (log of the diagonal,
        strictly lower part; the diagonal only for ``covariance="diag"``). A step of any size keeps
        the weights positive and the covariances positive definite, also for components on the
        variance floor."""
        K, d = self.k, self.dim
        il = np.tril_indices(d, -1)
        full = self.covariance != "diag"

        def to_chart(p):
            L = jnp.linalg.cholesky(p.covs)
            parts = [jnp.log(p.weights), p.means.reshape(-1), jnp.log(jnp.diagonal(L, axis1=-2, axis2=-1)).reshape(-1)]
            if full and il[0].size:
                parts.append(L[:, il[0], il[1]].reshape(-1))
            return jnp.concatenate(parts)

        def from_chart(v):
            w = jax.nn.softmax(v[:K])
            mu = v[K: K + K * d].reshape(K, d)
            diag = jnp.exp(v[K + K * d: K + 2 * K * d].reshape(K, d))
            L = diag[..., :, None] * jnp.eye(d, dtype=v.dtype)
            if full and il[0].size:
                L = L.at[:, il[0], il[1]].set(v[K + 2 * K * d:].reshape(K, -1))
            return GMMParams(w, mu, L @ jnp.swapaxes(L, -1, -2))

        return to_chart, from_chart

    def perturbation(self, params, key):
        """A unit Gaussian step in :meth:`log_cholesky_chart` (weights stay positive, covariances PD)."""
        to_chart, from_chart = self.log_cholesky_chart()
        return chart_perturbation(to_chart, from_chart, params, key)

    def basin_directions(self, theta_star, n_dir: int, key) -> list:
        """The merge direction of the means (towards their weighted centre) first, then random unit
        directions of the means. The merge direction stops where all means coincide (R = |merge|):
        beyond it the components would pass through each other, which is a relabeling, not a larger distance."""
        w, mu = theta_star.weights, theta_star.means
        centre = w @ mu
        merge = centre[None] - mu
        nm = jnp.linalg.norm(merge)
        dirs = [merge / nm] if float(nm) > 0 else []
        for i in range(n_dir - len(dirs)):
            u = jax.random.normal(jax.random.fold_in(key, i), mu.shape, mu.dtype)
            dirs.append(u / jnp.linalg.norm(u))
        out = []
        for i, u in enumerate(dirs[:n_dir]):
            cap = float(nm) if (i == 0 and float(nm) > 0) else np.inf
            out.append(lambda R, u=u, cap=cap: theta_star._replace(means=theta_star.means + min(R, cap) * u))
        return out

    def param_count(self) -> int:
        return int(self.k * (1 + self.dim + self.dim * self.dim))

    def fit_memory(self) -> FitMemory:
        return FitMemory(1, 4 * self.k * self.dim)

    def init_from_data(self, x) -> GMMParams:
        """Deterministic start: means spread along the first principal axis, covariance Cov/K^2-ish."""
        mean = jnp.mean(x, 0)
        cov = jnp.cov(x.T).reshape(self.dim, self.dim)
        ev, vec = jnp.linalg.eigh(cov)
        v1, s1 = vec[:, -1], jnp.sqrt(ev[-1])
        offs = jnp.linspace(-1.0, 1.0, self.k) if self.k > 1 else jnp.zeros(1)
        means = mean[None] + offs[:, None] * s1 * v1[None]
        c0 = self._floor_cov(cov / max(self.k, 1) ** 2 + 0.5 * jnp.diag(jnp.diag(cov)) / max(self.k, 1))
        covs = jnp.broadcast_to(c0, (self.k, self.dim, self.dim))
        return GMMParams(jnp.full((self.k,), 1.0 / self.k), means, covs)


def true_params(data_law, k: int, dim: int):
    """The parameters of p_data if it is a K-component isotropic GaussianMixture, else None."""
    if isinstance(data_law, GaussianMixture) and len(data_law.weights) == k:
        w = np.asarray(data_law.weights, np.float32)
        mu = np.asarray(data_law.means, np.float32)
        covs = np.asarray(data_law.sigmas, np.float32)[:, None, None] ** 2 * np.eye(dim, dtype=np.float32)
        return GMMParams(jnp.asarray(w / w.sum()), jnp.asarray(mu), jnp.asarray(covs))
    return None


def _em_until(family: GMM, params, x, max_steps: int, tol: float):
    """Unweighted EM until the largest parameter change is < tol (a while loop: host-side theta* fits only)."""
    w = jnp.full((x.shape[0],), 1.0 / x.shape[0], x.dtype)

    def cond(c):
        i, _, change = c
        return (i < max_steps) & (change >= tol)

    def body(c):
        i, p, _ = c
        q = family.em_step(p, x, w)
        change = jnp.max(jnp.stack([jnp.max(jnp.abs(a - b)) for a, b in zip(q, p)]))
        return i + 1, q, change

    _, out, _ = jax.lax.while_loop(cond, body, (0, params, jnp.asarray(jnp.inf, x.dtype)))
    return out


@functools.lru_cache(maxsize=64)
def _theta_star_cached(family: GMM, data_law):
    """(theta* as NumPy arrays, report dict); cached per (family, law) because the fit takes a second."""
    # always float32 (the loop's precision), whatever the caller's x64 setting, so theta* is one value
    with jax.ensure_compile_time_eval(), jax.enable_x64(False):
        fit = jax.jit(lambda p, x: _em_until(family, p, x, family.star_steps, 1e-6))
        key = jax.random.PRNGKey(20240207)
        keys = jax.random.split(key, 3)
        xs = [data_law.sample(k, family.star_n) for k in keys]
        truth = true_params(data_law, family.k, family.dim)
        p0 = truth if truth is not None else family.init_from_data(xs[0])
        star = fit(p0, xs[0])
        other = [fit(star, x) for x in xs[1:]]
        err = float(family.distance(other[0], other[1])) / math.sqrt(2.0)
        report = {"theta_star_error": err, "star_n": family.star_n, "star_steps": family.star_steps,
                  "init": "true parameters" if truth is not None else "principal-axis spread"}
        if truth is not None:
            report["distance_to_true_parameters"] = float(family.distance(star, truth))
        report["collapsed"] = bool(family.collapsed(star) > 0)
        star_np = tuple(np.asarray(a) for a in star)
    return star_np, report
