"""Effective correction strength of a practical corrector (issue 17).

Gillman et al. (ICML 2024, Definition 4.1) analyse the idealised correction
pi_gamma p_theta = (p_theta + gamma p_theta*) / (1 + gamma) and say, in words, that a practical
corrector should act like pi_gamma for some gamma > 0. Given samples of the raw law R = p_theta, of
the corrector's output on them C, and of the correction target T (p_theta* or the true data), this
module finds the mixture weight w for which C is closest to (1 - w) R + w T and reports

    gamma_eff = w / (1 - w)    (pi_gamma has w = gamma / (1 + gamma)).

Distance: the energy distance (Szekely & Rizzo 2013),

    E(P, Q) = 2 E|X - Y| - E|X - X'| - E|Y - Y'|,

i.e. the squared MMD of the distance-induced kernel k(x, y) = -|x - y|_2 (Euclidean norm;
characteristic, no bandwidth). For zero-mass signed measures <A, B> = -int int |x - y| dA(x) dB(y)
is an inner product, so with a = C - R and b = T - R,

    E(C, (1 - w) R + w T) = |a - w b|^2  is quadratic in w,
    w* = <a, b> / |b|^2 = (D_CR + D_RT - D_CT - D_RR) / (2 D_RT - D_RR - D_TT),
    residual E(C, best mixture) = |a|^2 - <a, b>^2 / |b|^2,

with D_XY the mean distance between the samples. Every mean is an unbiased U-statistic: within a
sample the diagonal pairs are left out, and with ``paired=True`` (corrected[i] was computed from
raw[i], the usual case) so are the pairs (corrected[i], raw[i]), which share their randomness.
The residual is reported relative to the reference E(R, T) (the squared distance the corrector
has to cover): 0 for a corrector of pi_gamma form, of order 1 for one that moves the law elsewhere.

Intervals: percentile bootstrap (``level``), resampling the (raw, corrected) pairs jointly and the
target independently; each resample is evaluated as a weighted U-statistic (pairs with the same
original index excluded), from distance matrices computed once, so a bootstrap draw costs matrix-
vector products.

Per direction: the top ``n_directions`` eigenvectors (largest |eigenvalue|) of
S_R - S_T, S_X = E_X[(x - mu_T)(x - mu_T)^T], i.e. the directions in which raw and target
second moments about the target mean differ most (a mean shift and covariance changes alike); on
each, the same estimator on the 1-D projections gives gamma_eff along that direction.

:func:`effective_gamma` validates on the host, then calls the jittable, vmappable
:func:`effective_gamma_jnp` (static ``paired``, ``n_boot``, ``level``, ``n_directions``).
"""
from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ._validate import SCSCInputError, check_int, check_open_unit


class Terms(NamedTuple):
    """Mean pairwise distances (U-statistics) between the raw R, corrected C and target T samples."""

    rr: jnp.ndarray
    tt: jnp.ndarray
    cc: jnp.ndarray
    rt: jnp.ndarray
    cr: jnp.ndarray
    ct: jnp.ndarray


class Mixture(NamedTuple):
    """Best-mixture quantities from :class:`Terms` (all energy distances, squared-metric units)."""

    w: jnp.ndarray  #: argmin_w E(C, (1 - w) R + w T)
    e_rt: jnp.ndarray  #: E(R, T): the reference
    e_ct: jnp.ndarray  #: E(C, T)
    residual: jnp.ndarray  #: E(C, best mixture) / E(R, T)


class GammaEff(NamedTuple):
    """Result of :func:`effective_gamma`; ``*_lo``/``*_hi`` are bootstrap percentile bounds at ``level``.

    Whole-space: w, gamma_eff = w/(1-w) (inf for w >= 1), residual (relative to E(R, T)), e_rt, e_ct.
    Per direction (leading axis n_directions): directions (k, d) unit vectors, dir_w, dir_gamma,
    dir_residual, dir_e_rt (E(R, T) of the projections: an unidentified direction has it near 0).
    """

    w: jnp.ndarray
    w_lo: jnp.ndarray
    w_hi: jnp.ndarray
    gamma_eff: jnp.ndarray
    gamma_lo: jnp.ndarray
    gamma_hi: jnp.ndarray
    residual: jnp.ndarray
    residual_lo: jnp.ndarray
    residual_hi: jnp.ndarray
    e_rt: jnp.ndarray
    e_ct: jnp.ndarray
    directions: jnp.ndarray
    dir_w: jnp.ndarray
    dir_w_lo: jnp.ndarray
    dir_w_hi: jnp.ndarray
    dir_gamma: jnp.ndarray
    dir_gamma_lo: jnp.ndarray
    dir_gamma_hi: jnp.ndarray
    dir_residual: jnp.ndarray
    dir_e_rt: jnp.ndarray


def gamma_of_w(w):
    """gamma = w / (1 - w) on w < 1 (monotone, so it maps interval bounds), +inf for w >= 1."""
    return jnp.where(w < 1.0, w / jnp.where(w < 1.0, 1.0 - w, 1.0), jnp.inf)


def w_of_gamma(gamma):
    """w = gamma / (1 + gamma): the mass pi_gamma puts on the target."""
    return gamma / (1.0 + gamma)


def pairwise_distances(x, y):
    """|x_i - y_j|_2 for x (n, d), y (m, d), via the Gram form (clamped at 0)."""
    sq = jnp.sum(x * x, -1)[:, None] + jnp.sum(y * y, -1)[None, :] - 2.0 * x @ y.T
    return jnp.sqrt(jnp.maximum(sq, 0.0))


def _zero_diag(d):
    return d * (1.0 - jnp.eye(d.shape[0], dtype=d.dtype))


def _u_within(d0, u):
    """sum_{i != j} u_i u_j d_ij / ((sum u)^2 - sum u^2), d0 with zero diagonal; u: (n,) or (B, n)."""
    num = jnp.sum((u @ d0) * u, -1)
    s = jnp.sum(u, -1)
    return num / (s * s - jnp.sum(u * u, -1))


def _cross(d, u, v):
    """sum_ij u_i v_j d_ij / (sum u sum v)."""
    return jnp.sum((u @ d) * v, -1) / (jnp.sum(u, -1) * jnp.sum(v, -1))


def _terms_from(mats, u, v, paired: bool) -> Terms:
    """:class:`Terms` under weights u (raw and corrected points, shared when paired) and v (target)."""
    d_rr, d_tt, d_cc, d_rt, d_cr, d_ct = mats
    u_c = u if paired else u[..., d_rr.shape[0]:]
    u_r = u if paired else u[..., :d_rr.shape[0]]
    cr = _u_within(d_cr, u) if paired else _cross(d_cr, u_c, u_r)
    return Terms(rr=_u_within(d_rr, u_r), tt=_u_within(d_tt, v), cc=_u_within(d_cc, u_c),
                 rt=_cross(d_rt, u_r, v), cr=cr, ct=_cross(d_ct, u_c, v))


def distance_matrices(raw, corrected, target, paired: bool):
    """(D_RR, D_TT, D_CC, D_RT, D_CR, D_CT), within-sample (and paired D_CR) diagonals set to 0."""
    d_cr = pairwise_distances(corrected, raw)
    return (_zero_diag(pairwise_distances(raw, raw)), _zero_diag(pairwise_distances(target, target)),
            _zero_diag(pairwise_distances(corrected, corrected)), pairwise_distances(raw, target),
            _zero_diag(d_cr) if paired else d_cr, pairwise_distances(corrected, target))


def mixture_fit(t: Terms) -> Mixture:
    """w* = <a, b>/|b|^2 and the relative residual, from the mean distances (formulas in the module doc)."""
    e_rt = 2.0 * t.rt - t.rr - t.tt
    e_cr = 2.0 * t.cr - t.cc - t.rr
    ab = t.cr + t.rt - t.ct - t.rr
    w = ab / e_rt
    return Mixture(w=w, e_rt=e_rt, e_ct=2.0 * t.ct - t.cc - t.tt, residual=(e_cr - ab * w) / e_rt)


def energy_distance(x, y):
    """Unbiased (U-statistic) energy distance between two independent samples x (n, d), y (m, d)."""
    x = jnp.asarray(x)
    y = jnp.asarray(y, x.dtype)
    ones_x, ones_y = jnp.ones(x.shape[0], x.dtype), jnp.ones(y.shape[0], y.dtype)
    return (2.0 * _cross(pairwise_distances(x, y), ones_x, ones_y)
            - _u_within(_zero_diag(pairwise_distances(x, x)), ones_x)
            - _u_within(_zero_diag(pairwise_distances(y, y)), ones_y))


def principal_directions(raw, target, k: int):
    """Top-k unit eigenvectors (by |eigenvalue|) of S_R - S_T about the target mean; shape (k, d)."""
    mu = jnp.mean(target, 0)
    r, t = raw - mu, target - mu
    m = r.T @ r / r.shape[0] - t.T @ t / t.shape[0]
    vals, vecs = jnp.linalg.eigh(0.5 * (m + m.T))
    order = jnp.argsort(-jnp.abs(vals))[:k]
    return vecs[:, order].T


def _counts(key, n: int, n_boot: int, dtype):
    idx = jax.random.randint(key, (n_boot, n), 0, n)
    return jax.vmap(lambda i: jnp.bincount(i, length=n))(idx).astype(dtype)


def _fit_and_boot(raw, corrected, target, u, v, paired: bool):
    """Point estimate (unit weights) and bootstrap draws (weights u, v) of :class:`Mixture`."""
    mats = distance_matrices(raw, corrected, target, paired)
    n_u = raw.shape[0] if paired else raw.shape[0] + corrected.shape[0]
    point = mixture_fit(_terms_from(mats, jnp.ones(n_u, raw.dtype), jnp.ones(target.shape[0], raw.dtype), paired))
    return point, mixture_fit(_terms_from(mats, u, v, paired))


@partial(jax.jit, static_argnames=("paired", "n_boot", "level", "n_directions"))
def effective_gamma_jnp(raw, corrected, target, *, key, paired: bool = True, n_boot: int = 200,
                        level: float = 0.9, n_directions: int = 2) -> GammaEff:
    """Jittable core of :func:`effective_gamma` (no validation; see the module docstring)."""
    dtype = raw.dtype
    corrected, target = corrected.astype(dtype), target.astype(dtype)
    ku, kv = jax.random.split(key)
    if paired:
        u = _counts(ku, raw.shape[0], n_boot, dtype)
    else:  # raw and corrected resampled independently, each within itself
        k1, k2 = jax.random.split(ku)
        u = jnp.concatenate([_counts(k1, raw.shape[0], n_boot, dtype), _counts(k2, corrected.shape[0], n_boot, dtype)], -1)
    v = _counts(kv, target.shape[0], n_boot, dtype)
    qs = jnp.array([(1.0 - level) / 2.0, (1.0 + level) / 2.0], dtype)
    point, boot = _fit_and_boot(raw, corrected, target, u, v, paired)
    w_lo, w_hi = jnp.quantile(boot.w, qs)
    r_lo, r_hi = jnp.quantile(boot.residual, qs)

    dirs = principal_directions(raw, target, n_directions)

    def one_direction(e):
        p, b = _fit_and_boot((raw @ e)[:, None], (corrected @ e)[:, None], (target @ e)[:, None], u, v, paired)
        lo, hi = jnp.quantile(b.w, qs)
        return p.w, lo, hi, p.residual, p.e_rt

    dw, dlo, dhi, dres, de_rt = jax.lax.map(one_direction, dirs)
    return GammaEff(
        w=point.w, w_lo=w_lo, w_hi=w_hi, gamma_eff=gamma_of_w(point.w), gamma_lo=gamma_of_w(w_lo),
        gamma_hi=gamma_of_w(w_hi), residual=point.residual, residual_lo=r_lo, residual_hi=r_hi,
        e_rt=point.e_rt, e_ct=point.e_ct, directions=dirs, dir_w=dw, dir_w_lo=dlo, dir_w_hi=dhi,
        dir_gamma=gamma_of_w(dw), dir_gamma_lo=gamma_of_w(dlo), dir_gamma_hi=gamma_of_w(dhi),
        dir_residual=dres, dir_e_rt=de_rt)


def _as_points(name, x):
    a = np.asarray(x)
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2 or a.shape[0] < 2:
        raise SCSCInputError(f"{name} must be an array of shape (n, d) with n >= 2 (got shape {np.shape(x)})")
    if not np.all(np.isfinite(a)):
        raise SCSCInputError(f"{name} must be finite (it has {int(np.sum(~np.isfinite(a)))} non-finite entries)")
    return a


def effective_gamma(raw, corrected, target, *, key, paired: bool = True, n_boot: int = 200, level: float = 0.9,
                    n_directions: int = 2) -> GammaEff:
    """gamma_eff of a corrector from samples (validated host API; see the module docstring).

    raw (n, d): draws of p_theta; corrected (n, d): the corrector's output (corrected[i] from raw[i]
    when ``paired``; with ``paired=False`` any count n_c >= 2, drawn independently of ``raw``);
    target (m, d): draws of the correction target, independent of the corrector's own target draws.
    ``key``: jax PRNG key of the bootstrap. Returns :class:`GammaEff`.
    """
    raw, corrected, target = _as_points("raw", raw), _as_points("corrected", corrected), _as_points("target", target)
    d = raw.shape[1]
    if corrected.shape[1] != d or target.shape[1] != d:
        raise SCSCInputError(f"raw, corrected and target must share the dimension d (got {raw.shape[1]}, "
                             f"{corrected.shape[1]}, {target.shape[1]})")
    if paired and corrected.shape[0] != raw.shape[0]:
        raise SCSCInputError(f"paired=True needs as many corrected as raw points (got {corrected.shape[0]} and "
                             f"{raw.shape[0]}); pass paired=False for independent samples")
    n_boot = check_int("n_boot", n_boot, 20)
    level = check_open_unit("level", level)
    n_directions = check_int("n_directions", n_directions, 1, d)
    dtype = jnp.zeros(()).dtype  # the default float of the current JAX precision
    return effective_gamma_jnp(jnp.asarray(raw, dtype), jnp.asarray(corrected, dtype), jnp.asarray(target, dtype),
                               key=key, paired=bool(paired), n_boot=n_boot, level=level, n_directions=n_directions)


def summary(res: GammaEff) -> dict:
    """Plain-float dictionary of a :class:`GammaEff` (for results files)."""
    def f(a):
        a = np.asarray(a, np.float64)
        return [None if not np.isfinite(x) and not np.isinf(x) else float(x) for x in a.reshape(-1)] if a.ndim else (
            None if np.isnan(a) else float(a))

    return {k: f(v) for k, v in res._asdict().items()}
