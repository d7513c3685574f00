"""Model families the loop engine is generic over (see :mod:`scsc_theory.families.base`)."""
from .base import Family
from .gaussian import Gaussian, GaussianParams, gaussian_w2, sqrtm_psd, weighted_moments

__all__ = ["Family", "Gaussian", "GaussianParams", "gaussian_w2", "sqrtm_psd", "weighted_moments"]
