"""Class-conditional sampling from an x0-predicting denoiser, with classifier-free guidance.

Denoiser protocol (any architecture plugs in: the motion transformer, a U-Net or MLP for images):
an equinox module ``model(x, t, y) -> x0_hat`` for ONE example ``x`` of shape ``event_shape``,
integer timestep ``t`` and integer label ``y`` in ``[0, num_classes]``, where ``y == num_classes``
is the "no label" token used for classifier-free guidance (Ho & Salimans 2022). The module has an
int attribute ``num_classes``.

Guidance on the x0 prediction (as MDM does): ``x0 = x0_u + s (x0_c - x0_u)``; ``s = 1`` is plain
conditional sampling.

Step from timestep ``t`` to the next (smaller) strided timestep ``t'`` (DDIM, Song et al. 2021,
eq. 12, written with the x0 prediction)::

    eps   = (x_t - sqrt(abar_t) x0) / sqrt(1 - abar_t)
    sigma = eta * sqrt((1 - abar_t') / (1 - abar_t)) * sqrt(1 - abar_t / abar_t')
    x_t'  = sqrt(abar_t') x0 + sqrt(1 - abar_t' - sigma^2) eps + sigma z

``eta = 1`` with every timestep is ancestral DDPM; ``eta = 1`` with strided steps is a respaced
DDPM; ``eta = 0`` is deterministic DDIM. The last step returns ``x0``.

Two drivers: ``mode="scan"`` runs every step inside one ``lax.scan``; ``mode="loop"`` calls one
jitted step from a Python loop. On CPU the fastest differs by architecture (see
/work/shared/reference/platform_notes.md), so both are offered and benchmarked.
"""
from __future__ import annotations

from functools import partial

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._validate import SCSCInputError, check_choice, check_finite_number
from .schedule import Schedule, strided_timesteps


def guided_x0(model, x, t, y, guidance: float):
    """Batched x0 prediction with classifier-free guidance. ``x``: (b, *event), ``t``, ``y``: (b,)."""
    batched = jax.vmap(model)
    x0_c = batched(x, t, y)
    if guidance == 1.0:
        return x0_c
    y_null = jnp.full_like(y, model.num_classes)
    x0_u = batched(x, t, y_null)
    return x0_u + guidance * (x0_c - x0_u)


def _ddim_update(schedule: Schedule, x, x0, t, t_next, z, eta):
    abar = schedule.alphas_cumprod
    a_t = abar[t]
    a_n = jnp.where(t_next >= 0, abar[jnp.maximum(t_next, 0)], 1.0)
    eps = (x - jnp.sqrt(a_t) * x0) / jnp.sqrt(1.0 - a_t)
    sigma = eta * jnp.sqrt((1.0 - a_n) / (1.0 - a_t)) * jnp.sqrt(jnp.clip(1.0 - a_t / a_n, 0.0, None))
    x_next = jnp.sqrt(a_n) * x0 + jnp.sqrt(jnp.clip(1.0 - a_n - sigma**2, 0.0, None)) * eps + sigma * z
    return jnp.where(t_next >= 0, x_next, x0)


def _pairs(schedule: Schedule, sample_steps: int):
    ts = strided_timesteps(schedule.num_steps, sample_steps)
    nxt = np.concatenate([ts[1:], np.array([-1], np.int32)])
    return jnp.asarray(ts), jnp.asarray(nxt)


@eqx.filter_jit
def _sample_scan(model, schedule, labels, key, event_shape, sample_steps, guidance, eta):
    ts, nxt = _pairs(schedule, sample_steps)
    b = labels.shape[0]
    k0, kloop = jax.random.split(key)
    x = jax.random.normal(k0, (b,) + tuple(event_shape))

    def body(x, inp):
        t, t_next, i = inp
        tb = jnp.full((b,), t, jnp.int32)
        x0 = guided_x0(model, x, tb, labels, guidance)
        z = jax.random.normal(jax.random.fold_in(kloop, i), x.shape)
        return _ddim_update(schedule, x, x0, t, t_next, z, eta), None

    x, _ = jax.lax.scan(body, x, (ts, nxt, jnp.arange(ts.shape[0])))
    return x


@eqx.filter_jit
def _init_noise(key, labels, event_shape):
    k0, kloop = jax.random.split(key)
    return jax.random.normal(k0, (labels.shape[0],) + tuple(event_shape)), kloop


@partial(eqx.filter_jit, donate="none")
def _one_step(model, schedule, x, labels, t, t_next, i, kloop, guidance, eta):
    tb = jnp.full((labels.shape[0],), t, jnp.int32)
    x0 = guided_x0(model, x, tb, labels, guidance)
    z = jax.random.normal(jax.random.fold_in(kloop, i), x.shape)
    return _ddim_update(schedule, x, x0, t, t_next, z, eta)


def sample(
    model,
    schedule: Schedule,
    labels,
    key,
    event_shape,
    sample_steps: int,
    guidance: float = 1.0,
    eta: float = 1.0,
    mode: str = "scan",
):
    """Draw one sample per entry of ``labels`` (shape (b,)); returns (b, *event_shape).

    ``mode="scan"`` and ``mode="loop"`` give the same numbers for the same key (same
    per-step draws ``fold_in(key_loop, i)``), so the choice is only about speed.
    """
    check_choice("mode", mode, ("scan", "loop"))
    guidance = check_finite_number("guidance", guidance)
    eta = check_finite_number("eta", eta)
    if not 0.0 <= eta <= 1.0:
        raise SCSCInputError(f"eta must lie in [0, 1] (got {eta})")
    labels = jnp.asarray(labels, jnp.int32)
    event_shape = tuple(int(s) for s in event_shape)
    sample_steps = int(sample_steps)
    if mode == "scan":
        return _sample_scan(model, schedule, labels, key, event_shape, sample_steps, guidance, eta)
    ts, nxt = _pairs(schedule, sample_steps)
    x, kloop = _init_noise(key, labels, event_shape)
    for i in range(int(ts.shape[0])):
        x = _one_step(model, schedule, x, labels, ts[i], nxt[i], jnp.int32(i), kloop, guidance, eta)
    return x
