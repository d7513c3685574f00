"""The model-family interface that the loop engine (:mod:`scsc_theory.loop`) is generic over.

A family is a frozen, hashable object (a static argument of ``jax.jit``) whose methods are
pure functions of pytrees. It provides what the SCSC weight update of Gillman et al.
(Definition 4.2) needs:

    pi_gamma G_lambda(theta) = local argmax_{theta'} E_{hat p_data}[log p_theta'] + lambda E_{hat pi_gamma p_theta}[log p_theta']

* ``fit(state, x, w, key)``: the weighted *local* argmax, warm-started from ``state`` (for
  closed-form families the warm start is irrelevant; for EM and flows it is what makes the
  update a fine-tuning step). ``w`` are non-negative per-point weights (zero masks a slot).
* ``sample(key, params, m)``, ``log_prob(params, x)``.
* ``theta_star(data_law)``: the KL projection of p_data onto the family.
* ``distance(params, theta_star)``: ||theta - theta*|| in the family's stated parametrization.
* ``metrics(params, theta_star, key)``: a dict of scalar diagnostics recorded every generation
  (always contains ``"dist"``).
* ``population_update(data_law, theta_star, thetas, weights, gamma)`` (optional): the exact
  infinite-sample update. ``thetas`` is a stacked pytree of K models and ``weights`` (K,) their
  lambda coefficients, so the objective is
  E_{p_data} log p + sum_k weights_k E_{pi_gamma p_theta_k} log p
  (K = 1 with weights = [lambda] is the theory's map; K > 1 is the accumulating variant).

The fit may carry extra state across generations (an optimizer state for flows): ``init_state``
wraps parameters into that state and ``params`` reads them back, ``with_params`` replaces the
parameters inside a carried state. By default all three are identities / rewraps.

Capabilities the theory (:mod:`scsc_theory.theory`) and the sweeps (:mod:`scsc_theory.sweep`) use
are declared here with a default, so no caller probes with ``getattr`` / ``hasattr`` or branches
on a family's name:

* ``charts(data_law)``: named coordinate charts (first = default; :mod:`.charts`);
* ``gaussian_law(params)``: (mean, cov) when p_theta is Gaussian (exact Gauss-Hermite
  expectations under p_theta), else None; ``hessian_quadratic_in_x``: H_theta log p_theta(x) is a
  polynomial of degree <= 2 in x (then E_{p_data} of it depends only on p_data's two moments);
* ``param_count()``, ``fit_memory()``: sizes for the sweep's memory estimate (no fitting);
* ``perturbation(params, key)``: a unit perturbation that keeps parameters valid (the sweep's
  second chain);
* ``theta_star_report(data_law)``: how well theta* is known (iteratively fitted families).

Optional fast paths of the loop engine are the protocols :class:`SufficientStats` and
:class:`SampleStats` (structural: a family has them or not).
"""
from __future__ import annotations

import abc
from typing import Any, Callable, Dict, NamedTuple, Optional, Protocol, Tuple, runtime_checkable

from .charts import Parametrization, raw_chart

PyTree = Any


class FitMemory(NamedTuple):
    """Sizes for a sweep's peak-memory estimate: copies of the parameters in the carried state
    (an optimizer's moments count), and bytes of fit workspace per point coordinate (float32)."""

    state_copies: int
    work_per_coordinate: int


@runtime_checkable
class SufficientStats(Protocol):
    """Per-point sufficient statistics: the fit from summed statistics equals :meth:`Family.fit`."""

    def suff_stats(self, x) -> PyTree: ...

    def fit_from_stats(self, state: PyTree, stats: PyTree, wsum) -> PyTree: ...


@runtime_checkable
class SampleStats(Protocol):
    """Exact draws of the sufficient statistics of k model points (no points drawn) and the fit
    from pooled (W, mean, M2) moments."""

    def sample_stats(self, key, params: PyTree, k, tries: int = 2) -> Tuple[Any, Any]: ...

    def fit_from_moments(self, state: PyTree, moments) -> PyTree: ...


def leafwise_perturbation(params: PyTree, key, *, symmetric: bool = False) -> Callable:
    """p -> p + eps u with u a unit-norm (over all leaves) Gaussian direction; with ``symmetric``
    square trailing blocks of u are symmetrised first (covariance leaves stay symmetric)."""
    import jax
    import jax.numpy as jnp

    leaves, treedef = jax.tree_util.tree_flatten(params)
    keys = jax.random.split(key, len(leaves))
    us = []
    for kk, a in zip(keys, leaves):
        u = jax.random.normal(kk, a.shape, a.dtype)
        if symmetric and a.ndim >= 2 and a.shape[-1] == a.shape[-2]:
            u = 0.5 * (u + jnp.swapaxes(u, -1, -2))
        us.append(u)
    norm = jnp.sqrt(sum(jnp.sum(u**2) for u in us))
    us = [u / norm for u in us]
    return lambda p, eps: jax.tree_util.tree_unflatten(
        treedef, [a + eps * u for a, u in zip(jax.tree_util.tree_leaves(p), us)])


def chart_perturbation(to_vec: Callable, from_vec: Callable, params: PyTree, key) -> Callable:
    """p -> from_vec(to_vec(p) + eps u), u a unit Gaussian direction in the chart."""
    import jax
    import jax.numpy as jnp

    v = to_vec(params)
    u = jax.random.normal(key, v.shape, v.dtype)
    u = u / jnp.linalg.norm(u)
    return lambda p, eps: from_vec(to_vec(p) + eps * u)


class Family(abc.ABC):
    """Abstract base class of the interface; subclasses are frozen dataclasses."""

    name: str = "family"
    #: dimension of the data x (a dataclass field of every concrete family)
    dim: int
    #: Human-readable parametrization in which ``distance`` and the theory constants are stated.
    parametrization: str = ""
    has_population_map: bool = False
    #: theta* is unique up to a finite relabelling, so E_p_data[Hessian] can be negative definite
    #: (alpha > 0); False for over-parametrised families (the flow), whose theorem's C is undefined.
    identifiable: bool = True
    #: size of the sweep's perturbation of the second chain (norm in the family's flat parameters)
    sweep_perturbation: float = 0.05

    # --- state handling (identity for closed-form families) ---
    def init_state(self, params: PyTree) -> PyTree:
        return params

    def params(self, state: PyTree) -> PyTree:
        return state

    def with_params(self, state: PyTree, params: PyTree) -> PyTree:
        """``state`` with its parameters replaced by ``params`` (default: a fresh ``init_state``)."""
        return self.init_state(params)

    # --- required ---
    @abc.abstractmethod
    def fit(self, state: PyTree, x, w, key) -> PyTree:
        """Weighted local argmax of sum_i w_i log p(x_i), warm-started from ``state``."""

    @abc.abstractmethod
    def sample(self, key, params: PyTree, m: int):
        """``m`` draws from p_theta, shape (m, dim)."""

    @abc.abstractmethod
    def log_prob(self, params: PyTree, x):
        """log p_theta(x) for each row of ``x``."""

    @abc.abstractmethod
    def theta_star(self, data_law) -> PyTree:
        """The KL projection argmax_theta E_{p_data} log p_theta."""

    @abc.abstractmethod
    def distance(self, params: PyTree, theta_star: PyTree):
        """||theta - theta*|| in the family's stated parametrization."""

    def metrics(self, params: PyTree, theta_star: PyTree, key) -> Dict[str, Any]:
        return {"dist": self.distance(params, theta_star)}

    def population_update(self, data_law, theta_star, thetas, weights, gamma):  # pragma: no cover
        raise NotImplementedError(f"family {self.name!r} has no exact population map")

    def validate(self, data_law) -> None:
        """Raise SCSCInputError if ``data_law`` does not fit this family (e.g. dimension)."""

    # --- capabilities with defaults (theory and sweeps) ---
    #: H_theta log p_theta(x) is a polynomial of degree <= 2 in x (Gaussian family): E_{p_data} of it
    #: is then exact by Gauss-Hermite on the moment-matched Gaussian.
    hessian_quadratic_in_x: bool = False

    def charts(self, data_law=None) -> Dict[str, Parametrization]:
        """Named charts theta in R^P (first = default). Default: ``raw`` = ravel_pytree of theta*
        (needs ``data_law`` for theta*'s structure); override when the raw parameters are redundant
        (mixture weights on a simplex) or a better chart exists."""
        from .._validate import SCSCInputError

        if data_law is None:
            raise SCSCInputError(f"family {self.name!r}: the raw parametrization needs a data law (for theta*'s structure)")
        return {"raw": raw_chart(self, self.theta_star(data_law))}

    def gaussian_law(self, params: PyTree) -> Optional[Tuple[Any, Any]]:
        """(mean, cov) of p_theta when it is a Gaussian law (exact Gauss-Hermite expectations), else None."""
        return None

    def param_count(self) -> int:
        """Number of parameters, from shapes only (nothing is fitted or compiled)."""
        raise NotImplementedError(f"family {self.name!r} does not state its parameter count")

    def fit_memory(self) -> FitMemory:
        """Sizes of the carried state and the fit's workspace (sweep memory estimate)."""
        return FitMemory(1, 4 * int(self.dim))

    def perturbation(self, params: PyTree, key) -> Callable:
        """A unit-norm perturbation direction at ``params`` that keeps parameters valid; returns
        p -> p + eps u. Default: a Gaussian direction over all leaves."""
        return leafwise_perturbation(params, key)

    def basin_directions(self, theta_star: PyTree, n_dir: int, key) -> list:
        """``n_dir`` functions R -> theta* + R u (u unit) for the Conjecture 4.7 basin search
        (:mod:`scsc_theory.conjecture`). Default: Gaussian directions over all leaves."""
        import jax
        import jax.numpy as jnp

        leaves, treedef = jax.tree_util.tree_flatten(theta_star)
        out = []
        for i in range(n_dir):
            ks = jax.random.split(jax.random.fold_in(key, i), len(leaves))
            us = [jax.random.normal(k, a.shape, a.dtype) for k, a in zip(ks, leaves)]
            nrm = jnp.sqrt(sum(jnp.sum(u**2) for u in us))
            us = [u / nrm for u in us]
            out.append(lambda R, us=us: jax.tree_util.tree_unflatten(treedef, [a + R * u for a, u in zip(leaves, us)]))
        return out

    def theta_star_report(self, data_law) -> Dict[str, Any]:
        """How accurately theta* is known (empty for closed-form theta*)."""
        return {}
