"""Figure and table of the measured gamma_eff (issue 17): the Gaussian (lambda, gamma) phase diagram with
Theorem 4.3's boundary lambda C < (1 + gamma)/(2 + gamma) (well specified: C = 1), each practical
corrector drawn at (lambda, gamma_eff) with its bootstrap interval, for the paper's lambdas."""
from __future__ import annotations

from pathlib import Path

import numpy as np

#: the paper's lambdas: the toy (0.5) and the MNIST grid (0.2, 0.5, 1, 1.5)
PAPER_LAMS = (0.2, 0.5, 1.0, 1.5)
Y_TOP = 40.0  # gamma_eff = inf (or above) is drawn here


def _fmt_g(x):
    if x is None:
        return "n/a"
    return "inf" if np.isinf(x) else f"{x:.2f}"


def table_markdown(results: dict, toy_gammas=None) -> str:
    """One row per measured (world, corrector, nominal gamma): gamma_eff [interval], residual, per direction;
    ``toy_gammas`` keeps only those nominal gammas of the toy (None: all)."""
    lines = ["| world | raw law | corrector | nominal gamma | gamma_eff [90% interval] | residual E(C, best mix)/E(R, T) "
             "| per-direction gamma_eff (top 2) |", "|---|---|---|---|---|---|---|"]

    def row(world, raw, r):
        g = r.get("gamma_nominal")
        if world == "Gaussian toy" and toy_gammas is not None and g not in toy_gammas:
            return
        nominal = r.get("nominal_label") or ("replace" if g is None else f"{g:g}")
        lines.append(f"| {world} | {raw} | {r['corrector']} | {nominal} | "
                     f"{_fmt_g(r['gamma_eff'])} [{_fmt_g(r['gamma_lo'])}, {_fmt_g(r['gamma_hi'])}] | "
                     f"{r['residual']:.3f} | {', '.join(_fmt_g(x) for x in r['dir_gamma'])} |")

    toy = results.get("toy", {})
    for r in toy.get("measurements", []):
        if r.get("lam") == toy.get("lam_main"):
            row("Gaussian toy", f"N((0.3,0), diag(1.4,0.7)), m={r['m']}", r)
    far = toy.get("far_raw_law")
    for r in toy.get("measurements_far", []):
        row("Gaussian toy", f"far: N(({far['mean'][0]:g},{far['mean'][1]:g}), diag({far['var'][0]:g},{far['var'][1]:g})), "
            f"m={r['m']}", r)
    dig = results.get("digits", {})
    for raw in ("gen0", "degraded"):
        for r in dig.get(raw, []):
            row("digits (features)", "generation-0 samples" if raw == "gen0" else
                f"train digits + N(0,{dig['settings']['noise_sd']:g}^2) noise", r)
    mot = results.get("motion", {})
    for r in mot.get("degraded", []):
        row("motion (features)", f"{mot['settings']['n']} corrupted true clips", dict(r, corrector=f"physics, strength {r['strength']:g}",
                                                                                      nominal_label="n/a"))
    return "\n".join(lines) + "\n"


def prediction_markdown(results: dict) -> str:
    lines = ["| mode | corrector | nominal gamma | gamma_eff | practical loop W2 | ideal loop at gamma_eff | "
             "practical - ideal(gamma_eff) | practical - ideal(nominal) | holds |", "|---|---|---|---|---|---|---|---|---|"]
    for p in results.get("toy", {}).get("predictions", []):
        lines.append(f"| {p['mode']} (lambda={p['lam']:g}) | {p['corrector']} | {p['gamma_nominal']:g} | "
                     f"{_fmt_g(p['gamma_eff'])} | {p['practical_w2']:.4f} | {p['ideal_at_gamma_eff_w2']:.4f} | "
                     f"{p['diff_vs_gamma_eff']:+.4f} +- {p['diff_vs_gamma_eff_se']:.4f} | "
                     f"{p['diff_vs_nominal']:+.4f} +- {p['diff_vs_nominal_se']:.4f} | {'yes' if p['holds'] else 'NO'} |")
    return "\n".join(lines) + "\n"


def _bar(g, lo, hi):
    """(y, [[down], [up]]) of a point and its interval on the plot's range [0, Y_TOP] (None/inf clipped)."""
    def c(v):
        return Y_TOP if v is None or v > Y_TOP else max(float(v), 0.0)

    y = c(g)
    return y, [[y - min(c(lo), y)], [max(c(hi), y) - y]]


def plot_map(results: dict, path) -> Path:
    """figures/gamma_eff_map.png: admissible region, the boundary, and each corrector at (lambda, gamma_eff)."""
    import matplotlib.pyplot as plt

    from .io import save_figure

    fig, ax = plt.subplots(figsize=(8, 5.2))
    g = np.concatenate([[0.0], np.geomspace(1e-2, Y_TOP, 400)])
    lam_max = (1 + g) / (2 + g)  # C = 1 (well-specified Gaussian)
    ax.fill_betweenx(g, 0, lam_max, color="tab:green", alpha=0.12, label="Theorem 4.3 admissible (C = 1)")
    ax.plot(lam_max, g, color="tab:green", lw=2, label="boundary lambda C = (1+gamma)/(2+gamma)")
    toy = results.get("toy", {})
    names = sorted({r["corrector"] for r in toy.get("measurements", [])})
    cmap = plt.get_cmap("tab10")
    offsets = np.linspace(-0.06, 0.04, max(len(names), 1))
    for j, name in enumerate(names):
        rows = [r for r in toy["measurements"] if r["corrector"] == name]
        for k, r in enumerate(rows):
            x = r["lam"] + offsets[j]
            y, err = _bar(r["gamma_eff"], r["gamma_lo"], r["gamma_hi"])
            ax.errorbar([x], [y], yerr=err, fmt="o", ms=4, color=cmap(j), capsize=2, lw=1,
                        label=f"toy {name}" if k == 0 else None)
            ax.plot([x], [r["gamma_nominal"]], marker="_", ms=9, color=cmap(j), alpha=0.7)
    dig = results.get("digits", {})
    unresolved = []
    for raw, mk, dx in (("gen0", "s", 0.08), ("degraded", "D", 0.11)):
        rows = [r for r in dig.get(raw, []) if r["corrector"] == "kmeans"]
        for k, r in enumerate(rows):
            lo, hi = r["gamma_lo"], r["gamma_hi"]
            if lo is None or hi is None or lo <= 0 < hi and np.isinf(hi):  # interval spans 0..inf: no place
                g = r["gamma_nominal"]
                unresolved.append(f"{raw} {'replace' if g is None else f'{g:g}'}")
                continue
            y, err = _bar(r["gamma_eff"], lo, hi)
            for i, lam in enumerate(PAPER_LAMS):
                ax.errorbar([lam + dx], [y], yerr=err, fmt=mk,
                            mfc="none", color="tab:brown", ms=5, capsize=2, lw=0.8,
                            label=(f"digits k-means ({'gen-0' if raw == 'gen0' else 'degraded'} raw), features"
                                   if i == 0 and k == 0 else None))
    for k, r in enumerate(results.get("motion", {}).get("degraded", [])):
        y, err = _bar(r["gamma_eff"], r["gamma_lo"], r["gamma_hi"])
        below = r["gamma_eff"] is not None and r["gamma_eff"] < 0
        for i, lam in enumerate(PAPER_LAMS):
            ax.errorbar([lam + 0.14 + 0.03 * k], [y], yerr=err, fmt="v" if below else "^",
                        mfc="none", color="tab:purple" if k else "tab:pink", ms=5, capsize=2, lw=0.8,
                        label=(f"motion physics corrector, strength {r['strength']:g} (degraded raw), features"
                               + (f": gamma_eff {r['gamma_eff']:.2f} < 0, drawn at 0" if below else ""))
                        if i == 0 else None)
    if unresolved:
        ax.text(0.02, 0.88, "digits k-means, interval spans 0..inf (not placed): " + ", ".join(unresolved),
                fontsize=6.5, color="tab:brown", transform=ax.transAxes)
    ax.axhline(Y_TOP, color="0.6", ls=":", lw=1)
    ax.text(0.02, Y_TOP * 1.08, "gamma_eff = inf (w >= 1) or above", fontsize=7, color="0.4")
    ax.set_yscale("symlog", linthresh=0.1)
    ax.set_ylim(-0.02, Y_TOP * 1.6)
    ax.set_xlim(0, 1.7)
    ax.set_xticks(PAPER_LAMS)
    ax.set_xlabel("lambda (the paper's: toy 0.5; MNIST 0.2, 0.5, 1, 1.5)")
    ax.set_ylabel("gamma (markers: gamma_eff with 90% bootstrap interval; dash: nominal gamma)")
    ax.set_title("Where practical correctors sit on Theorem 4.3's map (Gaussian, C = 1)", fontsize=10)
    ax.legend(fontsize=6.5, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.grid(alpha=0.3, which="both")
    return save_figure(fig, path)
