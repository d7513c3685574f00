"""Small generic denoisers that follow the protocol of :mod:`scsc_theory.diffusion.sample`.

``MLPDenoiser``: flattens any event shape, concatenates a sinusoidal timestep embedding and a
learned label embedding (index ``num_classes`` = no label, for classifier-free guidance) and
predicts x0. Used by the tests and as a baseline for small image data (8x8 digits).
"""
from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp


def timestep_embedding(t, dim: int, max_period: float = 10000.0):
    """Sinusoidal embedding of an integer timestep (Vaswani et al. 2017; DDPM)."""
    half = dim // 2
    freqs = jnp.exp(-math.log(max_period) * jnp.arange(half, dtype=jnp.float32) / half)
    args = jnp.asarray(t, jnp.float32) * freqs
    emb = jnp.concatenate([jnp.cos(args), jnp.sin(args)])
    if dim % 2:
        emb = jnp.concatenate([emb, jnp.zeros((1,))])
    return emb


class MLPDenoiser(eqx.Module):
    mlp: eqx.nn.MLP
    label_emb: eqx.nn.Embedding
    event_shape: tuple = eqx.field(static=True)
    num_classes: int = eqx.field(static=True)
    temb_dim: int = eqx.field(static=True)

    def __init__(self, event_shape, num_classes: int, hidden: int = 128, depth: int = 2, temb_dim: int = 32, *, key):
        k1, k2 = jax.random.split(key)
        self.event_shape = tuple(int(s) for s in event_shape)
        self.num_classes = int(num_classes)
        self.temb_dim = temb_dim
        d = math.prod(self.event_shape)
        self.mlp = eqx.nn.MLP(d + 2 * temb_dim, d, hidden, depth, activation=jax.nn.silu, key=k1)
        self.label_emb = eqx.nn.Embedding(num_classes + 1, temb_dim, key=k2)

    def __call__(self, x, t, y):
        h = jnp.concatenate([jnp.ravel(x), timestep_embedding(t, self.temb_dim), self.label_emb(y)])
        return jnp.reshape(self.mlp(h), self.event_shape)
