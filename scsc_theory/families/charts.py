"""Coordinate charts theta in R^P for a family's parameter pytree (docs/theory.md section 1).

Every quantity of Theorem 4.3 except the spectral radius of the Jacobian at the fixed point depends
on the chart, so each family names its charts (:meth:`scsc_theory.families.Family.charts`, the first
is the default) and every output names the chart it used. The theory resolves a chart by name in
:mod:`scsc_theory.theory.charts`; the records and the generic charts live here so that a family can
build its own without importing the theory (the import graph stays acyclic).
"""
from __future__ import annotations

import dataclasses
import math
from typing import Callable

import jax.numpy as jnp
import numpy as np


@dataclasses.dataclass(frozen=True)
class Parametrization:
    """A coordinate chart theta in R^P for a family's parameter pytree.

    ``to_vec(params) -> (P,)`` and ``from_vec((P,)) -> params`` are inverse, jax-traceable maps.
    The theory's norm ||theta - theta*|| is the Euclidean norm of the difference of vectors.
    """

    name: str
    description: str
    to_vec: Callable = dataclasses.field(compare=False, hash=False)
    from_vec: Callable = dataclasses.field(compare=False, hash=False)

    def __str__(self) -> str:
        return f"{self.name}: {self.description}"


def tril(d: int):
    """Row and column indices of the lower triangle (diagonal included) of a d x d matrix."""
    return np.tril_indices(d)


def svec(S):
    """Isometric half-vectorisation: diagonal entries and sqrt(2) x strictly-lower entries, so ||svec S|| = ||S||_F."""
    d = S.shape[-1]
    r, c = tril(d)
    scale = np.where(r == c, 1.0, math.sqrt(2.0))
    return S[..., r, c] * scale


def svec_inv(v, d):
    """The symmetric d x d matrix S with svec(S) = v."""
    r, c = tril(d)
    scale = np.where(r == c, 1.0, math.sqrt(2.0))
    vals = v / scale
    S = jnp.zeros(v.shape[:-1] + (d, d), v.dtype)
    S = S.at[..., r, c].set(vals)
    S = S.at[..., c, r].set(vals)
    return S


def raw_chart(family, theta_star) -> Parametrization:
    """``raw``: all parameters flattened (jax ravel_pytree of theta*'s structure), Euclidean norm."""
    from jax.flatten_util import ravel_pytree

    _, unravel = ravel_pytree(theta_star)

    def to_vec(p):
        return ravel_pytree(p)[0]

    return Parametrization("raw", f"theta = all parameters of {family.name} flattened (jax ravel_pytree), Euclidean norm",
                           to_vec, unravel)
