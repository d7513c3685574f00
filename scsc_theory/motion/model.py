"""MDM-style motion denoiser (Tevet et al., ICLR 2023), the model of the paper's human-motion
experiment (Gillman et al., ICML 2024, section 5), in equinox.

A transformer encoder over a motion clip ``x`` of shape (T, F) (frames x pose features):

    tokens  = Linear(patch_p(x))                       (T/p tokens of p consecutive frames)
    cond    = MLP(sinusoid(t)) + Embedding(y)          (y = num_classes is the "no action" token)
    h       = [cond ; tokens] + sinusoidal positions   (MDM prepends the condition as a token)
    h       = L x pre-LN TransformerEncoderLayer(h)    (one ``lax.scan`` over the L stacked blocks)
    x0_hat  = unpatch(Linear(h[1:]))                   (x0-prediction, as MDM)

``patch = 1`` is MDM (one token per frame). The CPU preset groups ``patch`` frames per token, which
cuts attention and MLP cost by ``patch`` (a stated reduction; see :data:`PRESETS`).

Geometric losses (MDM section 3): :class:`GeometricLoss` adds
``w_vel * ||diff(x0_hat) - diff(x0)||^2`` (velocity) and
``w_foot * ||diff(x0_hat)[foot] * contact||^2`` (foot contact: predicted foot-feature velocity
where the target's foot features are still, ``||diff(x0)[foot]|| < contact_thresh``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import equinox as eqx
import jax
import jax.numpy as jnp

from .._validate import SCSCInputError, check_choice, check_int
from ..diffusion.nets import timestep_embedding


def _sinusoid_positions(n: int, d: int):
    pos = jnp.arange(n, dtype=jnp.float32)[:, None]
    half = d // 2
    freqs = jnp.exp(-math.log(10000.0) * jnp.arange(half, dtype=jnp.float32) / half)
    pe = jnp.concatenate([jnp.sin(pos * freqs), jnp.cos(pos * freqs)], axis=1)
    return jnp.pad(pe, ((0, 0), (0, d - 2 * half)))


def _dense(lin: eqx.nn.Linear, x):
    """``jax.vmap(lin)(x)`` for tokens ``x`` of shape (n, in), as one ``x W^T + b`` matmul. Same values;
    XLA's CPU backend lays out the vmapped ``W x`` as (out, n) and transposes it, and this form measured
    16% less CPU time per training step of the paper-size model (benchmarks/motion_step.py, README)."""
    y = x @ lin.weight.T
    return y if lin.bias is None else y + lin.bias


def _layer_norm(ln: eqx.nn.LayerNorm, x):
    """``jax.vmap(ln)(x)`` for tokens ``x`` of shape (n, d): ``(x - mean) / sqrt(var + eps) * w + b`` over
    the last axis (equinox's formula, on the whole array). XLA's CPU backend fuses the backward of the
    vmapped form into large transposed-layout copies; this form measured faster (README, benchmarks)."""
    mean = jnp.mean(x, axis=-1, keepdims=True)
    inv = jax.lax.rsqrt(jnp.maximum(0.0, jnp.var(x, axis=-1, keepdims=True)) + ln.eps)
    return (x - mean) * inv * ln.weight + ln.bias


class _Block(eqx.Module):
    ln1: eqx.nn.LayerNorm
    attn: eqx.nn.MultiheadAttention
    ln2: eqx.nn.LayerNorm
    ff1: eqx.nn.Linear
    ff2: eqx.nn.Linear

    def __init__(self, d: int, heads: int, ff: int, *, key):
        k1, k2, k3 = jax.random.split(key, 3)
        self.ln1 = eqx.nn.LayerNorm(d)
        self.attn = eqx.nn.MultiheadAttention(heads, d, key=k1)
        self.ln2 = eqx.nn.LayerNorm(d)
        self.ff1 = eqx.nn.Linear(d, ff, key=k2)
        self.ff2 = eqx.nn.Linear(ff, d, key=k3)

    def _attend(self, z):
        """``self.attn(z, z, z)`` (equinox's multi-head attention, no projection biases) written with
        whole-sequence matmuls: softmax(q k^T / sqrt(d_head)) v per head, then the output projection."""
        a, n = self.attn, z.shape[0]
        q, k, v = (_dense(proj, z).reshape(n, a.num_heads, -1) for proj in (a.query_proj, a.key_proj, a.value_proj))
        logits = jnp.einsum("qhd,khd->hqk", q / math.sqrt(q.shape[-1]), k)
        o = jnp.einsum("hqk,khd->qhd", jax.nn.softmax(logits, axis=-1), v)
        return _dense(a.output_proj, o.reshape(n, -1))

    def __call__(self, h):
        z = _layer_norm(self.ln1, h)
        h = h + self._attend(z)
        z = _layer_norm(self.ln2, h)
        return h + _dense(self.ff2, jax.nn.gelu(_dense(self.ff1, z)))


class MotionDenoiser(eqx.Module):
    """x0-predicting, class-conditioned transformer denoiser over (T, F) clips."""

    in_proj: eqx.nn.Linear
    t_mlp: eqx.nn.MLP
    label_emb: eqx.nn.Embedding
    blocks: _Block  # the L blocks, each array stacked on a leading axis of length L
    ln_out: eqx.nn.LayerNorm
    out_proj: eqx.nn.Linear
    n_frames: int = eqx.field(static=True)
    n_feats: int = eqx.field(static=True)
    patch: int = eqx.field(static=True)
    d_model: int = eqx.field(static=True)
    num_classes: int = eqx.field(static=True)
    unroll_layers: bool = eqx.field(static=True)

    def __init__(self, n_frames: int, n_feats: int, num_classes: int, d_model: int = 64, layers: int = 2,
                 heads: int = 4, ff: int = 128, patch: int = 1, unroll_layers: bool = False, *, key):
        check_int("n_frames", n_frames, 1)
        check_int("n_feats", n_feats, 1)
        check_int("num_classes", num_classes, 1)
        check_int("layers", layers, 1)
        check_int("patch", patch, 1)
        if n_frames % patch:
            raise SCSCInputError(f"patch must divide n_frames (got patch={patch}, n_frames={n_frames})")
        if d_model % heads:
            raise SCSCInputError(f"heads must divide d_model (got heads={heads}, d_model={d_model})")
        keys = jax.random.split(key, layers + 4)
        self.n_frames, self.n_feats, self.patch, self.d_model = n_frames, n_feats, patch, d_model
        self.num_classes, self.unroll_layers = num_classes, bool(unroll_layers)
        self.in_proj = eqx.nn.Linear(patch * n_feats, d_model, key=keys[0])
        self.t_mlp = eqx.nn.MLP(d_model, d_model, d_model, 1, activation=jax.nn.silu, key=keys[1])
        self.label_emb = eqx.nn.Embedding(num_classes + 1, d_model, key=keys[2])
        self.blocks = eqx.filter_vmap(lambda k: _Block(d_model, heads, ff, key=k))(keys[4:])
        self.ln_out = eqx.nn.LayerNorm(d_model)
        self.out_proj = eqx.nn.Linear(d_model, patch * n_feats, key=keys[3])

    @property
    def layers(self) -> int:
        return int(self.blocks.ff1.weight.shape[0])

    def block(self, i: int) -> _Block:
        """The ``i``-th encoder layer as a plain :class:`_Block` (the stored blocks are stacked)."""
        return jax.tree_util.tree_map(lambda a: a[i] if eqx.is_array(a) else a, self.blocks)

    def _encode(self, h):
        """The L encoder layers as one ``lax.scan`` over the stacked blocks, its body unrolled when
        ``unroll_layers``. Measured on XLA's CPU backend (``benchmarks/motion_step.py``, README): at the
        paper size (8 layers, d 512) the rolled loop's gradient costs 0.46x the unrolled one's; at the cpu
        preset (2 layers, d 64) the unrolled body trains about 10% faster. Same function either way."""
        params, static = eqx.partition(self.blocks, eqx.is_array)

        def layer(h, p):
            return eqx.combine(p, static)(h), None

        return jax.lax.scan(layer, h, params, unroll=self.unroll_layers)[0]

    def __call__(self, x, t, y):
        n_tok = self.n_frames // self.patch
        tok = _dense(self.in_proj, jnp.reshape(x, (n_tok, self.patch * self.n_feats)))
        cond = self.t_mlp(timestep_embedding(t, self.d_model)) + self.label_emb(y)
        h = jnp.concatenate([cond[None], tok], axis=0) + _sinusoid_positions(n_tok + 1, self.d_model)
        h = self._encode(h)
        out = _dense(self.out_proj, _layer_norm(self.ln_out, h[1:]))
        return jnp.reshape(out, (self.n_frames, self.n_feats))


def num_params(model) -> int:
    return int(sum(x.size for x in jax.tree_util.tree_leaves(eqx.filter(model, eqx.is_inexact_array))))


@dataclass(frozen=True)
class GeometricLoss:
    """Per-example auxiliary loss on (T, F) clips (hashable: a static argument of ``fit``)."""

    w_vel: float = 0.0
    w_foot: float = 0.0
    foot_idx: tuple = ()
    contact_thresh: float = 0.05

    def __call__(self, pred, target):
        dp, dt = jnp.diff(pred, axis=0), jnp.diff(target, axis=0)
        loss = self.w_vel * jnp.mean((dp - dt) ** 2)
        if self.w_foot > 0 and len(self.foot_idx):
            idx = jnp.asarray(self.foot_idx)
            still = jnp.linalg.norm(dt[:, idx], axis=-1, keepdims=True) < self.contact_thresh
            loss = loss + self.w_foot * jnp.mean((dp[:, idx] * still) ** 2)
        return loss

    @property
    def active(self) -> bool:
        return self.w_vel > 0 or (self.w_foot > 0 and len(self.foot_idx) > 0)


@dataclass(frozen=True)
class Preset:
    """Everything that sets the cost of a run. ``paper`` follows section 5 of the paper."""

    name: str
    d_model: int
    layers: int
    heads: int
    ff: int
    patch: int
    diffusion_steps: int
    sample_steps: int
    gen0_steps: int
    steps_per_gen: int
    batch_size: int
    lr: float
    guidance: float
    sampler_eta: float
    w_vel: float
    sample_mode: str = "scan"
    #: unroll the scan over the encoder layers (faster for small models on CPU; see ``MotionDenoiser._encode``)
    unroll_layers: bool = False

    def reductions(self) -> str:
        """One line stating how this preset departs from the paper's schedule (for figure captions)."""
        p = PRESETS["paper"]
        if self.name == "paper":
            return ("paper schedule: MDM-size transformer (d 512, 8 layers), 1000 diffusion steps, 1000-step "
                    "sampling, gen 0 5000 steps, 1000 fine-tuning steps per generation")
        return (f"preset '{self.name}' (reduced from the paper): transformer d {self.d_model}, {self.layers} layers, "
                f"{self.patch} frames per token (paper d {p.d_model}, {p.layers} layers, 1 frame/token); "
                f"{self.diffusion_steps} diffusion steps sampled with {self.sample_steps} strided steps "
                f"(paper 1000/1000); gen 0 {self.gen0_steps} steps (paper 5000); {self.steps_per_gen} "
                f"fine-tuning steps per generation (paper 1000); lr {self.lr:g} (paper 1e-4)")


PRESETS = {
    # Gillman et al. section 5 / MDM: d 512, 8 layers, 4 heads, ff 1024, T = 1000, batch 64, lr 1e-4.
    "paper": Preset("paper", 512, 8, 4, 1024, 1, 1000, 1000, 5000, 1000, 64, 1e-4, 2.5, 1.0, 0.0),
    # laptop CPU: small transformer, 5 frames/token, 20-step strided sampling, fewer steps, larger lr.
    "cpu": Preset("cpu", 64, 2, 4, 128, 5, 100, 20, 600, 60, 64, 1e-3, 2.5, 1.0, 0.0, unroll_layers=True),
    # tests and `scsc reproduce --quick`
    "tiny": Preset("tiny", 32, 1, 2, 64, 10, 50, 8, 120, 15, 32, 2e-3, 1.5, 1.0, 0.0, unroll_layers=True),
}


def get_preset(name: str) -> Preset:
    check_choice("preset", name, tuple(PRESETS))
    return PRESETS[name]


def make_denoiser(preset: Preset, n_frames: int, n_feats: int, num_classes: int, key) -> MotionDenoiser:
    patch = preset.patch
    while n_frames % patch:
        patch -= 1
    return MotionDenoiser(n_frames, n_feats, num_classes, preset.d_model, preset.layers, preset.heads,
                          preset.ff, patch, preset.unroll_layers, key=key)
