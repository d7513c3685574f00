"""Gaussian closed forms of the workflows vs the engine's Monte Carlo (4.5 standard errors)."""
import jax.numpy as jnp
import numpy as np
import pytest

from scsc_theory import Gaussian, GaussianParams, Normal
from scsc_theory import closed_form as cf
from scsc_theory.loop import run_loop


def test_replace_log_det_and_mean_cov(x64):
    """replace, m = 10 points, d = 2: log det Sigma_t - log det Sigma_0 has exact mean and variance
    (Bartlett); E Sigma_t = ((m-1)/m)^t Sigma_0 checked on the trace at small t (raw moments are heavy-tailed)."""
    m, T, S = 10, 20, 3000
    res = run_loop(Gaussian(2), Normal.standard(2), lam=1.0, gamma=0.0, seed=np.arange(S), n=m, generations=T,
                   mode="replace", theta0=GaussianParams(jnp.zeros(2), jnp.eye(2)))
    logdet = np.linalg.slogdet(res.thetas.cov)[1]  # (S, T+1), Sigma_0 = I
    mean, var = cf.gaussian_replace_logdet(np.arange(T + 1), m, 2)
    se = np.sqrt(var / S)
    assert np.all(np.abs(logdet.mean(0) - mean) <= 4.5 * se + 1e-12)
    np.testing.assert_allclose(logdet.var(0)[1:], var[1:], rtol=0.15)
    tr = np.trace(res.thetas.cov, axis1=2, axis2=3)[:, :4]
    expect = 2 * cf.gaussian_replace_cov_factor(np.arange(4), m)
    assert np.all(np.abs(tr.mean(0) - expect) <= 4.5 * tr.std(0) / np.sqrt(S) + 1e-12)
    # a wrong degrees-of-freedom count (m instead of m - 1 per step) is far outside the tolerance
    wrong, _ = cf.gaussian_replace_logdet(np.arange(T + 1), m + 1, 2)
    assert abs(logdet.mean(0)[-1] - wrong[-1]) > 10 * se[-1]


def test_fixed_mean_is_ar1_with_coefficient(x64):
    """fixed, ideal corrector: E[mu_t | real data] = s + a^t (mu_0 - s), a = lam/((1+lam)(1+gamma)),
    started away from the data (mu_0 = (3, 3)) so the coefficient is visible."""
    lam, gamma, n, T, S = 0.5, 0.5, 20, 6, 3000
    res = run_loop(Gaussian(2), Normal.standard(2), lam=lam, gamma=gamma, seed=np.arange(S), n=n, generations=T,
                   theta0=GaussianParams(jnp.full(2, 3.0), jnp.eye(2)))
    xbar = run_loop(Gaussian(2), Normal.standard(2), lam=lam, gamma=gamma, seed=np.arange(S), n=n,
                    generations=1).thetas.mean[:, 0]  # theta_0 = the real-data fit: its mean is xbar
    mu = res.thetas.mean  # (S, T+1, 2)
    t = np.arange(T + 1)[None, :, None]
    pred = cf.fixed_mean_ar1(t, 3.0, xbar[:, None, :], lam, gamma)
    resid = (mu - pred).reshape(S, -1)
    assert np.all(np.abs(resid.mean(0)) <= 4.5 * resid.std(0) / np.sqrt(S) + 1e-12)
    wrong = cf.fixed_mean_ar1(t, 3.0, xbar[:, None, :], 2 * lam, gamma)  # the 1/m-weight bug at lam = 0.5
    off = (mu - wrong)[:, 2].reshape(S, -1)
    assert np.all(np.abs(off.mean(0)) > 10 * off.std(0) / np.sqrt(S))


@pytest.mark.parametrize("gamma", [0.5, 2.0])
def test_replace_with_pi_gamma_matches_exact_recursion(gamma):
    """Fully synthetic (replace) loop with the ideal correction: E tr Sigma_t and E||mu_t - mu*||^2 of the
    engine's Monte Carlo (3000 seeds) against cf.gaussian_replace_corrected, |z| < 5 at every generation;
    the stationary point is the recursion's limit. A wrong degrees-of-freedom factor or a dropped
    between-group term gamma/(1+gamma)^2 e e^T in the recursion fails."""
    from scsc_theory import Gaussian, Normal, run_loop

    n, T, seeds = 20, 15, 3000
    res = run_loop(Gaussian(2), Normal.standard(2), lam=1.0, gamma=np.full(seeds, gamma), seed=np.arange(seeds),
                   n=n, generations=T, mode="replace")
    tr = np.trace(np.asarray(res.thetas.cov, np.float64), axis1=-2, axis2=-1)      # (seeds, T+1)
    e2 = np.sum(np.asarray(res.thetas.mean, np.float64) ** 2, axis=-1)
    S, M = cf.gaussian_replace_corrected(np.arange(T + 1), n, gamma, np.eye(2) * (n - 1) / n, np.eye(2) / n)
    for emp, exact in ((tr, np.trace(S, axis1=1, axis2=2)), (e2, np.trace(M, axis1=1, axis2=2))):
        z = (emp.mean(0) - exact) / (emp.std(0, ddof=1) / np.sqrt(seeds))
        assert np.max(np.abs(z)) < 5, z
    S_inf, M_inf = cf.gaussian_replace_corrected_limit(n, gamma)
    S_long, M_long = cf.gaussian_replace_corrected(np.arange(2000), n, gamma, np.eye(2), np.zeros((2, 2)))
    np.testing.assert_allclose([S_long[-1][0, 0], M_long[-1][0, 0]], [S_inf, M_inf], rtol=1e-9)
    assert S_inf > 0.5  # no collapse: the corrected loop keeps most of the variance
