"""Gaussian family: closed forms (weighted MLE, W2, population map fixed point)."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from scsc_theory import Gaussian, GaussianParams, gaussian_w2, make_data_law
from scsc_theory.data import Normal


def test_weighted_fit_matches_numpy(x64):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 3)) @ rng.normal(size=(3, 3))
    w = rng.uniform(0.0, 2.0, size=40)
    w[:5] = 0.0  # masked slots
    p = Gaussian(3).fit(None, jnp.asarray(x), jnp.asarray(w))
    np.testing.assert_allclose(p.mean, np.average(x, axis=0, weights=w), rtol=0, atol=1e-12)
    np.testing.assert_allclose(p.cov, np.cov(x.T, aweights=w, bias=True), rtol=0, atol=1e-12)


def test_fit_from_stats_equals_fit(x64):
    rng = np.random.default_rng(1)
    x = jnp.asarray(rng.normal(size=(30, 2)))
    fam = Gaussian(2)
    s = jax.tree_util.tree_map(lambda a: a.sum(0), fam.suff_stats(x))
    a, b = fam.fit(None, x, jnp.ones(30)), fam.fit_from_stats(None, s, 30.0)
    np.testing.assert_allclose(a.mean, b.mean, atol=1e-12)
    np.testing.assert_allclose(a.cov, b.cov, atol=1e-12)


def test_w2_closed_form(x64):
    # commuting (diagonal) covariances: W2^2 = |dm|^2 + sum (sqrt(a) - sqrt(b))^2
    m1, m2 = jnp.array([1.0, -2.0]), jnp.array([0.5, 0.0])
    a, b = jnp.array([4.0, 0.25]), jnp.array([1.0, 1.0])
    expect = np.sqrt(0.25 + 4.0 + (2 - 1) ** 2 + (0.5 - 1) ** 2)
    np.testing.assert_allclose(gaussian_w2(m1, jnp.diag(a), m2, jnp.diag(b)), expect, rtol=1e-12)
    # non-commuting: compare with scipy's sqrtm formula
    import scipy.linalg

    rng = np.random.default_rng(2)
    A = rng.normal(size=(3, 3)); S1 = A @ A.T + 0.1 * np.eye(3)
    B = rng.normal(size=(3, 3)); S2 = B @ B.T + 0.1 * np.eye(3)
    r = scipy.linalg.sqrtm(S2).real
    ref = np.sqrt(np.trace(S1 + S2 - 2 * scipy.linalg.sqrtm(r @ S1 @ r).real))
    np.testing.assert_allclose(gaussian_w2(jnp.zeros(3), S1, jnp.zeros(3), S2), ref, rtol=1e-9)
    assert float(gaussian_w2(jnp.zeros(3), S1, jnp.zeros(3), S1)) < 1e-6


@settings(max_examples=25, deadline=None)
@given(
    lam=st.floats(0.0, 20.0),
    gamma=st.floats(0.0, 50.0),
    law=st.sampled_from(["normal", "laplace", "student-t", "mixture"]),
    dim=st.sampled_from([1, 2, 3]),
)
def test_population_fixed_point_is_theta_star(lam, gamma, law, dim):
    """theta* is a fixed point of pi_gamma G_lambda for every lambda, gamma (docs/theory.md section 1)."""
    with jax.enable_x64(True):
        data = make_data_law(law, dim)
        fam = Gaussian(dim)
        ts = fam.theta_star(data)
        stacked = jax.tree_util.tree_map(lambda a: a[None], ts)
        out = fam.population_update(data, ts, stacked, jnp.array([lam]), gamma)
        assert float(fam.distance(out, ts)) < 1e-12


def test_population_map_contraction_closed_form(x64):
    """Well specified, mean direction: mu' - mu* = lambda/((1+lambda)(1+gamma)) (mu - mu*)."""
    data = Normal.standard(2)
    fam = Gaussian(2)
    ts = fam.theta_star(data)
    lam, gamma = 0.7, 1.5
    theta = GaussianParams(jnp.array([0.3, -0.2]), jnp.eye(2))
    out = fam.population_update(data, ts, jax.tree_util.tree_map(lambda a: a[None], theta), jnp.array([lam]), gamma)
    np.testing.assert_allclose(out.mean, lam / ((1 + lam) * (1 + gamma)) * theta.mean, atol=1e-14)


def test_misspecified_theta_star_is_moment_match(x64):
    data = make_data_law("mixture", 2)
    x = data.sample(jax.random.PRNGKey(0), 200_000)
    ts = Gaussian(2).theta_star(data)
    np.testing.assert_allclose(ts.mean, x.mean(0), atol=0.01)
    np.testing.assert_allclose(ts.cov, np.cov(np.asarray(x).T), atol=0.02)


@pytest.mark.parametrize("d", [1, 2, 3])
def test_sqrtm_closed_forms_match_eigh(x64, d):
    from scsc_theory.families import sqrtm_psd, trace_sqrtm_psd

    rng = np.random.default_rng(d)
    for _ in range(5):
        A = rng.normal(size=(d, d)); S = A @ A.T
        w, V = np.linalg.eigh(S)
        ref = (V * np.sqrt(np.clip(w, 0, None))) @ V.T
        np.testing.assert_allclose(sqrtm_psd(jnp.asarray(S)), ref, atol=1e-10)
        np.testing.assert_allclose(trace_sqrtm_psd(jnp.asarray(S)), np.trace(ref), atol=1e-10)
    z = jnp.zeros((d, d))
    assert np.all(np.asarray(sqrtm_psd(z)) == 0)
