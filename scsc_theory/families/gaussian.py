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
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp

from .._validate import SCSCInputError
from .base import Family, FitMemory, leafwise_perturbation
from .charts import Parametrization, svec, svec_inv, tril


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


def _uniform_open(key, shape, dtype):
    """U(0, 1) variates bounded away from 0 (so log u and u^(1/a) are finite)."""
    return jax.random.uniform(key, shape, dtype, minval=jnp.finfo(dtype).tiny)


def _normal_from_uniform(u):
    """N(0, 1) variates from U(0, 1) ones by the inverse CDF, sqrt(2) erfinv(2u - 1): the transform
    ``jax.random.normal`` uses, applied here to slices of one uniform draw (one PRNG call site)."""
    lo = jnp.nextafter(jnp.asarray(-1.0, u.dtype), jnp.asarray(0.0, u.dtype))
    return jnp.sqrt(2.0).astype(u.dtype) * jax.lax.erf_inv(jnp.maximum(2.0 * u - 1.0, lo))


def gamma_mt(key, alpha, x=None, u=None, u_boost=None, tries: int = 2):
    """Gamma(alpha, 1) variates, exact, for an array ``alpha`` > 0 (Marsaglia & Tsang 2000, ACM TOMS 26:363).

    With a = alpha (alpha >= 1) or alpha + 1 (alpha < 1), d = a - 1/3, c = 1/sqrt(9 d): propose
    x ~ N(0, 1), v = (1 + c x)^3, u ~ U(0, 1) and accept d v when v > 0 and
    log u < x^2/2 + d - d v + d log v (acceptance >= 0.95 per proposal); alpha < 1 uses
    Gamma(alpha) = Gamma(alpha + 1) U^(1/alpha). ``x``, ``u`` (shape (tries,) + alpha.shape) and
    ``u_boost`` (alpha.shape) may be passed pre-drawn, so a caller draws all of a generation's
    numbers in one call; a ``lax.while_loop`` then redraws from fold_in(key, i) only while some
    variate has no accepted proposal, so the law is exact. On CPU this is several times cheaper
    than ``jax.random.gamma``'s per-element rejection loop.
    """
    alpha = jnp.asarray(alpha)
    dtype = alpha.dtype
    shape = (tries,) + alpha.shape
    tiny = jnp.finfo(dtype).tiny
    size = math.prod(shape)

    def fresh(k):
        uu = _uniform_open(k, (2 * size,), dtype)
        return _normal_from_uniform(uu[:size]).reshape(shape), uu[size:].reshape(shape)

    if x is None:
        x, u = fresh(jax.random.fold_in(key, 0))
        u_boost = _uniform_open(jax.random.fold_in(key, 1 << 20), alpha.shape, dtype)
    boost = alpha < 1.0
    a = jnp.where(boost, alpha + 1.0, alpha)
    d = a - 1.0 / 3.0
    c = 1.0 / jnp.sqrt(9.0 * d)

    def accept(x, u):
        v = (1.0 + c * x) ** 3
        ok = (v > 0) & (jnp.log(jnp.maximum(u, tiny)) < 0.5 * x * x + d - d * v + d * jnp.log(jnp.where(v > 0, v, 1.0)))
        first = jnp.argmax(ok, axis=0)
        return jnp.any(ok, axis=0), jnp.take_along_axis(d * v, first[None], axis=0)[0]

    done, val = accept(x, u)

    def body(c_):
        i, dn, vl = c_
        ok, v2 = accept(*fresh(jax.random.fold_in(key, i)))
        return i + 1, dn | ok, jnp.where(dn, vl, v2)

    _, _, val = jax.lax.while_loop(lambda c_: ~jnp.all(c_[1]), body, (jnp.asarray(2, jnp.int32), done, val))
    return jnp.where(boost, val * jnp.maximum(u_boost, tiny) ** (1.0 / alpha), val)


def wishart_bartlett(key, df, root, z=None, gx=None, gu=None, gb=None):
    """W ~ Wishart_d(df, R R^T) by the Bartlett decomposition, for an integer ``df`` >= 0 that may be
    traced (``root`` R is any square root of Sigma, R R^T = Sigma; here the symmetric one). ``df``
    and ``root`` may carry matching leading (batch) axes: one draw per batch element.

    W = (R A)(R A)^T with A lower triangular: A_jj = sqrt(chi2(df - j)), A_ij ~ N(0, 1) for i > j
    (0-indexed columns j), all independent (Bartlett 1933; Anderson, *An Introduction to Multivariate
    Statistical Analysis*, 3rd ed., Thm 7.2.1). For df < d (the singular Wishart of df < d points),
    A is the transposed R factor of a QR decomposition of a df x d standard normal matrix: columns
    j >= df are zero, which the same formula gives with chi2(k <= 0) := 0. ``df <= 0`` gives W = 0.
    chi2(k) = 2 Gamma(k/2) by :func:`gamma_mt`. Cost: d^2 normals, d gamma variates and O(d^3)
    arithmetic, independent of df. ``z`` (..., d, d) normals and the gamma proposals ``gx``, ``gu``
    (tries, ..., d), ``gb`` (..., d) may be passed pre-drawn.
    """
    d = root.shape[-1]
    dtype = root.dtype
    df = jnp.asarray(df)
    if z is None:
        key, kz = jax.random.split(key)
        z = jax.random.normal(kz, root.shape, dtype)
    j = jnp.arange(d)
    dof = (df[..., None] - j).astype(dtype)  # (..., d)
    chi2 = 2.0 * gamma_mt(key, jnp.maximum(dof, 1.0) / 2.0, gx, gu, gb)
    diag = jnp.where(dof > 0, jnp.sqrt(chi2), 0.0)
    lower = jnp.where((j[:, None] > j[None, :]) & (j[None, :] < df[..., None, None]), z, 0.0)
    a = lower + diag[..., None, :] * jnp.eye(d, dtype=dtype)
    ra = jnp.einsum("...ij,...jk->...ik", root, a)
    return jnp.einsum("...ik,...jk->...ij", ra, ra)


def merge_moments(a, b):
    """Pool two weighted groups, each (W, mean, M2) with W = total weight and
    M2 = sum_i w_i (x_i - mean)(x_i - mean)^T (Chan, Golub & LeVeque 1979, the parallel update):

        W = W_a + W_b,  mean = (W_a m_a + W_b m_b) / W,  M2 = M2_a + M2_b + (W_a W_b / W) (m_b - m_a)(m_b - m_a)^T.

    A group with W = 0 is neutral (its mean is ignored).
    """
    wa, ma, sa = a
    wb, mb, sb = b
    w = wa + wb
    safe = jnp.where(w > 0, w, 1.0)
    mean = jnp.where(w > 0, (wa * ma + wb * mb) / safe, 0.0)
    delta = mb - ma
    between = jnp.where(w > 0, wa * wb / safe, 0.0)
    return w, mean, sa + sb + between * jnp.outer(delta, delta)


@dataclasses.dataclass(frozen=True)
class Gaussian(Family):
    """Gaussian family N(mu, Sigma) on R^dim with full covariance."""

    dim: int
    name: str = "gaussian"
    parametrization: str = "theta = (mu, Sigma), ||.|| = sqrt(|mu|^2 + |Sigma|_F^2)"
    has_population_map: bool = True
    hessian_quadratic_in_x = True  # a class constant, not a field (repr and sweep keys unchanged)

    def charts(self, data_law=None):
        """:func:`gaussian_charts` (``mean-svec`` first, the family's own ``distance``)."""
        return gaussian_charts(self.dim)

    def gaussian_law(self, params: GaussianParams):
        return params.mean, params.cov

    def param_count(self) -> int:
        return int(self.dim + self.dim * self.dim)

    def fit_memory(self) -> FitMemory:
        return FitMemory(1, 4 * self.dim)

    def perturbation(self, params, key):
        """Gaussian direction over (mu, Sigma) with a symmetric Sigma part."""
        return leafwise_perturbation(params, key, symmetric=True)

    def basin_directions(self, theta_star, n_dir: int, key) -> list:
        """Random unit directions of the mean (the covariance stays at Sigma*)."""
        out = []
        for i in range(n_dir):
            u = jax.random.normal(jax.random.fold_in(key, i), theta_star.mean.shape, theta_star.mean.dtype)
            u = u / jnp.linalg.norm(u)
            out.append(lambda R, u=u: theta_star._replace(mean=theta_star.mean + R * u))
        return out

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

    def sample_stats(self, key, params: GaussianParams, k, tries: int = 2):
        """Sufficient statistics of k i.i.d. draws from N(mu, Sigma) without drawing the points.

        Returns (mean, scatter) distributed exactly as (x_bar, sum_i (x_i - x_bar)(x_i - x_bar)^T) of
        k points: x_bar ~ N(mu, Sigma / k) and scatter ~ Wishart_d(k - 1, Sigma), independent (Cochran's
        theorem; Anderson 2003, Thm 3.3.2), drawn with :func:`wishart_bartlett`. Agreement with
        :meth:`sample` is in distribution, not draw for draw. ``k`` may be traced; k = 0 gives
        (mu, 0) (weight it 0). ``params`` and ``k`` may carry one leading group axis G (several
        groups from one key). All random numbers of a call come from one uniform draw (normals by
        the inverse CDF), which keeps the compiled program small. O(d^3) work and O(d^2) random
        numbers for any k (issue 14).
        """
        batched = jnp.ndim(k) == 1
        if not batched:
            params = jax.tree_util.tree_map(lambda a: a[None], params)
            k = jnp.asarray(k)[None]
        G, d = k.shape[0], self.dim
        dtype = params.cov.dtype
        n_norm = d + d * d + tries * d
        uu = _uniform_open(key, (G, n_norm + tries * d + d), dtype)
        nz = _normal_from_uniform(uu[:, :n_norm])
        root = sqrtm_psd(params.cov)
        kf = jnp.maximum(k, 1).astype(dtype)
        mean = params.mean + jnp.einsum("gij,gj->gi", root, nz[:, :d]) / jnp.sqrt(kf)[:, None]
        z = nz[:, d:d + d * d].reshape(G, d, d)
        gx = jnp.moveaxis(nz[:, d + d * d:].reshape(G, tries, d), 1, 0)
        gu = jnp.moveaxis(uu[:, n_norm:n_norm + tries * d].reshape(G, tries, d), 1, 0)
        scat = wishart_bartlett(jax.random.fold_in(key, 1), k - 1, root, z, gx, gu, uu[:, n_norm + tries * d:])
        if not batched:
            return mean[0], scat[0]
        return mean, scat

    def fit_from_moments(self, state, moments) -> GaussianParams:
        """Weighted MLE from pooled (W, mean, M2) (see :func:`merge_moments`): (mean, M2 / W), = :meth:`fit`."""
        w, mean, m2 = moments
        return GaussianParams(mean, _sym(m2 / jnp.where(w > 0, w, 1.0)))

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


def gaussian_charts(dim: int):
    """Charts for :class:`Gaussian`; the first is the default (docs/theory.md section 1).

    * ``mean-svec``: theta = (mu, svec Sigma); ||theta - theta*|| = sqrt(|mu - mu*|^2 + |Sigma - Sigma*|_F^2),
      the family's own ``distance`` (so the loop engine's ``dist`` metric is this norm).
    * ``mean-chol``: theta = (mu, vech L) with Sigma = L L^T, L lower triangular with positive diagonal.
    * ``natural``: theta = (Sigma^{-1} mu, svec Sigma^{-1}) (exponential-family natural coordinates):
      log p_theta(x) is affine in theta up to the log-partition, so H_theta log p_theta(x) does not
      depend on x and L = 0 in this chart.
    """
    d = int(dim)
    r, c = tril(d)

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
