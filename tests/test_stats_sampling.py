"""``sampling="stats"``: exact-in-distribution sufficient-statistic draws for the Gaussian loop (issue 14).

Checked against closed forms (Gamma law, Wishart mean and E log det, Binomial counts, the mixture's
moments, the fixed-mode loop's one-step conditional mean and variance, E[Sigma_t] = ((m-1)/m)^t Sigma_0
in the fully synthetic loop) and against the point-level path (two-sample KS). Tolerances are
stated in standard errors of the Monte Carlo estimate (|z| < 5) or as KS p-values (> 1e-4); the
seeds are fixed, so each test is deterministic. Run in float64.

Planted bugs these tests catch (checked by hand, file restored byte for byte):
* ``sample_stats`` with scatter ~ Wishart(k, Sigma) instead of Wishart(k - 1, Sigma);
* ``wishart_bartlett`` with chi2(df - j + 1) on the diagonal.
"""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import special, stats

from scsc_theory import Gaussian, Normal, grid, run_loop
from scsc_theory._validate import SCSCInputError
from scsc_theory.correction import correct, corrected_stats, count_table, draw_count
from scsc_theory.families.gaussian import GaussianParams, gamma_mt, weighted_moments, wishart_bartlett

Z = 5.0  # |z| bound for Monte Carlo means
P_MIN = 1e-4  # KS p-value bound


def zscore(samples, expected):
    s = np.asarray(samples, np.float64)
    se = s.std(axis=0, ddof=1) / np.sqrt(s.shape[0])
    return (s.mean(axis=0) - expected) / se


def keys(n, seed=0):
    return jax.random.split(jax.random.PRNGKey(seed), n)


def params(mean, cov):
    return GaussianParams(jnp.asarray(mean, jnp.float64), jnp.asarray(cov, jnp.float64))


SIGMA3 = np.array([[2.0, 0.6, -0.3], [0.6, 1.0, 0.2], [-0.3, 0.2, 0.5]])


@pytest.mark.parametrize("alpha", [0.5, 1.0, 3.5, 2.5e4])
def test_gamma_mt_is_gamma(x64, alpha):
    x = np.asarray(jax.jit(jax.vmap(lambda k: gamma_mt(k, jnp.full((4,), alpha))))(keys(5000))).ravel()
    assert stats.kstest(x, stats.gamma(alpha).cdf).pvalue > P_MIN
    assert abs(zscore(x, alpha)) < Z


@pytest.mark.parametrize("df", [3, 7, 40])
def test_wishart_mean_and_expected_log_det(x64, df):
    root = jnp.asarray(np.linalg.cholesky(SIGMA3))
    w = np.asarray(jax.jit(jax.vmap(lambda k: wishart_bartlett(k, df, root)))(keys(20000, df)))
    assert np.all(np.abs(zscore(w.reshape(len(w), -1), (df * SIGMA3).ravel())) < Z)
    d = 3
    # E log det W = log det Sigma + d log 2 + sum_{i<d} digamma((df - i)/2)   (Anderson 2003, Thm 7.5.1 / 7.6)
    expected = np.linalg.slogdet(SIGMA3)[1] + d * np.log(2.0) + sum(special.digamma((df - i) / 2.0) for i in range(d))
    assert abs(zscore(np.linalg.slogdet(w)[1], expected)) < Z
    # Var W_ij = df (Sigma_ij^2 + Sigma_ii Sigma_jj)
    var = w.reshape(len(w), -1).var(axis=0, ddof=1)
    exp_var = (df * (SIGMA3**2 + np.outer(np.diag(SIGMA3), np.diag(SIGMA3)))).ravel()
    np.testing.assert_allclose(var, exp_var, rtol=0.1)


def test_wishart_singular_and_zero_dof(x64):
    root = jnp.asarray(np.linalg.cholesky(SIGMA3))
    w2 = np.asarray(jax.jit(jax.vmap(lambda k: wishart_bartlett(k, 2, root)))(keys(4000)))
    assert np.all(np.linalg.matrix_rank(w2, tol=1e-9) == 2)  # 2 points' worth of scatter in R^3
    assert np.all(np.abs(zscore(w2.reshape(len(w2), -1), (2 * SIGMA3).ravel())) < Z)
    w0 = np.asarray(jax.jit(jax.vmap(lambda k: wishart_bartlett(k, 0, root)))(keys(10)))
    assert np.all(w0 == 0)


def _point_stats(fam, p, k, n):
    """(mean, scatter) of k points drawn by the point-level sampler, n replicates."""
    def one(key):
        x = fam.sample(key, p, k)
        mu, cov = weighted_moments(x, jnp.ones(k, x.dtype))
        return mu, k * cov
    return [np.asarray(a) for a in jax.jit(jax.vmap(one))(keys(n, 99))]


def test_sample_stats_matches_points(x64):
    fam = Gaussian(2)
    p = params([0.3, -1.0], [[1.5, 0.4], [0.4, 0.7]])
    k = 6
    mu, sc = [np.asarray(a) for a in jax.jit(jax.vmap(lambda kk: fam.sample_stats(kk, p, k)))(keys(20000))]
    mu_p, sc_p = _point_stats(fam, p, k, 20000)
    assert np.all(np.abs(zscore(sc.reshape(-1, 4), (k - 1) * np.asarray(p.cov).ravel())) < Z)
    assert np.all(np.abs(zscore(mu, np.asarray(p.mean))) < Z)
    for a, b in ((mu[:, 0], mu_p[:, 0]), (sc[:, 0, 0], sc_p[:, 0, 0]), (sc[:, 0, 1], sc_p[:, 0, 1]),
                 (sc[:, 1, 1], sc_p[:, 1, 1]), (np.linalg.det(sc), np.linalg.det(sc_p))):
        assert stats.ks_2samp(a, b).pvalue > P_MIN


@pytest.mark.parametrize("m,gamma", [(25, 1.0), (25, 5.0), (500_000, 0.3), (7, 0.0)])
def test_ideal_count_is_binomial(x64, m, gamma):
    lo, cdf = count_table("ideal", np.array([m]), np.array([gamma]))
    k = np.asarray(jax.jit(jax.vmap(lambda kk: draw_count(kk, lo[0], jnp.asarray(cdf[0]))))(keys(20000)))
    q = 1.0 / (1.0 + gamma)
    if gamma == 0:
        assert np.all(k == m)
        return
    assert abs(zscore(k, m * q)) < Z
    np.testing.assert_allclose(k.var(ddof=1), m * q * (1 - q), rtol=0.06)
    if m < 100:
        obs = np.bincount(k, minlength=m + 1)
        exp = 20000 * stats.binom.pmf(np.arange(m + 1), m, q)
        keep = exp > 5
        chi2 = np.sum((obs[keep] - exp[keep]) ** 2 / exp[keep])
        assert stats.chi2.sf(chi2, keep.sum() - 1) > P_MIN


def test_stratified_count_matches_point_corrector():
    m, gamma = np.array([25, 10, 3]), np.array([1.0, 0.3, 5.0])
    lo, cdf = count_table("stratified", m, gamma)
    assert cdf.shape[1] == 1
    np.testing.assert_array_equal(lo, m - np.round(gamma / (1 + gamma) * m).astype(int))


def _mixture_moments(q, p, ts):
    mu, S = np.asarray(p.mean), np.asarray(p.cov)
    mu_s, S_s = np.asarray(ts.mean), np.asarray(ts.cov)
    d = mu - mu_s
    return q * mu + (1 - q) * mu_s, q * S + (1 - q) * S_s + q * (1 - q) * np.outer(d, d)


@pytest.mark.parametrize("corrector", ["ideal", "stratified"])
def test_corrected_stats_match_point_correction(x64, corrector):
    fam = Gaussian(2)
    p = params([1.0, -0.5], [[1.8, 0.5], [0.5, 0.6]])
    ts = params([0.0, 0.0], [[1.0, 0.0], [0.0, 1.0]])
    m, gamma, N = 10, 1.5, 20000
    lo, cdf = count_table(corrector, np.array([m]), np.array([gamma]))

    def stats_one(key):
        kc, ks = jax.random.split(key)
        k_model = draw_count(kc, lo[0], jnp.asarray(cdf[0]))
        w, mu, sc = corrected_stats(ks, jnp.asarray(m), k_model, fam, p, ts)
        return w, mu, sc

    def points_one(key):
        ka, kb = jax.random.split(key)
        x = correct(corrector, kb, fam.sample(ka, p, m), m, gamma, fam, ts)
        mu, cov = weighted_moments(x, jnp.ones(m, x.dtype))
        return mu, m * cov

    w, mu, sc = [np.asarray(a) for a in jax.jit(jax.vmap(stats_one))(keys(N, 1))]
    mu_p, sc_p = [np.asarray(a) for a in jax.jit(jax.vmap(points_one))(keys(N, 2))]
    assert np.all(w == m)
    if corrector == "ideal":  # m i.i.d. points of the mixture (p_theta + gamma p_theta*)/(1 + gamma)
        e_mu, cov_pi = _mixture_moments(1 / (1 + gamma), p, ts)
        assert np.all(np.abs(zscore(mu, e_mu)) < Z)
        assert np.all(np.abs(zscore(sc.reshape(N, -1), ((m - 1) * cov_pi).ravel())) < Z)
    for a, b in ((mu[:, 0], mu_p[:, 0]), (mu[:, 1], mu_p[:, 1]), (sc[:, 0, 0], sc_p[:, 0, 0]),
                 (sc[:, 0, 1], sc_p[:, 0, 1]), (sc[:, 1, 1], sc_p[:, 1, 1])):
        assert stats.ks_2samp(a, b).pvalue > P_MIN


def _conditional_moments(lam, gamma, m, corrector, mu_t, S_t, mu_r, S_r, mu_s, S_s):
    """E[theta_{t+1} | theta_t, real data] and Cov(mu_{t+1} | ...) of the fixed-mode loop (d = 2, per seed).

    mu_{t+1} = (mu_r + lam ms)/(1 + lam); Sigma_{t+1} = (S_r + (lam/m) Ws + lam/(1+lam) (mu_r - ms)(mu_r - ms)^T)/(1 + lam),
    with ms, Ws the corrected synthetic mean and scatter. ideal: m i.i.d. mixture points (q = 1/(1+gamma)):
    E ms = mu_pi, Cov ms = Cov_pi/m, E Ws = (m-1) Cov_pi. stratified: kA = m - round(gamma m/(1+gamma))
    points of p_theta_t and kB of p_theta*: E ms = (kA mu + kB mu*)/m, Cov ms = (kA S + kB S*)/m^2,
    E Ws = (kA-1)+ S + (kB-1)+ S* + (kA kB/m) E[(ma - mb)(ma - mb)^T].
    """
    outer = lambda a: a[..., :, None] * a[..., None, :]  # noqa: E731
    if corrector == "ideal":
        q = 1.0 / (1.0 + gamma)
        d = mu_t - mu_s
        e_ms = q * mu_t + (1 - q) * mu_s
        cov_pi = q * S_t + (1 - q) * S_s + q * (1 - q) * outer(d)
        cov_ms, e_ws = cov_pi / m, (m - 1) * cov_pi
    else:
        kb = np.round(gamma / (1 + gamma) * m)
        ka = m - kb
        e_ms = (ka * mu_t + kb * mu_s) / m
        cov_ms = (ka * S_t + kb * S_s) / m**2
        e_between = outer(mu_t - mu_s) + (S_t / ka if ka > 0 else 0) + (S_s / kb if kb > 0 else 0)
        e_ws = max(ka - 1, 0) * S_t + max(kb - 1, 0) * S_s + (ka * kb / m) * e_between
    e_mu = (mu_r + lam * e_ms) / (1 + lam)
    e_S = (S_r + (lam / m) * e_ws + lam / (1 + lam) * (outer(mu_r - e_ms) + cov_ms)) / (1 + lam)
    return e_mu, (lam / (1 + lam)) ** 2 * cov_ms, e_S


@pytest.mark.parametrize("sampling,corrector", [("stats", "ideal"), ("stats", "stratified"), ("finite", "ideal")])
def test_fixed_mode_conditional_mean_and_variance(x64, sampling, corrector):
    """Martingale residuals theta_{t+1} - E[theta_{t+1} | theta_t] have mean 0 and the stated variance, every t."""
    lam, n, T, S = 0.7, 20, 8, 300
    gammas = [0.0, 2.0]
    L, G, Sd = grid([lam], gammas, np.arange(S))
    law = Normal.standard(2)
    res = run_loop(Gaussian(2), law, lam=L, gamma=G, seed=Sd, n=n, generations=T, mode="fixed",
                   sampling=sampling, corrector=corrector)
    mu, cov = np.asarray(res.thetas.mean, np.float64), np.asarray(res.thetas.cov, np.float64)
    m = int(res.m[0])
    mu_s, S_s = np.zeros(2), np.eye(2)
    for gi, g in enumerate(gammas):
        sl = slice(gi * S, (gi + 1) * S)
        mu_r, S_r = mu[sl, 0], cov[sl, 0]  # theta_0 is the real-data fit
        zs, z2, rs = [], [], []
        for t in range(T):
            e_mu, v_mu, e_S = _conditional_moments(lam, g, m, corrector, mu[sl, t], cov[sl, t], mu_r, S_r, mu_s, S_s)
            r = mu[sl, t + 1] - e_mu
            sd = np.sqrt(np.stack([v_mu[:, 0, 0], v_mu[:, 1, 1]], -1))
            zs.append(r / sd)
            rs.append((cov[sl, t + 1] - e_S).reshape(S, -1))
        zs, rs = np.concatenate(zs), np.concatenate(rs)
        assert np.all(np.abs(zscore(zs, 0.0)) < Z), (g, zscore(zs, 0.0))
        assert np.all(np.abs(zscore(zs**2, 1.0)) < Z), (g, zscore(zs**2, 1.0))
        assert np.all(np.abs(zscore(rs, 0.0)) < Z), (g, zscore(rs, 0.0))


@pytest.mark.parametrize("sampling", ["stats", "finite"])
def test_fully_synthetic_covariance_decay(x64, sampling):
    """Fully synthetic, gamma = 0, lam = 1 (m = n): E[Sigma_t | Sigma_0] = ((n-1)/n)^t Sigma_0 exactly."""
    n, T, S = 12, 20, 3000
    res = run_loop(Gaussian(2), Normal.standard(2), lam=1.0, gamma=0.0, seed=np.arange(S), n=n, generations=T,
                   mode="fixed", sampling=sampling, fully_synthetic=True)
    cov = np.asarray(res.thetas.cov, np.float64)
    tr = np.trace(cov, axis1=-2, axis2=-1)
    for t in (1, 5, 20):
        assert abs(zscore(tr[:, t] / tr[:, 0], ((n - 1) / n) ** t)) < Z, t
    # and the off-diagonal entry decays at the same rate (per seed: E[S_t01 - c^t S_001] = 0)
    assert abs(zscore(cov[:, 5, 0, 1] - ((n - 1) / n) ** 5 * cov[:, 0, 0, 1], 0.0)) < Z


def test_stats_and_finite_agree_in_distribution():
    lam, gam, seed = grid([0.5], [1.0], np.arange(1000))
    kw = dict(n=50, generations=30, mode="fixed")
    a = run_loop(Gaussian(2), Normal.standard(2), lam=lam, gamma=gam, seed=seed, sampling="stats", **kw)
    b = run_loop(Gaussian(2), Normal.standard(2), lam=lam, gamma=gam, seed=seed, sampling="finite", **kw)
    np.testing.assert_array_equal(a.metrics["w2"][:, 0], b.metrics["w2"][:, 0])  # same real data, same theta_0
    for t in (1, 30):
        assert stats.ks_2samp(a.metrics["w2"][:, t], b.metrics["w2"][:, t]).pvalue > P_MIN
        assert stats.ks_2samp(a.thetas.cov[:, t, 0, 1], b.thetas.cov[:, t, 0, 1]).pvalue > P_MIN


@pytest.mark.parametrize("kw,word", [
    (dict(mode="accumulate"), "mode"),
    (dict(corrector="ot"), "corrector"),
    (dict(prng="mt19937"), "prng"),
])
def test_stats_bad_input_names_parameter(kw, word):
    args = dict(lam=0.5, gamma=1.0, seed=0, n=20, generations=2, sampling="stats")
    args.update(kw)
    with pytest.raises(SCSCInputError, match=word):
        run_loop(Gaussian(2), Normal.standard(2), **args)


def test_stats_needs_a_family_with_statistics():
    from scsc_theory.families import GMM
    from scsc_theory.data import make_data_law

    with pytest.raises(SCSCInputError, match="sampling='stats'"):
        run_loop(GMM(2, k=2), make_data_law("mixture", 2), lam=0.5, gamma=1.0, n=20, generations=2, sampling="stats")


def test_prng_choice_recorded_and_reproducible():
    kw = dict(lam=0.5, gamma=[0.0, 1.0], seed=[3, 4], n=30, generations=6, mode="fixed", sampling="stats")
    d0 = run_loop(Gaussian(2), Normal.standard(2), **kw)
    d1 = run_loop(Gaussian(2), Normal.standard(2), prng="threefry2x32", **kw)
    f1 = run_loop(Gaussian(2), Normal.standard(2), prng="philox4x32", **kw)
    f2 = run_loop(Gaussian(2), Normal.standard(2), prng="philox4x32", **kw)
    assert d0.spec.prng == "threefry2x32" and f1.spec.prng == "philox4x32"
    np.testing.assert_array_equal(d0.metrics["w2"], d1.metrics["w2"])
    np.testing.assert_array_equal(f1.metrics["w2"], f2.metrics["w2"])
    assert not np.array_equal(f1.metrics["w2"][:, 1:], d0.metrics["w2"][:, 1:])
