"""Loop engine: fully synthetic collapse rate, determinism, modes, chunking, input errors."""
import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from scsc_theory import (
    Gaussian, GaussianParams, Normal, SCSCInputError, accumulate_counts, grid, make_data_law, run_loop,
    synthetic_count,
)
from scsc_theory import loop as loop_mod

FAM = Gaussian(2)
LAW = Normal.standard(2)


def test_fully_synthetic_variance_shrinks_by_exact_factor(x64):
    """1-D, no real data, m synthetic points per generation, sigma_0^2 = 1.

    sigma_{t+1}^2 is the biased sample variance of m draws from N(mu_t, sigma_t^2), so
    E[sigma_{t+1}^2 | sigma_t^2] = (m-1)/m sigma_t^2 and E[sigma_t^2] = ((m-1)/m)^t exactly.
    Var[sigma_t^2] = ((m^2-1)/m^2)^t - ((m-1)/m)^(2t) (chi-square moments) gives the tolerance.
    """
    m, T, S = 10, 5, 4000
    theta0 = GaussianParams(jnp.zeros(1), jnp.eye(1))
    res = run_loop(Gaussian(1), Normal.standard(1), lam=1.0, gamma=0.0, seed=np.arange(S), n=m,
                   generations=T, theta0=theta0, fully_synthetic=True)
    var = res.thetas.cov[:, :, 0, 0]  # (S, T+1)
    t = np.arange(T + 1)
    expect = ((m - 1) / m) ** t
    sd = np.sqrt(((m**2 - 1) / m**2) ** t - expect**2)
    assert np.all(np.abs(var.mean(0) - expect) <= 4.5 * sd / np.sqrt(S) + 1e-12)


def test_same_seed_same_numbers_and_chunking_invariance():
    kw = dict(lam=0.5, gamma=[0.0, 1.0], seed=[3, 4], n=20, generations=30)
    a = run_loop(FAM, LAW, **kw)
    b = run_loop(FAM, LAW, **kw)
    c = run_loop(FAM, LAW, chunk=7, **kw)  # 30 = 4*7 + 2: padded last chunk
    for r in (b, c):
        np.testing.assert_array_equal(a.metrics["w2"], r.metrics["w2"])
        np.testing.assert_array_equal(a.thetas.cov, r.thetas.cov)
    d = run_loop(FAM, LAW, **{**kw, "seed": [5, 6]})
    assert not np.array_equal(a.metrics["w2"], d.metrics["w2"])


def test_common_random_numbers_across_gamma():
    """Same seed => same real data => same theta_0 for every (lambda, gamma)."""
    r = run_loop(FAM, LAW, lam=[0.2, 0.5, 1.0], gamma=[0.0, 1.0, 5.0], seed=7, n=30, generations=3)
    np.testing.assert_array_equal(r.thetas.mean[0, 0], r.thetas.mean[1, 0])
    np.testing.assert_array_equal(r.thetas.mean[0, 0], r.thetas.mean[2, 0])


def test_synthetic_count_floor():
    assert synthetic_count(0.29, 100) == 29  # float round-off guarded
    assert list(synthetic_count([0.0, 0.5, 0.51, 1.0], 50)) == [0, 25, 25, 50]


def test_accumulate_counts_match_original_script():
    m, T = 25, 40
    for i in [0, 1, 5, 39]:
        got = np.asarray(accumulate_counts(i, m, T))
        want = [int((j + 1) / (i + 1) * m + 1e-9) if j <= i else 0 for j in range(T)]
        assert got.tolist() == want


def test_accumulate_stats_path_equals_buffer_path(x64):
    """The O(T) sufficient-statistics path for Gaussians gives the same fits as the generic buffer path."""

    @dataclasses.dataclass(frozen=True)
    class NoStats(Gaussian):
        suff_stats = None
        fit_from_stats = None

    kw = dict(lam=[0.5, 1.0], gamma=[0.0, 2.0], seed=[0, 1], n=20, generations=25, mode="accumulate")
    a = run_loop(Gaussian(2), LAW, **kw)
    b = run_loop(NoStats(2), LAW, **kw)
    np.testing.assert_allclose(a.thetas.cov, b.thetas.cov, rtol=1e-9, atol=1e-12)


def test_population_mode_contracts_at_predicted_rate(x64):
    lam, gamma = 0.5, 1.0
    r = run_loop(FAM, LAW, lam=lam, gamma=gamma, seed=0, n=20, generations=10, sampling="population")
    mean = r.thetas.mean[0]
    ratio = np.linalg.norm(mean[1:], axis=1) / np.linalg.norm(mean[:-1], axis=1)
    np.testing.assert_allclose(ratio, lam / ((1 + lam) * (1 + gamma)), rtol=1e-10)


def test_lambda_zero_stays_at_real_fit():
    r = run_loop(FAM, LAW, lam=0.0, gamma=0.0, seed=1, n=20, generations=5)
    np.testing.assert_allclose(r.thetas.cov[0], np.broadcast_to(r.thetas.cov[0, 0], r.thetas.cov[0].shape), atol=1e-6)


def test_divergence_is_flagged_not_raised():
    bad = GaussianParams(jnp.array([jnp.nan, 0.0]), jnp.eye(2))
    r = run_loop(FAM, LAW, lam=0.5, gamma=[0.0, 1.0], seed=0, n=10, generations=4,
                 theta0=jax.tree_util.tree_map(lambda a: jnp.stack([a, a]), bad))
    assert r.diverged.all()
    assert not r.finite[:, -1].any()


BAD = [
    (dict(lam=-0.1), "lam must be >= 0"),
    (dict(gamma=-1.0), "gamma must be >= 0"),
    (dict(gamma=float("nan")), "gamma must be finite"),
    (dict(n=1), "n must be an integer >= 2"),
    (dict(generations=0), "generations must be an integer >= 1"),
    (dict(mode="sometimes"), "mode must be one of"),
    (dict(sampling="both"), "sampling must be one of"),
    (dict(corrector="magic"), "corrector must be one of"),
]


@pytest.mark.parametrize("kw,msg", BAD)
def test_bad_input_raises_before_compiling(kw, msg):
    calls = lambda: sum(loop_mod.compiled_runner.cache_info()[:2])  # hits + misses: every request to compile
    before = calls()
    args = dict(lam=0.5, gamma=1.0, seed=0, n=10, generations=3)
    args.update(kw)
    with pytest.raises(SCSCInputError, match=msg):
        run_loop(FAM, LAW, **args)
    assert calls() == before


def test_dimension_mismatch():
    with pytest.raises(SCSCInputError, match="dimension"):
        run_loop(Gaussian(3), LAW, lam=0.5, gamma=0.0, n=10, generations=2)


@pytest.mark.parametrize("cov,msg", [
    ([[1.0, 0.0], [0.0, np.inf]], "finite"),
    ([[1.0, 2.0], [2.0, 1.0]], "positive definite"),
    ([[1.0, 0.5], [0.0, 1.0]], "symmetric"),
])
def test_bad_covariance(cov, msg):
    with pytest.raises(SCSCInputError, match=msg):
        Normal.from_arrays([0.0, 0.0], cov)


def test_unknown_data_law():
    with pytest.raises(SCSCInputError, match="data must be one of"):
        make_data_law("cauchy", 2)


def test_population_accumulate_weights_history_by_recency(x64):
    """sampling='population', mode='accumulate': generation t refits on p_data plus, for every j <= t,
    weight lambda (j+1)/(t+1) on pi_gamma p_theta_j. Checked against an independent NumPy recursion of
    the Gaussian moment-matching map (equal weights, or a missing history, give different numbers)."""
    law = make_data_law("laplace", 2)
    lam, gamma, T = 0.7, 0.5, 6
    m0 = np.array([1.5, -0.8])
    s0 = np.array([[2.0, 0.4], [0.4, 0.6]])
    r = run_loop(FAM, law, lam=lam, gamma=gamma, seed=0, n=20, generations=T, sampling="population",
                 mode="accumulate", theta0=GaussianParams(jnp.asarray(m0), jnp.asarray(s0)))
    md, sd = np.asarray(law.mean()), np.asarray(law.cov())
    ts = FAM.theta_star(law)
    ms, ss = np.asarray(ts.mean), np.asarray(ts.cov)
    means, secs = [m0], [s0 + np.outer(m0, m0)]
    for t in range(T):
        w = lam * (np.arange(t + 1) + 1) / (t + 1)
        tot = 1 + w.sum()
        corr_m = [(means[j] + gamma * ms) / (1 + gamma) for j in range(t + 1)]
        corr_s = [(secs[j] + gamma * (ss + np.outer(ms, ms))) / (1 + gamma) for j in range(t + 1)]
        means.append((md + sum(wj * c for wj, c in zip(w, corr_m))) / tot)
        secs.append((sd + np.outer(md, md) + sum(wj * c for wj, c in zip(w, corr_s))) / tot)
    np.testing.assert_allclose(r.thetas.mean[0], np.stack(means), rtol=1e-10, atol=1e-12)
    covs = np.stack([s - np.outer(m, m) for m, s in zip(means, secs)])
    np.testing.assert_allclose(r.thetas.cov[0], covs, rtol=1e-10, atol=1e-12)


def test_fixed_mode_weights_synthetic_points_by_lambda_over_m():
    """Definition 4.2 in the finite-sample engine: the refit weights the n real points 1/n each and the m
    synthetic points lambda/m each. From theta_0 = N((3, 0), I) (far from the data's mean 0), one generation's
    mean is (mean_real + lambda mean_syn)/(1 + lambda) ~ 3 lambda/(1 + lambda)."""
    n = 4000
    th0 = GaussianParams(jnp.array([3.0, 0.0]), jnp.eye(2))
    for lam in (0.25, 2.0):
        r = run_loop(FAM, LAW, lam=lam, gamma=0.0, seed=3, n=n, generations=1, theta0=th0)
        got = float(r.thetas.mean[0, 1, 0])
        assert got == pytest.approx(3 * lam / (1 + lam), abs=0.08), (lam, got)


def test_public_update_pieces_are_the_engines():
    """loop.py's exported pieces are what run_loop uses: generation-0 metrics come from initial_record_key,
    generation t's from step_keys(seed, t).metrics, the fixed refit uses fixed_weights (real 1/n, lambda/m)."""
    import jax
    import jax.numpy as jnp

    from scsc_theory.loop import KEYS, compiled_runner, fixed_weights, initial_record_key, step_keys, synthetic_weight

    w = np.asarray(fixed_weights(4, 6, 3, 0.75, jnp.float32))
    np.testing.assert_allclose(w, [0.25] * 4 + [0.25] * 3 + [0.0] * 3)
    assert float(synthetic_weight(0.5, 0)) == 0.0
    assert np.asarray(fixed_weights(4, 6, 3, 0.75, jnp.float32, real_w=0.0))[:4].sum() == 0.0
    assert len(set(KEYS)) == len(KEYS)  # every purpose its own fold_in value
    # generation 1 rebuilt by hand from the key table: real data, sample, correct, refit
    from scsc_theory import correction
    from scsc_theory.loop import root_key

    n, lam, gamma, seed = 10, 0.5, 1.0, 7
    res = run_loop(FAM, LAW, lam=lam, gamma=gamma, seed=seed, n=n, generations=2, record_thetas=True)
    assert compiled_runner(FAM, LAW, res.spec, 2) is compiled_runner(FAM, LAW, res.spec, 2)  # one compilation
    ts = FAM.theta_star(LAW)
    th = lambda t: jax.tree_util.tree_map(lambda a: jnp.asarray(a[0, t]), res.thetas)  # noqa: E731
    x_real = LAW.sample(jax.random.fold_in(root_key(seed), KEYS.real), n)
    k = step_keys(seed, 0)
    M = m = res.spec.m_max
    x_syn = correction.correct("ideal", k.correct, FAM.sample(k.sample, th(0), M), m, gamma, FAM, ts)
    fit = FAM.params(FAM.fit(FAM.init_state(th(0)), jnp.concatenate([x_real, x_syn]),
                             fixed_weights(n, M, m, lam, x_real.dtype), k.fit))
    for a, b in zip(jax.tree_util.tree_leaves(fit), jax.tree_util.tree_leaves(th(1))):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)
    assert initial_record_key(seed).shape == root_key(seed).shape
