"""The SCSC paper's own toy correctors, transcribed with their quirks (Gillman et al., ICML 2024; issue 15).

Source: nate-gillman/self-correcting-self-consuming, ``exp_scripts/gaussian_toy_example.py``.

``pointwise``: the camera-ready script's ``PointwiseCorrection`` (the corrector behind the paper's
Figure 2). With t = gamma/(1+gamma), on a batch of m model points (2-D only):

1. h = ``np.histogram2d(x[:, 0], x[:, 1], bins=10, density=True)``: a 10 x 10 histogram on the
   batch's own [min, max] range per coordinate (numpy's edges: ``linspace(min, max, 11)``, the last
   bin closed on the right; a constant coordinate gets the range [x - 0.5, x + 0.5]).
2. Proposals c ~ p_theta* (the script's ``proposal = target``), u ~ U(0, 1); the bin of c is
   ``int((c - edge_0) / delta)``, *truncation toward zero*, so bin 0 also covers the strip
   (edge_0 - delta, edge_0); an index outside 0..9 reads h = 0.
3. q(c) = (1 - t) h(c) + t p*(c) and the bound M = ((1 - t) max h + t p*(0)) / p*(0), with both
   densities evaluated at the origin [0, 0] (not at the target mean). c is accepted when
   q(c) / (M p*(c)) > u. M does not dominate q / p* (h is not maximal where p* is), so the output law
   is proportional to min(q, M p*), not q: the tails of the batch are cut. At gamma = 0 the step is
   therefore not the identity in law (a 25-point N(0, 0.96 I) batch comes out with variance ~0.64).
4. The m accepted candidates, in order, *replace* the batch (the class name and docstring speak of
   an optimal-transport map to the original points; the code has none).

Here the proposals are drawn in one block of ``oversample`` x M_max (acceptance is about 1/M, ~0.3
for the paper's toy), and the first m accepted fill the active slots: the same law as the script's
one-at-a-time ``while`` loop. If fewer than m are accepted (probability far below 1e-30 at the
paper's settings) the remaining slots keep their model points.

``whitening``: the first commit's ``WhiteningSelfCorrection`` (arXiv v1 toy): m fresh target draws
y are matched to the batch by ``linear_sum_assignment(cdist(x, y))``, Euclidean cost (the clean
``ot`` corrector uses squared Euclidean cost), then x_i -> t y_sigma(i) + (1 - t) x_i; implemented by
:func:`scsc_theory.correction.correct_ot` with ``power=1``.

How they differ from the clean correctors of :mod:`scsc_theory.correction`: ``histogram`` bins on a
fixed box theta*.mean +- 4 sd (not the batch's range), proposes uniformly on that box with a
bound that dominates, so it samples exactly (h + gamma p*)/(1 + gamma) restricted to the box
(a gamma = 0 step keeps the variance: 0.96 -> 1.03 in the same experiment); ``ot`` uses squared
Euclidean cost.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from ._validate import SCSCInputError


def batch_histogram2d(x, active, bins: int = 10):
    """``np.histogram2d(x[:, 0], x[:, 1], bins, density=True)`` of the active rows, with static shapes.

    Returns (density (bins, bins), x edges (bins+1,), y edges (bins+1,)). Edges are numpy's
    ``linspace(min, max, bins + 1)`` per coordinate (range widened by +-0.5 when min == max); a
    point's bin is ``searchsorted(edges, v, side='right') - 1``, the maximum moved into the last bin,
    as in ``np.histogramdd``; density = count / (m * bin area).
    """
    big = jnp.asarray(jnp.inf, x.dtype)
    lo = jnp.min(jnp.where(active[:, None], x, big), axis=0)
    hi = jnp.max(jnp.where(active[:, None], x, -big), axis=0)
    same = lo == hi
    lo, hi = jnp.where(same, lo - 0.5, lo), jnp.where(same, hi + 0.5, hi)
    step = (hi - lo) / bins
    edges = lo[:, None] + jnp.arange(bins + 1, dtype=x.dtype)[None, :] * step[:, None]
    edges = edges.at[:, -1].set(hi)  # np.linspace sets the last point to stop exactly
    idx = jnp.stack([jnp.searchsorted(edges[k], x[:, k], side="right") - 1 for k in range(2)], axis=-1)
    idx = jnp.where(x == hi[None, :], bins - 1, idx)
    flat = jnp.where(active, idx[:, 0] * bins + idx[:, 1], bins * bins)
    counts = jnp.zeros(bins * bins + 1, x.dtype).at[flat].add(1.0)[:-1].reshape(bins, bins)
    area = jnp.diff(edges[0])[:, None] * jnp.diff(edges[1])[None, :]
    m = jnp.maximum(jnp.sum(active), 1).astype(x.dtype)
    return counts / (m * area), edges[0], edges[1]


def correct_pointwise(key, x, m, gamma, family, theta_star, *, bins: int = 10, oversample: int = 32):
    """The camera-ready ``PointwiseCorrection`` (see the module docstring): m draws accepted from
    proposals c ~ p* when ((1 - t) h(c) + t p*(c)) / (M p*(c)) > u, t = gamma/(1+gamma),
    M = ((1 - t) max h + t p*(0)) / p*(0); h the batch's own 10 x 10 density histogram."""
    if x.shape[-1] != 2:
        raise SCSCInputError("corrector 'pointwise' is defined for dim=2 only (the original script is 2-D)")
    n_slots = x.shape[0]
    active = jnp.arange(n_slots) < m
    t = gamma / (1.0 + gamma)
    dens, ex, ey = batch_histogram2d(x, active, bins)
    kc, ku = jax.random.split(key)
    n_prop = oversample * n_slots
    cand = family.sample(kc, theta_star, n_prop).astype(x.dtype)
    ix = jnp.trunc((cand[:, 0] - ex[0]) / (ex[1] - ex[0])).astype(jnp.int32)  # Python int(): toward zero
    iy = jnp.trunc((cand[:, 1] - ey[0]) / (ey[1] - ey[0])).astype(jnp.int32)
    inside = (ix >= 0) & (ix < bins) & (iy >= 0) & (iy < bins)
    emp = jnp.where(inside, dens[jnp.clip(ix, 0, bins - 1), jnp.clip(iy, 0, bins - 1)], 0.0)
    p_c = jnp.exp(family.log_prob(theta_star, cand))
    p_0 = jnp.exp(family.log_prob(theta_star, jnp.zeros((1, 2), x.dtype)))[0]  # the script's pdf([0, 0])
    big_m = ((1.0 - t) * jnp.max(dens) + t * p_0) / p_0
    q = (1.0 - t) * emp + t * p_c
    accept = q / (big_m * p_c) > jax.random.uniform(ku, (n_prop,), dtype=x.dtype)
    rank = jnp.cumsum(accept) - 1
    dest = jnp.where(accept & (rank < m), rank, n_slots)
    filled = jnp.zeros(n_slots, bool).at[dest].set(True, mode="drop")
    out = x.at[dest].set(cand, mode="drop")
    return jnp.where((filled & active)[:, None], out, x)
