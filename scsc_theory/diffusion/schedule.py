"""Noise schedules for Gaussian diffusion (DDPM; Ho et al. 2020) and their strided sub-sequences.

The forward process is ``q(x_t | x_0) = N(sqrt(abar_t) x_0, (1 - abar_t) I)`` with
``abar_t = prod_{s<=t} (1 - beta_s)``. The cosine schedule (Nichol & Dhariwal 2021) sets
``abar_t = f(t) / f(0)``, ``f(t) = cos^2(((t/T) + s) / (1 + s) * pi / 2)``, ``s = 0.008``, with
``beta_t`` clipped to 0.999. MDM, the model of the paper's human-motion experiment (Gillman et al.,
ICML 2024, section 5), uses exactly this schedule with T = 1000 and x0-prediction.

Timesteps are 0-based: ``t = 0`` is the least-noisy step, ``t = T - 1`` the noisiest.
"""
from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp
import numpy as np

from .._validate import check_int


class Schedule(NamedTuple):
    """Arrays of length T (a pytree, so it can be closed over or passed into jit)."""

    betas: jnp.ndarray
    alphas_cumprod: jnp.ndarray

    @property
    def num_steps(self) -> int:
        return int(self.betas.shape[0])


def cosine_schedule(num_steps: int = 1000, s: float = 0.008, max_beta: float = 0.999) -> Schedule:
    """Cosine schedule: ``abar(t) = f(t)/f(0)``, ``beta_t = min(1 - abar(t+1)/abar(t), max_beta)``."""
    num_steps = check_int("num_steps", num_steps, 1)
    ts = np.arange(num_steps + 1, dtype=np.float64) / num_steps
    f = np.cos((ts + s) / (1.0 + s) * np.pi / 2.0) ** 2
    betas = np.minimum(1.0 - f[1:] / f[:-1], max_beta)
    abar = np.cumprod(1.0 - betas)
    return Schedule(jnp.asarray(betas, jnp.float32), jnp.asarray(abar, jnp.float32))


def q_sample(schedule: Schedule, x0, t, noise):
    """Draw ``x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) noise`` (``t`` an int scalar or per-example)."""
    abar = schedule.alphas_cumprod[t]
    abar = jnp.reshape(abar, jnp.shape(abar) + (1,) * (jnp.ndim(x0) - jnp.ndim(abar)))
    return jnp.sqrt(abar) * x0 + jnp.sqrt(1.0 - abar) * noise


def strided_timesteps(num_steps: int, sample_steps: int) -> np.ndarray:
    """Evenly strided decreasing timesteps ``[T-1, ..., 0]`` of length ``sample_steps``.

    With ``sample_steps == num_steps`` this is every step (ancestral DDPM); fewer steps give the
    respaced / DDIM-style sampler (Song et al. 2021; Nichol & Dhariwal 2021).
    """
    num_steps = check_int("num_steps", num_steps, 1)
    sample_steps = check_int("sample_steps", sample_steps, 1, num_steps)
    ts = np.round(np.linspace(num_steps - 1, 0, sample_steps)).astype(np.int32)
    return ts
