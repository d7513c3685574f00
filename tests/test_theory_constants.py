"""alpha, L and the Constants record (scsc_theory.theory.constants) and ``scsc constants``: closed forms in
1-D, the well-specified 2-D case by hand, misspecified laws, input validation."""
import json
import math

import pytest
from scipy.stats import norm

from scsc_theory import theory as T

pytestmark = pytest.mark.usefixtures("x64")


# ---------------------------------------------------------------- acceptance: well-specified 2-D via the CLI
def test_cli_well_specified_2d_json(capsys):
    from scsc_theory.cli import main

    lam, gamma = 0.2, 1.0
    assert main(["constants", "--family", "gaussian", "--dim", "2", "--data", "normal", "--lam", str(lam),
                 "--gamma", str(gamma), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    for key in ("parametrization", "alpha", "L", "L_domain", "eps", "C", "rho", "lambda_max", "jacobian_norm",
                "jacobian_spectral_radius", "q", "admissible"):
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
    assert d["q"] == pytest.approx(lam / (1 - lam) / (1 + gamma), abs=1e-12)
    assert d["lambda_max"] == pytest.approx((1 + gamma) / (2 + gamma), abs=1e-12)
    assert d["admissible"] is True
    assert d["jacobian_norm"] <= d["q"]
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


@pytest.mark.parametrize("data,var", [("normal", 1.0), ("mixture", 1.25)])
def test_alpha_closed_form_1d(data, var, gaussian_setup):
    fam, law = gaussian_setup(data, 1)
    # A = diag(-1/s, -1/(2 s^2)) in the (mu, s = sigma^2) chart since E(x-mu)^2 = s
    a = T.alpha_constant(fam, law)
    assert a.value == pytest.approx(min(1 / var, 1 / (2 * var**2)), abs=1e-12)
    assert a.se == 0.0


def test_lipschitz_closed_form_1d_at_theta_star(gaussian_setup):
    fam, law = gaussian_setup("normal", 1)
    res = T.lipschitz_constant(fam, law, theta_radius=0.0)
    R = norm.ppf(1 - 5e-4)
    # D_x H = [[0, -1], [-1, -2x]] at (mu, s) = (0, 1): spectral norm |x| + sqrt(x^2 + 1), largest at |x| = R
    assert res.domain["x_radius"] == pytest.approx(R, abs=1e-10)
    assert res.L == pytest.approx(R + math.sqrt(R**2 + 1), rel=1e-6)
    # a larger theta-ball can only increase the sup
    assert T.lipschitz_constant(fam, law, theta_radius=0.05).L > res.L


@pytest.mark.slow
def test_lipschitz_natural_chart_is_zero(gaussian_setup):
    fam, law = gaussian_setup("laplace", 2)
    assert T.lipschitz_constant(fam, law, "natural", theta_radius=0.05).L == pytest.approx(0.0, abs=1e-8)


@pytest.mark.parametrize("data", ["laplace", "student-t", "mixture"])
def test_misspecified_constants_1d(data, gaussian_setup):
    fam, law = gaussian_setup(data, 1)
    k = T.constants(fam, law, lam=0.05, gamma=1.0)
    assert k.eps > 0 and k.C > 1
    assert k.C == pytest.approx(1 + k.eps * k.L / k.alpha, rel=1e-12)
    assert k.lambda_max == pytest.approx(2 / (3 * k.C), rel=1e-12)
    assert k.admissible == (0.05 < k.lambda_max)
    if k.admissible:
        assert k.jacobian_norm <= k.q < 1
    d = k.to_dict()
    assert d["L_domain"]["x_mass"] == pytest.approx(0.999)
    mass = law.cdf(d["L_domain"]["x_radius"]) - law.cdf(-d["L_domain"]["x_radius"])
    assert mass == pytest.approx(0.999, abs=1e-10)


def test_constants_q_is_the_bound_formula_and_the_data_name(gaussian_setup):
    """Constants.q is rho(lambda)/(1+gamma) from the same C (one formula, one name) and the record names the data law."""
    k = T.constants(*gaussian_setup("laplace", 1), lam=0.05, gamma=2.0)
    assert k.q == T.q(0.05, 2.0, k.C) == T.rho(0.05, k.C) / 3.0
    assert k.data == "laplace" and k.eps_bias is None  # the 1-D estimator is exact: no sampling bias
