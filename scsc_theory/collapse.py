"""Workflow comparison with the exact curves (issue 15): error vs generation per workflow, seeds as bands.

``linreg``: the linear-regression family (d = 4, T = 12, sigma = 1, lambda = 1, n = T), metric
||theta_t - theta*||^2, exact curves of :mod:`scsc_theory.closed_form` for replace and accumulate-all
at gamma = 0 (conditional on the design: c = sigma^2 tr (X^T X)^-1).
``gaussian``: the toy Gaussian N(0, I_2), n = 20, metric W2 (and for replace log det Sigma_t with its
exact mean at gamma = 0, and tr Sigma_t with its exact mean at every gamma:
:func:`scsc_theory.closed_form.gaussian_replace_corrected`). Every workflow at gamma in ``gammas``
(ideal pi_gamma correction), lambda in ``lams``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .workflows import WORKFLOWS


def run_collapse(family: str = "linreg", *, gammas=(0.0, 0.5, 2.0), lams=(0.5, 1.0), seeds: int = 64,
                 generations: int = 30) -> dict:
    """Run every workflow x lambda x gamma x seed; return curves (W, L, G, S, T+1) and the exact curves."""
    from . import closed_form as cf
    from .loop import grid, run_loop, synthetic_count

    if family == "linreg":
        from .families.linreg import LinReg, design_matrix

        fam = LinReg(d=4, T=12)
        law, n, metric, lams = fam.law(), 12, "err", (1.0,)
        c = cf.linreg_c_design(design_matrix(12, 4, 0), 1.0)
        t = np.arange(generations + 1)
        exact = {wf: cf.linreg_error(wf, t, c) for wf in ("replace", "accumulate-all")}
    else:
        from .data import make_data_law
        from .families import Gaussian

        fam, law, n, metric, exact = Gaussian(2), make_data_law("normal", 2), 20, "w2", {}
    L, G, S = grid(lams, gammas, np.arange(seeds))
    curves, logdet, trace = {}, None, None
    for wf in WORKFLOWS:
        r = run_loop(fam, law, lam=L, gamma=G, seed=S, n=n, generations=generations, mode=wf)
        curves[wf] = np.where(r.finite, r.metrics[metric], np.nan).reshape(len(lams), len(gammas), seeds, -1)
        if wf == "replace" and family != "linreg":
            ld = np.linalg.slogdet(r.thetas.cov)[1]
            logdet = (ld - ld[:, :1]).reshape(len(lams), len(gammas), seeds, -1)
            exact["replace_logdet"] = {float(lm): cf.gaussian_replace_logdet(np.arange(generations + 1),
                                                                            int(synthetic_count(lm, n)), 2)[0]
                                       for lm in lams}
            trace = np.trace(np.asarray(r.thetas.cov, np.float64), axis1=-2, axis2=-1).reshape(len(lams), len(gammas), seeds, -1)
            t = np.arange(generations + 1)
            exact["replace_trace"] = {f"{float(lm):g},{float(g):g}": np.trace(cf.gaussian_replace_corrected(
                t, int(synthetic_count(lm, n)), g, np.eye(2) * (n - 1) / n, np.eye(2) / n)[0], axis1=1, axis2=2)
                for lm in lams for g in gammas}
    return dict(family=family, metric=metric, lams=list(lams), gammas=list(gammas), seeds=seeds,
                generations=generations, curves=curves, exact=exact, logdet=logdet, trace=trace)


def plot_collapse(res: dict, path) -> Path:
    """One panel per workflow: mean (line) and 10-90% band over seeds per (lambda, gamma); exact curves dashed."""
    import matplotlib.pyplot as plt

    from .io import save_figure

    extra = 2 * (res["logdet"] is not None)
    fig, axes = plt.subplots(1, len(WORKFLOWS) + extra, figsize=(3.4 * (len(WORKFLOWS) + extra), 3.3))
    gens = np.arange(res["generations"] + 1)
    cmap = plt.get_cmap("viridis")
    for ax, wf in zip(axes, WORKFLOWS):
        for i, lm in enumerate(res["lams"]):
            for j, g in enumerate(res["gammas"]):
                c = res["curves"][wf][i, j]
                col = cmap(j / max(len(res["gammas"]) - 1, 1))
                ax.plot(gens, np.nanmean(c, 0), color=col, ls="-" if i == len(res["lams"]) - 1 else ":",
                        label=f"lam={lm:g}, gamma={g:g}")
                lo, hi = np.nanpercentile(c, [10, 90], axis=0)
                ax.fill_between(gens, lo, hi, color=col, alpha=0.12, lw=0)
        if wf in res["exact"]:
            ax.plot(gens, res["exact"][wf], "k--", lw=1.2, label="exact (gamma=0)")
        ax.set_title(wf, fontsize=9)
        ax.set_xlabel("generation t")
        ax.set_yscale("log")
        ax.grid(alpha=0.3, which="both")
    axes[0].set_ylabel("||theta_t - theta*||^2" if res["metric"] == "err" else "W2(p_theta_t, p_theta*)")
    axes[0].legend(fontsize=6)
    if extra:
        ax = axes[-2]
        for i, lm in enumerate(res["lams"]):
            for j, g in enumerate(res["gammas"]):
                c = res["logdet"][i, j]
                ax.plot(gens, c.mean(0), color=cmap(j / max(len(res["gammas"]) - 1, 1)),
                        ls="-" if i == len(res["lams"]) - 1 else ":")
            ax.plot(gens, res["exact"]["replace_logdet"][float(lm)], "k--", lw=1.2)
        ax.set_title("replace: log det change\n(exact dashed, gamma = 0)", fontsize=8)
        ax.set_xlabel("generation t")
        ax.grid(alpha=0.3)
        ax = axes[-1]
        for i, lm in enumerate(res["lams"]):
            for j, g in enumerate(res["gammas"]):
                col = cmap(j / max(len(res["gammas"]) - 1, 1))
                ls = "-" if i == len(res["lams"]) - 1 else ":"
                ax.plot(gens, res["trace"][i, j].mean(0), color=col, ls=ls)
                ax.plot(gens, res["exact"]["replace_trace"][f"{float(lm):g},{float(g):g}"], "k", ls="--", lw=0.9)
        ax.set_title("replace with pi_gamma: E tr Sigma_t\n(exact dashed, every gamma)", fontsize=8)
        ax.set_xlabel("generation t")
        ax.set_yscale("log")
        ax.grid(alpha=0.3, which="both")
    fig.suptitle(f"Workflows, family={res['family']}, {res['seeds']} seeds (mean, 10-90% band)", fontsize=9)
    return save_figure(fig, path)


def write_collapse(res: dict, out_dir, figure_path=None) -> list:
    """DIR/summary.json (final mean per workflow, lambda, gamma; provenance), DIR/curves.npz, the figure."""
    from .io import provenance, write_json, write_npz

    out_dir = Path(out_dir)
    summary = {k: res[k] for k in ("family", "metric", "lams", "gammas", "seeds", "generations")}
    summary["final_mean"] = {wf: np.nanmean(c[..., -1], axis=-1).tolist() for wf, c in res["curves"].items()}
    summary["exact_final"] = {k: (float(v[-1]) if not isinstance(v, dict) else {str(a): float(b[-1]) for a, b in v.items()})
                              for k, v in res["exact"].items()}
    summary["provenance"] = provenance(["collapse"])
    files = [write_json(out_dir / "summary.json", summary),
             write_npz(out_dir / "curves.npz", **{wf.replace("-", "_"): c for wf, c in res["curves"].items()})]
    files.append(plot_collapse(res, figure_path or out_dir / f"collapse_{res['family']}.png"))
    return files
