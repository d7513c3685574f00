"""Charts (scsc_theory.theory.charts, scsc_theory.families.charts): every family names its charts, the
default is the first; the spectral radius at theta* does not depend on the chart, alpha does."""
import jax
import numpy as np
import pytest

from scsc_theory import theory as T
from scsc_theory._validate import SCSCInputError
from scsc_theory.data import make_data_law

pytestmark = pytest.mark.usefixtures("x64")


def test_spectral_radius_parametrization_invariant(gaussian_setup):
    fam, law = gaussian_setup("laplace", 2)
    radius = {name: T.population_jacobian(fam, law, lam=0.4, gamma=0.5, parametrization=name).spectral_radius
              for name in ("mean-svec", "mean-chol", "natural")}
    assert radius["mean-svec"] == pytest.approx(radius["mean-chol"], abs=1e-10)
    assert radius["mean-svec"] == pytest.approx(radius["natural"], abs=1e-10)
    assert radius["mean-svec"] == pytest.approx(0.4 / (1.4 * 1.5), abs=1e-10)
    # ... while alpha depends on the chart (1-D: (mu, s) gives min(1, 1/2); (mu, sigma) gives min(1, 2))
    fam1, law1 = gaussian_setup("normal", 1)
    assert T.alpha_constant(fam1, law1, "mean-svec").value == pytest.approx(0.5, abs=1e-12)
    assert T.alpha_constant(fam1, law1, "mean-chol").value == pytest.approx(1.0, abs=1e-12)


def test_each_family_names_its_default_chart(gaussian_setup):
    from scsc_theory.families import GMM

    fam, law = gaussian_setup("laplace", 2)
    assert list(T.parametrizations(fam, law)) == ["mean-svec", "mean-chol", "natural"]
    assert T.get_parametrization(fam).name == "mean-svec"  # the Gaussian needs no data law for its charts
    from scsc_theory.families import GMMParams

    gmm = GMM(2, k=2)
    # free coordinates first (the raw weights are redundant); the raw chart needs a data law for theta*'s structure
    assert list(T.parametrizations(gmm)) == ["gmm-vector"]
    assert T.get_parametrization(gmm).description == gmm.parametrization
    with pytest.raises(SCSCInputError, match="parametrization must be one of 'gmm-vector'"):
        T.get_parametrization(gmm, None, "raw")
    p = GMMParams(jax.numpy.array([0.3, 0.7]), jax.numpy.array([[-1.0, 0.0], [1.0, 0.5]]),
                  jax.numpy.array([[[1.0, 0.2], [0.2, 0.5]], [[0.4, 0.0], [0.0, 2.0]]]))
    chart = T.get_parametrization(gmm)
    v = chart.to_vec(p)
    assert v.shape == (1 + 4 + 6,)
    back = chart.from_vec(v)
    for a, b in zip(back, p):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-12)


def test_charts_are_inverse_and_svec_is_an_isometry(gaussian_setup):
    fam, law = gaussian_setup("mixture", 2)
    ts = fam.theta_star(law)
    for name, par in T.parametrizations(fam, law).items():
        back = par.from_vec(par.to_vec(ts))
        np.testing.assert_allclose(np.asarray(back.cov), np.asarray(ts.cov), atol=1e-12, err_msg=name)
        np.testing.assert_allclose(np.asarray(back.mean), np.asarray(ts.mean), atol=1e-12, err_msg=name)
    S = np.array([[2.0, 0.3], [0.3, 0.5]])
    assert float(np.linalg.norm(T.svec(S))) == pytest.approx(np.linalg.norm(S), rel=1e-14)
    np.testing.assert_allclose(np.asarray(T.svec_inv(T.svec(jax.numpy.asarray(S)), 2)), S, atol=1e-15)
