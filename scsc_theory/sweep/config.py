"""The sweep's configuration: parsed grids, the family by name, and the frozen, validated
:class:`SweepConfig` (its hash :attr:`SweepConfig.key` names the checkpoint and the results).

Everything here runs on the host before anything is compiled.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Any, Dict, Tuple

import numpy as np

from .._validate import SCSCInputError, check_choice, check_finite_number, check_int, check_nonneg, check_positive

FAMILIES = ("gaussian", "gmm", "flow")


def parse_range(name: str, text) -> np.ndarray:
    """``"A:B:N"`` -> N points linspace(A, B, N) (N >= 1; N = 1 needs A == B); ``"A"`` -> [A]; a comma list is kept as is."""
    if isinstance(text, (list, tuple, np.ndarray)):
        vals = np.asarray(text, dtype=np.float64).reshape(-1)
    else:
        s = str(text).strip()
        if s == "":
            raise SCSCInputError(f"{name} is empty: give A:B:N (N points from A to B) or a comma list")
        if ":" in s:
            parts = s.split(":")
            if len(parts) != 3:
                raise SCSCInputError(f"{name} must look like A:B:N (got {text!r})")
            a = check_finite_number(f"{name} start", parts[0])
            b = check_finite_number(f"{name} stop", parts[1])
            try:
                nn = int(parts[2])
            except ValueError:
                raise SCSCInputError(f"{name}: N in A:B:N must be an integer (got {parts[2]!r})") from None
            if nn < 1:
                raise SCSCInputError(f"{name} is an empty range: N must be >= 1 in A:B:N (got {nn})")
            if nn == 1 and a != b:
                raise SCSCInputError(f"{name}: N = 1 needs A == B (got {text!r})")
            if b < a:
                raise SCSCInputError(f"{name}: the range A:B:N needs A <= B (got {text!r})")
            vals = np.linspace(a, b, nn)
        else:
            try:
                vals = np.asarray([float(t) for t in s.split(",") if t.strip()], np.float64)
            except ValueError:
                raise SCSCInputError(f"{name} must be A:B:N or a comma list of numbers (got {text!r})") from None
    if vals.size == 0:
        raise SCSCInputError(f"{name} is empty")
    for i, v in enumerate(vals):
        check_nonneg(f"{name}[{i}]", float(v))
    if np.unique(vals).size != vals.size:
        raise SCSCInputError(f"{name} has repeated values")
    return vals


def parse_seeds(text) -> np.ndarray:
    """``S`` -> seeds 0..S-1; ``"a,b,c"`` -> those seeds."""
    if isinstance(text, (int, np.integer)):
        return np.arange(check_int("seeds", int(text), 1))
    s = str(text).strip()
    try:
        if "," in s:
            vals = [int(t) for t in s.split(",") if t.strip()]
            if not vals or min(vals) < 0 or len(set(vals)) != len(vals):
                raise ValueError
            return np.asarray(vals, np.int64)
        return np.arange(check_int("seeds", int(s), 1))
    except ValueError:
        raise SCSCInputError(f"seeds must be a count S >= 1 or a comma list of distinct seeds >= 0 (got {text!r})") from None


def make_family(name: str, dim: int = 2, *, k: int = 2, covariance: str = "full", em_steps: int = 10,
                flow_steps: int = 10, flow_hidden: int = 20, flow_layers: int = 4, flow_star_steps: int = 2000):
    """Build a family by name: gaussian | gmm | flow (the flow is 2-D)."""
    check_choice("family", name, FAMILIES)
    dim = check_int("dim", dim, 1)
    if name == "gaussian":
        from ..families import Gaussian

        return Gaussian(dim)
    if name == "gmm":
        from ..families import GMM

        k = check_int("K (number of mixture components)", k, 1)
        return GMM(dim, k=k, covariance=covariance, em_steps=check_int("em_steps", em_steps, 1))
    from ..families import Flow

    if dim != 2:
        raise SCSCInputError(f"the flow family is 2-D only (got dim={dim})")
    return Flow(steps=check_int("flow_steps", flow_steps, 1), hidden=check_int("flow_hidden", flow_hidden, 2),
                layers=check_int("flow_layers", flow_layers, 1), star_steps=check_int("flow_star_steps", flow_star_steps, 1))


def sweep_key(attrs: Dict[str, Any]) -> str:
    """Hash of everything that determines the numbers (checkpoint compatibility)."""
    return hashlib.sha256(json.dumps(attrs, sort_keys=True, default=str).encode()).hexdigest()[:16]


@dataclasses.dataclass(frozen=True)
class SweepConfig:
    """A validated (lambda x gamma x seed) sweep: what determines its numbers, hashable.

    Build it with :meth:`build` (parses ranges, checks every value and the family/data pairing,
    before any compilation); ``perturb`` defaults to the family's ``sweep_perturbation``.
    """

    family: Any
    data_law: Any
    lams: Tuple[float, ...]
    gammas: Tuple[float, ...]
    seeds: Tuple[int, ...]
    n: int
    generations: int
    chunk: int
    corrector: str
    perturb: float
    t_fit: int
    #: the workflow (:mod:`scsc_theory.workflows`); Theorem 4.3's boundary is the ``fixed`` workflow's
    mode: str = "fixed"
    #: training-set size of ``mode="accumulate-subsample"`` (0 otherwise)
    subsample: int = 0

    @classmethod
    def build(cls, family, data_law, lams, gammas, seeds, *, n: int = 50, generations: int = 100, chunk=None,
              corrector: str = "ideal", perturb=None, t_fit: int = 8, mode: str = "fixed",
              subsample=None) -> "SweepConfig":
        from .. import workflows
        from ..loop import check_workflow_sizes, synthetic_count, validate_loop_args

        lams = parse_range("lam", lams)
        gammas = parse_range("gamma", gammas)
        seeds = np.asarray(seeds, np.int64).reshape(-1)
        if seeds.size == 0:
            raise SCSCInputError("seeds is empty")
        generations = check_int("generations", generations, 1)
        n = check_int("n", n, 2)
        chunk = generations if chunk is None else min(check_int("chunk", chunk, 1), generations)
        t_fit = check_int("t_fit", t_fit, 1)
        perturb = family.sweep_perturbation if perturb is None else check_positive("perturb", perturb)
        family.validate(data_law)
        if float(np.max(lams)) * n > 2**31 - 1:
            raise SCSCInputError(f"lam * n = {float(np.max(lams)) * n:.4g} synthetic points per generation exceeds the "
                                 f"limit {2**31 - 1} (int32); use a smaller lambda or n")
        mode = workflows.check_combination(mode, sampling="finite", subsample=subsample)
        _, _, _, n, generations = validate_loop_args(
            family, data_law, lam=lams[:1], gamma=gammas[:1], seed=seeds[:1], n=n, generations=generations,
            mode=mode, sampling="finite", corrector=corrector)
        subsample = 0 if mode != "accumulate-subsample" else (n if subsample is None else check_int("subsample", subsample, 1))
        m = synthetic_count(lams, n)
        check_workflow_sizes(mode, n=n, generations=generations, m=m, m_max=int(m.max()), subsample=subsample,
                             configs=2 * lams.size * gammas.size * seeds.size, dim=data_law.dim)
        return cls(family, data_law, tuple(float(v) for v in lams), tuple(float(v) for v in gammas),
                   tuple(int(s) for s in seeds), int(n), int(generations), int(chunk), corrector, float(perturb), t_fit,
                   mode, int(subsample))

    @property
    def lam_array(self) -> np.ndarray:
        return np.asarray(self.lams, np.float64)

    @property
    def gamma_array(self) -> np.ndarray:
        return np.asarray(self.gammas, np.float64)

    @property
    def seed_array(self) -> np.ndarray:
        return np.asarray(self.seeds, np.int64)

    def attrs(self) -> Dict[str, Any]:
        """What determines the numbers (stored in index.json; hashed by :attr:`key`)."""
        f, law = self.family, self.data_law
        return {
            "family": f.name, "family_repr": repr(f), "data": law.name, "data_repr": repr(law), "dim": int(law.dim),
            "n": self.n, "generations": self.generations, "chunk": self.chunk, "corrector": self.corrector,
            "perturb": float(self.perturb), "t_fit": self.t_fit, "mode": self.mode, "sampling": "finite",
            "parametrization": str(f.parametrization),
            "lams": list(self.lams), "gammas": list(self.gammas), "seeds": list(self.seeds),
            # only where it is a parameter, so the keys of earlier fixed-workflow sweeps are unchanged
            **({"subsample": self.subsample} if self.mode == "accumulate-subsample" else {}),
        }

    @property
    def key(self) -> str:
        """:func:`sweep_key` of :meth:`attrs`: checkpoints and results of another config are refused."""
        return sweep_key(self.attrs())
