"""The phase-diagram figure of a sweep (three heatmaps over (lambda, gamma) with the theory's
boundary and the empirical ones). The matplotlib backend is the caller's choice (``scsc`` selects
a non-interactive one in :func:`scsc_theory.cli.main`).
"""
from __future__ import annotations

from typing import Any, Dict, Optional

import numpy as np

from ..theory import bound as B
from .analysis import phase_summary
from .results import SweepResult


def edges(v):
    """Cell edges of a grid of centres ``v`` (one unit wide for a single point)."""
    v = np.asarray(v, float)
    if v.size == 1:
        return np.array([v[0] - 0.5, v[0] + 0.5])
    mid = 0.5 * (v[1:] + v[:-1])
    return np.concatenate([[v[0] - (mid[0] - v[0])], mid, [v[-1] + (v[-1] - mid[-1])]])


def plot_phase(res: SweepResult, path, C: Optional[float], err_threshold: Optional[float] = None,
               title: Optional[str] = None, C_alt: Optional[float] = None) -> Dict[str, Any]:
    """Three heatmaps over (lambda, gamma): final distance to theta*, measured contraction factor,
    and bound minus measured in the admissible region; theoretical boundary lambda = (1+gamma)/((2+gamma) C)
    on each; empirical boundaries marked (or "none in range"). Returns :func:`phase_summary`."""
    import matplotlib.pyplot as plt

    from ..io import save_figure

    summ = phase_summary(res, C, err_threshold)
    lams, gammas = res.coords["lam"], res.coords["gamma"]
    le, ge = edges(lams), edges(gammas)
    gline = np.linspace(ge[0], ge[-1], 200)
    lline = B.lambda_max(summ["C_line"], gline)
    LL, GG = np.meshgrid(lams, gammas, indexing="ij")
    bound = B.q(LL, GG, summ["C_line"])
    adm = B.is_admissible(LL, summ["C_line"], GG)
    contr = res["contraction_median"]
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.6))
    c_lab = (f"theory: lambda = (1+g)/((2+g) C), C = {summ['C']:.3g}" if summ["C"] is not None
             else "theory with C = 1 (upper bound; C undefined)")
    panels = [
        ("final ||theta_T - theta*|| (mean over seeds)", res["final_dist"], "viridis", None),
        ("measured contraction factor r (median over seeds)", contr, "magma", (0, max(1.2, float(np.nanmax(np.where(np.isfinite(contr), contr, 0)))))),
        ("rho/(1+gamma) - r  (admissible region only)", np.where(adm, bound - contr, np.nan), "cividis", None),
    ]
    for ax, (ttl, Z, cmap, lim) in zip(axes, panels):
        kw = {} if lim is None else {"vmin": lim[0], "vmax": lim[1]}
        im = ax.pcolormesh(le, ge, np.asarray(Z, float).T, cmap=cmap, shading="flat", **kw)
        fig.colorbar(im, ax=ax)
        ax.plot(lline, gline, "c-", lw=2, label=c_lab)
        if C_alt is not None and np.isfinite(C_alt) and C is not None and abs(C_alt - C) > 1e-9 * C:
            ax.plot(B.lambda_max(C_alt, gline), gline, "c--", lw=1.5,
                    label=f"theory with plug-in (biased) eps: C = {C_alt:.3g}")
        ax.set_xlim(le[0], le[-1])
        ax.set_ylim(ge[0], ge[-1])
        ax.set_xlabel("lambda")
        ax.set_ylabel("gamma")
        ax.set_title(ttl, fontsize=9)
    # empirical boundaries
    rows = summ["rows"]
    for ax, keyname, lab, col in ((axes[0], "lambda_error_boundary", f"final dist >= {summ['err_threshold']:.3g}", "r"),
                                  (axes[1], "lambda_contraction_boundary", "r >= 1", "lime")):
        pts = [(r[keyname], r["gamma"]) for r in rows if np.isfinite(r[keyname])]
        if pts:
            xs, ys = zip(*pts)
            ax.plot(xs, ys, "o--", color=col, ms=5, label=f"empirical boundary ({lab})")
        if len(pts) < len(rows):
            ax.text(0.02, 0.02, f"empirical boundary ({lab}):\nnone in range" + ("" if not pts else " for some gamma"),
                    transform=ax.transAxes, color="w", fontsize=8, va="bottom",
                    bbox={"facecolor": "k", "alpha": 0.5, "lw": 0})
        ax.legend(loc="upper left", fontsize=7)
    if "min_margin" in summ:
        axes[2].text(0.02, 0.02, f"admissible points: {summ['admissible_points']}\nmin margin {summ['min_margin']:.3g}\n"
                     f"max r / bound {summ['max_ratio_measured_over_bound']:.3g}\nall below bound: {summ['all_below_bound']}\n"
                     f"violations: {summ['points_violating']} (diverged: {summ['points_diverged']})",
                     transform=axes[2].transAxes, fontsize=8, color="w", va="bottom",
                     bbox={"facecolor": "k", "alpha": 0.5, "lw": 0})
    a = res.attrs
    fig.suptitle(title or (f"{a['family']} on {a['data']}: n={a['n']}, T={a['generations']}, seeds={len(a['seeds'])}, "
                           f"corrector={a['corrector']}, workflow={a.get('mode', 'fixed')}"
                           + ("" if a.get("mode", "fixed") == "fixed" else " (the boundary drawn is Theorem 4.3's, "
                              "proved for the fixed workflow)"))
                 + f"; non-finite configurations: {summ['nonfinite_configs']} of {summ['total_configs']}", fontsize=10)
    save_figure(fig, path)
    return summ
