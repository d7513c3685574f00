"""scsc_theory: self-correcting self-consuming generative training, executable.

Gillman et al., "Self-Correcting Self-Consuming Loops for Generative Model Training", ICML 2024.

The SCSC weight update (Definition 4.2) with augmentation percentage lambda and idealized
correction pi_gamma p_theta = (p_theta + gamma p_theta*)/(1 + gamma) (Definition 4.1):

    pi_gamma G_lambda(theta) = local argmax_{theta'} E_{hat p_data} log p_theta' + lambda E_{hat pi_gamma p_theta} log p_theta'

Quick start::

    import numpy as np
    from scsc_theory import Gaussian, Normal, run_loop, grid
    lam, gamma, seed = grid([0.5], [0.0, 1.0], np.arange(8))
    res = run_loop(Gaussian(2), Normal.standard(2), lam=lam, gamma=gamma, seed=seed, n=50, generations=200)
    res.final("w2").reshape(2, 8).mean(axis=1)
"""
from ._validate import SCSCInputError
from .correction import CORRECTORS, correct, get_corrector, target_fraction
from .data import DATA_LAWS, GaussianMixture, Laplace, Normal, StudentT, make_data_law
from .families import GMM, Family, Flow, Gaussian, GaussianParams, GMMParams, gaussian_w2
from .loop import LoopResult, LoopSpec, accumulate_counts, grid, run_loop, synthetic_count

__version__ = "0.1.0"

__all__ = [
    "SCSCInputError",
    "CORRECTORS", "correct", "get_corrector", "target_fraction",
    "DATA_LAWS", "GaussianMixture", "Laplace", "Normal", "StudentT", "make_data_law",
    "Family", "Gaussian", "GaussianParams", "gaussian_w2", "GMM", "GMMParams", "Flow",
    "LoopResult", "LoopSpec", "accumulate_counts", "grid", "run_loop", "synthetic_count",
]
