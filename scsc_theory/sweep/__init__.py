"""(lambda, gamma) phase diagrams: the whole grid as one sharded, resumable, jit-compiled loop.

What is run
-----------
For every grid point (lambda_i, gamma_j, seed_s) two chains of the SCSC loop (Definition 4.2 of
Gillman et al.) run side by side with *common random numbers* (the engine's RNG depends only on
the seed and the generation):

* chain 0 (``base``) starts at theta_0 = the fit on the seed's n real points (the theory's start);
* chain 1 (``pert``) starts at theta_0 + delta, a fixed perturbation of size ``perturb``.

Both see the same real data, the same synthetic draws and the same corrections, so
D_t = ||theta_t^pert - theta_t^base|| evolves by the Jacobian of the finite-sample map
pi_gamma G^n_lambda. The *measured contraction factor* is

    r = exp(slope of the least-squares line through log D_t, t = 0..t_fit),

stopping early once D_t falls below ``floor`` (float32 resolution); a config with r < 1 contracts.
Theorem 4.3 guarantees r <= rho(lambda)/(1+gamma) = lambda C / ((1 - lambda C)(1 + gamma)) inside
the admissible region lambda C < (1+gamma)/(2+gamma), i.e. lambda < lambda_max(gamma) =
(1+gamma)/((2+gamma) C).


Layout: :mod:`.config` (grids, family by name, the frozen :class:`SweepConfig` and its key),
:mod:`.run` (sharded, checkpointed running), :mod:`.results` (files), :mod:`.analysis` (contraction
factors, boundaries, phase summary, the theory's C), :mod:`.plotting` (the figure). The formulas
rho, q = rho/(1+gamma) and lambda_max are :mod:`scsc_theory.theory.bound`'s.

Output: ``DIR/results.npz`` (deterministic bytes) + ``DIR/index.json`` (dims, coords, variables,
attrs), dims (lam, gamma, seed, generation).
"""
from .analysis import contraction_factor, empirical_boundary, phase_summary, theory_C
from .config import FAMILIES, SweepConfig, make_family, parse_range, parse_seeds, sweep_key
from .plotting import edges, plot_phase
from .results import CHECKPOINT, INDEX, RESULTS, SweepResult, load_results, npz_bytes, save_results, update_attrs
from .run import MEMORY_FRACTION, run_config, run_sweep, runner_record0

__all__ = ["contraction_factor", "empirical_boundary", "phase_summary", "theory_C", "FAMILIES", "SweepConfig",
           "make_family", "parse_range", "parse_seeds", "sweep_key", "edges", "plot_phase", "CHECKPOINT", "INDEX",
           "RESULTS", "SweepResult", "load_results", "npz_bytes", "save_results", "update_attrs", "MEMORY_FRACTION",
           "run_config", "run_sweep", "runner_record0"]
