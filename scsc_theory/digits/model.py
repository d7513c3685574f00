"""A small class-conditional MLP-mixer denoiser for 8x8 images (x0-prediction).

Follows the denoiser protocol of :mod:`scsc_theory.diffusion.sample`: ``model(x, t, y) -> x0_hat``
for one image ``x`` (8, 8), integer timestep ``t`` and label ``y`` in ``[0, 10]`` (10 = no label,
for classifier-free guidance).

Architecture (MLP-Mixer, Tolstikhin et al. 2021, with FiLM conditioning as in DDPM U-Nets):

    tokens  h = Linear(patchify_2x2(x)) + pos          (P = 16 tokens of 4 pixels, width C)
    cond    c = MLP(sinusoidal(t)) + Emb(y)
    block   z = LN(h) * (1 + s(c)) + b(c);  h += TokenMLP(z^T)^T      (mixes the 16 positions)
            z = LN(h) * (1 + s'(c)) + b'(c); h += ChannelMLP(z)        (mixes the C channels)
    out     x0_hat = unpatchify(Linear(LN(h)))

Small on purpose: about 0.2 M multiply-adds per image, so 50 generations of the loop fit on two
shared CPU cores.
"""
from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp

from ..diffusion.nets import timestep_embedding
from .data import IMAGE_SHAPE, NUM_CLASSES, SIDE

PATCH = 2
TOKENS = (SIDE // PATCH) ** 2
PATCH_DIM = PATCH * PATCH


def patchify(x):
    """(8, 8) -> (16, 4): non-overlapping 2x2 patches in row-major order."""
    g = SIDE // PATCH
    return x.reshape(g, PATCH, g, PATCH).transpose(0, 2, 1, 3).reshape(TOKENS, PATCH_DIM)


def unpatchify(p):
    """Inverse of :func:`patchify`."""
    g = SIDE // PATCH
    return p.reshape(g, g, PATCH, PATCH).transpose(0, 2, 1, 3).reshape(SIDE, SIDE)


def _dense(key, n_in, n_out, zero=False):
    """(W (n_in, n_out), b (n_out,)) with LeCun-uniform init (as eqx.nn.Linear), or zeros."""
    if zero:
        return jnp.zeros((n_in, n_out)), jnp.zeros((n_out,))
    lim = 1.0 / math.sqrt(n_in)
    kw, kb = jax.random.split(key)
    return (jax.random.uniform(kw, (n_in, n_out), minval=-lim, maxval=lim),
            jax.random.uniform(kb, (n_out,), minval=-lim, maxval=lim))


def _layernorm(h, eps: float = 1e-5):
    """Per-token LayerNorm without affine parameters (FiLM supplies scale and shift)."""
    mu = jnp.mean(h, axis=-1, keepdims=True)
    var = jnp.mean((h - mu) ** 2, axis=-1, keepdims=True)
    return (h - mu) * jax.lax.rsqrt(var + eps)


class MixerBlock(eqx.Module):
    """One mixer block on tokens ``h`` (P, C) with conditioning ``c``; written as plain matmuls
    (no nested vmaps), which is several times faster on CPU for these tiny shapes."""

    tok_w1: jnp.ndarray  # (H_tok, P): acts on the token axis
    tok_b1: jnp.ndarray  # (H_tok, 1)
    tok_w2: jnp.ndarray  # (P, H_tok)
    tok_b2: jnp.ndarray  # (P, 1)
    ch_w1: jnp.ndarray  # (C, H_ch)
    ch_b1: jnp.ndarray
    ch_w2: jnp.ndarray  # (H_ch, C)
    ch_b2: jnp.ndarray
    film_w: jnp.ndarray  # (cond, 4C), zero-initialised: the block starts unconditioned
    film_b: jnp.ndarray

    def __init__(self, width: int, cond_dim: int, token_hidden: int, channel_hidden: int, *, key):
        k = jax.random.split(key, 4)
        w, b = _dense(k[0], TOKENS, token_hidden)
        self.tok_w1, self.tok_b1 = w.T, b[:, None]
        w, b = _dense(k[1], token_hidden, TOKENS)
        self.tok_w2, self.tok_b2 = w.T, b[:, None]
        self.ch_w1, self.ch_b1 = _dense(k[2], width, channel_hidden)
        self.ch_w2, self.ch_b2 = _dense(k[3], channel_hidden, width)
        self.film_w, self.film_b = _dense(None, cond_dim, 4 * width, zero=True)

    def __call__(self, h, c):
        s1, b1, s2, b2 = jnp.split(c @ self.film_w + self.film_b, 4)
        z = _layernorm(h) * (1.0 + s1) + b1
        h = h + self.tok_w2 @ jax.nn.silu(self.tok_w1 @ z + self.tok_b1) + self.tok_b2
        z = _layernorm(h) * (1.0 + s2) + b2
        return h + jax.nn.silu(z @ self.ch_w1 + self.ch_b1) @ self.ch_w2 + self.ch_b2


class MixerDenoiser(eqx.Module):
    embed_w: jnp.ndarray  # (4, C)
    embed_b: jnp.ndarray
    pos: jnp.ndarray  # (P, C)
    t_w1: jnp.ndarray
    t_b1: jnp.ndarray
    t_w2: jnp.ndarray
    t_b2: jnp.ndarray
    label_emb: jnp.ndarray  # (num_classes + 1, cond)
    blocks: tuple
    out_w: jnp.ndarray  # (C, 4)
    out_b: jnp.ndarray
    num_classes: int = eqx.field(static=True)
    temb_dim: int = eqx.field(static=True)

    def __init__(self, width: int = 48, depth: int = 3, num_classes: int = NUM_CLASSES, temb_dim: int = 32,
                 token_hidden: int = 32, channel_hidden: int | None = None, *, key):
        k = jax.random.split(key, 6 + depth)
        self.num_classes = int(num_classes)
        self.temb_dim = int(temb_dim)
        cond = width
        self.embed_w, self.embed_b = _dense(k[0], PATCH_DIM, width)
        self.pos = 0.02 * jax.random.normal(k[1], (TOKENS, width))
        self.t_w1, self.t_b1 = _dense(k[2], temb_dim, cond)
        self.t_w2, self.t_b2 = _dense(k[3], cond, cond)
        self.label_emb = jax.random.normal(k[4], (num_classes + 1, cond))
        ch = channel_hidden or 2 * width
        self.blocks = tuple(MixerBlock(width, cond, token_hidden, ch, key=k[6 + i]) for i in range(depth))
        self.out_w, self.out_b = _dense(k[5], width, PATCH_DIM)

    def __call__(self, x, t, y):
        h = patchify(x) @ self.embed_w + self.embed_b + self.pos
        te = jax.nn.silu(timestep_embedding(t, self.temb_dim) @ self.t_w1 + self.t_b1) @ self.t_w2 + self.t_b2
        c = jax.nn.silu(te + self.label_emb[y])
        for blk in self.blocks:
            h = blk(h, c)
        return unpatchify(_layernorm(h) @ self.out_w + self.out_b).reshape(IMAGE_SHAPE)


def num_params(model) -> int:
    return int(sum(a.size for a in jax.tree_util.tree_leaves(eqx.filter(model, eqx.is_inexact_array))))
