"""The self-consuming workflows of the model-collapse literature, by name (issue 15).

Each workflow says which data the model of generation t+1 is refitted on. With n real points
(weight 1 each), m = floor(lambda n) synthetic points drawn per generation from p_theta_t and then
corrected (:mod:`scsc_theory.correction`; gamma = 0 is no correction):

``fixed``               n real + the m fresh synthetic points of the current generation, the
                        synthetic ones weighted lambda n / m each (total weight lambda n): the objective of
                        Gillman et al. (Definition 4.2) and Bertrand et al. (2024).
``replace``             the m fresh synthetic points only, no real data (Shumailov et al. 2024,
                        Alemohammad et al. 2024 "fully synthetic", Dohmatob et al. 2024, Dey & Donoho
                        2024 "discard"). = ``fixed`` with ``fully_synthetic=True``, same numbers.
``accumulate-all``      all n real + every generation's m synthetic points so far, equal weights
                        (Gerstgrasser et al. 2024; Kazdan, Schaeffer et al. 2024 "Accumulate"; Dey &
                        Donoho "augment"): generation t (0-based, t+1 synthetic batches) fits
                        n + (t+1) m points.
``accumulate-subsample`` a training set of ``subsample`` points (default n) drawn uniformly without
                        replacement from that accumulated pool, afresh each generation (Kazdan,
                        Schaeffer et al. "Accumulate-Subsample"; Dey & Donoho "subsample").
``toy-schedule``        the SCSC toy script's schedule (Gillman et al., exp_scripts/gaussian_toy_example.py):
                        generation i keeps the first floor((j+1) m/(i+1)) corrected points of every earlier
                        generation j <= i, all weight 1. Formerly ``mode="accumulate"``, which is kept as an
                        alias with identical numbers (:data:`ALIASES`).

Population (infinite-sample) analogues, where exact: ``fixed`` (weights [lambda]),
``accumulate-all`` (weight lambda on pi_gamma p_theta_j for every j <= t) and ``toy-schedule``
(weights lambda (j+1)/(t+1)). ``replace`` has no real data for the population map of
:meth:`scsc_theory.families.base.Family.population_update`, and a uniform subsample of finite
size is not an infinite-sample map, so both are refused with sampling='population'.
"""
from __future__ import annotations

from ._validate import SCSCInputError

WORKFLOWS = ("fixed", "replace", "accumulate-all", "accumulate-subsample", "toy-schedule")
#: old names accepted everywhere (``accumulate`` was the toy schedule before the literature's names)
ALIASES = {"accumulate": "toy-schedule"}
#: workflows that keep every generation's synthetic points (a per-generation buffer)
ACCUMULATING = ("accumulate-all", "accumulate-subsample", "toy-schedule")
POPULATION_EXACT = ("fixed", "accumulate-all", "toy-schedule")
STATS_EXACT = ("fixed", "replace")

#: one line per paper: (workflow, parameters) -- the README table is written from this
LITERATURE = (
    ("Shumailov et al. 2024 (Nature), Alemohammad et al. 2024 (fully synthetic)", "replace", "lambda = 1, gamma = 0"),
    ("Dohmatob, Feng & Kempe 2024 (Model collapse demystified; linear regression)", "replace", "lambda = 1, gamma = 0"),
    ("Gerstgrasser et al. 2024 (Is model collapse inevitable?)", "accumulate-all", "lambda = 1, gamma = 0"),
    ("Kazdan, Schaeffer et al. 2024 (Collapse or Thrive)", "replace | accumulate-all | accumulate-subsample",
     "lambda = 1, subsample = n, gamma = 0"),
    ("Bertrand et al. 2024 (stability of iterative retraining)", "fixed", "lambda = synthetic/real ratio, gamma = 0"),
    ("Gillman et al. 2024 (SCSC), theory (Thm 4.3)", "fixed", "lambda, gamma >= 0"),
    ("Gillman et al. 2024 (SCSC), toy script", "toy-schedule", "n = 50, lambda = 0.5, gamma in {0, ..., 5}"),
    ("Dey & Donoho 2024 (discard / augment / subsample)", "replace | accumulate-all | accumulate-subsample",
     "lambda = 1, gamma = 0"),
)


def canonical(mode: str) -> str:
    """The workflow's canonical name (aliases resolved); a clear error for an unknown one."""
    name = ALIASES.get(mode, mode)
    if name not in WORKFLOWS:
        raise SCSCInputError(f"mode must be one of {', '.join(WORKFLOWS)} (or the alias 'accumulate' = "
                             f"'toy-schedule') (got {mode!r})")
    return name


def check_combination(mode: str, *, sampling: str, fully_synthetic: bool = False, subsample=None) -> str:
    """Refuse a workflow x sampling x flag combination that is not defined; return the canonical name."""
    wf = canonical(mode)
    if sampling == "population" and wf not in POPULATION_EXACT:
        why = ("replace has no real data in the exact population map" if wf == "replace"
               else "a finite uniform subsample is not an infinite-sample map (its limit is accumulate-all)")
        raise SCSCInputError(f"mode={wf!r} has no exact sampling='population' form ({why}); "
                             f"use sampling='finite', or mode in {{{', '.join(POPULATION_EXACT)}}}")
    if sampling == "stats" and wf not in STATS_EXACT:
        raise SCSCInputError(f"sampling='stats' is defined for mode in {{{', '.join(STATS_EXACT)}}} only (got mode={mode!r})")
    if wf == "replace" and fully_synthetic:
        raise SCSCInputError("mode='replace' is already fully synthetic: do not also pass fully_synthetic=True")
    if subsample is not None and wf != "accumulate-subsample":
        raise SCSCInputError(f"subsample is a parameter of mode='accumulate-subsample' only (got mode={mode!r})")
    return wf
