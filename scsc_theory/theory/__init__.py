"""The constants and bounds of Theorem 4.3 (Gillman et al., ICML 2024), computed.

Formulas and notation: docs/theory.md (Bertrand et al., ICLR 2024, Assumptions 1-3). One module
per idea; every public name is re-exported here (``from scsc_theory import theory; theory.X``):

* :mod:`.bound`: C, rho, lambda_max, the rate q = rho/(1+gamma), Theorem 4.3's curve and limit,
  bound-satisfaction testing (scalars or NumPy / JAX arrays);
* :mod:`.charts`: resolving a family's coordinate chart theta (every output names it);
* :mod:`.expectations`: quadrature / Monte Carlo rules, expected Hessians A and B;
* :mod:`.constants`: alpha, L (with its domain) and the :class:`Constants` record;
* :mod:`.wasserstein`: eps = W1(p_theta*, p_data) (exact, bracketed, OT with its bias as a field);
* :mod:`.jacobian`: the population map pi_gamma G_lambda and its Jacobian (autodiff, implicit);
* :mod:`.finite_sample`: the finite-sample constant c and bound experiments against the loop engine.

Sympy derivations of the same formulas: :mod:`scsc_theory.symbolic`.
Numerics run in float64: the public entry points enable x64 for their duration.
"""
from .bound import (BoundCheck, bound_for, bound_limit, check_bound_satisfaction, constant_C, is_admissible,
                    lambda_max, q, require_admissible, rho, theorem_bound)
from .charts import Parametrization, gaussian_parametrizations, get_parametrization, parametrizations, svec, svec_inv
from .constants import Constants, LipschitzResult, alpha_constant, constants, data_radius, lipschitz_constant
from .expectations import (Estimate, Rule, data_rule, expected_hessian, expected_hessians, gauss_hermite_rule, mc_rule,
                           model_rule)
from .finite_sample import BoundExperiment, CEstimate, bound_experiment, estimate_c, loop_distances
from .jacobian import (JacobianResult, correction_factor_error, jacobian_formula, population_jacobian,
                       population_map)
from .wasserstein import (EpsilonEstimate, cdf_crossings, debiased_eps, epsilon_constant, product_marginals,
                          w1_1d_cdf, w1_1d_quantile)

__all__ = [
    "BoundCheck", "bound_for", "bound_limit", "check_bound_satisfaction", "constant_C", "is_admissible", "lambda_max",
    "q", "require_admissible", "rho", "theorem_bound",
    "Parametrization", "gaussian_parametrizations", "get_parametrization", "parametrizations", "svec", "svec_inv",
    "Constants", "LipschitzResult", "alpha_constant", "constants", "data_radius", "lipschitz_constant",
    "Estimate", "Rule", "data_rule", "expected_hessian", "expected_hessians", "gauss_hermite_rule", "mc_rule",
    "model_rule",
    "BoundExperiment", "CEstimate", "bound_experiment", "estimate_c", "loop_distances",
    "JacobianResult", "correction_factor_error", "jacobian_formula", "population_jacobian", "population_map",
    "EpsilonEstimate", "cdf_crossings", "debiased_eps", "epsilon_constant", "product_marginals", "w1_1d_cdf",
    "w1_1d_quantile",
]
