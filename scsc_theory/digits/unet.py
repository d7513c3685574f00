"""A small class-conditional U-Net denoiser for 28x28 images, shaped like the paper's ContextUnet.

Gillman et al. (ICML 2024), section 4, train the conditional DDPM of ``minDiffusion`` (T. Pearce):
``ContextUnet(in_channels=1, n_feat, n_classes=10)``. This module keeps its layout with ``F = n_feat``
channels (the paper: 128; the CPU preset: 8) and follows the denoiser protocol of
:mod:`scsc_theory.diffusion.sample`, ``model(x, t, y) -> x0_hat`` for ONE image ``x`` (28, 28)::

    h0 = ResConv(1 -> F, residual)(x)                              28 x 28
    d1 = MaxPool2(ResConv(F -> F)(h0))                             14 x 14
    d2 = MaxPool2(ResConv(F -> 2F)(d1))                             7 x  7
    v  = GELU(AvgPool7(d2))                                         1 x  1
    u0 = ReLU(GN(ConvT_7x7(2F -> 2F)(v)))                           7 x  7
    u1 = Up(4F -> F)([c1 * u0 + t1, d2])                           14 x 14
    u2 = Up(2F -> F)([c2 * u1 + t2, d1])                           28 x 28
    x0_hat = Conv(F -> 1)(ReLU(GN(Conv(2F -> F)([u2, h0]))))

``ResConv`` = two (3x3 conv, GroupNorm, GELU) layers, with the residual ``(x + h) / sqrt 2`` when
asked; ``Up`` = ConvT_2x2 (stride 2) then two ``ResConv``; ``c_i = EmbedFC(onehot(y))``,
``t_i = EmbedFC(temb(t))`` (``EmbedFC`` = Linear, GELU, Linear), of width 2F (``i = 1``) and F.

Differences from ContextUnet, all small: GroupNorm instead of BatchNorm (no batch state to carry
through the loop), a sinusoidal timestep embedding instead of the scalar ``t / T``, and
x0-prediction (the shared sampler's protocol) instead of noise prediction. The label enters as a
one-hot vector; the "no label" token ``y = num_classes`` gives the zero vector, exactly as
ContextUnet's context mask does for classifier-free guidance.
"""
from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp

from ..diffusion.nets import timestep_embedding

SIDE = 28


def _groups(channels: int) -> int:
    """GroupNorm groups: 8 where the width allows (as ContextUnet), else the largest divisor <= channels // 2."""
    for g in (8, 4, 2, 1):
        if channels % g == 0 and channels // g >= 2 or g == 1:
            return g
    return 1


class ResConv(eqx.Module):
    conv1: eqx.nn.Conv2d
    gn1: eqx.nn.GroupNorm
    conv2: eqx.nn.Conv2d
    gn2: eqx.nn.GroupNorm
    residual: bool = eqx.field(static=True)
    same: bool = eqx.field(static=True)

    def __init__(self, c_in: int, c_out: int, residual: bool = False, *, key):
        k1, k2 = jax.random.split(key)
        self.conv1 = eqx.nn.Conv2d(c_in, c_out, 3, padding=1, key=k1)
        self.conv2 = eqx.nn.Conv2d(c_out, c_out, 3, padding=1, key=k2)
        self.gn1, self.gn2 = eqx.nn.GroupNorm(_groups(c_out), c_out), eqx.nn.GroupNorm(_groups(c_out), c_out)
        self.residual, self.same = bool(residual), c_in == c_out

    def __call__(self, x):
        h1 = jax.nn.gelu(self.gn1(self.conv1(x)))
        h2 = jax.nn.gelu(self.gn2(self.conv2(h1)))
        if not self.residual:
            return h2
        return ((x if self.same else h1) + h2) / math.sqrt(2.0)


class Up(eqx.Module):
    convt: eqx.nn.ConvTranspose2d
    b1: ResConv
    b2: ResConv

    def __init__(self, c_in: int, c_out: int, *, key):
        k = jax.random.split(key, 3)
        self.convt = eqx.nn.ConvTranspose2d(c_in, c_out, 2, stride=2, key=k[0])
        self.b1, self.b2 = ResConv(c_out, c_out, key=k[1]), ResConv(c_out, c_out, key=k[2])

    def __call__(self, x, skip):
        return self.b2(self.b1(self.convt(jnp.concatenate([x, skip], axis=0))))


class EmbedFC(eqx.Module):
    l1: eqx.nn.Linear
    l2: eqx.nn.Linear

    def __init__(self, d_in: int, d_out: int, *, key):
        k1, k2 = jax.random.split(key)
        self.l1, self.l2 = eqx.nn.Linear(d_in, d_out, key=k1), eqx.nn.Linear(d_out, d_out, key=k2)

    def __call__(self, v):
        return self.l2(jax.nn.gelu(self.l1(v)))


def _pool(x, k: int, op):
    c, h, w = x.shape
    return op(x.reshape(c, h // k, k, w // k, k), axis=(2, 4))


class ContextUNet(eqx.Module):
    init: ResConv
    down1: ResConv
    down2: ResConv
    up0: eqx.nn.ConvTranspose2d
    up0_gn: eqx.nn.GroupNorm
    up1: Up
    up2: Up
    out1: eqx.nn.Conv2d
    out_gn: eqx.nn.GroupNorm
    out2: eqx.nn.Conv2d
    temb1: EmbedFC
    temb2: EmbedFC
    cemb1: EmbedFC
    cemb2: EmbedFC
    n_feat: int = eqx.field(static=True)
    num_classes: int = eqx.field(static=True)
    temb_dim: int = eqx.field(static=True)

    def __init__(self, n_feat: int = 8, num_classes: int = 10, temb_dim: int = 32, *, key):
        f = int(n_feat)
        if f < 2:
            raise ValueError(f"n_feat must be >= 2 (got {n_feat})")
        k = jax.random.split(key, 12)
        self.n_feat, self.num_classes, self.temb_dim = f, int(num_classes), int(temb_dim)
        self.init = ResConv(1, f, residual=True, key=k[0])
        self.down1, self.down2 = ResConv(f, f, key=k[1]), ResConv(f, 2 * f, key=k[2])
        self.up0 = eqx.nn.ConvTranspose2d(2 * f, 2 * f, 7, stride=7, key=k[3])
        self.up0_gn = eqx.nn.GroupNorm(_groups(2 * f), 2 * f)
        self.up1, self.up2 = Up(4 * f, f, key=k[4]), Up(2 * f, f, key=k[5])
        self.out1 = eqx.nn.Conv2d(2 * f, f, 3, padding=1, key=k[6])
        self.out_gn = eqx.nn.GroupNorm(_groups(f), f)
        self.out2 = eqx.nn.Conv2d(f, 1, 3, padding=1, key=k[7])
        self.temb1, self.temb2 = EmbedFC(temb_dim, 2 * f, key=k[8]), EmbedFC(temb_dim, f, key=k[9])
        self.cemb1 = EmbedFC(num_classes, 2 * f, key=k[10])
        self.cemb2 = EmbedFC(num_classes, f, key=k[11])

    def __call__(self, x, t, y):
        x = jnp.reshape(x, (1, SIDE, SIDE))
        te = timestep_embedding(t, self.temb_dim)
        onehot = jax.nn.one_hot(y, self.num_classes)  # y == num_classes (no label) -> zeros
        h0 = self.init(x)
        d1 = _pool(self.down1(h0), 2, jnp.max)
        d2 = _pool(self.down2(d1), 2, jnp.max)
        v = jax.nn.gelu(_pool(d2, 7, jnp.mean))
        u0 = jax.nn.relu(self.up0_gn(self.up0(v)))
        u1 = self.up1(self.cemb1(onehot)[:, None, None] * u0 + self.temb1(te)[:, None, None], d2)
        u2 = self.up2(self.cemb2(onehot)[:, None, None] * u1 + self.temb2(te)[:, None, None], d1)
        out = self.out2(jax.nn.relu(self.out_gn(self.out1(jnp.concatenate([u2, h0], axis=0)))))
        return out[0]


def num_params(model) -> int:
    return int(sum(a.size for a in jax.tree_util.tree_leaves(eqx.filter(model, eqx.is_inexact_array))))
