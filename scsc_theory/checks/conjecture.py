"""Conjecture 4.7 (open), explored: with correction, larger lambda and a farther theta_0."""
from __future__ import annotations

from . import Check


def conjecture_gmm(quick: bool):
    from ..conjecture import explore
    from ..data import make_data_law
    from ..families import GMM

    fam = GMM(2, k=2, em_steps=5 if quick else 10)
    law = make_data_law("mixture", 2)
    kw = dict(lams="0.5:4:3", gammas="0:2:2", radii="0:2.4:4", seeds=[0], directions=2, generations=25) if quick else \
        dict(lams="0.25:6:8", gammas="0:4:5", radii="0:2.4:7", seeds=[0, 1], directions=4, generations=60)
    res = explore(fam, law, basin_lam=1.0, n=100, C=1.0, **kw)
    parts = []
    for r in res.rows:
        lc = f">= {r['lam_contract']:.3g}" if "(>=)" in r["lam_contract_note"] else f"{r['lam_contract']:.3g}"
        b = f">= {r['basin_init_dist']:.3g}" if "none" in r["basin_note"] else f"{r['basin_init_dist']:.3g}"
        parts.append(f"gamma={r['gamma']:g}: largest contracting lambda {lc} (theory {r['lambda_max_theory']:.3g} "
                     f"with C=1), basin {b}")
    return ("2-component GMM on the symmetric mixture, n = 100, basin at lambda = 1: " + "; ".join(parts)
            + ". Explored, not proved: larger gamma never shrank either quantity here."
            if _monotone(res) else "; ".join(parts) + ". Explored: the trend is not monotone in gamma here."), "EXPLORED"


def _monotone(res):
    lc = [r["lam_contract"] for r in res.rows]
    bd = [r["basin_init_dist"] for r in res.rows]
    return all(b >= a - 1e-9 for a, b in zip(lc, lc[1:]) if a == a and b == b) and \
        all(b >= a - 1e-9 for a, b in zip(bd, bd[1:]))


CHECKS = [
    Check("conjecture-4.7",
          "Conjecture 4.7 (open): with correction one may start farther from theta* and use a larger lambda",
          "scsc_theory.conjecture.explore: per gamma, the largest lambda with measured contraction r < 1 and the "
          "basin of attraction (merge + random directions) for a 2-component GMM", conjecture_gmm),
]
