"""Resolving a family's coordinate chart (docs/theory.md section 1).

A chart theta in R^P (:class:`Parametrization`) is what the theory's norm ||theta - theta*||, its
Hessians and Jacobians are taken in. Each family names its charts
(:meth:`scsc_theory.families.Family.charts`; the first is the default): the Gaussian's three
(:func:`gaussian_parametrizations`), the GMM's free coordinates, otherwise ``raw`` (all parameters
flattened). The records live in :mod:`scsc_theory.families.charts` so that families do not import
the theory.
"""
from __future__ import annotations

from typing import Dict

from .._validate import SCSCInputError
from ..families.charts import Parametrization, svec, svec_inv
from ..families.gaussian import gaussian_charts as gaussian_parametrizations

__all__ = ["Parametrization", "svec", "svec_inv", "gaussian_parametrizations", "parametrizations", "get_parametrization"]


def parametrizations(family, data_law=None) -> Dict[str, Parametrization]:
    """Named charts available for ``family`` (first = default): ``family.charts(data_law)``."""
    return family.charts(data_law)


def get_parametrization(family, data_law=None, parametrization=None) -> Parametrization:
    """Resolve ``parametrization`` (None: the family's default, a name, or a :class:`Parametrization`)."""
    if isinstance(parametrization, Parametrization):
        return parametrization
    charts = parametrizations(family, data_law)
    if parametrization is None:
        return next(iter(charts.values()))
    if parametrization not in charts:
        raise SCSCInputError(f"parametrization must be one of {', '.join(map(repr, charts))} for family {family.name!r} "
                             f"(got {parametrization!r})")
    return charts[parametrization]
