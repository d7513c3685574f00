"""Training an x0-predicting class-conditional denoiser: loss, AdamW step, warm-started ``fit``.

Loss (MDM, Tevet et al. 2023; the model of Gillman et al., ICML 2024, section 5)::

    t ~ U{0..T-1},  eps ~ N(0, I),  x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps
    y' = null token with probability p_uncond (classifier-free guidance dropout), else y
    L  = E || x0 - D(x_t, t, y') ||^2  +  aux(D(x_t, t, y'), x0)

``aux`` is an optional callable (e.g. the motion velocity / foot-contact losses in
:mod:`scsc_theory.motion.model`) returning a scalar per example.

``fit(model, opt_state, x, y, steps, key, ...)`` runs ``steps`` AdamW updates inside a single
``lax.scan`` (one compiled function), drawing minibatches with replacement from ``(x, y)`` with
keys ``fold_in(key, step)``. It returns the new model AND the new optimizer state, so a caller
warm-starts the next call from both (the paper's fine-tuning: weights and Adam moments carried).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import equinox as eqx
import jax
import jax.numpy as jnp
import optax

from .._validate import check_int, check_nonneg, check_positive
from .schedule import Schedule, q_sample


@dataclass(frozen=True)
class TrainConfig:
    """Hashable optimisation settings (static under jit)."""

    lr: float = 1e-4  # paper: AdamW, lr 1e-4
    weight_decay: float = 0.0
    batch_size: int = 64  # paper: 64
    p_uncond: float = 0.1  # MDM: 10% label dropout
    grad_clip: float = 1.0

    def validate(self) -> "TrainConfig":
        check_positive("lr", self.lr)
        check_nonneg("weight_decay", self.weight_decay)
        check_int("batch_size", self.batch_size, 1)
        check_nonneg("p_uncond", self.p_uncond)
        check_nonneg("grad_clip", self.grad_clip)
        return self


def make_optimizer(cfg: TrainConfig) -> optax.GradientTransformation:
    """``clip_by_global_norm`` (if ``grad_clip > 0``) followed by ``optax.adamw``."""
    parts = []
    if cfg.grad_clip > 0:
        parts.append(optax.clip_by_global_norm(cfg.grad_clip))
    parts.append(optax.adamw(cfg.lr, weight_decay=cfg.weight_decay))
    return optax.chain(*parts)


def init_opt_state(model, cfg: TrainConfig):
    return make_optimizer(cfg).init(eqx.filter(model, eqx.is_inexact_array))


def diffusion_loss(model, schedule: Schedule, x0, y, key, p_uncond: float, aux: Optional[Callable] = None):
    """Mean over the batch of the x0-prediction loss above. ``x0``: (b, *event), ``y``: (b,)."""
    b = x0.shape[0]
    kt, kn, kd = jax.random.split(key, 3)
    t = jax.random.randint(kt, (b,), 0, schedule.num_steps)
    noise = jax.random.normal(kn, x0.shape)
    xt = q_sample(schedule, x0, t, noise)
    drop = jax.random.bernoulli(kd, p_uncond, (b,))
    y_in = jnp.where(drop, model.num_classes, y)
    pred = jax.vmap(model)(xt, t, y_in)
    per_ex = jnp.mean((pred - x0) ** 2, axis=tuple(range(1, x0.ndim)))
    if aux is not None:
        per_ex = per_ex + jax.vmap(aux)(pred, x0)
    return jnp.mean(per_ex)


def train_step(model, opt_state, schedule, x0, y, key, cfg: TrainConfig, aux=None):
    """One AdamW update; returns (model, opt_state, loss)."""
    opt = make_optimizer(cfg)
    loss, grads = eqx.filter_value_and_grad(diffusion_loss)(model, schedule, x0, y, key, cfg.p_uncond, aux)
    params = eqx.filter(model, eqx.is_inexact_array)
    updates, opt_state = opt.update(grads, opt_state, params)
    model = eqx.apply_updates(model, updates)
    return model, opt_state, loss


@eqx.filter_jit
def _fit(model, opt_state, schedule, x, y, key, steps: int, cfg: TrainConfig, aux):
    params, static = eqx.partition(model, eqx.is_inexact_array)
    n = x.shape[0]

    def body(carry, i):
        params, opt_state = carry
        k = jax.random.fold_in(key, i)
        kb, ks = jax.random.split(k)
        idx = jax.random.randint(kb, (cfg.batch_size,), 0, n)
        m = eqx.combine(params, static)
        m, opt_state, loss = train_step(m, opt_state, schedule, x[idx], y[idx], ks, cfg, aux)
        return (eqx.filter(m, eqx.is_inexact_array), opt_state), loss

    (params, opt_state), losses = jax.lax.scan(body, (params, opt_state), jnp.arange(steps))
    return eqx.combine(params, static), opt_state, losses


def fit(model, opt_state, x, y, steps: int, key, schedule: Schedule, cfg: TrainConfig, aux=None):
    """``steps`` warm-started AdamW steps on minibatches of ``(x, y)``; returns (model, opt_state, losses).

    The whole loop is one compiled ``lax.scan``; recompiles only when shapes, ``steps`` or
    ``cfg`` change. ``aux`` must be a hashable callable (it is a static argument).
    """
    steps = check_int("steps", steps, 1)
    x = jnp.asarray(x, jnp.float32)
    y = jnp.asarray(y, jnp.int32)
    return _fit(model, opt_state, schedule, x, y, key, steps, cfg, aux)
