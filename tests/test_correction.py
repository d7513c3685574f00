"""Corrections: pi_gamma's target fraction, stratification, practical correctors' limits."""
import math
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from scsc_theory import Gaussian, Normal, SCSCInputError, correct, target_fraction


FAM = Gaussian(2)
TS = FAM.theta_star(Normal.standard(2))


@pytest.mark.parametrize("gamma", [0.1, 1.0, 4.0])
def test_ideal_target_fraction_binomial(gamma):
    """Each point comes from p_theta* with probability gamma/(1+gamma): 4.5-sigma binomial tolerance."""
    M, reps = 50, 400
    x = jnp.full((M, 2), 100.0)  # far from every target draw, so replaced points are recognisable
    keys = jax.random.split(jax.random.PRNGKey(0), reps)
    out = jax.vmap(lambda k: correct("ideal", k, x, M, gamma, FAM, TS))(keys)
    replaced = int(jnp.sum(jnp.abs(out[..., 0] - 100.0) > 1e-3))
    N, p = M * reps, gamma / (1 + gamma)
    assert abs(replaced - N * p) <= 4.5 * np.sqrt(N * p * (1 - p))


def test_ideal_respects_mask():
    x = jnp.full((30, 2), 100.0)
    out = correct("ideal", jax.random.PRNGKey(1), x, 10, 1e9, FAM, TS)
    assert np.all(np.asarray(out[10:]) == 100.0)
    assert np.all(np.abs(np.asarray(out[:10]) - 100.0) > 1)  # gamma huge: all active replaced


@pytest.mark.parametrize("gamma,m", [(0.0, 25), (0.3, 25), (1.0, 25), (3.0, 17)])
def test_stratified_exact_count(gamma, m):
    x = jnp.full((40, 2), 100.0)
    out = correct("stratified", jax.random.PRNGKey(2), x, m, gamma, FAM, TS)
    replaced = np.abs(np.asarray(out[:, 0]) - 100.0) > 1e-3
    assert replaced.sum() == round(target_fraction(gamma) * m)
    assert not replaced[m:].any()


def test_histogram_corrector_limits():
    key = jax.random.PRNGKey(3)
    x = FAM.sample(key, TS, 2000)
    out0 = correct("histogram", jax.random.PRNGKey(4), x, 2000, 0.0, FAM, TS)
    # gamma = 0: a draw from the histogram density of x. Binning (Sheppard) and uniform-in-bin
    # resampling each add w^2/12 to the variance, w = 8/10 the bin width.
    w = 0.8
    expect = np.cov(np.asarray(x).T) + (w**2 / 6) * np.eye(2)
    np.testing.assert_allclose(np.cov(np.asarray(out0).T), expect, atol=0.06)
    far = jnp.full((2000, 2), 2.5) + 0.01 * jax.random.normal(key, (2000, 2))
    out_big = correct("histogram", jax.random.PRNGKey(5), far, 2000, 1e6, FAM, TS)
    np.testing.assert_allclose(np.asarray(out_big).mean(0), [0.0, 0.0], atol=0.1)
    np.testing.assert_allclose(np.asarray(out_big).std(0), [1.0, 1.0], atol=0.1)


def test_histogram_needs_2d():
    fam3 = Gaussian(3)
    ts3 = fam3.theta_star(Normal.standard(3))
    with pytest.raises(SCSCInputError, match="dim=2"):
        correct("histogram", jax.random.PRNGKey(0), jnp.zeros((5, 3)), 5, 1.0, fam3, ts3)


def test_ot_corrector_limits():
    x = FAM.sample(jax.random.PRNGKey(6), TS, 20) + 3.0
    assert np.array_equal(np.asarray(correct("ot", jax.random.PRNGKey(7), x, 20, 0.0, FAM, TS)), np.asarray(x))
    out = np.asarray(correct("ot", jax.random.PRNGKey(7), x, 15, 1e9, FAM, TS))
    y = np.asarray(FAM.sample(jax.random.PRNGKey(7), TS, 20))
    # active points land on a permutation of the first 15 target draws; inactive slots untouched
    np.testing.assert_allclose(np.sort(out[:15, 0]), np.sort(y[:15, 0]), atol=1e-5)
    np.testing.assert_array_equal(out[15:], np.asarray(x)[15:])


def test_unknown_corrector():
    with pytest.raises(SCSCInputError, match="corrector must be one of"):
        correct("magic", jax.random.PRNGKey(0), jnp.zeros((3, 2)), 3, 1.0, FAM, TS)


def test_mix_in_target_rate_mask_and_shapes():
    """pi_gamma on samples: rows replaced w.p. gamma/(1+gamma) independently, inactive rows kept, any row shape."""
    from scsc_theory.correction import mix_in_target

    x, t = jnp.zeros((40_000, 2, 3)), jnp.ones((40_000, 2, 3))
    for g in (0.0, 0.25, 1.0, 4.0):
        out = mix_in_target(jax.random.PRNGKey(1), x, t, g)
        rows = np.asarray(out[:, 0, 0])
        assert set(np.unique(out)) <= {0.0, 1.0} and np.all(np.asarray(out).reshape(40_000, -1).std(1) == 0)
        p = g / (1 + g)
        assert abs(rows.mean() - p) < 5 * math.sqrt(max(p * (1 - p), 1e-12) / 40_000) + 1e-12
    active = jnp.arange(40_000) < 100
    out = mix_in_target(jax.random.PRNGKey(2), x, t, 1e9, active)
    assert float(out[:100].min()) == 1.0 and float(out[100:].max()) == 0.0
