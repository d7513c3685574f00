"""Theory numerics: constants, Jacobians, W1, bounds and input validation (scsc_theory.theory)."""
import json
import math

import jax
import numpy as np
import pytest
from scipy.stats import norm

from scsc_theory import theory as T
from scsc_theory._validate import SCSCInputError
from scsc_theory.data import make_data_law
from scsc_theory.families import Gaussian


@pytest.fixture(autouse=True)
def _x64():
    with jax.enable_x64(True):
        yield


def setup(data, dim):
    return Gaussian(dim), make_data_law(data, dim)


# ---------------------------------------------------------------- acceptance: well-specified 2-D via the CLI
def test_cli_well_specified_2d_json(capsys):
    from scsc_theory.cli import main

    lam, gamma = 0.2, 1.0
    assert main(["constants", "--family", "gaussian", "--dim", "2", "--data", "normal", "--lam", str(lam),
                 "--gamma", str(gamma), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    for key in ("parametrization", "alpha", "L", "L_domain", "eps", "C", "rho", "lambda_max", "jacobian_norm",
                "jacobian_spectral_radius", "bound", "admissible"):
        assert key in d
    assert d["eps"] == pytest.approx(0.0, abs=1e-12)
    assert d["C"] == pytest.approx(1.0, abs=1e-12)
    assert d["alpha"] == pytest.approx(0.5, abs=1e-12)  # min(1/sigma^2, 1/(2 sigma^4)) at Sigma = I (svec chart)
    # by hand: mu' = (m + lam/(1+g) mu + lam g/(1+g) m)/(1+lam) so d mu'/d mu = lam/((1+lam)(1+g)); the Sigma block
    # gets the same factor and the mean-outer-product terms cancel at the fixed point => J = k I.
    k = lam / ((1 + lam) * (1 + gamma))
    assert d["jacobian_spectral_radius"] == pytest.approx(k, abs=1e-12)
    assert d["jacobian_norm"] == pytest.approx(k, abs=1e-12)
    assert d["rho"] == pytest.approx(lam / (1 - lam), abs=1e-12)
    assert d["bound"] == pytest.approx(lam / (1 - lam) / (1 + gamma), abs=1e-12)
    assert d["lambda_max"] == pytest.approx((1 + gamma) / (2 + gamma), abs=1e-12)
    assert d["admissible"] is True
    assert d["jacobian_norm"] <= d["bound"]
    assert d["L_domain"]["x_radius"] == pytest.approx(math.sqrt(-2 * math.log(1e-3)), rel=1e-10)  # chi2_2 quantile
    assert d["parametrization"] == "mean-svec"


def test_cli_bad_input(capsys):
    from scsc_theory.cli import main

    assert main(["constants", "--data", "cauchy"]) == 2
    assert "data must be one of" in capsys.readouterr().err
    assert main(["constants", "--gamma", "-0.5"]) == 2
    assert "gamma must be >= 0" in capsys.readouterr().err
    assert main(["constants", "--dim", "1", "--data", "normal", "--n", "50", "--delta", "1.5"]) == 2
    assert "delta must lie in the open interval (0, 1)" in capsys.readouterr().err


@pytest.mark.slow
def test_cli_bound_needs_admissible_lambda(capsys):
    from scsc_theory.cli import main

    assert main(["constants", "--dim", "1", "--data", "normal", "--lam", "0.7", "--gamma", "0", "--n", "50"]) == 2
    assert "outside the admissible region" in capsys.readouterr().err


# ---------------------------------------------------------------- closed forms for alpha and L (1-D)
@pytest.mark.parametrize("data,var", [("normal", 1.0), ("mixture", 1.25)])
def test_alpha_closed_form_1d(data, var):
    fam, law = setup(data, 1)
    # A = diag(-1/s, -1/(2 s^2)) in the (mu, s = sigma^2) chart since E(x-mu)^2 = s
    a = T.alpha_constant(fam, law)
    assert a.value == pytest.approx(min(1 / var, 1 / (2 * var**2)), abs=1e-12)
    assert a.se == 0.0


def test_lipschitz_closed_form_1d_at_theta_star():
    fam, law = setup("normal", 1)
    res = T.lipschitz_constant(fam, law, theta_radius=0.0)
    R = norm.ppf(1 - 5e-4)
    # D_x H = [[0, -1], [-1, -2x]] at (mu, s) = (0, 1): spectral norm |x| + sqrt(x^2 + 1), largest at |x| = R
    assert res.domain["x_radius"] == pytest.approx(R, abs=1e-10)
    assert res.L == pytest.approx(R + math.sqrt(R**2 + 1), rel=1e-6)
    # a larger theta-ball can only increase the sup
    assert T.lipschitz_constant(fam, law, theta_radius=0.05).L > res.L


@pytest.mark.slow
def test_lipschitz_natural_chart_is_zero():
    fam, law = setup("laplace", 2)
    assert T.lipschitz_constant(fam, law, "natural", theta_radius=0.05).L == pytest.approx(0.0, abs=1e-8)


# ---------------------------------------------------------------- epsilon = W1
@pytest.mark.parametrize("data", ["laplace", "student-t", "mixture"])
def test_eps_1d_matches_independent_quadrature(data):
    fam, law = setup(data, 1)
    e = T.epsilon_constant(fam, law)
    ts = fam.theta_star(law)
    sd = math.sqrt(float(ts.cov[0, 0]))
    indep = T.w1_1d_cdf(lambda x: norm.cdf(x, 0.0, sd), law.cdf)
    assert e.value == pytest.approx(indep, abs=1e-6)
    assert e.value > 0.01


def test_eps_laplace_value_against_closed_form_integrand():
    # W1(N(0,1), Laplace(b)) with b = 1/sqrt 2 via a third route: dense trapezoid on |F - G| over [-30, 30]
    fam, law = setup("laplace", 1)
    x = np.linspace(-30, 30, 2_000_001)
    b = law.scale
    G = np.where(x < 0, 0.5 * np.exp(x / b), 1 - 0.5 * np.exp(-x / b))
    ref = np.trapezoid(np.abs(norm.cdf(x) - G), x)
    assert T.epsilon_constant(fam, law).value == pytest.approx(ref, abs=1e-6)


def test_eps_2d_exact_bracket_and_zero():
    fam, law = setup("normal", 2)
    assert T.epsilon_constant(fam, law).value == 0.0
    marg = T.epsilon_constant(Gaussian(1), make_data_law("laplace", 1)).value
    e = T.epsilon_constant(*setup("laplace", 2))
    # max_i W1(marginal_i) <= W1 <= E|X - Y|_2 (quantile coupling) <= E|X - Y|_1 = sum_i W1(marginal_i)
    assert marg - 1e-12 <= e.value <= 2 * marg
    assert 0 < e.se < 1e-3 and "upper bound" in e.method
    # the symmetric mixture differs from p_theta* along the first axis only: W1 is the 1-D value, exactly
    m1 = T.epsilon_constant(Gaussian(1), make_data_law("mixture", 1)).value
    assert T.epsilon_constant(*setup("mixture", 2)).value == pytest.approx(m1, abs=1e-10)


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


# ---------------------------------------------------------------- the Jacobian
@pytest.mark.parametrize("data", ["normal", "laplace", "student-t", "mixture"])
def test_jacobian_factor_exact_and_formula(data):
    fam, law = setup(data, 2)
    A, B, _ = T.expected_hessians(fam, law)
    for lam in (0.2, 1.5):
        J0 = T.population_jacobian(fam, law, lam=lam, gamma=0.0).matrix
        for gamma in (0.3, 4.0):
            Jg = T.population_jacobian(fam, law, lam=lam, gamma=gamma).matrix
            assert np.max(np.abs(Jg - J0 / (1 + gamma))) < 1e-8
            assert np.max(np.abs(Jg - T.jacobian_formula(A, B, lam, gamma))) < 1e-8
    assert T.correction_factor_error(fam, law, lam=0.5, gamma=2.0, method="implicit") < 1e-8


@pytest.mark.parametrize("data", ["laplace", "mixture"])
def test_implicit_matches_autodiff(data):
    fam, law = setup(data, 2)
    Ja = T.population_jacobian(fam, law, lam=0.7, gamma=1.5)
    Ji = T.population_jacobian(fam, law, lam=0.7, gamma=1.5, method="implicit")
    assert np.max(np.abs(Ja.matrix - Ji.matrix)) < 1e-8
    # away from theta*: Newton solve of the local argmax then implicit differentiation (quadrature not exact)
    par = T.get_parametrization(fam, law)
    th = par.from_vec(par.to_vec(fam.theta_star(law)) + 0.05)
    Ja2 = T.population_jacobian(fam, law, lam=0.7, gamma=1.5, theta=th)
    Ji2 = T.population_jacobian(fam, law, lam=0.7, gamma=1.5, theta=th, method="implicit")
    assert np.max(np.abs(Ja2.matrix - Ji2.matrix)) < 2e-3


def test_spectral_radius_parametrization_invariant():
    fam, law = setup("laplace", 2)
    radius = {name: T.population_jacobian(fam, law, lam=0.4, gamma=0.5, parametrization=name).spectral_radius
              for name in ("mean-svec", "mean-chol", "natural")}
    assert radius["mean-svec"] == pytest.approx(radius["mean-chol"], abs=1e-10)
    assert radius["mean-svec"] == pytest.approx(radius["natural"], abs=1e-10)
    assert radius["mean-svec"] == pytest.approx(0.4 / (1.4 * 1.5), abs=1e-10)
    # ... while alpha depends on the chart (1-D: (mu, s) gives min(1, 1/2); (mu, sigma) gives min(1, 2))
    fam1, law1 = setup("normal", 1)
    assert T.alpha_constant(fam1, law1, "mean-svec").value == pytest.approx(0.5, abs=1e-12)
    assert T.alpha_constant(fam1, law1, "mean-chol").value == pytest.approx(1.0, abs=1e-12)


def test_jacobian_radius_invariant_away_from_scalar_case():
    """Accumulating (K=2) population map linearised at theta* is not used; instead check the similarity
    J_chol = D J_svec D^{-1} at theta* numerically through the chart change."""
    fam, law = setup("mixture", 2)
    ps = T.get_parametrization(fam, law, "mean-svec")
    pc = T.get_parametrization(fam, law, "mean-chol")
    ts = fam.theta_star(law)
    D = np.asarray(jax.jacfwd(lambda v: pc.to_vec(ps.from_vec(v)))(ps.to_vec(ts)))
    Js = T.population_jacobian(fam, law, lam=0.3, gamma=1.0, parametrization="mean-svec").matrix
    Jc = T.population_jacobian(fam, law, lam=0.3, gamma=1.0, parametrization="mean-chol").matrix
    assert np.max(np.abs(Jc - D @ Js @ np.linalg.inv(D))) < 1e-10


# ---------------------------------------------------------------- constants for misspecified laws
@pytest.mark.parametrize("data", ["laplace", "student-t", "mixture"])
def test_misspecified_constants_1d(data):
    fam, law = setup(data, 1)
    k = T.constants(fam, law, lam=0.05, gamma=1.0)
    assert k.eps > 0 and k.C > 1
    assert k.C == pytest.approx(1 + k.eps * k.L / k.alpha, rel=1e-12)
    assert k.lambda_max == pytest.approx(2 / (3 * k.C), rel=1e-12)
    assert k.admissible == (0.05 < k.lambda_max)
    if k.admissible:
        assert k.jacobian_norm <= k.bound < 1
    d = k.to_dict()
    assert d["L_domain"]["x_mass"] == pytest.approx(0.999)
    mass = law.cdf(d["L_domain"]["x_radius"]) - law.cdf(-d["L_domain"]["x_radius"])
    assert mass == pytest.approx(0.999, abs=1e-10)


# ---------------------------------------------------------------- scalar formulas and validation
def test_scalar_formulas():
    assert T.rho(0.25, 2.0) == pytest.approx(1.0)
    assert T.rho(0.5, 2.0) == math.inf
    assert T.lambda_max(1.0, 0.0) == pytest.approx(0.5)
    assert T.lambda_max(2.0, 1.0) == pytest.approx(1 / 3)
    b = T.theorem_bound(0.1, 0.5, 1.0, 200, 2.0)
    q = 0.25
    assert b[0] == pytest.approx(0.1 + 2.0)
    assert b[3] == pytest.approx(0.1 * (1 + q + q**2 + q**3) + q**3 * 2.0)
    assert b[-1] == pytest.approx(T.bound_limit(0.1, 0.5, 1.0), rel=1e-12)
    assert T.bound_limit(0.1, 0.5, 1.0) == pytest.approx(0.1 * 2 / 1.5)


def test_validation_errors():
    with pytest.raises(SCSCInputError, match="gamma must be >= 0"):
        T.lambda_max(1.0, -0.1)
    with pytest.raises(SCSCInputError, match="admissible"):
        T.theorem_bound(0.1, 3.0, 1.0, 10, 0.1)
    with pytest.raises(SCSCInputError, match="admissible region"):
        T.bound_for(0.6, 0.0, 1.0, 0.1, 10, 0.1)
    with pytest.raises(SCSCInputError, match="delta"):
        T.check_bound_satisfaction(np.zeros((2, 3)), np.ones(3), 1.0)
    fam, law = setup("normal", 1)
    with pytest.raises(SCSCInputError, match="delta"):
        T.estimate_c(fam, law, lam=0.1, gamma=0.0, n=10, delta=0.0)
    with pytest.raises(SCSCInputError, match="gamma"):
        T.population_jacobian(fam, law, lam=0.1, gamma=-1.0)
    with pytest.raises(SCSCInputError, match="data must be one of"):
        make_data_law("uniform", 1)
    with pytest.raises(SCSCInputError, match="parametrization"):
        T.get_parametrization(fam, law, "polar")


def test_check_bound_satisfaction_logic():
    bound = np.array([1.0, 0.5, 0.5])
    good = np.array([[0.9, 0.4, 0.4]] * 100)
    r = T.check_bound_satisfaction(good, bound, 0.1)
    assert r.satisfied and r.strict and r.first_violation is None
    bad = good.copy()
    bad[:50, 1] = 0.6  # half the seeds leave the bound at t = 1 (need >= 0.9): rejected
    r = T.check_bound_satisfaction(bad, bound, 0.1)
    assert not r.satisfied and not r.strict and r.first_violation == 1
    near = good.copy()
    near[:12, 1] = 0.6  # 88% within at t = 1 vs 90% required: within sampling error, not rejected
    r = T.check_bound_satisfaction(near, bound, 0.1)
    assert r.satisfied and not r.strict
    nan = good.copy()
    nan[:, 2] = np.nan
    assert not T.check_bound_satisfaction(nan, bound, 0.1).satisfied


@pytest.mark.slow
def test_estimate_c_scales_like_inverse_sqrt_n():
    fam, law = setup("normal", 1)
    c1 = T.estimate_c(fam, law, lam=0.5, gamma=1.0, n=100, delta=0.1, n_draws=1000, radius=0.0)
    c2 = T.estimate_c(fam, law, lam=0.5, gamma=1.0, n=1600, delta=0.1, n_draws=1000, radius=0.0)
    assert 3.0 < c1.c / c2.c < 5.3
    assert c1.ci[0] <= c1.c <= c1.ci[1]


# ---------------------------------------------------------------- the generic (Monte Carlo, implicit) path
import dataclasses as _dc

from scsc_theory.families.base import Family as _Family


@_dc.dataclass(frozen=True)
class OpaqueGaussian(_Family):
    """A 1-D Gaussian hidden behind the generic interface: no population map, no exact quadrature."""

    inner: Gaussian = Gaussian(1)
    name: str = "opaque-gaussian"
    has_population_map: bool = False

    def sample(self, key, params, m):
        return self.inner.sample(key, params, m)

    def log_prob(self, params, x):
        return self.inner.log_prob(params, x)

    def theta_star(self, data_law):
        return self.inner.theta_star(data_law)

    def fit(self, state, x, w, key=None):
        return self.inner.fit(state, x, w, key)

    def distance(self, params, theta_star):
        return self.inner.distance(params, theta_star)


@pytest.mark.slow
def test_generic_family_monte_carlo_implicit_jacobian_and_alpha():
    fam, law = OpaqueGaussian(), make_data_law("laplace", 1)
    assert T.get_parametrization(fam, law).name == "raw"
    lam, gamma = 0.5, 1.0
    J = T.population_jacobian(fam, law, lam=lam, gamma=gamma, n_mc=40_000)
    assert "implicit" in J.method and "Monte Carlo" in J.method
    k = lam / ((1 + lam) * (1 + gamma))
    assert np.max(np.abs(J.matrix - k * np.eye(2))) < 0.05  # Monte Carlo error (kurtosis of Laplace data)
    a = T.alpha_constant(fam, law, n_mc=40_000)
    assert a.se > 0 and abs(a.value - 0.5) < 5 * a.se + 1e-3
    with pytest.raises(SCSCInputError, match="population map"):
        T.estimate_c(fam, law, lam=0.1, gamma=0.0, n=10)
