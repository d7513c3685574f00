"""The physics corrector as one jit-compiled function: projection onto realizable motion, on MJX.

Twin of :func:`scsc_theory.motion.physics.project` and :func:`~scsc_theory.motion.physics.correct`
with the ``"mjx"`` backend, with every step in jnp so that it runs inside ``jax.jit`` (and inside the
loop's fused generation, :mod:`scsc_theory.motion.device.generation`):

* the planner's set points (:func:`.plan.set_points`), ``iterations`` learning-control updates
  (:func:`.plan.ilc_update`) and their MJX rollouts (:func:`rollout`, in the model's float dtype)
  as one ``lax.scan`` over rollouts;
* the same choice per clip: the rollout closest to the input (MPJPE, a rollout that misses a
  validity threshold ranked INVALID_PENALTY_M behind), among those that neither fell
  (:func:`.kinematics.fallen`), leaned beyond the input (:func:`.kinematics.leans`) nor diverged;
* the second set towards :func:`.plan.limit_root_speed` of the clip for clips beyond the world's
  root speed, and the gate and fall-back rules of ``correct``.

Static shapes: the host simulates only the clips that need it; here every clip of the batch is
simulated and the result selected per clip with masks (each clip's result depends on that clip
alone, so the selection equals the host's). A batch in which no clip needs correction, or no clip
is beyond the root speed, skips that work with ``lax.cond``.
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from ..physics import ILC_ITERATIONS, INVALID_PENALTY_M, substeps
from . import kinematics as kin
from . import plan as pl
from .quat import qnorm


class Correction(NamedTuple):
    """The pytree twin of :class:`scsc_theory.motion.physics.Correction` (same fields, jnp arrays)."""

    qpos: jax.Array
    corrected: jax.Array
    fallback: jax.Array
    iteration: jax.Array
    tracking_error: jax.Array
    joint_error: jax.Array
    root_error: jax.Array
    unstable: jax.Array


class Projection(NamedTuple):
    """The pytree twin of :class:`scsc_theory.motion.physics.Projection`."""

    qpos: jax.Array
    iteration: jax.Array
    fell_all: jax.Array
    plain: jax.Array
    plain_unstable: jax.Array


#: Clips simulated together by :func:`rollout` on a CPU: XLA's CPU runtime deadlocks in MJX's batched
#: Cholesky factorisation when it parallelises a large batch on a small thread pool (measured: 64 clips
#: of 60 frames hang on 2 cores, 8 run), so on a CPU the batch is simulated in chunks of this size
#: (``lax.map``); on an accelerator every clip at once.
CPU_CHUNK = 8


def rollout(plan: pl.Plan, T: int, sub: int, mx=None, *, chunk: int | None = None):
    """The humanoid under MJX following ``plan`` for clips of T frames, ``sub`` physics steps per frame:
    qpos (n, T, 28), frame 0 the initial state, frame f the state after f * sub steps (the host's
    ``physics._mjx_simulator``, with the model passed in instead of cached, so it can be traced).
    ``chunk``: clips simulated together (default: all on an accelerator, :data:`CPU_CHUNK` on a CPU);
    each clip's result does not depend on it beyond float rounding (tested)."""
    from mujoco import mjx

    mx = kin.device_model() if mx is None else mx

    def one(q0, v0, ctrl, mpos, mquat):
        d = mjx.make_data(mx)
        d = d.replace(qpos=q0, qvel=v0, mocap_pos=mpos[0:1], mocap_quat=mquat[0:1])

        def inner(d, xs):
            c_k, p_k, q_k = xs
            return mjx.step(mx, d.replace(ctrl=c_k, mocap_pos=p_k[None], mocap_quat=q_k[None])), None

        def outer(d, xs):
            d, _ = jax.lax.scan(inner, d, xs)
            return d, d.qpos

        xs = (ctrl.reshape(T - 1, sub, -1), mpos.reshape(T - 1, sub, 3), mquat.reshape(T - 1, sub, 4))
        _, qs = jax.lax.scan(outer, d, xs)
        return jnp.concatenate([q0[None], qs], axis=0)

    dt = mx.opt.timestep.dtype
    xs = tuple(jnp.asarray(x, dt) for x in plan)
    n = xs[0].shape[0]
    chunk = (CPU_CHUNK if jax.default_backend() == "cpu" else n) if chunk is None else chunk
    if chunk >= n:
        return jax.vmap(one)(*xs)
    return jax.lax.map(lambda a: one(*a), xs, batch_size=chunk)


def simulate(setpoint, fps: float, start, mx=None):
    """Twin of ``physics._simulate`` with the MJX backend: the humanoid tracking set-point clips
    ``setpoint`` (n, T, 28) from the first frames of ``start`` -> (qpos (n, T, 28), unstable (n,)).
    A diverged rollout (non-finite state) is flagged and its non-finite entries zeroed (a zero
    quaternion becomes the identity), as on the host."""
    plan = pl.plan_controls(setpoint, fps, start, mx=mx)
    out = jnp.asarray(rollout(plan, setpoint.shape[1], substeps(fps), mx), dtype=float)
    unstable = ~jnp.isfinite(out).all(axis=(1, 2))
    u = unstable[:, None, None]
    out = jnp.where(u & ~jnp.isfinite(out), 0.0, out)
    w = out[..., 3]
    w = jnp.where(unstable[:, None] & (jnp.linalg.norm(out[..., 3:7], axis=-1) == 0), 1.0, w)
    out = out.at[..., 3].set(w)
    return out.at[..., 3:7].set(qnorm(out[..., 3:7])), unstable


def _rollouts(target, ref, fps, iterations, best_q, best_err, planner, mx):
    """Twin of ``physics._ilc_rollouts``: rollouts 0 .. ``iterations`` towards ``target`` judged against
    ``ref``, as one ``lax.scan`` (one compiled rollout). Returns (qpos, err, iteration, rollout 0,
    rollout 0 diverged)."""
    n = ref.shape[0]
    setpoint = pl.set_points(planner, target, fps)

    def body(carry, k):
        sp, bq, be, bi, plain, plain_u = carry
        sim, unstable = simulate(sp, fps, ref, mx)
        err = kin.tracking_errors(sim, ref, mx)[0] + INVALID_PENALTY_M * (kin.validity_score(sim, fps=fps, mx=mx) > 0)
        ok = ~unstable & ~kin.fallen(sim) & ~kin.leans(sim, ref, fps=fps) & (err < be)
        bq = jnp.where(ok[:, None, None], sim, bq)
        be, bi = jnp.where(ok, err, be), jnp.where(ok, k, bi)
        plain = jnp.where(k == 0, sim, plain)
        plain_u = jnp.where(k == 0, unstable, plain_u)
        return (pl.ilc_update(sp, target, sim, fps), bq, be, bi, plain, plain_u), None

    init = (setpoint, best_q, best_err, jnp.full(n, -1), jnp.zeros_like(ref), jnp.zeros(n, bool))
    (_, q, err, it, plain, plain_u), _ = jax.lax.scan(body, init, jnp.arange(iterations + 1))
    return q, err, it, plain, plain_u


def project(ref, *, fps: float = 20.0, iterations: int = ILC_ITERATIONS, planner, mx=None) -> Projection:
    """Twin of :func:`scsc_theory.motion.physics.project` (MJX): the realizable motion closest to each
    clip of ``ref`` (n, T, 28). ``planner``: the world's fitted planner
    (:func:`scsc_theory.motion.controller.planner`), passed as a pytree; ``iterations`` is static."""
    mx = kin.device_model() if mx is None else mx   # one model for every kinematics call and rollout
    ref = jnp.asarray(ref, dtype=float)
    inf = jnp.full(ref.shape[0], jnp.inf, dtype=ref.dtype)
    q, err, it, plain, plain_u = _rollouts(ref, ref, fps, iterations, ref, inf, planner, mx)
    target, limited = pl.limit_root_speed(ref, fps)

    def second(state):
        q, err, it = state
        q2, err2, it2, _, _ = _rollouts(target, ref, fps, iterations, q, err, planner, mx)
        lim = limited[:, None, None]
        it = jnp.where(limited & (it2 >= 0), it2 + iterations + 1, it)
        return jnp.where(lim, q2, q), jnp.where(limited, err2, err), it

    q, err, it = jax.lax.cond(limited.any(), second, lambda s: s, (q, err, it))
    return Projection(q, it, it < 0, plain, plain_u)


def correct(qpos, *, strength=1.0, fps: float = 20.0, iterations: int = ILC_ITERATIONS, planner,
            mx=None) -> Correction:
    """Twin of :func:`scsc_theory.motion.physics.correct` (MJX backend), jit-able; ``strength`` may be
    traced, ``fps`` and ``iterations`` are static.

    A clip that meets the validity thresholds scaled by 1 / strength is returned unchanged; every
    other clip is replaced by :func:`project` of it; where every rollout fell, leaned or diverged
    while the input did not fall, the input is returned and flagged (``fallback``); where the input
    fell too, rollout 0 is kept. Arithmetic runs in the ambient float dtype (float32 unless
    ``jax_enable_x64``), the simulation in the dtype of ``mx`` (build it under the same setting).
    Inputs are not validated here (jit): call :func:`scsc_theory.motion.kinematics.check_qpos` on
    host data first; a non-finite clip scores no violation and is returned as it is.
    """
    mx = kin.device_model() if mx is None else mx   # one model for every kinematics call and rollout
    ref = jnp.asarray(qpos, dtype=float)
    n = ref.shape[0]
    todo = kin.needs_correction(ref, fps=fps, strength=strength, mx=mx)

    def run(_):
        return project(ref, fps=fps, iterations=iterations, planner=planner, mx=mx)

    def skip(_):
        return Projection(ref, jnp.full(n, -1), jnp.zeros(n, bool), ref, jnp.zeros(n, bool))

    pr = jax.lax.cond(todo.any(), run, skip, None)
    t3 = todo[:, None, None]
    out = jnp.where(t3, pr.qpos, ref)
    iteration = jnp.where(todo, pr.iteration, -1)
    fallback = todo & pr.fell_all & ~kin.fallen(ref)
    keep = todo & pr.fell_all & ~fallback
    out = jnp.where(keep[:, None, None], pr.plain, out)
    unstable = keep & pr.plain_unstable
    iteration = jnp.where(keep, 0, iteration)
    mpjpe, jerr, rerr = kin.tracking_errors(out, ref, mx)
    return Correction(out, todo, fallback, iteration, mpjpe, jerr, rerr, unstable)

