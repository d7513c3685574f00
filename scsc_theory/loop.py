"""The self-consuming loop engine: ``lax.scan`` over generations, ``vmap`` over configs, one ``jit``.

One *config* is a triple (lambda, gamma, seed). For each config the engine runs the SCSC loop
of Gillman et al. (Definition 4.2),

    theta_0 = argmax_theta E_{hat p_data} log p_theta,     theta_{t+1} = pi_gamma G_lambda(theta_t),

for ``generations`` steps and records theta_t and the family's metrics at t = 0..T.

Modes
-----
``sampling="finite"``: hat p_data is n real points drawn once per seed; every generation draws
m = floor(lambda n) synthetic points from p_theta_t, corrects them (see
:mod:`scsc_theory.correction`) and refits with the weighted local argmax.
``sampling="population"``: the exact infinite-sample map (families with a closed form); theta_0
is still the fit on the seed's n real points, so seeds give different starting points.
``sampling="stats"`` (Gaussian family, ``mode="fixed"``, corrector ideal | stratified, also with
``fully_synthetic``): the weighted MLE depends on the synthetic points only through their count,
mean and scatter, so these are drawn exactly in distribution without drawing the points (issue 14):
k_model ~ Binomial(m, 1/(1+gamma)) points from p_theta (ideal; stratified: m - round(gamma m/(1+gamma))),
the rest from p_theta*; per group mean ~ N(mu, Sigma/k), scatter ~ Wishart(k - 1, Sigma) by Bartlett,
pooled with the between-group term (:func:`scsc_theory.correction.corrected_stats`; the count by
inversion of a per-config table, :func:`scsc_theory.correction.count_table`). The real
data are the same n points as in ``"finite"`` (same seed, same theta_0), summarised once. A
generation costs O(d^3) and O(d^2) random numbers for any n and lambda. ``"finite"`` stays the
reference: the two agree in distribution (the law of theta_t given theta_0), not draw for draw
(``tests/test_stats_sampling.py``).

Workflows (``mode``, named as the literature names them: :mod:`scsc_theory.workflows`):
``mode="fixed"`` (the theory): fresh synthetic points each generation, weights 1/n per real
point and lambda/m per synthetic point, exactly the objective of Definition 4.2.
``mode="replace"``: the same with the real data dropped (= ``fully_synthetic=True``, same numbers).
``mode="accumulate-all"``: all real points and every generation's m synthetic points so far, weight 1
each; the population analogue puts weight lambda on pi_gamma p_theta_j for every j <= t.
``mode="accumulate-subsample"``: ``subsample`` points (default n) drawn uniformly without replacement
from that pool each generation (key fold_in(generation key, 7); finite sampling only).
``mode="toy-schedule"`` (the paper's original toy script; alias ``"accumulate"``, identical numbers):
generation i fits the concatenation of
the n real points and, for every earlier generation j <= i, the first floor((j+1) m/(i+1))
corrected points that generation j drew (all points weight 1), so the effective lambda grows
like lambda (i+2)/2. The population analogue uses weights lambda (j+1)/(i+1) on pi_gamma p_theta_j.

Static shapes: a grid with several lambdas allocates M_max = max_config floor(lambda n) synthetic
slots and masks the unused ones, so one compiled function serves the whole grid.

Randomness: config key = PRNGKey(seed) of the PRNG implementation ``prng`` (default threefry2x32,
JAX's reproducible default; ``philox4x32``, ``rbg``, ``unsafe_rbg`` are explicit
options passed through :class:`LoopSpec`, never a global switch, and recorded in the result);
real data from fold_in(key, 0); generation t uses fold_in(fold_in(key, 1), t). The same seed therefore gives the same real data for every
(lambda, gamma) (common random numbers) and the same numbers however the run is chunked.

Divergence is a result: a config whose parameters become non-finite is flagged in
``LoopResult.finite`` / ``LoopResult.diverged``; nothing raises.
"""
from __future__ import annotations

import dataclasses
import functools
import math
from typing import Any, Callable, Dict, NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np

from . import correction as _corr
from . import workflows as _wf
from .families.base import SampleStats, SufficientStats
from ._validate import (
    SCSCInputError,
    check_choice,
    check_int,
    check_nonneg,
)

#: workflow names (:data:`scsc_theory.workflows.WORKFLOWS`) and the old alias "accumulate" (= "toy-schedule")
MODES = _wf.WORKFLOWS + tuple(_wf.ALIASES)
SAMPLINGS = ("finite", "population", "stats")
#: PRNG implementations of ``jax.random`` selectable per run (same seed semantics; default first)
#: (threefry4x32 is left out: with jax 0.10.2 on CPU a 2-config, 3-generation chunk keyed with it did
#: not finish within 10 minutes, while philox4x32, the other 4-word counter PRNG, drew normals at
#: ~130 M/s here against ~28 M/s for threefry2x32.)
PRNGS = ("threefry2x32", "philox4x32", "rbg", "unsafe_rbg")
DEFAULT_PRNG = "threefry2x32"
#: Refuse grids whose per-generation buffers would exceed this many bytes (before compiling).
MAX_BUFFER_BYTES = 6 * 2**30


def synthetic_count(lam, n: int) -> np.ndarray:
    """m = floor(lambda * n), computed in float64 with a 1e-9 guard against round-off (0.29*100 = 29)."""
    lam = np.asarray(lam, dtype=np.float64)
    return np.floor(lam * n + 1e-9).astype(np.int32)


def root_key(seed, prng: str = DEFAULT_PRNG):
    """The config's root key for ``seed``: the raw ``PRNGKey(seed)`` for the default threefry2x32
    (bit-identical to earlier versions), else a typed key of the named implementation."""
    if prng == DEFAULT_PRNG:
        return jax.random.PRNGKey(seed)
    return jax.random.key(seed, impl=prng)


class KeyPurposes(NamedTuple):
    """The one table of PRNG key purposes of the engine (every other module derives its keys from it).

    From a config's :func:`root_key`: ``fold_in(root, real)`` draws the n real points,
    ``fold_in(root, initial_fit)`` keys theta_0's fit, ``fold_in(root, initial_record)`` the metrics
    of generation 0, and ``fold_in(root, generations)`` is the generation key; generation t splits
    ``fold_in(generation key, t)`` into :class:`StepKeys`; ``subsample`` is folded into the fit key
    for ``mode="accumulate-subsample"``."""

    real: int = 0
    generations: int = 1
    initial_fit: int = 2
    initial_record: int = 3
    subsample: int = 7


KEYS = KeyPurposes()


class StepKeys(NamedTuple):
    """The four keys of one generation: sample p_theta_t, correct, refit, record metrics."""

    sample: jax.Array
    correct: jax.Array
    fit: jax.Array
    metrics: jax.Array


def step_keys(seed, t, prng: str = DEFAULT_PRNG) -> StepKeys:
    """Keys of generation t of the config with ``seed``: split(fold_in(fold_in(root_key(seed), 1), t), 4)."""
    key_gen = jax.random.fold_in(root_key(seed, prng), KEYS.generations)
    return StepKeys(*jax.random.split(jax.random.fold_in(key_gen, t), 4))


def initial_record_key(seed, prng: str = DEFAULT_PRNG):
    """Key of generation 0's metrics: fold_in(root_key(seed), 3)."""
    return jax.random.fold_in(root_key(seed, prng), KEYS.initial_record)


def synthetic_weight(lam, m):
    """Weight of one synthetic point in the refit of Definition 4.2: lambda/m (0 when m = 0)."""
    return jnp.where(m > 0, lam / jnp.maximum(m, 1), 0.0)


def fixed_weights(n: int, M: int, m, lam, dtype, real_w: float = 1.0):
    """Weights of one fixed-mode refit on n real points and M synthetic slots (Definition 4.2):
    real_w/n per real point (real_w = 0 drops the real data), lambda/m on the first m synthetic
    slots, 0 on the masked rest. The empirical objective is then
    (1/n) sum_i log p(x_i) + (lambda/m) sum_j log p(x~_j), i.e. E_{hat p_data} + lambda E_{hat pi_gamma p_theta_t}."""
    w_syn = jnp.where(jnp.arange(M) < m, synthetic_weight(lam, m), 0.0)
    return jnp.concatenate([jnp.full((n,), real_w / n), w_syn]).astype(dtype)


def tree_is_finite(tree):
    """True iff every leaf of ``tree`` is finite everywhere (the engine's per-generation divergence flag)."""
    leaves = jax.tree_util.tree_leaves(tree)
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in leaves]))


def accumulate_counts(i, m, generations: int):
    """Points kept from each earlier generation j at generation i: floor((j+1) m / (i+1)) for j <= i, else 0.

    Integer arithmetic, so exact; shape (generations,).
    """
    j = jnp.arange(generations)
    return jnp.where(j <= i, ((j + 1) * m) // (i + 1), 0)


@dataclasses.dataclass(frozen=True)
class LoopSpec:
    """Static settings of a loop run (hashable: part of the compilation key)."""

    n: int
    generations: int
    m_max: int
    mode: str = "fixed"
    sampling: str = "finite"
    corrector: str = "ideal"
    fully_synthetic: bool = False
    prng: str = DEFAULT_PRNG
    #: training-set size of mode="accumulate-subsample" (0 otherwise)
    subsample: int = 0


@dataclasses.dataclass
class LoopResult:
    """Arrays over configs C and generations t = 0..T (host NumPy arrays).

    ``metrics[name]`` has shape (C, T+1); ``thetas`` is the family's parameter pytree with
    leading axes (C, T+1); ``finite[c, t]`` is False once config c has non-finite parameters.
    """

    lam: np.ndarray
    gamma: np.ndarray
    seed: np.ndarray
    m: np.ndarray
    metrics: Dict[str, np.ndarray]
    finite: np.ndarray
    thetas: Any
    spec: LoopSpec
    family: str
    data: str

    @property
    def diverged(self) -> np.ndarray:
        """(C,) True where the config produced non-finite parameters at some generation."""
        return ~self.finite.all(axis=1)

    def final(self, metric: str = "dist") -> np.ndarray:
        """The metric at the last generation, (C,)."""
        return self.metrics[metric][:, -1]


def _make_fns(family, data_law, spec: LoopSpec):
    """Build (init, chunk) pure functions for ONE config; the caller vmaps and jits them."""
    n, T, M = spec.n, spec.generations, spec.m_max
    theta_star = family.theta_star(data_law)

    def init(lam, gamma, seed, theta0, use_theta0):
        key = root_key(seed, spec.prng)
        x_real = data_law.sample(jax.random.fold_in(key, KEYS.real), n)
        w_real = jnp.full((n,), 1.0 / n, x_real.dtype)
        fitted = family.params(family.fit(family.init_state(theta_star), x_real, w_real,
                                          jax.random.fold_in(key, KEYS.initial_fit)))
        params0 = jax.tree_util.tree_map(lambda a, b: jnp.where(use_theta0, a, b), theta0, fitted)
        if spec.sampling == "stats":
            # the real data enter every refit only through (n, mean, scatter): summarise them once
            r_mean, r_cov = weighted_moments_of(family, x_real, w_real)
            return {"fit": family.init_state(params0), "real_mean": r_mean, "real_scatter": n * r_cov}
        state = {"fit": family.init_state(params0), "x_real": x_real}
        if spec.mode == "accumulate-all" and spec.sampling == "finite" and isinstance(family, SufficientStats):
            # running sum of the synthetic points' sufficient statistics: O(1) work per refit
            state["acc"] = jax.tree_util.tree_map(lambda a: jnp.zeros_like(a[0]), family.suff_stats(x_real[:1]))
        elif spec.mode in _wf.ACCUMULATING:
            if spec.mode == "toy-schedule" and spec.sampling == "finite" and isinstance(family, SufficientStats):
                # prefix sums of sufficient statistics per generation: O(T) work per refit
                stats = family.suff_stats(x_real[:1])
                state["cumbuf"] = jax.tree_util.tree_map(
                    lambda a: jnp.zeros((T, M + 1) + a.shape[1:], a.dtype), stats
                )
            elif spec.sampling == "finite":
                state["buffer"] = jnp.zeros((T, M, data_law.dim), x_real.dtype)
            else:
                state["history"] = jax.tree_util.tree_map(
                    lambda a: jnp.zeros((T,) + a.shape, a.dtype), params0
                )
        return state

    def record(state, key):
        p = family.params(state["fit"])
        mets = family.metrics(p, theta_star, key)
        return {"metrics": mets, "theta": p, "finite": tree_is_finite(p)}

    def step(state, t, lam, gamma, seed, m):
        """One generation t -> t+1 for one config. ``t`` is shared by all configs (unbatched)."""
        k_sample, k_corr, k_fit, k_met = step_keys(seed, t, spec.prng)
        params = family.params(state["fit"])
        new = dict(state)
        if spec.sampling == "population":
            if spec.mode == "fixed":
                thetas = jax.tree_util.tree_map(lambda a: a[None], params)
                weights = jnp.asarray([lam])
            else:
                hist = jax.tree_util.tree_map(lambda h, a: h.at[t].set(a), state["history"], params)
                new["history"] = hist
                j = jnp.arange(T)
                per_gen = lam if spec.mode == "accumulate-all" else lam * (j + 1) / (t + 1)
                weights = jnp.where(j <= t, per_gen, 0.0)
                thetas = hist
            new_params = family.population_update(data_law, theta_star, thetas, weights, gamma)
            new["fit"] = family.init_state(new_params)
            return new, k_met
        if spec.sampling == "stats":
            # exact-in-distribution sufficient statistics of the m corrected points (fixed mode)
            dt = state["real_mean"].dtype
            real_w = 0.0 if spec.fully_synthetic else 1.0
            k_model = _corr.draw_count(k_corr, state["count_lo"], state["count_cdf"])
            w_m, mean_s, scat_s = _corr.corrected_stats(k_sample, m, k_model, family, params, theta_star)
            per_point = synthetic_weight(lam, m).astype(dt)
            syn = (per_point * w_m, mean_s, per_point * scat_s)  # each synthetic point has weight lam/m
            real = (jnp.asarray(real_w, dt), state["real_mean"], (real_w / n) * state["real_scatter"])
            new["fit"] = family.fit_from_moments(state["fit"], _merge_moments(real, syn))
            return new, k_met
        x_syn = family.sample(k_sample, params, M)
        x_syn = _corr.correct(spec.corrector, k_corr, x_syn, m, gamma, family, theta_star)
        x_real = state["x_real"]
        dt = x_real.dtype
        real_w = 0.0 if spec.fully_synthetic else 1.0
        if spec.mode in ("fixed", "replace"):
            w = fixed_weights(n, M, m, lam, dt, real_w)
            new["fit"] = family.fit(state["fit"], jnp.concatenate([x_real, x_syn]), w, k_fit)
        elif spec.mode == "accumulate-all" and "acc" in state:
            active = (jnp.arange(M) < m).astype(dt)
            acc = jax.tree_util.tree_map(lambda b, a: b + jnp.einsum("n,n...->...", active, a),
                                         state["acc"], family.suff_stats(x_syn))
            new["acc"] = acc
            real = jax.tree_util.tree_map(lambda a: real_w * jnp.sum(a, 0), family.suff_stats(x_real))
            wsum = (real_w * n + (t + 1) * m).astype(dt)
            new["fit"] = family.fit_from_stats(state["fit"], jax.tree_util.tree_map(jnp.add, acc, real), wsum)
        elif spec.mode == "toy-schedule" and isinstance(family, SufficientStats):
            cum = jax.tree_util.tree_map(
                lambda a: jnp.concatenate([jnp.zeros((1,) + a.shape[1:], a.dtype), jnp.cumsum(a, 0)]),
                family.suff_stats(x_syn),
            )
            cumbuf = jax.tree_util.tree_map(lambda b, c: b.at[t].set(c), state["cumbuf"], cum)
            new["cumbuf"] = cumbuf
            counts = accumulate_counts(t, m, T)
            rows = jnp.arange(T)
            syn = jax.tree_util.tree_map(lambda b: jnp.sum(b[rows, counts], axis=0), cumbuf)
            real = jax.tree_util.tree_map(lambda a: real_w * jnp.sum(a, 0), family.suff_stats(x_real))
            tot = jax.tree_util.tree_map(jnp.add, syn, real)
            wsum = (real_w * n + jnp.sum(counts)).astype(dt)
            new["fit"] = family.fit_from_stats(state["fit"], tot, wsum)
        else:
            buf = state["buffer"].at[t].set(x_syn)
            new["buffer"] = buf
            counts = accumulate_counts(t, m, T) if spec.mode == "toy-schedule" else jnp.where(jnp.arange(T) <= t, m, 0)
            keep = (jnp.arange(M)[None, :] < counts[:, None]).reshape(-1).astype(dt)
            w = jnp.concatenate([jnp.full((n,), real_w, dt), keep])
            if spec.mode == "accumulate-subsample":
                w = _subsample_weights(jax.random.fold_in(k_fit, KEYS.subsample), w, spec.subsample)
            x = jnp.concatenate([x_real, buf.reshape(-1, buf.shape[-1])])
            new["fit"] = family.fit(state["fit"], x, w, k_fit)
        return new, k_met

    def record0(state, seed):
        return record(state, initial_record_key(seed, spec.prng))

    return init, step, record, record0


def _subsample_weights(key, pool, size: int):
    """Weights 1 on ``size`` slots drawn uniformly without replacement among the slots with pool weight > 0
    (all of them when the pool is smaller), 0 elsewhere: the smallest ``size`` of i.i.d. uniform keys."""
    u = jnp.where(pool > 0, jax.random.uniform(key, pool.shape, pool.dtype), jnp.inf)
    neg, idx = jax.lax.top_k(-u, size)
    return jnp.zeros_like(pool).at[idx].set(jnp.where(jnp.isfinite(neg), 1.0, 0.0).astype(pool.dtype))


def weighted_moments_of(family, x, w):
    """Weighted (mean, biased covariance) of points, for the ``stats`` path's one-off real-data summary."""
    from .families.gaussian import weighted_moments

    return weighted_moments(x, w)


def _merge_moments(a, b):
    from .families.gaussian import merge_moments

    return merge_moments(a, b)


def _broadcast_configs(lam, gamma, seed):
    lam = np.atleast_1d(np.asarray(lam, dtype=np.float64))
    gamma = np.atleast_1d(np.asarray(gamma, dtype=np.float64))
    seed = np.atleast_1d(np.asarray(seed))
    try:
        lam, gamma, seed = np.broadcast_arrays(lam, gamma, seed)
    except ValueError:
        raise SCSCInputError(
            f"lam, gamma and seed must broadcast to one config axis (got lengths {lam.size}, {gamma.size}, {seed.size})"
        ) from None
    if lam.ndim != 1:
        raise SCSCInputError("lam, gamma and seed must be scalars or 1-D arrays")
    return lam.copy(), gamma.copy(), seed.astype(np.int64).copy()


def grid(lams, gammas, seeds):
    """Cartesian product as flat config arrays (lam, gamma, seed) in C order (lam, gamma, seed)."""
    L, G, S = np.meshgrid(np.asarray(lams, float), np.asarray(gammas, float), np.asarray(seeds), indexing="ij")
    return L.reshape(-1), G.reshape(-1), S.reshape(-1).astype(np.int64)


def validate_loop_args(family, data_law, *, lam, gamma, seed, n, generations, mode, sampling, corrector):
    """All checks of :func:`run_loop`, done on the host before anything is traced."""
    n = check_int("n", n, 2)
    generations = check_int("generations", generations, 1)
    check_choice("mode", mode, MODES)
    check_choice("sampling", sampling, SAMPLINGS)
    _wf.check_combination(mode, sampling=sampling)
    _corr.get_corrector(corrector)
    lam, gamma, seed = _broadcast_configs(lam, gamma, seed)
    for i, v in enumerate(lam):
        check_nonneg(f"lam[{i}]" if lam.size > 1 else "lam", v)
    for i, v in enumerate(gamma):
        check_nonneg(f"gamma[{i}]" if gamma.size > 1 else "gamma", v)
    family.validate(data_law)
    if sampling == "population":
        if not family.has_population_map:
            raise SCSCInputError(f"sampling='population' needs an exact population map; family {family.name!r} has none")
        if corrector not in ("ideal", "stratified"):
            raise SCSCInputError("sampling='population' is the exact pi_gamma map: corrector must be 'ideal'")
    if sampling == "stats":
        if not isinstance(family, SampleStats):
            raise SCSCInputError(f"sampling='stats' needs exact sufficient-statistic draws; family {family.name!r} has none "
                                 "(use sampling='finite')")
        if corrector not in _corr.STATS_CORRECTORS:
            raise SCSCInputError(f"sampling='stats' needs corrector in {{{', '.join(_corr.STATS_CORRECTORS)}}} (got {corrector!r})")
    if corrector in _corr.CORRECTORS_2D and data_law.dim != 2:
        raise SCSCInputError(f"corrector {corrector!r} needs dim=2 (got dim={data_law.dim})")
    return lam, gamma, seed, n, generations


def check_workflow_sizes(mode: str, *, n: int, generations: int, m, m_max: int, subsample, configs: int, dim: int,
                         fully_synthetic: bool = False, sampling: str = "finite") -> None:
    """The size rules of the workflows, on the host before compiling (shared by :func:`run_loop` and
    the sweeps): fully synthetic refits need floor(lam n) >= 2 points; an accumulate-subsample training
    set cannot exceed the final pool n + T floor(lam n); accumulate buffers (configs x T x M x dim)
    must fit in :data:`MAX_BUFFER_BYTES`."""
    if (fully_synthetic or mode == "replace") and np.any(np.asarray(m) < 2):
        raise SCSCInputError(f"fully synthetic refits (mode='replace') need floor(lam*n) >= 2 synthetic points "
                             f"(got floor(lam*n) = {int(np.min(m))} with n={n})")
    if mode == "accumulate-subsample" and subsample > n + generations * m_max:
        raise SCSCInputError(f"subsample must be <= n + generations * floor(lam n) = {n + generations * m_max}, "
                             f"the final pool size (got {subsample})")
    if mode in _wf.ACCUMULATING and sampling == "finite":
        need = configs * generations * max(m_max, 1) * dim * jnp.zeros(()).dtype.itemsize
        if need > MAX_BUFFER_BYTES:
            raise SCSCInputError(
                f"grid too large: accumulate buffers need {need / 2**30:.1f} GiB > {MAX_BUFFER_BYTES / 2**30:.0f} GiB; "
                "use fewer configs, generations or a smaller lam*n"
            )


def run_loop(
    family,
    data_law,
    *,
    lam,
    gamma,
    seed=0,
    n: int = 50,
    generations: int = 500,
    mode: str = "fixed",
    sampling: str = "finite",
    corrector: str = "ideal",
    theta0=None,
    fully_synthetic: bool = False,
    chunk: Optional[int] = None,
    progress: bool = False,
    record_thetas: bool = True,
    prng: str = DEFAULT_PRNG,
    subsample: Optional[int] = None,
) -> LoopResult:
    """Run the SCSC loop for every config (lam[c], gamma[c], seed[c]) at once.

    ``lam``, ``gamma`` and ``seed`` are scalars or 1-D arrays broadcast to one config axis
    (use :func:`grid` for a Cartesian product). ``theta0`` (optional) replaces the real-data fit
    as the starting point: a parameter pytree, unbatched or with a leading config axis.
    ``fully_synthetic=True`` drops the real data from the refit (weight 0), the collapse setting.
    ``chunk`` splits the generations into equal jitted pieces (for a progress bar); results do
    not depend on it. ``prng`` names the ``jax.random`` implementation (one of :data:`PRNGS`; the
    default threefry2x32 reproduces earlier versions; recorded as ``result.spec.prng``).
    ``mode`` names the workflow (:mod:`scsc_theory.workflows`); ``subsample`` is the training-set
    size of ``mode="accumulate-subsample"`` (default n).
    Returns a :class:`LoopResult`.
    """
    check_choice("prng", prng, PRNGS)
    check_choice("mode", mode, MODES)
    mode = _wf.check_combination(mode, sampling=sampling, fully_synthetic=fully_synthetic, subsample=subsample)
    if mode == "replace":
        fully_synthetic = True
    if mode == "accumulate-subsample":
        subsample = n if subsample is None else check_int("subsample", subsample, 1)
    lam, gamma, seed, n, generations = validate_loop_args(
        family, data_law, lam=lam, gamma=gamma, seed=seed, n=n, generations=generations,
        mode=mode, sampling=sampling, corrector=corrector,
    )
    m = synthetic_count(lam, n)
    if fully_synthetic and sampling == "population":
        raise SCSCInputError("fully_synthetic=True is defined for sampling='finite' or 'stats' only")
    m_max = int(m.max()) if sampling == "finite" else 0
    check_workflow_sizes(mode, n=n, generations=generations, m=m, m_max=m_max, subsample=subsample,
                         configs=lam.size, dim=data_law.dim, fully_synthetic=fully_synthetic, sampling=sampling)
    C = lam.size
    theta_star = family.theta_star(data_law)
    spec = LoopSpec(n=n, generations=generations, m_max=m_max, mode=mode, sampling=sampling,
                    corrector=corrector, fully_synthetic=bool(fully_synthetic), prng=prng,
                    subsample=int(subsample or 0))

    if theta0 is None:
        use_theta0 = np.zeros(C, bool)
        theta0_b = jax.tree_util.tree_map(lambda a: jnp.broadcast_to(a, (C,) + a.shape), theta_star)
    else:
        use_theta0 = np.ones(C, bool)

        def _b(a, ref):
            a = jnp.asarray(a, dtype=ref.dtype)
            if a.shape == ref.shape:
                return jnp.broadcast_to(a, (C,) + a.shape)
            if a.shape == (C,) + ref.shape:
                return a
            raise SCSCInputError(f"theta0 leaf has shape {a.shape}; expected {ref.shape} or {(C,) + ref.shape}")

        theta0_b = jax.tree_util.tree_map(_b, theta0, theta_star)

    length = generations if chunk is None else check_int("chunk", chunk, 1)
    n_chunks = math.ceil(generations / length)
    runner = compiled_runner(family, data_law, spec, length)

    dt = jnp.zeros(()).dtype
    lam_j, gamma_j = jnp.asarray(lam, dt), jnp.asarray(gamma, dt)
    seed_j, m_j = jnp.asarray(seed, jnp.uint32), jnp.asarray(m, jnp.int32)
    state, rec0 = runner.init(lam_j, gamma_j, seed_j, theta0_b, jnp.asarray(use_theta0))
    if sampling == "stats":  # inverse-CDF tables of the number of model points (m, gamma fixed per config)
        lo, cdf = _corr.count_table(corrector, m, gamma)
        state = dict(state, count_lo=jnp.asarray(lo), count_cdf=jnp.asarray(cdf, dt))
    records = [jax.tree_util.tree_map(lambda a: a[:, None], rec0)]
    it = range(n_chunks)
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(it, desc=f"{mode}/{sampling} x{C} configs", unit="chunk", leave=False)
    t = jnp.zeros((), jnp.int32)
    for _ in it:
        t, state, rec = runner.chunk(t, state, lam_j, gamma_j, seed_j, m_j)
        records.append(rec)
    rec = jax.tree_util.tree_map(lambda *xs: np.concatenate([np.asarray(x) for x in xs], axis=1)[:, : generations + 1], *records)
    finite = np.logical_and.accumulate(rec["finite"], axis=1)
    return LoopResult(
        lam=lam, gamma=gamma, seed=seed, m=m,
        metrics={k: np.asarray(v) for k, v in rec["metrics"].items()},
        finite=finite,
        thetas=rec["theta"] if record_thetas else None,
        spec=spec, family=family.name, data=data_law.name,
    )


class Runner(NamedTuple):
    """The compiled engine for one (family, data law, :class:`LoopSpec`, chunk length): pure jitted functions.

    ``init(lam, gamma, seed, theta0, use_theta0) -> (state, record of generation 0)``;
    ``chunk(t0, state, lam, gamma, seed, m) -> (t, state, records of generations t0+1 .. t0+length)``
    (``state`` is donated); ``record0(state, seed) -> record`` re-records generation 0 of a given state
    with the engine's key (:func:`initial_record_key`). All arguments carry a leading config axis except t."""

    init: Callable
    chunk: Callable
    record0: Callable


@functools.lru_cache(maxsize=64)
def compiled_runner(family, data_law, spec: LoopSpec, length: int) -> Runner:
    """jit of init and of a ``length``-generation chunk: scan over generations outside, vmap over configs inside.

    The generation index is shared by all configs, so buffer updates are in-place slices and
    padding steps past ``spec.generations`` are skipped with ``lax.cond``. Bounded cache: the same
    (hashable) arguments return the same compiled functions, so jit's own cache is reused.
    """
    init, step, record, record0 = _make_fns(family, data_law, spec)
    T = spec.generations

    def init_all(lam, gamma, seed, theta0, use_theta0):
        st = jax.vmap(init)(lam, gamma, seed, theta0, use_theta0)
        return st, jax.vmap(record0)(st, seed)

    vstep = jax.vmap(step, in_axes=(0, None, 0, 0, 0, 0))

    padded = T % length != 0  # static: only then can a chunk run past the last generation

    def chunk_all(t0, state, lam, gamma, seed, m):
        def advance(st, t):
            nxt, k_met = vstep(st, t, lam, gamma, seed, m)
            return nxt, k_met

        def body(carry, _):
            t, st = carry
            if padded:
                keys = jax.vmap(lambda s: step_keys(s, t, spec.prng).metrics)(seed)
                nxt, k_met = jax.lax.cond(t < T, advance, lambda s, _t: (s, keys), st, t)
            else:
                nxt, k_met = advance(st, t)
            return (t + 1, nxt), jax.vmap(record)(nxt, k_met)

        (t, state), recs = jax.lax.scan(body, (t0, state), None, length=length)
        return t, state, jax.tree_util.tree_map(lambda a: jnp.swapaxes(a, 0, 1), recs)

    return Runner(init=jax.jit(init_all), chunk=jax.jit(chunk_all, donate_argnums=(1,)),
                  record0=jax.jit(jax.vmap(record0)))
