"""The Family interface (scsc_theory.families.base): declared capabilities and their defaults, the
optional-fast-path protocols, and perturbations that keep parameters valid."""
import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from scsc_theory import make_data_law
from scsc_theory.families import GMM, Flow, Gaussian
from scsc_theory.families.base import Family, SampleStats, SufficientStats


@pytest.mark.parametrize("covariance", ["full", "diag"])
def test_gmm_perturbation_keeps_covariances_positive_definite_at_the_floor(covariance):
    """Components on the variance floor (n = 2, K = 4 fits) stay valid after the sweep's perturbation."""
    from scsc_theory.families import GMMParams

    fam = GMM(2, k=4, covariance=covariance)
    floor = fam.var_floor
    p = GMMParams(jnp.array([0.25, 0.25, 0.25, 0.25]), jnp.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]),
                  jnp.broadcast_to(floor * jnp.eye(2), (4, 2, 2)))
    for s in range(20):
        move = fam.perturbation(p, jax.random.PRNGKey(s))
        q = move(p, 0.05)
        ev = np.linalg.eigvalsh(np.asarray(q.covs))
        assert np.all(np.isfinite(ev)) and ev.min() > 0, (s, ev.min())
        assert np.all(np.asarray(q.weights) > 0) and float(jnp.sum(q.weights)) == pytest.approx(1.0, abs=1e-5)
        if covariance == "diag":
            assert np.all(np.asarray(q.covs)[:, 0, 1] == 0)
        # a genuine perturbation of the requested size (not a no-op)
        assert 0.0 < float(fam.distance(q, p)) < 1.0
    # eps = 0 is the identity (up to float round-off)
    np.testing.assert_allclose(np.asarray(move(p, 0.0).covs), np.asarray(p.covs), rtol=1e-5, atol=1e-9)


@pytest.mark.parametrize("fam", [Gaussian(2), GMM(2, k=3), GMM(3, k=2, covariance="diag")])
def test_param_count_matches_the_parameters(fam):
    """param_count (shapes only, for the sweep's memory estimate) = the number of entries of a fit."""
    x = jnp.zeros((5, fam.dim))
    fit = fam.init_from_data if isinstance(fam, GMM) else (lambda x: fam.fit(None, x, jnp.ones(5)))
    shapes = jax.eval_shape(fit, x)
    assert fam.param_count() == sum(np.prod(a.shape) for a in jax.tree_util.tree_leaves(shapes))


def test_capability_defaults_and_protocols():
    g = Gaussian(2)
    assert isinstance(g, SufficientStats) and isinstance(g, SampleStats)
    assert not isinstance(GMM(2), SufficientStats) and not isinstance(GMM(2), SampleStats)
    assert g.hessian_quadratic_in_x and not GMM(2).hessian_quadratic_in_x
    ts = g.theta_star(make_data_law("normal", 2))
    mean, cov = g.gaussian_law(ts)
    assert mean is ts.mean and cov is ts.cov and GMM(2).gaussian_law(None) is None
    assert g.theta_star_report(None) == {} and g.with_params(None, ts) is ts
    assert g.identifiable and not Flow().identifiable
    assert Flow().sweep_perturbation == 0.3 and g.sweep_perturbation == 0.05
    assert Flow().fit_memory().state_copies == 3 and g.fit_memory().state_copies == 1
    # the declared capabilities are class constants: the families' repr (and so the sweep keys) are unchanged
    assert repr(g) == "Gaussian(dim=2, name='gaussian', parametrization='theta = (mu, Sigma), ||.|| = " \
                      "sqrt(|mu|^2 + |Sigma|_F^2)', has_population_map=True)"


def test_gaussian_perturbation_is_unit_and_symmetric():
    g = Gaussian(3)
    ts = g.theta_star(make_data_law("normal", 3))
    move = g.perturbation(ts, jax.random.PRNGKey(0))
    q = move(ts, 0.05)
    assert float(g.distance(q, ts)) == pytest.approx(0.05, rel=1e-5)
    np.testing.assert_allclose(np.asarray(q.cov), np.asarray(q.cov).T, atol=0)


def test_flow_state_keeps_the_optimizer_state():
    f = Flow(hidden=4, layers=2, star_steps=1)
    p = f.init_params(jax.random.PRNGKey(0))
    st = f.init_state(p)
    p2 = jax.tree_util.tree_map(lambda a: a + 1.0, p)
    st2 = f.with_params(st, p2)
    assert st2[1] is st[1] and f.params(st2) is p2
    assert f.param_count() == sum(np.size(a) for a in jax.tree_util.tree_leaves(p))


def test_incomplete_family_fails_at_construction():
    @dataclasses.dataclass(frozen=True)
    class Half(Family):
        dim: int = 1

        def fit(self, state, x, w, key):
            return state

    with pytest.raises(TypeError):
        Half()
