"""Reading a sweep against Theorem 4.3: measured contraction factors, empirical boundaries, the
phase summary, and the theory's C for the boundary line lambda_max(gamma) = (1+gamma)/((2+gamma) C).

The formulas (q = rho/(1+gamma), lambda_max) are :mod:`scsc_theory.theory.bound`'s; C and eps come
from :func:`scsc_theory.theory.constants`.
"""
from __future__ import annotations

import math
import warnings
from typing import Any, Dict, Optional

import numpy as np

from .._validate import SCSCInputError, check_positive
from ..theory import bound as B
from .results import SweepResult


def contraction_factor(diff, t_fit: int = 8, floor: float = 1e-5) -> np.ndarray:
    """Measured contraction factor from the decay of a perturbation, over the last axis (t = 0..T).

    r = exp(slope of log D_t on t) using t = 0..min(t_fit, T) while D_t > floor and finite
    (at least t = 0, 1). If D_1 is already below ``floor``, r = (floor / D_0) (an upper bound).
    NaN where D_0 is not positive or not finite.
    """
    d = np.asarray(diff, np.float64)
    lead = d.shape[:-1]
    d2 = d.reshape(-1, d.shape[-1])
    out = np.full(d2.shape[0], np.nan)
    tmax = min(t_fit, d2.shape[1] - 1)
    for i, row in enumerate(d2):
        if not (np.isfinite(row[0]) and row[0] > 0):
            continue
        ok = np.isfinite(row[: tmax + 1]) & (row[: tmax + 1] > floor)
        stop = np.argmin(ok) if not ok.all() else tmax + 1  # first invalid index
        if stop < 2:
            out[i] = floor / row[0] if np.isfinite(row[1]) else np.inf
            continue
        t = np.arange(stop)
        slope = np.polyfit(t, np.log(row[:stop]), 1)[0]
        out[i] = math.exp(slope)
    return out.reshape(lead)


def empirical_boundary(lams, values, threshold: float) -> float:
    """Smallest lambda at which ``values`` (over lams, increasing) reaches ``threshold`` (linear
    interpolation between grid points); NaN if never reached ("none in range"); lams[0] if already at the start."""
    lams, values = np.asarray(lams, float), np.asarray(values, float)
    bad = ~np.isfinite(values) | (values >= threshold)
    if not bad.any():
        return float("nan")
    i = int(np.argmax(bad))
    if i == 0:
        return float(lams[0])
    v0, v1 = values[i - 1], values[i]
    if not np.isfinite(v1):
        return float(lams[i])
    frac = (threshold - v0) / (v1 - v0) if v1 != v0 else 1.0
    return float(lams[i - 1] + frac * (lams[i] - lams[i - 1]))


def phase_summary(res: SweepResult, C: Optional[float], err_threshold: Optional[float] = None) -> Dict[str, Any]:
    """Per gamma: theoretical lambda_max, empirical boundary (contraction >= 1; final dist >= threshold),
    and over the admissible region the margin rho/(1+gamma) - measured contraction."""
    lams, gammas = res.coords["lam"], res.coords["gamma"]
    contr = res["contraction_median"]
    fd = res["final_dist"]
    if err_threshold is None:
        err_threshold = float(2.0 * np.nanmean(fd[0]))
    else:
        err_threshold = check_positive("err_threshold", err_threshold)
    C_line = 1.0 if C is None else float(C)
    rows = []
    for j, g in enumerate(gammas):
        rows.append({
            "gamma": float(g),
            "lambda_max_theory": float(B.lambda_max(C_line, g)),
            "lambda_contraction_boundary": empirical_boundary(lams, contr[:, j], 1.0),
            "lambda_error_boundary": empirical_boundary(lams, fd[:, j], err_threshold),
        })
    LL, GG = np.meshgrid(lams, gammas, indexing="ij")
    bound = B.q(LL, GG, C_line)
    adm = B.is_admissible(LL, C_line, GG)
    with np.errstate(divide="ignore", invalid="ignore"):  # bound = 0 at lambda = 0
        margin = np.where(adm, bound - contr, np.nan)
        ratio = np.where(adm, contr / bound, np.nan)
    summ = {"C": C, "C_line": C_line, "err_threshold": err_threshold, "rows": rows,
            "admissible_points": int(adm.sum())}
    # non-finite configurations (diverged chains: non-finite parameters or contraction factor)
    per_seed = np.asarray(res["contraction"], np.float64)
    bad_seed = ~np.isfinite(per_seed)
    fin = res.data.get("finite")
    if fin is not None:
        bad_seed = bad_seed | ~np.asarray(fin, bool)[..., -1]
    summ["nonfinite_configs"] = int(bad_seed.sum())
    summ["total_configs"] = int(bad_seed.size)
    if adm.any():
        # standard error of the median over seeds (asymptotic: 1.2533 sd / sqrt(S)); 0 with a single
        # finite seed (the point estimate is then compared as it is)
        finite = np.isfinite(per_seed)
        S = np.maximum(finite.sum(axis=2), 1)
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # slices with < 2 finite seeds: se 0 below
            sd = np.nanstd(np.where(finite, per_seed, np.nan), axis=2, ddof=1)
        se = np.where(finite.sum(axis=2) >= 2, 1.2533 * sd / np.sqrt(S), 0.0)
        resolved_above = adm & (contr - 2.0 * se > bound)
        # a diverged admissible point (any seed with a non-finite chain or contraction factor) violates
        # the theorem's bound outright: it is counted as a violation, never skipped as NaN
        diverged = adm & (bad_seed.any(axis=2) | ~np.isfinite(contr))
        violating = resolved_above | diverged
        summ.update({
            "min_margin": float(np.nanmin(np.where(diverged, -np.inf, margin))),
            "max_ratio_measured_over_bound": float(np.nanmax(np.where(diverged, np.inf, ratio))),
            "all_below_bound": bool(np.all(contr[adm] < bound[adm]) and not diverged.any()),
            "points_above_bound": int(np.sum(~(contr[adm] < bound[adm]))),
            "points_resolved_above_bound": int(resolved_above.sum()),
            "points_diverged": int(diverged.sum()),
            "points_violating": int(violating.sum()),
            "max_contraction_se": float(np.nanmax(np.where(adm, se, np.nan))),
        })
    return summ


def theory_C(family, data_law, *, n_mc: int = 4_000) -> Dict[str, Any]:
    """C = 1 + eps L / alpha from :func:`scsc_theory.theory.constants` in the family's default chart
    (the Gaussian's mean-svec; the GMM's free coordinates (w_1..w_{K-1}, mu_k, vech Sigma_k)).

    For a non-identifiable family (the flow) the theorem's C is undefined: E_p_data[Hessian] is
    singular (alpha = 0); then ``C`` is None and the figure draws the boundary for C = 1, which is an
    upper bound on the theoretical boundary (C >= 1 always).

    A sample estimate of eps = W1(p_theta*, p_data) is biased upwards by the sampling distance; the
    estimator reports that bias (``Constants.eps_bias``) and the boundary is drawn with the debiased
    eps (:func:`scsc_theory.theory.debiased_eps`): C = 1 + eps_debiased L / alpha; ``C_plugin`` uses the raw eps.
    """
    from .. import theory as th

    if not family.identifiable:
        # Not attempted: the parameters are not identifiable, so E_p_data[Hessian] is singular (alpha = 0,
        # C undefined), and theory's per-point P x P Hessians (P ~ 2000 for the flow) would not fit in memory.
        return {"C": None, "note": f"theorem's C undefined for the {family.name} (alpha = 0: parameters not identifiable); "
                                   "boundary drawn for C = 1, an upper bound on the theoretical boundary since C >= 1"}
    try:
        c = th.constants(family, data_law, lam=0.5, gamma=0.0, n_mc=n_mc)
    except SCSCInputError as err:
        return {"C": None, "note": f"theorem's C undefined: {err}; boundary drawn for C = 1 (an upper bound)"}
    except Exception as err:  # theory.constants failed for this family: assemble C from its parts
        return _constants_from_parts(family, data_law, n_mc, err)
    d = c.to_dict()
    keep = ("alpha", "L", "L_domain", "eps", "eps_se", "eps_method", "C", "parametrization", "parametrization_description")
    out = {k: d[k] for k in keep}
    out["C_plugin"] = out["C"]
    if c.eps_bias is not None and c.eps > 0:
        eps_db = th.debiased_eps(th.EpsilonEstimate(c.eps, c.eps_se, c.eps_method, c.eps_bias))
        out["eps_bias"] = c.eps_bias
        out["eps_debiased"] = eps_db
        out["C"] = th.constant_C(c.alpha, eps_db, c.L)
        out["note"] = ("C = 1 + eps L / alpha with eps debiased by the estimator's bias level (0 unless > 2 se) (theory.constants; "
                       "alpha from autodiff Hessians, L by ascent on its stated domain); C_plugin uses the raw eps")
    else:
        out["note"] = "theory.constants (alpha from autodiff Hessians, L by ascent on its stated domain, eps exact)"
    return out


def _constants_from_parts(family, data_law, n_mc, err) -> Dict[str, Any]:
    """C = 1 + eps L / alpha from theory.alpha_constant, theory.lipschitz_constant and
    theory.epsilon_constant (debiased), when theory.constants itself fails for this family."""
    import jax

    from .. import theory as th

    with jax.enable_x64(True):
        par = th.get_parametrization(family, data_law)
        a = th.alpha_constant(family, data_law, par, n_mc=n_mc)
        lip = th.lipschitz_constant(family, data_law, par)
    e = th.epsilon_constant(family, data_law)
    eps_db = th.debiased_eps(e)
    return {"alpha": a.value, "L": lip.L, "L_domain": lip.domain, "eps": e.value, "eps_se": e.se,
            "eps_method": e.method, "eps_bias": e.bias, "eps_debiased": eps_db,
            "C_plugin": th.constant_C(a.value, e.value, lip.L), "C": th.constant_C(a.value, eps_db, lip.L),
            "parametrization": par.name,
            "note": (f"theory.constants failed ({type(err).__name__}: {err}); C assembled from theory.alpha_constant, "
                     "theory.lipschitz_constant and theory.epsilon_constant (debiased)")}
