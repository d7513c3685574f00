"""epsilon = W1(p_theta*, p_data) for a non-Gaussian family goes through the OT estimate (regression)."""
import math

from scsc_theory import make_data_law
from scsc_theory.families import GMM
from scsc_theory.theory import epsilon_constant


def test_epsilon_for_gmm_uses_sample_ot():
    est = epsilon_constant(GMM(2, 2), make_data_law("laplace", 2), n_ot=200, repeats=2)
    assert math.isfinite(est.value) and est.value > 0
    assert "POT" in est.method
