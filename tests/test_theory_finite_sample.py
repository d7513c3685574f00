"""The finite-sample constant c and bound satisfaction (scsc_theory.theory.finite_sample, Theorem 4.3): finite-sample loops started near theta* stay within
c sum_{i<=t} q^i + q^t d0, q = rho/(1+gamma), for >= (1-delta)^t of independent seeds, with c estimated
on other seeds; and the same check rejects deliberately wrong bounds."""
import functools

import jax
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scsc_theory import theory as T
from scsc_theory.data import make_data_law
from scsc_theory.families import Gaussian

SETTINGS = dict(max_examples=3, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
COMMON = dict(n=5000, generations=15, seeds=64, delta=0.05, d0=0.1, c_draws=500, anchor_lam=0.99)


pytestmark = pytest.mark.usefixtures("x64")


@functools.lru_cache(maxsize=None)
def C_of(data, dim):
    """C = 1 + eps L / alpha; eps = 0 exactly when well specified (then L is not needed)."""
    fam, law = Gaussian(dim), make_data_law(data, dim)
    with jax.enable_x64(True):
        if T.epsilon_constant(fam, law).value == 0.0:
            return 1.0
        return T.constants(fam, law, lam=0.0, gamma=0.0).C


def run(data, dim, lam, gamma, **kw):
    opts = {**COMMON, **kw}
    return T.bound_experiment(Gaussian(dim), make_data_law(data, dim), lam=lam, gamma=gamma, C=C_of(data, dim), **opts)


@settings(**SETTINGS)
@given(gamma=st.floats(0.0, 5.0), frac=st.floats(0.05, 0.95))
def test_bound_holds_well_specified(gamma, frac):
    lam = frac * T.lambda_max(C_of("normal", 2), gamma)
    e = run("normal", 2, lam, gamma)
    assert e.check.satisfied, e.summary()
    assert e.check.fraction[-1] >= (1 - 0.05) ** 15


@settings(**SETTINGS)
@given(gamma=st.floats(0.0, 5.0), frac=st.floats(0.05, 0.95))
def test_bound_holds_misspecified_laplace(gamma, frac):
    C = C_of("laplace", 1)
    assert C > 1
    lam = frac * T.lambda_max(C, gamma)
    e = run("laplace", 1, lam, gamma)
    assert e.check.satisfied, e.summary()


def test_check_rejects_too_small_c():
    e = run("normal", 2, 0.3, 1.0, c_scale=0.05)
    assert not e.check.satisfied
    assert e.check.first_violation == 1
    # the same trajectories against the bound with the estimated c: no violation
    right = T.check_bound_satisfaction(e.dists, T.theorem_bound(e.c.c, e.rho, 1.0, 15, e.d0), 0.05)
    assert right.satisfied, right.summary()


def test_check_rejects_correction_factor_applied_twice():
    """Start far enough (d0 = 1 along the mean axis; n = 5000) that the contraction is visible:
    the true rate lambda/((1+lambda)(1+gamma)) = 1/12 exceeds rho/(1+gamma)^2 = 1/16."""
    twice = run("normal", 2, 0.5, 3.0, correction_power=2, d0=1.0, direction=[1, 0, 0, 0, 0])
    assert not twice.check.satisfied, twice.summary()
    assert twice.q == pytest.approx(T.rho(0.5, 1.0) / 16)
    # the same trajectories and c against Theorem 4.3's bound (factor applied once): no violation
    right = T.check_bound_satisfaction(twice.dists, T.theorem_bound(twice.c_used, twice.rho, 3.0, 15, 1.0), 0.05)
    assert right.satisfied, right.summary()


def test_bound_experiment_rejects_inadmissible_lambda():
    from scsc_theory._validate import SCSCInputError

    with pytest.raises(SCSCInputError, match="admissible"):
        run("normal", 2, 0.7, 0.0)


@pytest.mark.slow
@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.sampled_from(["laplace", "student-t", "mixture"]), dim=st.sampled_from([1, 2]),
       gamma=st.floats(0.0, 10.0), frac=st.floats(0.05, 0.95))
def test_bound_holds_misspecified_heavy(data, dim, gamma, frac):
    lam = frac * T.lambda_max(C_of(data, dim), gamma)
    e = run(data, dim, lam, gamma, seeds=128, generations=30)
    assert e.check.satisfied, e.summary()


@pytest.mark.slow
def test_estimate_c_scales_like_inverse_sqrt_n(gaussian_setup):
    fam, law = gaussian_setup("normal", 1)
    c1 = T.estimate_c(fam, law, lam=0.5, gamma=1.0, n=100, delta=0.1, n_draws=1000, radius=0.0)
    c2 = T.estimate_c(fam, law, lam=0.5, gamma=1.0, n=1600, delta=0.1, n_draws=1000, radius=0.0)
    assert 3.0 < c1.c / c2.c < 5.3
    assert c1.ci[0] <= c1.c <= c1.ci[1]
