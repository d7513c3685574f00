"""Symbolic (sympy) derivations behind Theorem 4.3 and Corollary 4.5 (Gillman et al., ICML 2024).

Each function returns the symbolic result (a dict of sympy expressions and the booleans that
sympy itself decided); the tests check every one. Notation as in docs/theory.md: x = lambda C,
rho = x / (1 - x), q = rho / (1 + gamma), and the bound
    B(t) = c sum_{i=0}^t q^i + q^t d0.
"""
from __future__ import annotations

import math
from typing import Dict

import sympy as sp

lam, gamma, C, c, d0 = sp.symbols("lambda gamma C c d0", positive=True)
x = sp.Symbol("x", positive=True)  # x = lambda C
s = sp.Symbol("s", positive=True)  # rho = s / (1 + s) parametrises rho in (0, 1)
t = sp.Symbol("t", integer=True, positive=True)
i, j = sp.symbols("i j", integer=True, nonnegative=True)


def rho_expr(xx=x):
    """rho = lambda C / (1 - lambda C) as a function of x = lambda C."""
    return xx / (1 - xx)


def hypothesis_equivalence() -> Dict[str, object]:
    """(derived) rho/(1+gamma) < 1  <=>  lambda C < (1+gamma)/(2+gamma), for 0 < lambda C < 1.

    Proof in closed form: 1 + gamma - rho = ((1+gamma) - (2+gamma) x) / (1 - x) and 1 - x > 0,
    so the sign of 1 + gamma - rho is the sign of (1+gamma)/(2+gamma) - x.
    """
    rho = rho_expr()
    lhs = 1 + gamma - rho
    rhs = ((1 + gamma) - (2 + gamma) * x) / (1 - x)
    threshold = (1 + gamma) / (2 + gamma)
    return {
        "rho": rho,
        "threshold": threshold,
        "identity": sp.Eq(lhs, rhs),
        "identity_holds": sp.simplify(lhs - rhs) == 0,
        "numerator_factor": sp.factor((1 + gamma) - (2 + gamma) * x),
        # (2 + gamma) (threshold - x) is the numerator: positive iff x < threshold
        "numerator_is_scaled_gap": sp.simplify((2 + gamma) * (threshold - x) - ((1 + gamma) - (2 + gamma) * x)) == 0,
    }


def solve_hypothesis(gamma_value) -> sp.Set:
    """The set {x in (0, 1) : rho(x)/(1 + gamma) < 1} for a concrete gamma (sympy's inequality solver)."""
    g = sp.nsimplify(gamma_value)
    return sp.solve_univariate_inequality(rho_expr() / (1 + g) < 1, x, relational=False, domain=sp.Interval.open(0, 1))


def threshold_monotonicity() -> Dict[str, object]:
    """(derived) tau(gamma) = (1+gamma)/(2+gamma): tau(0) = 1/2 (Bertrand et al.), tau' = 1/(2+gamma)^2 > 0, tau -> 1."""
    g = sp.Symbol("g", nonnegative=True)
    tau = (1 + g) / (2 + g)
    der = sp.simplify(sp.diff(tau, g))
    return {
        "tau": tau,
        "derivative": der,
        "derivative_positive": bool(der.is_positive),
        "at_zero": tau.subs(g, 0),
        "limit_infinity": sp.limit(tau, g, sp.oo),
        "upper_gap": sp.simplify(1 - tau),  # 1/(2+g) > 0: never reaches 1
    }


def bound_closed_form() -> Dict[str, object]:
    """Theorem 4.3's bound: partial sum, closed form and limit c (1+gamma)/(1+gamma-rho).

    The limit is taken with rho/(1+gamma) = 1/(1+u), u > 0 (any rate in (0, 1)) so that sympy
    knows q^t -> 0.
    """
    q = sp.Symbol("q", positive=True)
    partial = sp.summation(q**i, (i, 0, t))
    closed = c * (1 - q ** (t + 1)) / (1 - q) + q**t * d0
    u = sp.Symbol("u", positive=True)
    lim = sp.limit(closed.subs(q, 1 / (1 + u)), t, sp.oo)
    rho = sp.Symbol("rho", positive=True)
    lim_rho = sp.simplify(c / (1 - rho / (1 + gamma)))
    claimed = c * (1 + gamma) / (1 + gamma - rho)
    return {
        "partial_sum": partial,
        "bound": closed,
        "limit_in_u": sp.simplify(lim),
        "limit_matches_geometric": sp.simplify(lim - c * (1 + u) / u) == 0,
        "limit": claimed,
        "limit_matches_claim": sp.simplify(lim_rho - claimed) == 0,
    }


def bound_difference(tt: int | None = None) -> sp.Expr:
    """B_0(t) - B_gamma(t) with rho_0 = rho (no correction) and q = rho/(1+gamma); symbolic t by default."""
    rho = s / (1 + s)
    q = rho / (1 + gamma)
    T = t if tt is None else tt
    B0 = c * sp.Sum(rho**i, (i, 0, T)) + rho**T * d0
    Bg = c * sp.Sum(q**i, (i, 0, T)) + q**T * d0
    return B0 - Bg


def corollary_4_5() -> Dict[str, object]:
    """Corollary 4.5 in checkable form: for gamma > 0, rho in (0, 1) (lambda C < 1/2, so gamma = 0 is
    admissible too), c > 0 and d0 >= 0, the corrected bound is strictly smaller for every t >= 1,
    its rate q = rho/(1+gamma) is smaller by the factor 1/(1+gamma) (decays faster), and its limit is smaller.

    Termwise: rho^k - q^k = (rho - q) sum_{j<k} rho^j q^{k-1-j} with rho - q = rho gamma/(1+gamma) > 0, so
    B_0(t) - B_gamma(t) = (rho - q) [c sum_{k=1}^t sum_{j<k} rho^j q^{k-1-j} + d0 sum_{j<t} rho^j q^{t-1-j}],
    a product of positive factors for t >= 1.
    """
    rho = s / (1 + s)
    q = rho / (1 + gamma)
    k = sp.Symbol("k", integer=True, positive=True)
    gap = sp.simplify(rho - q)
    inner_c = sp.Sum(sp.Sum(rho**j * q ** (k - 1 - j), (j, 0, k - 1)), (k, 1, t))
    inner_d = sp.Sum(rho**j * q ** (t - 1 - j), (j, 0, t - 1))
    factored = gap * (c * inner_c + d0 * inner_d)
    # identity check for concrete t (exact rational-function identity)
    checks = {}
    for tt in range(1, 5):
        lhs = bound_difference(tt).doit()
        rhs = factored.subs(t, tt).doit()
        checks[tt] = sp.cancel(sp.together(lhs - rhs)) == 0
    lim0 = c / (1 - rho)
    limg = c * (1 + gamma) / (1 + gamma - rho)
    lim_gap = sp.factor(sp.simplify(lim0 - limg))
    return {
        "rate_ratio": sp.simplify(q / rho),
        "rate_ratio_below_one": bool((1 - sp.simplify(q / rho)).is_positive),
        "gap": gap,
        "gap_positive": bool(gap.is_positive),
        "difference_factored": factored,
        "summands_positive": bool((rho**j * q ** (k - 1 - j)).is_positive),
        "identity_for_t": checks,
        "limit_difference": lim_gap,
        "limit_difference_positive": bool(lim_gap.is_positive),
    }


def svec_symbols(d: int, name: str):
    """Symbols of a symmetric d x d matrix and its isometric half-vectorisation (diag, sqrt2 x lower)."""
    S = sp.zeros(d, d)
    vec = []
    for r in range(d):
        for cc in range(r + 1):
            sym = sp.Symbol(f"{name}_{r}{cc}", real=True)
            S[r, cc] = sym
            S[cc, r] = sym
    for r, cc in zip(*_tril(d)):
        vec.append(S[r, cc] * (1 if r == cc else sp.sqrt(2)))
    return S, sp.Matrix(vec)


def _tril(d):
    rows, cols = [], []
    for r in range(d):
        for cc in range(r + 1):
            rows.append(r)
            cols.append(cc)
    return rows, cols


def gaussian_population_map(d: int = 1) -> Dict[str, object]:
    """Closed-form pi_gamma G_lambda for the Gaussian family in the mean-svec chart, and its Jacobian.

    Moment matching of p_data + lambda/(1+gamma) N(mu, Sigma) + lambda gamma/(1+gamma) N(mu*, Sigma*):
        mu' = (m + lambda/(1+gamma) mu + lambda gamma/(1+gamma) mu*) / (1 + lambda)
        Sigma' = (S + m m^T + lambda/(1+gamma) (Sigma + mu mu^T) + lambda gamma/(1+gamma) (Sigma* + mu* mu*^T)) / (1 + lambda) - mu' mu'^T
    with (m, S) the moments of p_data, and (mu*, Sigma*) = (m, S). At theta* the Jacobian is
    lambda / ((1 + lambda)(1 + gamma)) I for every data law.
    """
    mu = sp.Matrix([sp.Symbol(f"mu_{k}", real=True) for k in range(d)])
    m = sp.Matrix([sp.Symbol(f"m_{k}", real=True) for k in range(d)])
    Sig, sig_vec = svec_symbols(d, "Sigma")
    Sd, _ = svec_symbols(d, "S")
    a = lam / (1 + gamma)
    b = lam * gamma / (1 + gamma)
    mu_new = (m + a * mu + b * m) / (1 + lam)
    sec = (Sd + m * m.T + a * (Sig + mu * mu.T) + b * (Sd + m * m.T)) / (1 + lam)
    Sig_new = sec - mu_new * mu_new.T
    rows, cols = _tril(d)
    G = sp.Matrix(list(mu_new) + [Sig_new[r, cc] * (1 if r == cc else sp.sqrt(2)) for r, cc in zip(rows, cols)])
    # chart coordinates: theta = (mu, svec Sigma); express Sigma entries through theta
    theta = sp.Matrix(list(mu) + list(sig_vec))
    coords = sp.Matrix([sp.Symbol(f"theta_{k}", real=True) for k in range(len(theta))])
    subs = {mu[k]: coords[k] for k in range(d)}
    for idx, (r, cc) in enumerate(zip(rows, cols)):
        subs[Sig[r, cc]] = coords[d + idx] / (1 if r == cc else sp.sqrt(2))
    Gt = G.subs(subs)
    J = Gt.jacobian(coords)
    star = {coords[k]: m[k] for k in range(d)}
    Sd_vec = [Sd[r, cc] * (1 if r == cc else sp.sqrt(2)) for r, cc in zip(rows, cols)]
    for idx in range(len(rows)):
        star[coords[d + idx]] = Sd_vec[idx]
    J_star = sp.simplify(J.subs(star))
    k_expected = lam / ((1 + lam) * (1 + gamma))
    return {
        "theta": coords,
        "data_mean": m,
        "data_cov": Sd,
        "G": sp.simplify(Gt),
        "J": J,
        "J_at_star": J_star,
        "fixed_point": sp.simplify(Gt.subs(star) - sp.Matrix(list(m) + Sd_vec)) == sp.zeros(len(coords), 1),
        "J_at_star_is_scalar": sp.simplify(J_star - k_expected * sp.eye(len(coords))) == sp.zeros(len(coords)),
        "spectral_radius": k_expected,
    }


def jacobian_formula_factor() -> Dict[str, object]:
    """(derived) J = lambda/(1+gamma) (A + lambda B)^{-1} B: the gamma-dependence is exactly 1/(1+gamma),
    and ||lambda A^{-1}B|| = y < 1 gives ||J|| <= y/(1 - y) by the Neumann series (scalar model: A = a, B = b)."""
    a, b = sp.symbols("a b", negative=True)
    J = lam / (1 + gamma) * b / (a + lam * b)
    J0 = J.subs(gamma, 0)
    y = lam * b / a  # = lambda A^{-1} B in the scalar model
    return {
        "J": J,
        "factor": sp.simplify(J / J0),
        "neumann_form": sp.simplify(J0 - y / (1 + y)) == 0,  # J0 = (I + M)^{-1} M with M = lambda A^{-1} B
        "well_specified": sp.simplify(J.subs(a, b)),
    }


def lambdify_jacobian(d: int = 1):
    """Numeric callable J(theta, m, S_svec, lam, gamma) of :func:`gaussian_population_map`'s Jacobian."""
    r = gaussian_population_map(d)
    rows, cols = _tril(d)
    S_syms = [r["data_cov"][rr, cc] for rr, cc in zip(rows, cols)]
    args = list(r["theta"]) + list(r["data_mean"]) + S_syms + [lam, gamma]
    f = sp.lambdify(args, r["J"], "numpy")
    G = sp.lambdify(args, r["G"], "numpy")
    return f, G, math.comb(d + 1, 2) + d
