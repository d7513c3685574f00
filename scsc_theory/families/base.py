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
wraps parameters into that state and ``params`` reads them back. By default both are identities.
"""
from __future__ import annotations

import abc
from typing import Any, Dict

PyTree = Any


class Family(abc.ABC):
    """Abstract base class of the interface; subclasses are frozen dataclasses."""

    name: str = "family"
    #: Human-readable parametrization in which ``distance`` and the theory constants are stated.
    parametrization: str = ""
    has_population_map: bool = False

    # --- state handling (identity for closed-form families) ---
    def init_state(self, params: PyTree) -> PyTree:
        return params

    def params(self, state: PyTree) -> PyTree:
        return state

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
