"""Linear regression with a fixed Gaussian design: the setting of the sharpest model-collapse closed forms.

Setting (Dohmatob, Feng & Kempe 2024; Gerstgrasser et al. 2024, Thm 1 / Thm 2): a fixed design
X (T x d) with i.i.d. N(0, 1) entries (drawn once from ``design_seed``), labels
y = X theta + sigma eps, eps ~ N(0, I_T), sigma known. A data *point* is a row (x_i, y_i) in
R^(d+1); real point i has x_i = X[i mod T]. The model p_theta draws new labels for the design's rows:
``sample(key, theta, M)`` returns rows (X[i mod T], X[i mod T] theta + sigma eps_i). The refit is the
weighted least-squares MLE theta = (sum_i w_i x_i x_i^T)^(-1) sum_i w_i x_i y_i.

Metric ``err`` = ||theta - theta*||^2 (the excess test error for isotropic covariates);
``dist`` = ||theta - theta*||. Exact curves: :mod:`scsc_theory.closed_form`.
"""
from __future__ import annotations

import dataclasses
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .._validate import SCSCInputError
from .base import Family


class LinRegParams(NamedTuple):
    theta: jax.Array  # (d,)


def design_matrix(T: int, d: int, design_seed: int) -> np.ndarray:
    """The fixed design X (T x d), i.i.d. N(0, 1), from ``numpy.random.default_rng(design_seed)`` (host, float64)."""
    return np.random.default_rng(design_seed).standard_normal((T, d))


@dataclasses.dataclass(frozen=True)
class LinRegData:
    """The real data law: rows (X[i mod T], X[i mod T] theta* + sigma eps), theta* = (1, ..., 1) / sqrt(d)."""

    d: int
    T: int
    sigma: float = 1.0
    design_seed: int = 0
    name: str = "linreg"

    @property
    def dim(self) -> int:
        return self.d + 1

    def design(self):
        return jnp.asarray(design_matrix(self.T, self.d, self.design_seed))

    def theta_star(self):
        return jnp.full((self.d,), 1.0 / np.sqrt(self.d))

    def sample(self, key, n: int):
        return _rows(key, self.design(), self.theta_star(), self.sigma, n)


def _rows(key, X, theta, sigma, n: int):
    x = X[jnp.arange(n) % X.shape[0]].astype(theta.dtype)
    y = x @ theta + sigma * jax.random.normal(key, (n,), theta.dtype)
    return jnp.concatenate([x, y[:, None]], axis=1)


@dataclasses.dataclass(frozen=True)
class LinReg(Family):
    """Least-squares linear regression on the fixed design of a :class:`LinRegData` law."""

    d: int
    T: int
    sigma: float = 1.0
    design_seed: int = 0
    name: str = "linreg"
    parametrization: str = "theta in R^d, ||.|| = Euclidean"
    has_population_map: bool = False

    @property
    def dim(self) -> int:
        """Dimension of a data point (x, y): d + 1."""
        return self.d + 1

    def param_count(self) -> int:
        return int(self.d)

    def law(self) -> LinRegData:
        return LinRegData(self.d, self.T, self.sigma, self.design_seed)

    def validate(self, data_law) -> None:
        if not isinstance(data_law, LinRegData) or (data_law.d, data_law.T, data_law.design_seed) != (
                self.d, self.T, self.design_seed):
            raise SCSCInputError("family 'linreg' needs its own data law (LinReg.law()): same d, T and design_seed")
        if self.T <= self.d:
            raise SCSCInputError(f"linreg needs T > d rows (got T={self.T}, d={self.d})")

    def fit(self, state, x, w, key=None) -> LinRegParams:
        return self.fit_from_stats(state, tuple(jnp.einsum("n,n...->...", w, a) for a in self.suff_stats(x)), None)

    def suff_stats(self, x):
        """Per-point (x x^T, x y): additive, so accumulating workflows need O(1) work per refit."""
        f, y = x[:, :-1], x[:, -1]
        return (jnp.einsum("ni,nj->nij", f, f), f * y[:, None])

    def fit_from_stats(self, state, stats, wsum) -> LinRegParams:
        """theta = (sum w x x^T)^(-1) sum w x y (the weight normalisation cancels)."""
        xx, xy = stats
        return LinRegParams(jnp.linalg.solve(xx, xy))

    def sample(self, key, params: LinRegParams, m: int):
        return _rows(key, jnp.asarray(design_matrix(self.T, self.d, self.design_seed)), params.theta,
                     self.sigma, m)

    def log_prob(self, params: LinRegParams, x):
        r = x[:, -1] - x[:, :-1] @ params.theta
        return -0.5 * (r / self.sigma) ** 2 - jnp.log(self.sigma) - 0.5 * jnp.log(2 * jnp.pi)

    def theta_star(self, data_law) -> LinRegParams:
        self.validate(data_law)
        return LinRegParams(data_law.theta_star())

    def distance(self, params: LinRegParams, theta_star: LinRegParams):
        return jnp.sqrt(jnp.sum((params.theta - theta_star.theta) ** 2))

    def metrics(self, params, theta_star, key=None):
        err = jnp.sum((params.theta - theta_star.theta) ** 2)
        return {"dist": jnp.sqrt(err), "err": err}
