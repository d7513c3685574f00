"""sympy derivations (scsc_theory.symbolic), each checked symbolically and against the numerics."""
import jax
import numpy as np
import pytest
import sympy as sp

from scsc_theory import symbolic as S
from scsc_theory import theory as T
from scsc_theory.data import make_data_law
from scsc_theory.families import Gaussian


def test_hypothesis_equivalence():
    r = S.hypothesis_equivalence()
    assert r["identity_holds"] and r["numerator_is_scaled_gap"]
    assert sp.simplify(r["threshold"] - (1 + S.gamma) / (2 + S.gamma)) == 0
    for g in (0, sp.Rational(1, 3), 1, 5, 100):
        sol = S.solve_hypothesis(g)
        assert sol == sp.Interval.open(0, sp.Rational(1) * (1 + g) / (2 + g))


def test_hypothesis_equivalence_numeric_grid():
    # brute force: rho/(1+g) < 1 exactly when x < (1+g)/(2+g), over a grid of x in (0,1) and g
    for g in np.linspace(0, 10, 21):
        x = np.linspace(0.001, 0.999, 999)
        x = x[np.abs(x - (1 + g) / (2 + g)) > 1e-9]  # exact ties are decided by round-off
        rho = x / (1 - x)
        np.testing.assert_array_equal(rho / (1 + g) < 1, x < (1 + g) / (2 + g))


def test_threshold_monotone():
    r = S.threshold_monotonicity()
    assert r["derivative_positive"]
    assert r["at_zero"] == sp.Rational(1, 2)
    assert r["limit_infinity"] == 1
    assert r["upper_gap"].is_positive


def test_bound_closed_form_and_limit():
    r = S.bound_closed_form()
    assert r["limit_matches_geometric"] and r["limit_matches_claim"]
    q = sp.Symbol("q", positive=True)
    assert sp.simplify(r["partial_sum"].args[1][0] - (1 - q ** (S.t + 1)) / (1 - q)) == 0
    # the numeric bound agrees with the symbolic closed form
    f = sp.lambdify((S.c, q, S.t, S.d0), r["bound"])
    num = T.theorem_bound(0.2, 0.6, 1.0, 12, 0.7)
    assert np.allclose([f(0.2, 0.3, t, 0.7) for t in range(13)], num, rtol=1e-13)


def test_corollary_4_5():
    r = S.corollary_4_5()
    assert r["rate_ratio"] == 1 / (1 + S.gamma)
    assert r["rate_ratio_below_one"] and r["gap_positive"] and r["summands_positive"]
    assert all(r["identity_for_t"].values())
    assert r["limit_difference_positive"]
    # numerically: any gamma > 0 gives a strictly smaller bound for every t >= 1 and a smaller limit
    for rho in (0.1, 0.5, 0.95):
        for g in (1e-3, 0.5, 7.0):
            b0 = T.theorem_bound(0.05, rho, 0.0, 60, 1.0)
            bg = T.theorem_bound(0.05, rho, g, 60, 1.0)
            assert np.all(bg[1:] < b0[1:]) and bg[0] == b0[0]
            assert T.bound_limit(0.05, rho, g) < T.bound_limit(0.05, rho, 0.0)


def test_jacobian_formula_factor():
    r = S.jacobian_formula_factor()
    assert sp.simplify(r["factor"] - 1 / (1 + S.gamma)) == 0
    assert r["neumann_form"]
    assert sp.simplify(r["well_specified"] - S.lam / ((1 + S.lam) * (1 + S.gamma))) == 0


@pytest.mark.parametrize("dim", [1, 2])
def test_gaussian_map_symbolic_fixed_point(dim):
    r = S.gaussian_population_map(dim)
    assert r["fixed_point"] and r["J_at_star_is_scalar"]


@pytest.mark.parametrize("dim,data", [(1, "laplace"), (2, "mixture")])
def test_gaussian_map_and_jacobian_match_numeric(dim, data):
    """sympy G and J vs the family's population_update and its autodiff Jacobian, away from theta*."""
    fJ, fG, P = S.lambdify_jacobian(dim)
    fam, law = Gaussian(dim), make_data_law(data, dim)
    rng = np.random.default_rng(0)
    with jax.enable_x64(True):
        par = T.get_parametrization(fam, law, "mean-svec")
        tsv = np.asarray(par.to_vec(fam.theta_star(law)))
        m = np.asarray(law.mean())
        S_svec = np.asarray(T.svec(law.cov()))
        for _ in range(3):
            th = tsv + 0.2 * rng.standard_normal(P)
            lam, gamma = rng.uniform(0.1, 2), rng.uniform(0, 4)
            args = list(th) + list(m) + list(S_svec) + [lam, gamma]
            Jsym = np.asarray(fJ(*args), float)
            Gsym = np.asarray(fG(*args), float).reshape(-1)
            G = T.population_map(fam, law, lam=lam, gamma=gamma)
            Jnum = T.population_jacobian(fam, law, lam=lam, gamma=gamma, theta=par.from_vec(th)).matrix
            assert np.allclose(Gsym, np.asarray(G(th)), atol=1e-12)
            assert np.allclose(Jsym, Jnum, atol=1e-12)
