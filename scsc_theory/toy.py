"""The paper's toy experiment (Gillman et al., Section 5.1 / Figure 2), reproduced and extended.

p_data = N(0, I_2); one Gaussian fitted by MLE; n = 50 real points; lambda = 0.5; 500 generations;
gamma in {0, 0.01, 0.03, 0.1, 0.3, 1, 2, 5}; metric: closed-form W2 between the fitted Gaussian
and p_theta* (= p_data when well specified).

Workflows (see :mod:`scsc_theory.workflows`): ``toy-schedule`` (alias ``accumulate``, the default
here) is the original script (every earlier generation's synthetic points are kept, so the effective
lambda grows to about lambda (T+1)/2, ~125 at T = 500), ``fixed`` is the setting of Theorem 4.3
(fresh floor(lambda n) points each generation); ``replace``, ``accumulate-all`` and
``accumulate-subsample`` are the literature's other workflows. Unlike the original script, every run is seeded and averaged over seeds.
"""
from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from ._validate import check_int, check_nonneg, check_nonneg_list

PAPER_GAMMAS = (0.0, 0.01, 0.03, 0.1, 0.3, 1.0, 2.0, 5.0)
#: floor(lambda n) is an int32 slot count in the compiled loop
MAX_SYNTHETIC = 2**31 - 1
#: refuse toy runs whose point buffers would exceed this many bytes (checked before compiling)
MAX_TOY_BYTES = 6 * 2**30


def check_toy_size(*, lam: float, n: int, dim: int, configs: int, generations: int, mode: str,
                   dtype_bytes: int = 8) -> None:
    """Refuse, before anything is compiled, a toy run whose synthetic count floor(lam n) overflows
    int32 or whose per-generation point buffers (both modes; the accumulate mode keeps every
    generation's points) would exceed :data:`MAX_TOY_BYTES`. The message states the limit."""
    from ._validate import SCSCInputError
    from .workflows import ACCUMULATING, canonical

    keeps = canonical(mode) in ACCUMULATING
    m = math.floor(float(lam) * int(n) + 1e-9)
    if m > MAX_SYNTHETIC:
        raise SCSCInputError(f"lam * n = {float(lam) * int(n):.4g} synthetic points per generation exceeds the limit "
                             f"{MAX_SYNTHETIC} (int32); use a smaller --lam or --n")
    per_gen = (int(n) + max(m, 1)) * int(dim) * dtype_bytes * 4  # points, corrected copy and work arrays
    need = configs * (per_gen + (generations * max(m, 1) * int(dim) * dtype_bytes if keeps else 0))
    if need > MAX_TOY_BYTES:
        raise SCSCInputError(
            f"run too large: about {need / 2**30:.1f} GiB of point buffers for {configs} configs (n={n}, "
            f"floor(lam n)={m}, dim={dim}{f', {generations} generations kept' if keeps else ''}); "
            f"the limit is {MAX_TOY_BYTES / 2**30:.0f} GiB: use a smaller --n, --lam, --seeds or fewer gammas")


@dataclasses.dataclass
class ToyRun:
    """Curves (G, S, T+1) per gamma and seed, and the summary dictionary."""

    summary: dict
    w2: np.ndarray
    dist: np.ndarray
    finite: np.ndarray
    gammas: np.ndarray
    seeds: np.ndarray


def run_toy(
    *,
    mode: str = "accumulate",
    lam: float = 0.5,
    gammas: Sequence[float] = PAPER_GAMMAS,
    n: int = 50,
    dim: int = 2,
    generations: int = 500,
    seeds: int = 32,
    corrector: str = "ideal",
    sampling: str = "finite",
    data: str = "normal",
    progress: bool = False,
    prng: str = "threefry2x32",
    subsample: Optional[int] = None,
) -> ToyRun:
    """Run the toy sweep (all gammas x seeds in one jitted call) and summarise final W2 per gamma."""
    from .data import make_data_law
    from .families import Gaussian
    from .loop import grid, run_loop

    lam = check_nonneg("lam", lam)
    gammas = np.asarray(check_nonneg_list("gamma", gammas))
    seeds = check_int("seeds", seeds, 1)
    dim = check_int("dim", dim, 1)
    n = check_int("n", n, 2)
    generations = check_int("generations", generations, 1)
    check_toy_size(lam=lam, n=n, dim=dim, configs=len(gammas) * seeds, generations=generations, mode=mode)
    law = make_data_law(data, dim)
    L, G, S = grid([lam], gammas, np.arange(seeds))
    t0 = time.perf_counter()
    chunk = max(1, generations // 20) if progress else None
    res = run_loop(
        Gaussian(dim), law, lam=L, gamma=G, seed=S, n=n, generations=generations, mode=mode,
        sampling=sampling, corrector=corrector, chunk=chunk, progress=progress, prng=prng,
        subsample=subsample,
    )
    elapsed = time.perf_counter() - t0
    shape = (len(gammas), seeds, generations + 1)
    w2 = res.metrics["w2"].reshape(shape)
    dist = res.metrics["dist"].reshape(shape)
    finite = res.finite.reshape(shape)
    ok = finite[:, :, -1]
    final = np.where(ok, w2[:, :, -1], np.nan)
    with np.errstate(invalid="ignore"):
        mean = [float(np.nanmean(f)) if np.any(np.isfinite(f)) else None for f in final]
        std = [float(np.nanstd(f)) if np.any(np.isfinite(f)) else None for f in final]
    valid = [m for m in mean if m is not None]
    summary = {
        "experiment": "toy",
        "mode": mode,
        "workflow": res.spec.mode,
        "sampling": sampling,
        "corrector": corrector,
        "prng": prng,
        "data": data,
        "family": "gaussian",
        "lam": lam,
        "n": int(n),
        "dim": dim,
        "generations": int(generations),
        "seeds": seeds,
        "synthetic_per_generation": int(res.m[0]),
        "gamma": [float(g) for g in gammas],
        "final_w2_mean": mean,
        "final_w2_std": std,
        "final_w2_sem": [None if s is None else s / np.sqrt(max(int(k), 1)) for s, k in zip(std, ok.sum(1))],
        "diverged": [int(seeds - k) for k in ok.sum(1)],
        "final_w2_decreasing_in_gamma": bool(len(valid) == len(mean) and np.all(np.diff(valid) <= 0)),
        "elapsed_s": round(elapsed, 3),
    }
    return ToyRun(summary=summary, w2=w2, dist=dist, finite=finite, gammas=gammas, seeds=np.arange(seeds))


def plot_toy(run: ToyRun, path) -> Path:
    """Mean W2 curve per gamma with a 10-90% band over seeds; non-finite seeds are excluded and counted."""
    import matplotlib.pyplot as plt

    from .io import save_figure

    s = run.summary
    fig, ax = plt.subplots(figsize=(7, 4.2))
    cmap = plt.get_cmap("viridis")
    gens = np.arange(run.w2.shape[-1])
    for i, g in enumerate(run.gammas):
        ok = run.finite[i, :, -1]
        label = f"gamma={g:g}"
        if not ok.all():
            label += f" ({(~ok).sum()}/{ok.size} diverged, excluded)"
        if not ok.any():
            continue
        curves = run.w2[i, ok]
        color = cmap(i / max(len(run.gammas) - 1, 1))
        ax.plot(gens, curves.mean(0), color=color, lw=1.6, label=label)
        lo, hi = np.percentile(curves, [10, 90], axis=0)
        ax.fill_between(gens, lo, hi, color=color, alpha=0.15, lw=0)
    ax.set_yscale("log")
    ax.set_xlabel("generation t")
    ax.set_ylabel("W2(p_theta_t, p_theta*)")
    title = (
        f"Toy SCSC loop, mode={s['mode']}: N(0,I_{s['dim']}), n={s['n']}, lambda={s['lam']:g}, "
        f"{s['seeds']} seeds (mean, 10-90% band)"
    )
    if s["corrector"] != "ideal":
        title += f", corrector={s['corrector']}"
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, ncol=2)
    ax.grid(alpha=0.3, which="both")
    out = save_figure(fig, path)
    return out


def write_toy(run: ToyRun, out_dir, figure_path: Optional[Path] = None) -> list[Path]:
    """Write DIR/summary.json (with the code's provenance), DIR/curves.npz and the figure
    (default DIR/toy_w2_<mode>.png); return the paths."""
    from .io import provenance, write_json, write_npz

    out_dir = Path(out_dir)
    run.summary["provenance"] = provenance(["toy"])
    files = [
        write_json(out_dir / "summary.json", run.summary),
        write_npz(out_dir / "curves.npz", w2=run.w2, dist=run.dist, finite=run.finite, gamma=run.gammas,
                  seeds=run.seeds, lam=np.asarray(run.summary["lam"])),
    ]
    if figure_path is None:
        figure_path = out_dir / f"toy_w2_{run.summary['mode']}.png"
    files.append(plot_toy(run, figure_path))
    return files
