"""An explorer for Conjecture 4.7 (Gillman et al.): with correction, larger lambda and a farther theta_0.

Conjecture 4.7 (open): with self-correction (gamma > 0) the loop keeps its improved stability for
a larger augmentation lambda and from a theta_0 farther from theta* than Theorem 4.3 requires
(lambda C < (1+gamma)/(2+gamma), theta_0 "close enough"). For each gamma this module measures

(a) ``lam_contract``: the largest lambda of a grid at which the loop still contracts, i.e. the
    measured contraction factor r (decay of a perturbation under common random numbers, see
    :mod:`scsc_theory.sweep`) stays below 1 for every grid lambda up to it; "none" = never fails
    in range (reported as >= the largest lambda);
(b) ``basin``: the largest initial distance ||theta_0 - theta*|| from which the loop returns to
    theta*: theta_0 = theta* + R u for R on a grid and ``directions`` unit directions u (for
    mixtures the first is the *merge* direction, all means moved toward their common centre: the
    spurious fixed point of merged components, capped where the means coincide; the rest random, over the means only; Gaussian:
    random mean shifts; flow: random directions in the raw parameters), ``seeds`` seeds each, at
    lambda = ``basin_lam``. A run *returns* if its final distance is <= ``tol_factor`` times the
    largest final distance of the runs started at theta* itself (R = 0) at the same gamma.
    The basin is the largest R such that every run with R' <= R returned; the table reports it
    as the median measured ||theta_0 - theta*|| at that R (the family's distance: matched for
    mixtures, sliced W2 for flows).

Both are set beside the theorem's threshold lambda_max(gamma) = (1+gamma)/((2+gamma) C).
"""
from __future__ import annotations

import dataclasses
from typing import Any, Dict, List, Optional

import numpy as np

from ._validate import SCSCInputError, check_int, check_nonneg, check_positive


def basin_directions(family, theta_star, n_dir: int, seed: int = 0):
    """List of functions R -> theta* + R u (u unit) for the basin search (see the module docstring):
    the family's :meth:`~scsc_theory.families.Family.basin_directions`."""
    import jax

    return family.basin_directions(theta_star, n_dir, jax.random.PRNGKey(seed))


@dataclasses.dataclass
class ConjectureResult:
    rows: List[Dict[str, Any]]
    gammas: np.ndarray
    lams: np.ndarray
    radii: np.ndarray
    contraction: np.ndarray  # (lam, gamma) median r
    returned: np.ndarray  # (gamma, radius) fraction of runs that returned
    init_dist: np.ndarray  # (gamma, radius) median ||theta_0 - theta*||
    attrs: Dict[str, Any]

    def to_dict(self):
        return {"rows": self.rows, "gammas": self.gammas.tolist(), "lams": self.lams.tolist(),
                "radii": self.radii.tolist(), "contraction": self.contraction.tolist(),
                "returned": self.returned.tolist(), "init_dist": self.init_dist.tolist(), "attrs": self.attrs}


def explore(family, data_law, *, lams, gammas, radii, seeds=(0, 1), basin_lam: float = 0.5, directions: int = 4,
            n: int = 50, generations: int = 60, tol_factor: float = 2.0, C: Optional[float] = None,
            sweep_dir=None, chunk: Optional[int] = None, overwrite: bool = False) -> ConjectureResult:
    """Run (a) a (lams x gammas) sweep for the contraction factor and (b) the basin search (see module doc)."""
    import jax

    from .loop import run_loop
    from .sweep import parse_range, run_sweep
    from .theory import lambda_max

    lams = parse_range("lam", lams)
    gammas = parse_range("gamma", gammas)
    radii = parse_range("radii", radii)
    seeds = np.asarray(seeds, np.int64).reshape(-1)
    if seeds.size == 0:
        raise SCSCInputError("seeds is empty")
    basin_lam = check_nonneg("basin_lam", basin_lam)
    directions = check_int("directions", directions, 1)
    tol_factor = check_positive("tol_factor", tol_factor)
    generations = check_int("generations", generations, 2)
    if radii[0] != 0:
        radii = np.concatenate([[0.0], radii])  # R = 0 is the reference
    family.validate(data_law)

    # (a) contraction over lambda for each gamma
    sw = run_sweep(family, data_law, lams, gammas, seeds, n=n, generations=min(generations, 30),
                   chunk=chunk, out_dir=sweep_dir, overwrite=overwrite)
    contr = sw["contraction_median"]

    # (b) basin of attraction at basin_lam
    ts = family.theta_star(data_law)
    movers = basin_directions(family, ts, directions)
    G, R, D, S = gammas.size, radii.size, len(movers), seeds.size
    th0 = []
    for g in range(G):
        for r in radii:
            for mv in movers:
                for _ in range(S):
                    th0.append(mv(float(r)))
    theta0 = jax.tree_util.tree_map(lambda *xs: np.stack([np.asarray(x) for x in xs]), *th0)
    gam_c = np.repeat(gammas, R * D * S)
    seed_c = np.tile(seeds, G * R * D)
    res = run_loop(family, data_law, lam=basin_lam, gamma=gam_c, seed=seed_c, n=n, generations=generations,
                   theta0=theta0, record_thetas=False, chunk=chunk)
    dist = res.metrics["dist"].reshape(G, R, D, S, -1)
    d0 = dist[..., 0]
    final = np.where(res.finite[:, -1].reshape(G, R, D, S), dist[..., -1], np.inf)
    ref = np.max(final[:, 0], axis=(1, 2))  # (G,)
    ok = final <= tol_factor * ref[:, None, None, None]
    returned = ok.mean(axis=(2, 3))
    init_dist = np.median(d0, axis=(2, 3))
    collapsed = res.metrics.get("collapsed")
    rows = []
    C_line = 1.0 if C is None else float(C)
    for j, g in enumerate(gammas):
        good = contr[:, j] < 1
        if good.all():
            lam_c, lam_note = float(lams[-1]), "none in range (>=)"
        elif not good[0]:
            lam_c, lam_note = float("nan"), "fails at the smallest lambda"
        else:
            first_bad = int(np.argmin(good))
            lam_c, lam_note = float(lams[first_bad - 1]), "last contracting grid lambda"
        all_ok = np.cumprod(ok[j].all(axis=(1, 2)))  # over radii, in order
        k = int(all_ok.sum()) - 1
        basin = float(init_dist[j, k]) if k >= 0 else 0.0
        row = {
            "gamma": float(g), "lambda_max_theory": float(lambda_max(C_line, g)),
            "lam_contract": lam_c, "lam_contract_note": lam_note,
            "basin_radius_R": float(radii[k]) if k >= 0 else 0.0,
            "basin_init_dist": basin,
            "basin_note": "none in range (>=)" if k == R - 1 else "first failure at R = %.3g" % radii[k + 1],
            "ref_final_dist": float(ref[j]),
        }
        if collapsed is not None:
            row["runs_collapsed"] = int(collapsed.reshape(G, R, D, S, -1)[j].max(-1).sum())
        rows.append(row)
    attrs = {"family": family.name, "family_repr": repr(family), "data": data_law.name, "n": n,
             "generations": generations, "basin_lam": basin_lam, "directions": D, "seeds": seeds.tolist(),
             "tol_factor": tol_factor, "C": C, "C_line": C_line}
    return ConjectureResult(rows, gammas, lams, radii, contr, returned, init_dist, attrs)


def format_table(res: ConjectureResult) -> str:
    lines = [f"| gamma | lambda_max (theory, C={res.attrs['C_line']:.3g}) | largest contracting lambda | "
             f"basin: max ||theta_0 - theta*|| (lambda={res.attrs['basin_lam']:g}) | note |",
             "|---|---|---|---|---|"]
    for r in res.rows:
        lc = "-" if r["lam_contract"] != r["lam_contract"] else f"{r['lam_contract']:.3g}"
        if "(>=)" in r["lam_contract_note"]:
            lc = ">= " + lc
        b = f"{r['basin_init_dist']:.3g}" + (" (>= , none in range)" if "none" in r["basin_note"] else "")
        lines.append(f"| {r['gamma']:.3g} | {r['lambda_max_theory']:.3g} | {lc} | {b} | {r['basin_note']} |")
    return "\n".join(lines)


def plot(res: ConjectureResult, path) -> None:
    import matplotlib.pyplot as plt

    from .io import save_figure
    from .sweep import edges as _edges
    from .theory import lambda_max

    g = res.gammas
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.3))
    ax = axes[0]
    gl = np.linspace(g.min(), g.max(), 100) if g.size > 1 else g
    ax.plot(gl, lambda_max(res.attrs["C_line"], gl), "k-", label=f"theory lambda_max, C={res.attrs['C_line']:.3g}")
    lc = np.array([r["lam_contract"] for r in res.rows])
    open_ = np.array(["(>=)" in r["lam_contract_note"] for r in res.rows])
    ax.plot(g[~open_], lc[~open_], "o", color="C1", label="largest contracting lambda (measured)")
    if open_.any():
        ax.plot(g[open_], lc[open_], "^", color="C2", label="contracts on the whole grid (>=)")
    ax.set_xlabel("gamma")
    ax.set_ylabel("lambda")
    ax.set_title("(a) largest lambda with contraction r < 1", fontsize=9)
    ax.legend(fontsize=7)
    ax = axes[1]
    bd = np.array([r["basin_init_dist"] for r in res.rows])
    bopen = np.array(["none" in r["basin_note"] for r in res.rows])
    ax.plot(g[~bopen], bd[~bopen], "s", color="C3", label="basin radius (measured)")
    if bopen.any():
        ax.plot(g[bopen], bd[bopen], "^", color="C2", label="returns from every radius tried (>=)")
    ax.set_xlabel("gamma")
    ax.set_ylabel("max ||theta_0 - theta*|| that returns")
    ax.set_title(f"(b) basin of attraction at lambda = {res.attrs['basin_lam']:g}", fontsize=9)
    ax.legend(fontsize=7)
    ax = axes[2]
    im = ax.pcolormesh(_edges(g), _edges(res.radii), res.returned.T, vmin=0, vmax=1, cmap="RdYlGn", shading="flat")
    fig.colorbar(im, ax=ax, label="fraction of runs that returned")
    ax.set_xlabel("gamma")
    ax.set_ylabel("perturbation size R")
    ax.set_title("returned fraction over (gamma, R)", fontsize=9)
    a = res.attrs
    fig.suptitle(f"Conjecture 4.7 explorer: {a['family']} on {a['data']}, n={a['n']}, T={a['generations']}, "
                 f"{a['directions']} directions x {len(a['seeds'])} seeds", fontsize=10)
    save_figure(fig, path)
