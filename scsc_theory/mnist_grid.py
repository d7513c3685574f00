"""The MNIST lambda grid (Gillman et al., ICML 2024, section 4, figure 5) as one figure, from its
per-lambda reports.

Each lambda of the grid is reported in its own folder, ``<folder>/lam<lambda>/mnist_summary.json``
(:func:`scsc_theory.checks.digits.mnist_summary_path`, written by ``scsc digits loop --source mnist
--lams <lambda> --figures <folder>/lam<lambda>``). This module reads those files and draws FID and
classifier accuracy against the generation, one column per lambda, the arms' seed means with a band of
one standard error over the seeds, se = h / t_{0.975, S-1} recovered from the summary's 95% Student-t
half-width h = (ci_hi - ci_lo) / 2 (:func:`scsc_theory.diffusion.fid.mean_ci`). It computes nothing new: every line is a
field of a summary file, each of which records the code version that produced it.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

ARM_COLOURS = {"baseline": "0.4", "selfconsume": "tab:red", "selfcorrect": "tab:blue", "ideal": "tab:green"}
METRICS = (("fid", "FID (LeNet-5 features; lower is better)", True), ("accuracy", "classifier accuracy on samples", False))


def read_grid(folder: Path, lams) -> dict:
    """``{lambda: summary of that lambda}`` for the lambdas whose report exists under ``folder``."""
    from .checks.digits import mnist_summary_path

    out = {}
    for lam in lams:
        p = mnist_summary_path(lam, folder)
        if p.exists():
            doc = json.loads(p.read_text())
            if lam in doc.get("summary", {}):
                out[lam] = doc
    return out


def _mean_se(s: dict):
    """(mean, mean - se, mean + se) per generation from a summary series with a 95% t-interval."""
    from scipy import stats

    m = np.asarray(s["mean"], float)
    n = np.asarray(s["n_seeds"], float)
    h = (np.asarray(s["ci_hi"], float) - np.asarray(s["ci_lo"], float)) / 2
    with np.errstate(invalid="ignore", divide="ignore"):
        se = np.where(n >= 2, h / stats.t.ppf(0.975, np.maximum(n - 1, 1)), 0.0)
    return m, m - se, m + se


def plot_grid(grid: dict, path: Path) -> Path:
    """One column per lambda (in increasing order), rows FID (log scale) and accuracy; written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .io import save_figure

    if not grid:
        raise ValueError("grid holds no lambda with a report: nothing to plot")
    lams = sorted(grid, key=float)
    fig, axes = plt.subplots(len(METRICS), len(lams), figsize=(3.6 * len(lams), 6.2), squeeze=False,
                             sharex=True, sharey="row")
    for j, lam in enumerate(lams):
        doc = grid[lam]
        floor = doc.get("real_reference", {}).get("fid_floor_pool")
        for i, (metric, label, log) in enumerate(METRICS):
            ax = axes[i, j]
            for arm, d in doc["summary"][lam].items():
                if metric not in d:
                    continue
                s = d[metric]
                c = ARM_COLOURS.get(arm, "k")
                m, lo, hi = _mean_se(s)
                ax.plot(s["generations"], m, color=c, lw=1.4, label=f"{arm} ({int(np.max(s['n_seeds']))} seeds)")
                ax.fill_between(s["generations"], lo, hi, color=c, alpha=0.2, lw=0)
            if metric == "fid" and floor:
                ax.axhspan(max(floor["mean"] - 2 * floor["sd"], 1e-3), floor["mean"] + 2 * floor["sd"], color="0.85",
                           label="real held-out +- 2 sd")
            if log:
                ax.set_yscale("log")
            ax.grid(alpha=0.3)
            if i == 0:
                ax.set_title(f"lambda = {lam}")
            if j == 0:
                ax.set_ylabel(label)
            if i == len(METRICS) - 1:
                ax.set_xlabel("generation")
    axes[0, 0].legend(fontsize=7, loc="upper left")
    commits = sorted({str(grid[lam].get("provenance", {}).get("git_commit", "?"))[:10] for lam in lams})
    fig.suptitle("28x28 MNIST self-consuming loop, cpu preset: seed mean +- one standard error per arm "
                 f"(reports of commits {', '.join(commits)})", fontsize=9)
    fig.tight_layout()
    return save_figure(fig, Path(path))
