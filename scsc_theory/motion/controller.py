"""The corrector's learned set-point planner: which servo set points make the humanoid realize a clip.

A clip of the world is the simulator's response to a set-point trajectory (the procedural target
of :mod:`scsc_theory.motion.data`). Tracking a clip with the clip itself as set points misses it
(the servos lag and sag under gravity, the bounded root residual saturates: 7 cm MPJPE on true
clips), and iterative learning control from there does not converge below about 4 cm. The planner
learns the inverse map instead, as UHC learns its tracking policy from motion capture: from the
world's own (clip, set point) pairs it fits

    u(t) = q(t) + f(window_q(t)),    window_q(t) = features of frames t - H .. t + H,

f = a linear map plus a two-layer GELU MLP on standardised features, the offset u - q expressed as
hinge-angle offsets, the root position offset in the clip's heading frame and the root rotation
offset in the body frame. The pairs are drawn from a seed stream of their own (disjoint from the
train, test and fresh streams), so no dataset or evaluator clip is ever a training pair.

The fitted planner is cached on disk (``cache_dir()/motion/planner_<key>.npz``; the key hashes
this file, the world's generator and the fit settings) and in memory (one entry per fps).
"""
from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path
from typing import NamedTuple

import numpy as np

from . import humanoid

#: Frames on each side of t in the planner's input window.
WINDOW = 6
#: Fit settings: (clip, set point) pairs, their seed and stream, optimiser steps, batch, width.
FIT = {"n_pairs": 2000, "seed": 5, "stream": 3, "steps": 6000, "batch": 1024, "width": 256,
       "learning_rate": 2e-3, "ridge": 1e-3, "T": 60}
#: Planned offsets are clipped to this many standard deviations of the offsets the world's own
#: clips need (an input far from the world, e.g. a teleporting root, would make the MLP extrapolate).
OFFSET_CLIP_SD = 4.0
N_OFFSETS = 27  # 21 hinge angles, root position (3), root rotation vector (3)


class Planner(NamedTuple):
    """A fitted set-point planner (all arrays float32 except the statistics, float64).

    linear: (D, 27) ridge map on standardised features; layers: ((W, b), (W, b), (W, b)) of the
    residual MLP; x_mean/x_std (D,), y_mean/y_std (27,): the standardisation.
    """

    linear: np.ndarray
    layers: tuple
    x_mean: np.ndarray
    x_std: np.ndarray
    y_mean: np.ndarray
    y_std: np.ndarray


def _yaw(q):
    w, x, y, z = np.moveaxis(q[..., 3:7], -1, 0)
    return np.arctan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z))


def _to_heading(v, yaw):
    c, s = np.cos(-yaw), np.sin(-yaw)
    return np.stack([c * v[..., 0] - s * v[..., 1], s * v[..., 0] + c * v[..., 1], v[..., 2]], -1)


def window_features(q, fps: float) -> np.ndarray:
    """(n, T, D) planner input: per frame, hinge angles, root height, gravity in the body frame,
    root velocity in the heading frame and body angular velocity, for frames t - WINDOW .. t + WINDOW
    (edges repeated), a bias and indicators of the first three and the last frame."""
    from .physics import _continuous_quats, _qconj, _qlog_angvel, _qrotate

    n, T, _ = q.shape
    quat = _continuous_quats(q[..., 3:7])
    g = _qrotate(_qconj(quat), np.broadcast_to(np.array([0.0, 0.0, 1.0]), q.shape[:-1] + (3,)))
    v = _to_heading(np.gradient(q[..., :3], axis=1) * fps, _yaw(q))
    w = np.zeros((n, T, 3))
    w[:, :-1] = _qlog_angvel(quat[:, :-1], quat[:, 1:], 1.0 / fps)
    w[:, -1] = w[:, -2]
    base = np.concatenate([q[..., 7:], q[..., 2:3], g, v, _qrotate(_qconj(quat), w)], -1)
    H = WINDOW
    pad = np.concatenate([np.repeat(base[:, :1], H, 1), base, np.repeat(base[:, -1:], H, 1)], 1)
    edges = np.zeros((n, T, 4))
    edges[:, 0, 0] = edges[:, 1, 1] = edges[:, 2, 2] = edges[:, -1, 3] = 1.0
    return np.concatenate([pad[:, H + k:H + k + T] for k in range(-H, H + 1)] + [np.ones((n, T, 1)), edges], -1)


def offsets(q, u) -> np.ndarray:
    """(n, T, 27) set points ``u`` relative to clips ``q`` (the planner's output coordinates)."""
    from .physics import _qconj, _qmul, _qnorm, _rotvec

    lo, hi = humanoid.info().joint_range.T
    d_j = np.clip(u[..., 7:], lo, hi) - q[..., 7:]
    d_p = _to_heading(u[..., :3] - q[..., :3], _yaw(q))
    d_r = _rotvec(_qmul(_qconj(_qnorm(q[..., 3:7])), _qnorm(u[..., 3:7])))
    return np.concatenate([d_j, d_p, d_r], -1)


def apply_offsets(q, d) -> np.ndarray:
    """Set points (n, T, 28) from clips ``q`` and offsets ``d`` (n, T, 27): the inverse of :func:`offsets`."""
    from .physics import _qmul, _qnorm, _quat_exp

    lo, hi = humanoid.info().joint_range.T
    u = np.array(q, dtype=np.float64)
    u[..., 7:] = np.clip(q[..., 7:] + d[..., :21], lo, hi)
    yaw = _yaw(q)
    u[..., :3] += _to_heading(d[..., 21:24], -yaw)
    u[..., 3:7] = _qnorm(_qmul(_qnorm(q[..., 3:7]), _quat_exp(d[..., 24:27])))
    return u


def _mlp(layers, x):
    import jax

    for W, b in layers[:-1]:
        x = jax.nn.gelu(x @ W + b)
    W, b = layers[-1]
    return x @ W + b


@functools.lru_cache(maxsize=1)
def _predict_fn():
    import jax

    return jax.jit(lambda linear, layers, x: x @ linear + _mlp(layers, x))


def set_points(planner: Planner, q, fps: float) -> np.ndarray:
    """Planned set points (n, T, 28) for clips ``q`` (n, T, 28): q + f(window_q), each standardised
    offset clipped to +-OFFSET_CLIP_SD."""
    import jax.numpy as jnp

    x = ((window_features(q, fps) - planner.x_mean) / planner.x_std).astype(np.float32)
    y = np.asarray(_predict_fn()(jnp.asarray(planner.linear), planner.layers, jnp.asarray(x)), dtype=np.float64)
    y = np.clip(y, -OFFSET_CLIP_SD, OFFSET_CLIP_SD)
    return apply_offsets(q, y * planner.y_std + planner.y_mean)


def training_pairs(n: int, seed: int, stream: int, T: int, fps: float) -> tuple[np.ndarray, np.ndarray]:
    """(clips, set points), both (n, T, 28) in the clips' canonical frame, from the world's generator."""
    from . import data

    labels = data._labels_for(n, seed, stream)
    q, u = data._simulate(labels, seed, stream, T, fps)
    return q, data.canonicalize(u)


def fit(fps: float = 20.0, *, key=None, **settings) -> Planner:
    """Fit a planner on the world's (clip, set point) pairs (settings: :data:`FIT`; ``key``: the
    MLP's initialisation and batch PRNG key, default ``PRNGKey(FIT["seed"])``)."""
    import jax
    import jax.numpy as jnp
    import optax

    s = {**FIT, **settings}
    q, u = training_pairs(s["n_pairs"], s["seed"], s["stream"], s["T"], fps)
    X = window_features(q, fps).reshape(-1, window_features(q[:1], fps).shape[-1])
    Y = offsets(q, u).reshape(-1, N_OFFSETS)
    xm, xs = X.mean(0), X.std(0) + 1e-6
    ym, ys = Y.mean(0), Y.std(0) + 1e-6
    Xn, Yn = ((X - xm) / xs).astype(np.float32), ((Y - ym) / ys).astype(np.float32)
    D = Xn.shape[1]
    linear = np.linalg.solve(Xn.T.astype(np.float64) @ Xn + s["ridge"] * len(Xn) * np.eye(D),
                             Xn.T.astype(np.float64) @ Yn).astype(np.float32)
    key = jax.random.PRNGKey(s["seed"]) if key is None else key
    k_init, k_batch = jax.random.split(key)
    sizes = (D, s["width"], s["width"], N_OFFSETS)
    ks = jax.random.split(k_init, len(sizes) - 1)
    layers = tuple((jax.random.normal(ks[i], (sizes[i], sizes[i + 1])) * np.sqrt(1.0 / sizes[i]),
                    jnp.zeros(sizes[i + 1])) for i in range(len(sizes) - 1))
    opt = optax.adam(optax.cosine_decay_schedule(s["learning_rate"], s["steps"]))
    Xj, Yj, Lj = jnp.asarray(Xn), jnp.asarray(Yn), jnp.asarray(linear)

    def loss(layers, idx):
        return jnp.mean((Xj[idx] @ Lj + _mlp(layers, Xj[idx]) - Yj[idx]) ** 2)

    def step(carry, k):
        layers, st = carry
        idx = jax.random.randint(k, (s["batch"],), 0, Xj.shape[0])
        g = jax.grad(loss)(layers, idx)
        upd, st = opt.update(g, st, layers)
        return (optax.apply_updates(layers, upd), st), None

    (layers, _), _ = jax.jit(lambda c, ks: jax.lax.scan(step, c, ks))((layers, opt.init(layers)),
                                                                       jax.random.split(k_batch, s["steps"]))
    return Planner(linear, tuple((np.asarray(W), np.asarray(b)) for W, b in layers), xm, xs, ym, ys)


def _cache_path(fps: float) -> Path:
    from . import data
    from ..io import cache_dir

    h = hashlib.sha256(Path(__file__).read_bytes())
    h.update(data._source_hash().encode())
    h.update(json.dumps({**FIT, "fps": fps, "window": WINDOW}, sort_keys=True).encode())
    return cache_dir() / "motion" / f"planner_{h.hexdigest()[:24]}.npz"


def _save(path: Path, p: Planner) -> None:
    from ..io import write_npz

    arrays = {"linear": p.linear, "x_mean": p.x_mean, "x_std": p.x_std, "y_mean": p.y_mean, "y_std": p.y_std}
    for i, (W, b) in enumerate(p.layers):
        arrays[f"W{i}"], arrays[f"b{i}"] = W, b
    write_npz(path, **arrays)


def _load(path: Path) -> Planner:
    z = np.load(path)
    n_layers = sum(1 for k in z.files if k.startswith("W"))
    return Planner(z["linear"], tuple((z[f"W{i}"], z[f"b{i}"]) for i in range(n_layers)),
                   z["x_mean"], z["x_std"], z["y_mean"], z["y_std"])


@functools.lru_cache(maxsize=2)
def planner(fps: float = 20.0) -> Planner:
    """The world's planner at frame rate ``fps``: loaded from the cache, else fitted (about 40 s on
    2 cores) and cached."""
    path = _cache_path(float(fps))
    if path.exists():
        return _load(path)
    p = fit(float(fps))
    _save(path, p)
    return p
