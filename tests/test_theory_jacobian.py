"""The population map and its Jacobian (scsc_theory.theory.jacobian): the exact 1/(1+gamma) factor, the
derived formula, implicit differentiation against autodiff, chart changes, the generic Monte Carlo path."""
import jax
import numpy as np
import pytest

from scsc_theory import theory as T
from scsc_theory._validate import SCSCInputError
from scsc_theory.data import make_data_law
from scsc_theory.families import Gaussian

pytestmark = pytest.mark.usefixtures("x64")

import dataclasses as _dc  # noqa: E402

from scsc_theory.families.base import Family as _Family  # noqa: E402


@pytest.mark.parametrize("data", ["normal", "laplace", "student-t", "mixture"])
def test_jacobian_factor_exact_and_formula(data, gaussian_setup):
    fam, law = gaussian_setup(data, 2)
    A, B, _ = T.expected_hessians(fam, law)
    for lam in (0.2, 1.5):
        J0 = T.population_jacobian(fam, law, lam=lam, gamma=0.0).matrix
        for gamma in (0.3, 4.0):
            Jg = T.population_jacobian(fam, law, lam=lam, gamma=gamma).matrix
            assert np.max(np.abs(Jg - J0 / (1 + gamma))) < 1e-8
            assert np.max(np.abs(Jg - T.jacobian_formula(A, B, lam, gamma))) < 1e-8
    assert T.correction_factor_error(fam, law, lam=0.5, gamma=2.0, method="implicit") < 1e-8


@pytest.mark.parametrize("data", ["laplace", "mixture"])
def test_implicit_matches_autodiff(data, gaussian_setup):
    fam, law = gaussian_setup(data, 2)
    Ja = T.population_jacobian(fam, law, lam=0.7, gamma=1.5)
    Ji = T.population_jacobian(fam, law, lam=0.7, gamma=1.5, method="implicit")
    assert np.max(np.abs(Ja.matrix - Ji.matrix)) < 1e-8
    # away from theta*: Newton solve of the local argmax then implicit differentiation (quadrature not exact)
    par = T.get_parametrization(fam, law)
    th = par.from_vec(par.to_vec(fam.theta_star(law)) + 0.05)
    Ja2 = T.population_jacobian(fam, law, lam=0.7, gamma=1.5, theta=th)
    Ji2 = T.population_jacobian(fam, law, lam=0.7, gamma=1.5, theta=th, method="implicit")
    assert np.max(np.abs(Ja2.matrix - Ji2.matrix)) < 2e-3


def test_jacobian_radius_invariant_away_from_scalar_case(gaussian_setup):
    """Accumulating (K=2) population map linearised at theta* is not used; instead check the similarity
    J_chol = D J_svec D^{-1} at theta* numerically through the chart change."""
    fam, law = gaussian_setup("mixture", 2)
    ps = T.get_parametrization(fam, law, "mean-svec")
    pc = T.get_parametrization(fam, law, "mean-chol")
    ts = fam.theta_star(law)
    D = np.asarray(jax.jacfwd(lambda v: pc.to_vec(ps.from_vec(v)))(ps.to_vec(ts)))
    Js = T.population_jacobian(fam, law, lam=0.3, gamma=1.0, parametrization="mean-svec").matrix
    Jc = T.population_jacobian(fam, law, lam=0.3, gamma=1.0, parametrization="mean-chol").matrix
    assert np.max(np.abs(Jc - D @ Js @ np.linalg.inv(D))) < 1e-10


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


def test_population_map_needs_an_exact_map():
    with pytest.raises(SCSCInputError, match="no exact population map"):
        T.population_map(OpaqueGaussian(), make_data_law("laplace", 1), lam=0.1, gamma=0.0)
