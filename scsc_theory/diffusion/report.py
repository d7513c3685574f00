"""Figures shared by the diffusion worlds (motion, digits): one colour per arm and the per-arm
metric curves (mean over seeds, its 5-generation moving average, a min-max band over seeds)."""
from __future__ import annotations

import numpy as np

ARM_COLORS = {"baseline": "#444444", "selfconsume": "#d62728", "selfcorrect": "#1f77b4", "ideal": "#2ca02c"}


def smooth(y, w: int = 5):
    """Centred moving average over ``w`` generations (edges padded), for the bold lines."""
    y = np.asarray(y, float)
    if y.size < 3:
        return y
    w = max(1, min(w, y.size))
    pad = np.pad(y, (w // 2, w - 1 - w // 2), mode="edge")
    return np.convolve(pad, np.ones(w) / w, mode="valid")


def by_arm_metric(rows) -> dict:
    """Metric rows (dicts with arm, metric, seed, generation, value) -> {(arm, metric): {seed: {g: value}}}."""
    by: dict = {}
    for r in rows:
        by.setdefault((r["arm"], r["metric"]), {}).setdefault(r["seed"], {})[r["generation"]] = r["value"]
    return by


def arm_curves(ax, by: dict, metric: str, arms, *, lw: float = 2.2, band_alpha: float = 0.12,
               smooth_band: bool = True) -> None:
    """One arm a colour on ``ax``: the raw mean over seeds (faint), its moving average (bold) and, with
    several seeds, the min-max band over seeds (smoothed when ``smooth_band``), over the generations
    every seed reached."""
    for a in arms:
        seeds = by.get((a, metric))
        if not seeds:
            continue
        gens = sorted(set.intersection(*[set(v) for v in seeds.values()]))
        mat = np.array([[seeds[s][g] for g in gens] for s in sorted(seeds)])
        mean, c = mat.mean(0), ARM_COLORS[a]
        ax.plot(gens, mean, color=c, alpha=0.3, lw=0.8)
        ax.plot(gens, smooth(mean), color=c, lw=lw, label=a)
        if mat.shape[0] > 1:
            lo, hi = (smooth(mat.min(0)), smooth(mat.max(0))) if smooth_band else (mat.min(0), mat.max(0))
            ax.fill_between(gens, lo, hi, color=c, alpha=band_alpha, lw=0)
