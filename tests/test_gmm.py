"""GMM family: weighted EM is a warm-started local argmax, matched distance, variance floor, theta*."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from scsc_theory import SCSCInputError, make_data_law, run_loop
from scsc_theory.families import GMM, GMMParams

LAW = make_data_law("mixture", 2)


def _params():
    return GMMParams(jnp.array([0.3, 0.7]), jnp.array([[-1.0, 0.5], [1.0, 0.0]]),
                     jnp.array([[[0.5, 0.1], [0.1, 0.4]], [[0.3, 0.0], [0.0, 0.6]]]))


def test_bad_input():
    with pytest.raises(SCSCInputError, match="K"):
        GMM(2, k=0)
    with pytest.raises(SCSCInputError, match="covariance"):
        GMM(2, covariance="spherical")
    with pytest.raises(SCSCInputError, match="dimension"):
        GMM(3).validate(LAW)


def test_density_normalised_and_samples_match():
    fam = GMM(2)
    p = _params()
    g = jnp.linspace(-6, 6, 241)
    X, Y = jnp.meshgrid(g, g)
    pts = jnp.stack([X.ravel(), Y.ravel()], -1)
    mass = float(jnp.sum(jnp.exp(fam.log_prob(p, pts))) * (g[1] - g[0]) ** 2)
    assert abs(mass - 1) < 1e-3
    x = fam.sample(jax.random.PRNGKey(0), p, 40000)
    np.testing.assert_allclose(np.mean(x, 0), p.weights @ p.means, atol=0.02)


def test_weighted_em_increases_weighted_loglik_and_zero_weight_masks():
    fam = GMM(2, em_steps=1)
    x = LAW.sample(jax.random.PRNGKey(1), 400)
    w = jnp.where(jnp.arange(400) < 300, 1.0 / 300, 0.0)
    p = _params()
    ll = lambda q: float(jnp.sum(w * fam.log_prob(q, x)))  # noqa: E731
    vals = [ll(p)]
    for _ in range(5):
        p = fam.fit(p, x, w)
        vals.append(ll(p))
    assert all(b >= a - 1e-5 for a, b in zip(vals, vals[1:]))
    # zero weights are ignored: same fit as on the first 300 points alone
    q1 = fam.fit(_params(), x, w)
    q2 = fam.fit(_params(), x[:300], jnp.full(300, 1.0 / 300))
    for a, b in zip(q1, q2):
        np.testing.assert_allclose(a, b, atol=1e-5)


def test_tolerance_freezes_and_is_static_shaped():
    fam_tol = GMM(2, em_steps=200, tol=1e-3)
    x = LAW.sample(jax.random.PRNGKey(2), 300)
    w = jnp.full(300, 1 / 300)
    p = jax.jit(fam_tol.fit)(_params(), x, w)
    q = fam_tol.em_step(p, x, w)
    change = max(float(jnp.max(jnp.abs(a - b))) for a, b in zip(q, p))
    assert change < 1e-2


def test_distance_is_label_switching_safe():
    fam = GMM(2)
    p = _params()
    swapped = GMMParams(p.weights[::-1], p.means[::-1], p.covs[::-1])
    assert float(fam.distance(swapped, p)) == pytest.approx(0.0, abs=1e-6)
    q = p._replace(means=p.means.at[0, 0].add(0.3))
    assert float(fam.distance(q, p)) == pytest.approx(0.3, rel=1e-5)
    assert float(fam.distance(GMMParams(q.weights[::-1], q.means[::-1], q.covs[::-1]), p)) == pytest.approx(0.3, rel=1e-5)


def test_greedy_matching_for_large_k():
    fam = GMM(1, k=7)
    w = jnp.full(7, 1 / 7)
    mu = jnp.arange(7.0)[:, None]
    cv = jnp.ones((7, 1, 1))
    p = GMMParams(w, mu, cv)
    perm = jnp.array([3, 1, 6, 0, 2, 5, 4])
    assert float(fam.distance(GMMParams(w[perm], mu[perm], cv[perm]), p)) == pytest.approx(0.0, abs=1e-6)


def test_variance_floor_prevents_nan_and_collapse_is_recorded():
    fam = GMM(2, em_steps=20, var_floor=1e-3)
    # one component sits on a single repeated point: its variance would go to 0 (log-lik to +inf)
    x = jnp.concatenate([jnp.zeros((10, 2)) + 3.0, LAW.sample(jax.random.PRNGKey(3), 90)])
    p0 = GMMParams(jnp.array([0.1, 0.9]), jnp.array([[3.0, 3.0], [0.0, 0.0]]), jnp.stack([jnp.eye(2) * 0.5] * 2))
    p = fam.fit(p0, x, jnp.full(100, 0.01))
    assert all(bool(jnp.all(jnp.isfinite(a))) for a in p)
    assert float(jnp.linalg.eigvalsh(p.covs[0]).min()) >= 1e-3 * (1 - 1e-5)
    assert float(fam.metrics(p, fam.theta_star(LAW))["collapsed"]) == 1.0
    assert float(fam.collapsed(fam.theta_star(LAW))) == 0.0


def test_diag_covariance_stays_diagonal():
    fam = GMM(2, covariance="diag", em_steps=3)
    x = LAW.sample(jax.random.PRNGKey(4), 200)
    p = fam.fit(_params(), x, jnp.full(200, 1 / 200))
    assert float(jnp.abs(p.covs[:, 0, 1]).max()) == 0.0


def test_theta_star_is_large_sample_fit_with_error():
    fam = GMM(2, star_n=20_000)
    rep = fam.theta_star_report(LAW)
    assert rep["theta_star_error"] < 0.05
    assert rep["distance_to_true_parameters"] < 4 * rep["theta_star_error"] + 0.02
    assert not rep["collapsed"]


def test_vector_chart_roundtrip():
    fam = GMM(2)
    p = _params()
    q = fam.from_vector(fam.to_vector(p))
    for a, b in zip(p, q):
        np.testing.assert_allclose(a, b, atol=1e-6)
    assert fam.to_vector(p).shape == (1 + 4 + 6,)


def test_loop_runs_and_records():
    fam = GMM(2, em_steps=3)
    res = run_loop(fam, LAW, lam=[0.5, 1.0], gamma=[0.0, 1.0], seed=[0, 1], n=60, generations=8)
    assert res.metrics["dist"].shape == (2, 9)
    assert np.isfinite(res.metrics["dist"]).all() and not res.diverged.any()
    assert set(res.metrics) >= {"dist", "collapsed", "min_weight"}


def test_fit_accepts_float64_data_with_float32_warm_start():
    """A float32 theta* warm start refitted on float64 data (x64 on) must not break the EM carry."""
    import jax
    import jax.numpy as jnp

    from scsc_theory.families import GMM

    fam = GMM(2, 2)
    p32 = jax.tree_util.tree_map(lambda a: jnp.asarray(a, jnp.float32),
                                 fam.theta_star(__import__("scsc_theory").make_data_law("mixture", 2)))
    with jax.enable_x64(True):
        x = jax.random.normal(jax.random.PRNGKey(0), (50, 2), dtype=jnp.float64)
        out = fam.fit(p32, x, jnp.ones(50, jnp.float64))
        assert out.means.dtype == jnp.float64


def _numpy_em_step(p, x, w, var_floor):
    """One weighted EM step in NumPy (no dead components), written independently of the family."""
    from scipy.stats import multivariate_normal

    wts, mus, covs = (np.asarray(a, np.float64) for a in p)
    x, w = np.asarray(x, np.float64), np.asarray(w, np.float64)
    lik = np.stack([wts[k] * multivariate_normal(mus[k], covs[k]).pdf(x) for k in range(len(wts))], -1)
    r = lik / lik.sum(1, keepdims=True)
    wr = w[:, None] * r
    nk = wr.sum(0)
    new_mu = (wr.T @ x) / nk[:, None]
    new_cov = []
    for k in range(len(wts)):
        d = x - new_mu[k]
        c = (wr[:, k, None] * d).T @ d / nk[k]
        ev, vec = np.linalg.eigh(c)
        new_cov.append((vec * np.maximum(ev, var_floor)) @ vec.T)
    return nk / nk.sum(), new_mu, np.stack(new_cov)


def test_fit_is_warm_started_from_the_given_state():
    """fit(theta_t) is EM started AT theta_t: one step equals a NumPy EM step from theta_t, and two
    different starts give two different fits (a cold start would ignore them)."""
    fam = GMM(2, em_steps=1)
    x = LAW.sample(jax.random.PRNGKey(4), 300)
    w = jnp.full(300, 1 / 300)
    p = _params()
    got = fam.fit(p, x, w)
    want = _numpy_em_step(p, x, w, fam.var_floor)
    for a, b in zip(got, want):
        np.testing.assert_allclose(np.asarray(a), b, rtol=2e-4, atol=2e-5)
    other = GMMParams(jnp.array([0.5, 0.5]), jnp.array([[2.0, 2.0], [-2.0, -1.0]]),
                      jnp.broadcast_to(jnp.eye(2), (2, 2, 2)))
    got2 = fam.fit(other, x, w)
    want2 = _numpy_em_step(other, x, w, fam.var_floor)
    for a, b in zip(got2, want2):
        np.testing.assert_allclose(np.asarray(a), b, rtol=2e-4, atol=2e-5)
    assert float(jnp.max(jnp.abs(got.means - got2.means))) > 0.05
