"""eps = W1(p_theta*, p_data) (scsc_theory.theory.wasserstein): exact 1-D quadrature against independent
routes, the 2-D bracket, the OT fallback with its bias as a number, and the debiasing rule."""
import math

import numpy as np
import pytest
from scipy.stats import norm

from scsc_theory import theory as T
from scsc_theory.data import make_data_law
from scsc_theory.families import Gaussian

pytestmark = pytest.mark.usefixtures("x64")


@pytest.mark.parametrize("data", ["laplace", "student-t", "mixture"])
def test_eps_1d_matches_independent_quadrature(data, gaussian_setup):
    fam, law = gaussian_setup(data, 1)
    e = T.epsilon_constant(fam, law)
    ts = fam.theta_star(law)
    sd = math.sqrt(float(ts.cov[0, 0]))
    indep = T.w1_1d_cdf(lambda x: norm.cdf(x, 0.0, sd), law.cdf)
    assert e.value == pytest.approx(indep, abs=1e-6)
    assert e.value > 0.01


def test_eps_laplace_value_against_closed_form_integrand(gaussian_setup):
    # W1(N(0,1), Laplace(b)) with b = 1/sqrt 2 via a third route: dense trapezoid on |F - G| over [-30, 30]
    fam, law = gaussian_setup("laplace", 1)
    x = np.linspace(-30, 30, 2_000_001)
    b = law.scale
    G = np.where(x < 0, 0.5 * np.exp(x / b), 1 - 0.5 * np.exp(-x / b))
    ref = np.trapezoid(np.abs(norm.cdf(x) - G), x)
    assert T.epsilon_constant(fam, law).value == pytest.approx(ref, abs=1e-6)


def test_eps_2d_exact_bracket_and_zero(gaussian_setup):
    fam, law = gaussian_setup("normal", 2)
    assert T.epsilon_constant(fam, law).value == 0.0
    marg = T.epsilon_constant(Gaussian(1), make_data_law("laplace", 1)).value
    e = T.epsilon_constant(*gaussian_setup("laplace", 2))
    # max_i W1(marginal_i) <= W1 <= E|X - Y|_2 (quantile coupling) <= E|X - Y|_1 = sum_i W1(marginal_i)
    assert marg - 1e-12 <= e.value <= 2 * marg
    assert 0 < e.se < 1e-3 and "upper bound" in e.method
    # the symmetric mixture differs from p_theta* along the first axis only: W1 is the 1-D value, exactly
    m1 = T.epsilon_constant(Gaussian(1), make_data_law("mixture", 1)).value
    assert T.epsilon_constant(*gaussian_setup("mixture", 2)).value == pytest.approx(m1, abs=1e-10)


@pytest.mark.slow
def test_eps_sample_estimate_pot_rotated_mixture():
    """A rotated mixture is no product law, so eps falls back to POT; by rotation invariance the exact
    value is the axis-aligned one."""
    from scsc_theory.data import GaussianMixture

    r = 1 / math.sqrt(2)
    law = GaussianMixture((0.5, 0.5), ((-r, -r), (r, r)), (0.5, 0.5))
    exact = T.epsilon_constant(Gaussian(1), make_data_law("mixture", 1)).value
    e = T.epsilon_constant(Gaussian(2), law, n_ot=1000, repeats=4)
    assert "POT" in e.method and e.se > 0
    assert abs(e.value - exact) < 0.05


def test_epsilon_for_gmm_uses_sample_ot_and_reports_its_bias():
    """A non-Gaussian family goes through the OT estimate; its sampling bias is a field (the
    estimator between two p_theta* samples), also shown in the method text."""
    from scsc_theory.families import GMM

    est = T.epsilon_constant(GMM(2, 2), make_data_law("laplace", 2), n_ot=200, repeats=2)
    assert math.isfinite(est.value) and est.value > 0
    assert "POT" in est.method
    assert est.bias is not None and 0 < est.bias < est.value + 1.0
    assert f"{est.bias:.4f}" in est.method


def test_debiased_eps_rule():
    E = T.EpsilonEstimate
    assert T.debiased_eps(E(0.3, 0.01, "exact")) == 0.3  # no bias: returned as it is
    # significant: eps - bias > 2 sqrt(2) se
    assert T.debiased_eps(E(0.30, 0.01, "ot", bias=0.20)) == pytest.approx(0.10, abs=1e-15)
    # within 2 sqrt(2) se = 0.0283 of its own bias (also above 2 se = 0.02): read as 0
    assert T.debiased_eps(E(0.225, 0.01, "ot", bias=0.20)) == 0.0
    assert T.debiased_eps(E(0.23, 0.01, "ot", bias=0.20)) == pytest.approx(0.03, abs=1e-15)
    assert T.debiased_eps(E(0.10, 0.01, "ot", bias=0.20)) == 0.0
