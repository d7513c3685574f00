"""Corrections applied to a generation's synthetic points (Gillman et al., Definition 4.1).

The idealized correction of strength gamma >= 0 is the mixture

    pi_gamma p_theta = (p_theta + gamma p_theta*) / (1 + gamma).

On samples it is realised exactly by replacing each synthetic point, independently with
probability gamma/(1+gamma), by a draw from p_theta* (``ideal``), or with lower variance by
replacing exactly round(gamma/(1+gamma) * m) randomly chosen points (``stratified``).

Two *practical* toy correctors of the original paper code are included for comparison; they
are not pi_gamma:

* ``histogram`` (a clean version of the script's ``pointwise``): rejection sampling, on a box around theta*, from a 10x10 histogram of the
  model's samples mixed with the target density, (h + gamma p*)/(1 + gamma) (2-D only).
* ``ot``: optimal-assignment interpolation: each model point x_i moves to
  (x_i + gamma y_sigma(i))/(1 + gamma) where sigma is the optimal (squared-Euclidean)
  assignment to m fresh target draws y.

The paper code's own correctors, quirks included, are ``pointwise`` (the camera-ready script's
``PointwiseCorrection``, :mod:`scsc_theory.faithful`) and ``whitening`` (the first commit's
``WhiteningSelfCorrection``: ``ot`` with Euclidean instead of squared-Euclidean cost).

All correctors share one signature and static shapes: ``x`` has M_max slots of which the first
``m`` are active (``m`` may be a traced integer, so one compiled function serves a whole lambda
grid); inactive slots are returned unchanged.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from ._validate import SCSCInputError

CORRECTORS = ("ideal", "stratified", "histogram", "ot", "pointwise", "whitening")
#: correctors defined for dim = 2 only
CORRECTORS_2D = ("histogram", "pointwise")


def target_fraction(gamma):
    """gamma / (1 + gamma): the probability mass pi_gamma puts on p_theta*."""
    return gamma / (1.0 + gamma)


def mix_in_target(key, x, target, gamma, active=None):
    """pi_gamma on samples (Definition 4.1), the one implementation every world uses: row i of ``x``
    (draws of p_theta) is replaced by row i of ``target`` (draws of p_theta*, or fresh true data where
    the world can be sampled) with probability gamma/(1+gamma), independently across rows, so the rows
    are draws of (p_theta + gamma p_theta*)/(1+gamma). Rows with ``active`` False are kept."""
    flip = jax.random.uniform(key, (x.shape[0],)) < target_fraction(gamma)
    if active is not None:
        flip = flip & active
    mask = jnp.reshape(flip, (-1,) + (1,) * (x.ndim - 1))
    return jnp.where(mask, jnp.asarray(target, x.dtype), x)


def correct_ideal(key, x, m, gamma, family, theta_star):
    """Each active point is replaced by a p_theta* draw with probability gamma/(1+gamma) (:func:`mix_in_target`)."""
    kb, ks = jax.random.split(key)
    y = family.sample(ks, theta_star, x.shape[0]).astype(x.dtype)
    return mix_in_target(kb, x, y, gamma, jnp.arange(x.shape[0]) < m)


def correct_stratified(key, x, m, gamma, family, theta_star):
    """Exactly round(gamma/(1+gamma) * m) active points, chosen uniformly, come from p_theta*."""
    kp, ks = jax.random.split(key)
    y = family.sample(ks, theta_star, x.shape[0]).astype(x.dtype)
    n_slots = x.shape[0]
    active = jnp.arange(n_slots) < m
    k = jnp.round(target_fraction(gamma) * m).astype(jnp.int32)
    u = jnp.where(active, jax.random.uniform(kp, (n_slots,)), jnp.inf)
    rank = jnp.argsort(jnp.argsort(u))  # rank of each slot among a random order; inactive last
    pick = (rank < k) & active
    return jnp.where(pick[:, None], y, x)


#: correctors with an exact sufficient-statistic form (``sampling="stats"`` in the loop engine)
STATS_CORRECTORS = ("ideal", "stratified")


def count_table(name, m, gamma, width_sd: float = 13.0):
    """Host-side (float64) inverse-CDF tables of k_model ~ Binomial(m_c, 1/(1+gamma_c)) for every config c.

    Returns (lo, cdf): lo (C,) int32 and cdf (C, K) float with cdf[c, i] = P(k_model <= lo_c + i),
    over the window mean +- ``width_sd`` standard deviations clipped to [0, m_c] (the mass outside,
    < 1e-30, is below floating-point resolution), padded with 1. ``stratified`` (and gamma = 0)
    has a deterministic count: K = 1, cdf = 1. One uniform and a binary search then give an exact
    (to float resolution) binomial draw per generation, instead of ``jax.random.binomial``'s
    rejection loop: m and gamma are fixed per config, so the table is computed once.
    """
    from scipy import stats

    m = np.asarray(m, np.int64).reshape(-1)
    gamma = np.broadcast_to(np.asarray(gamma, np.float64), m.shape)
    q = 1.0 / (1.0 + gamma)
    if name == "stratified":
        k_star = np.round(gamma / (1.0 + gamma) * m).astype(np.int64)
        return (m - k_star).astype(np.int32), np.ones((m.size, 1))
    sd = np.sqrt(m * q * (1.0 - q))
    lo = np.clip(np.floor(m * q - width_sd * sd), 0, m).astype(np.int64)
    hi = np.clip(np.ceil(m * q + width_sd * sd), 0, m).astype(np.int64)
    lo = np.where(gamma == 0, m, lo)
    hi = np.where(gamma == 0, m, hi)
    K = int((hi - lo).max()) + 1
    ks = lo[:, None] + np.arange(K)[None, :]
    cdf = stats.binom.cdf(np.minimum(ks, m[:, None]), m[:, None], q[:, None])
    cdf = np.where(ks >= hi[:, None], 1.0, cdf)
    return lo.astype(np.int32), cdf


def draw_count(key, lo, cdf):
    """k = lo + #{i : cdf[i] < u}, u ~ U(0, 1): inversion of a :func:`count_table` row (exact to float resolution)."""
    u = jax.random.uniform(key, (), cdf.dtype)
    return (lo + jnp.searchsorted(cdf, u, side="right", method="compare_all" if cdf.shape[-1] <= 64 else "scan")
            ).astype(jnp.int32)


def corrected_stats(key, m, k_model, family, params, theta_star):
    """Pooled statistics (W = m, mean, scatter) of m corrected synthetic points, drawn exactly in distribution.

    pi_gamma p_theta on m samples is k_model points from p_theta and m - k_model from p_theta*, with
    k_model ~ Binomial(m, 1/(1+gamma)) for ``ideal`` (each point independently replaced with
    probability gamma/(1+gamma)) and m - round(gamma m/(1+gamma)) for ``stratified``
    (:func:`count_table`, :func:`draw_count`); each group is summarised by ``family.sample_stats``
    (mean ~ N(mu, Sigma/k), scatter ~ Wishart(k - 1, Sigma), both groups from one key) and the two
    are pooled with the between-group term (:func:`scsc_theory.families.gaussian.merge_moments`).
    Equal in distribution to :func:`correct` on ``family.sample`` points, then summarised; not draw for draw.
    """
    import jax.tree_util as jtu

    from .families.gaussian import merge_moments

    k_star = m - k_model
    both = jtu.tree_map(lambda a, b: jnp.stack([a, b.astype(a.dtype)]), params, theta_star)
    mean, scat = family.sample_stats(key, both, jnp.stack([k_model, k_star]))
    dt = mean.dtype
    return merge_moments((k_model.astype(dt), mean[0], scat[0]), (k_star.astype(dt), mean[1], scat[1]))


def correct_histogram(key, x, m, gamma, family, theta_star, *, bins: int = 10, half_width: float = 4.0,
                      oversample: int = 32):
    """The original code's practical corrector (2-D): rejection sampling from (h + gamma p*)/(1+gamma).

    h is the 10x10 histogram density of the m active model points on the box
    theta*.mean +- half_width * sqrt(diag Sigma*); proposals are uniform on the box and accepted
    with probability q(u)/max q. The first m accepted proposals fill the active slots; if fewer
    than m are accepted (rare with ``oversample=32``), the remaining slots keep model points.
    Mass outside the box is lost, as in any histogram corrector.
    """
    if x.shape[-1] != 2:
        raise SCSCInputError("corrector 'histogram' is defined for dim=2 only")
    n_slots = x.shape[0]
    active = jnp.arange(n_slots) < m
    lo = theta_star.mean - half_width * jnp.sqrt(jnp.diag(theta_star.cov))
    hi = theta_star.mean + half_width * jnp.sqrt(jnp.diag(theta_star.cov))
    width = (hi - lo) / bins
    idx = jnp.floor((x - lo) / width).astype(jnp.int32)
    inside = jnp.all((idx >= 0) & (idx < bins), axis=-1) & active
    flat = jnp.where(inside, idx[:, 0] * bins + idx[:, 1], bins * bins)
    counts = jnp.zeros(bins * bins + 1).at[flat].add(1.0)[:-1]
    dens = counts / (jnp.maximum(m, 1) * width[0] * width[1])
    kp, ka = jax.random.split(key)
    n_prop = oversample * n_slots
    u = lo + (hi - lo) * jax.random.uniform(kp, (n_prop, 2), dtype=x.dtype)
    uidx = jnp.clip(jnp.floor((u - lo) / width).astype(jnp.int32), 0, bins - 1)
    h_u = dens[uidx[:, 0] * bins + uidx[:, 1]]
    p_u = jnp.exp(family.log_prob(theta_star, u))
    p_max = jnp.exp(family.log_prob(theta_star, theta_star.mean[None, :]))[0]
    q = (h_u + gamma * p_u) / (1.0 + gamma)
    q_max = (jnp.max(dens) + gamma * p_max) / (1.0 + gamma)
    accept = jax.random.uniform(ka, (n_prop,)) * q_max < q
    rank = jnp.cumsum(accept) - 1
    dest = jnp.where(accept & (rank < m), rank, n_slots)  # n_slots = dropped
    filled = jnp.zeros(n_slots, bool).at[dest].set(True, mode="drop")
    out = x.at[dest].set(u.astype(x.dtype), mode="drop")
    return jnp.where((filled & active)[:, None], out, x)


def _assignment_host(x, y, m, power: int = 2):
    """Optimal assignment on the host (scipy), batched over leading axes; inactive slots fixed.
    Cost |x_i - y_j|^power: 2 for ``ot``, 1 (``scipy.spatial.distance.cdist``) for ``whitening``."""
    from scipy.optimize import linear_sum_assignment

    x, y, m = np.asarray(x), np.asarray(y), np.asarray(m)
    lead = x.shape[:-2]
    xf = x.reshape((-1,) + x.shape[-2:])
    yf = y.reshape((-1,) + y.shape[-2:])
    mf = np.broadcast_to(m, lead).reshape(-1)
    out = np.empty_like(yf)
    for b in range(xf.shape[0]):
        k = int(mf[b])
        out[b] = yf[b]
        if k > 0:
            cost = ((xf[b, :k, None, :] - yf[b, None, :k, :]) ** 2).sum(-1)
            if power == 1:
                cost = np.sqrt(cost)
            rows, cols = linear_sum_assignment(cost)
            out[b, rows] = yf[b, cols]
    return out.reshape(y.shape)


def correct_ot(key, x, m, gamma, family, theta_star, *, power: int = 2):
    """Optimal-assignment interpolation towards m fresh target draws: x_i -> (x_i + gamma y_sigma(i))/(1+gamma),
    sigma minimising sum_i |x_i - y_sigma(i)|^power (power 2: ``ot``; 1: ``whitening``)."""
    from functools import partial

    y = family.sample(key, theta_star, x.shape[0]).astype(x.dtype)
    matched = jax.pure_callback(
        partial(_assignment_host, power=power),
        jax.ShapeDtypeStruct(y.shape, y.dtype),
        x,
        y,
        jnp.asarray(m, jnp.int32),
        vmap_method="broadcast_all",
    )
    moved = (x + gamma * matched) / (1.0 + gamma)
    active = jnp.arange(x.shape[0]) < m
    return jnp.where(active[:, None], moved, x)


def correct_whitening(key, x, m, gamma, family, theta_star):
    """The v1 script's ``WhiteningSelfCorrection``: ``ot`` with Euclidean cost (``cdist``), x_i -> t y + (1 - t) x_i."""
    return correct_ot(key, x, m, gamma, family, theta_star, power=1)


def _pointwise(key, x, m, gamma, family, theta_star):
    from .faithful import correct_pointwise

    return correct_pointwise(key, x, m, gamma, family, theta_star)


_TABLE = {
    "ideal": correct_ideal,
    "stratified": correct_stratified,
    "histogram": correct_histogram,
    "ot": correct_ot,
    "pointwise": _pointwise,
    "whitening": correct_whitening,
}


def get_corrector(name: str):
    """Look a corrector up by name: one of :data:`CORRECTORS`."""
    if name not in _TABLE:
        raise SCSCInputError(f"corrector must be one of {', '.join(CORRECTORS)} (got {name!r})")
    return _TABLE[name]


def correct(name, key, x, m, gamma, family, theta_star):
    """Apply the named corrector to the first ``m`` of the synthetic points ``x`` (shape (M_max, d))."""
    return get_corrector(name)(key, x, m, gamma, family, theta_star)
