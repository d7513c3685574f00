"""Theorem 4.3's scalar formulas and bound (scsc_theory.theory.bound): closed forms, validation, the
binomial satisfaction test, and the array forms (NumPy and JAX, under jit) against the scalar ones."""
import math

from hypothesis import given, settings
from hypothesis import strategies as st

import jax
import numpy as np
import pytest

from scsc_theory import theory as T
from scsc_theory._validate import SCSCInputError
from scsc_theory.data import make_data_law

pytestmark = pytest.mark.usefixtures("x64")


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


def test_validation_errors(gaussian_setup):
    with pytest.raises(SCSCInputError, match="gamma must be >= 0"):
        T.lambda_max(1.0, -0.1)
    with pytest.raises(SCSCInputError, match="admissible"):
        T.theorem_bound(0.1, 3.0, 1.0, 10, 0.1)
    with pytest.raises(SCSCInputError, match="admissible region"):
        T.bound_for(0.6, 0.0, 1.0, 0.1, 10, 0.1)
    with pytest.raises(SCSCInputError, match="delta"):
        T.check_bound_satisfaction(np.zeros((2, 3)), np.ones(3), 1.0)
    fam, law = gaussian_setup("normal", 1)
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


@settings(max_examples=60, deadline=None, derandomize=True)
@given(lam=st.floats(0.0, 3.0), gamma=st.floats(0.0, 20.0), C=st.floats(1.0, 10.0))
def test_array_forms_equal_scalar_forms_and_q_below_one_iff_admissible(lam, gamma, C):
    """One formula for scalars, NumPy and JAX arrays (sweeps use the array forms), and Theorem 4.3's
    hypothesis lambda C < (1+gamma)/(2+gamma) is exactly q = rho/(1+gamma) < 1."""
    qs = T.q(lam, gamma, C)
    assert qs == T.rho(lam, C) / (1 + gamma)
    qa = T.q(np.array([lam]), np.array([gamma]), C)
    assert qa.dtype == np.float64 and qa[0] == qs
    assert T.lambda_max(C, np.array([gamma]))[0] == T.lambda_max(C, gamma)
    assert bool(T.is_admissible(np.array([lam]), C, np.array([gamma]))[0]) == T.is_admissible(lam, C, gamma)
    qj = jax.jit(lambda a, g: T.q(a, g, C))(jax.numpy.asarray([lam]), jax.numpy.asarray([gamma]))
    assert float(qj[0]) == pytest.approx(qs, rel=1e-12) or (math.isinf(qs) and math.isinf(float(qj[0])))
    # the equivalence, away from the boundary where round-off decides
    if abs(lam - T.lambda_max(C, gamma)) > 1e-9:
        assert (qs < 1) == T.is_admissible(lam, C, gamma)


def test_q_is_infinite_beyond_one_over_C_and_differentiable_inside():
    np.testing.assert_array_equal(T.q(np.array([0.5, 1.0, 2.0]), np.zeros(3), 1.0), [1.0, np.inf, np.inf])
    g = jax.grad(lambda a: T.q(a, 1.0, 2.0))(jax.numpy.asarray(0.1))
    # d/dlam [lam C / ((1 - lam C)(1 + gamma))] = C / ((1 - lam C)^2 (1 + gamma))
    assert float(g) == pytest.approx(2.0 / (0.8**2 * 2.0), rel=1e-12)
