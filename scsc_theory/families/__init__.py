"""Model families the loop engine is generic over (see :mod:`scsc_theory.families.base`)."""
from .base import Family
from .gaussian import Gaussian, GaussianParams, gaussian_w2, sqrtm_psd, trace_sqrtm_psd, weighted_moments

__all__ = ["Family", "Gaussian", "GaussianParams", "gaussian_w2", "sqrtm_psd", "trace_sqrtm_psd", "weighted_moments"]
from .gmm import GMM, GMMParams  # noqa: E402

__all__ += ["GMM", "GMMParams"]
from .flow import Flow  # noqa: E402

__all__ += ["Flow"]
