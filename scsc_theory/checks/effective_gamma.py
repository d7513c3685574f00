"""Check of a claim of scsc_theory (NOT of the paper): a practical corrector acts on the toy loop like the
ideal corrector pi_gamma at its measured effective strength gamma_eff (issue 17).

Read from the measured results file ``figures/gamma_eff_results.json`` (``python experiments/effective_gamma.py``);
nothing is hard-coded. For every practical corrector, nominal gamma and loop mode that was run, the
outcome (mean W2 to theta* over generations T/2..T) of the loop with that corrector is compared with
the ideal loop at gamma_eff on the same seeds: the prediction HOLDS when the seed-paired difference
is within ``K_SE`` = 3 standard errors, or the practical outcome lies between the ideal outcomes at
the ends of gamma_eff's 90% interval. PASS iff it holds in every row; the text lists where it fails
and, for comparison, how often the ideal loop at the NOMINAL gamma would have predicted as well, and (from
``figures/gamma_eff_fixedpoint.json``) the variance each corrector leaves on p_theta* itself.
"""
from __future__ import annotations

import json
from pathlib import Path

from . import Check, repo_root, with_provenance

RESULTS = Path("figures") / "gamma_eff_results.json"
FIXEDPOINT = Path("figures") / "gamma_eff_fixedpoint.json"
K_SE = 3.0


def row_holds(p: dict, key: str = "gamma_eff") -> bool:
    """The stated rule on one prediction row (``key``: ``gamma_eff``, or ``nominal`` without the band)."""
    d, se = p[f"diff_vs_{key}"], p[f"diff_vs_{key}_se"]
    if abs(d) <= K_SE * se:
        return True
    lo, hi = p["ideal_band_w2"]
    return key == "gamma_eff" and lo <= p["practical_w2"] <= hi


def verdict(doc: dict):
    """(measured text, PASS/FAIL) from a parsed results file."""
    preds = (doc.get("toy") or {}).get("predictions") or []
    if not preds:
        return "no toy predictions in the results file (run `python experiments/effective_gamma.py`)", "FAIL"
    parts, fails = [], []
    for name in dict.fromkeys(p["corrector"] for p in preds):
        rows = [p for p in preds if p["corrector"] == name]
        ok = [row_holds(p) for p in rows]
        nom = sum(row_holds(p, "nominal") for p in rows)
        parts.append(f"{name}: holds {sum(ok)}/{len(rows)} (ideal at nominal gamma: {nom}/{len(rows)})")
        for p, o in zip(rows, ok):
            if not o:
                fails.append(f"{name} {p['mode']} gamma={p['gamma_nominal']:g} (gamma_eff {p['gamma_eff']:.3g}): "
                             f"W2 {p['practical_w2']:.3f} vs {p['ideal_at_gamma_eff_w2']:.3f} "
                             f"({p['diff_vs_gamma_eff']:+.3f} +- {p['diff_vs_gamma_eff_se']:.3f})")
    p0 = preds[0]
    text = (f"toy loop, lambda={p0['lam']:g}, n={p0['n']}, {p0['generations']} generations, {p0['seeds']} seeds, "
            f"fixed and accumulate modes; " + "; ".join(parts)
            + (f". Fails: {'; '.join(fails)}" if fails else ". Holds in every row"))
    return text, "PASS" if not fails else "FAIL"


def fixedpoint_text(doc: dict) -> str:
    """Where the toy correctors leave p_theta* itself (pi_gamma keeps variance 1): min-max over nominal gammas."""
    rows = (doc or {}).get("rows") or []
    parts = []
    for name in dict.fromkeys(r["corrector"] for r in rows):
        v = [r["mean_variance"] for r in rows if r["corrector"] == name]
        parts.append(f"{name} {min(v):.3f}-{max(v):.3f}")
    return ("; variance each corrector leaves on p_theta* itself (pi_gamma: 1, SE ~0.02): " + ", ".join(parts)) if parts else ""


def gamma_eff_prediction_from(path: Path, fixedpoint_path: Path | None = None):
    if not path.exists():
        return f"no results file {RESULTS} (run `python experiments/effective_gamma.py`)", "FAIL"
    doc = json.loads(path.read_text())
    docs = [(str(RESULTS), doc)]
    text, status = verdict(doc)
    if fixedpoint_path is not None and fixedpoint_path.exists():
        fp = json.loads(fixedpoint_path.read_text())
        text += fixedpoint_text(fp.get("fixedpoint"))
        docs.append((str(FIXEDPOINT), fp))
    return with_provenance(text, status, docs)


def gamma_eff_prediction(quick: bool):
    return gamma_eff_prediction_from(repo_root() / RESULTS, repo_root() / FIXEDPOINT)


CHECKS = [
    Check("gamma-eff-prediction",
          "scsc_theory's claim (not the paper's): a practical toy corrector at nominal gamma makes the loop behave "
          "like the ideal pi_gamma loop at the corrector's measured gamma_eff (energy-distance mixture weight)",
          "experiments/effective_gamma.py: gamma_eff of histogram / ot / stratified (and pointwise / whitening where "
          "present) on batches of m = 25 points; the loop with each vs the ideal loop at gamma_eff, same seeds",
          gamma_eff_prediction),
]
