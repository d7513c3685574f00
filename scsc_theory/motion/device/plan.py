"""The physics corrector's planning in jnp: twins of :mod:`scsc_theory.motion.physics`' control planning,
iterative-learning-control update and root-speed limit, and of :mod:`scsc_theory.motion.controller`'s
learned set-point planner.

Everything here is pure, jit-able (``fps``, ``cutoff_hz`` and ``v_max`` are static: they fix shapes
or trace-time constants, computed in NumPy/SciPy from them and the clip length T) and vmappable over
clips; boolean indexing of the host is replaced by masks (``jnp.where``). Clips are (..., T, 28) with
time on axis -2 (the host's (n, T, 28) is the case of one batch axis). Under ``jax.enable_x64`` the
twins reproduce the host to rounding (tests/test_motion_device_plan.py states the tolerances), with
two exceptions documented at the functions: :func:`plan_controls` lifts the body with MJX's forward
kinematics (:func:`.kinematics.lowest_point`, equal to the host's to rounding), and :func:`set_points`
runs the planner's MLP in float32 like the host (bit-identical to it on CPU, but in general only to
float32 rounding of the MLP output).
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .. import controller, humanoid, physics
from ..metrics import VALIDITY_THRESHOLDS
from .quat import continuous_quats, qconj, qlog_angvel, qmul, qnorm, qrotate, quat_exp, rotvec


class Plan(NamedTuple):
    """Per-physics-step set points (twin of ``physics._Plan``, a pytree of jnp arrays).

    init_qpos (..., 28), init_qvel (..., 27): the initial state; ctrl (..., K, 27), mocap_pos (..., K, 3),
    mocap_quat (..., K, 4): step k's controls, K = (T - 1) * sub. The substep count ``sub`` is static
    and not part of the pytree: ``physics.substeps(fps)``.
    """

    init_qpos: jax.Array
    init_qvel: jax.Array
    ctrl: jax.Array
    mocap_pos: jax.Array
    mocap_quat: jax.Array


def _joint_limits():
    lo, hi = humanoid.info().joint_range.T
    return jnp.asarray(lo), jnp.asarray(hi)


def _lerp_index(T: int, sub: int):
    """(f0 (K,) int, w (K, 1) float64): the host's interpolation frames and weights for K = (T-1) sub steps."""
    K = (T - 1) * sub
    tt = (np.arange(K) + 1) / sub
    f0 = np.minimum(np.floor(tt).astype(int), T - 2)
    return f0, (tt - f0)[:, None]


def plan_controls(ref, fps: float, start=None, *, mx=None) -> Plan:
    """Twin of :func:`scsc_theory.motion.physics.plan_controls`: per-physics-step set points that make
    the humanoid track the reference clips ``ref`` (..., T, 28); ``start`` (same shape, default ``ref``)
    gives the initial state.

    Step k targets time (k + 1) * timestep: joint set points (clipped into the joint ranges) and the
    mocap root pose lerped between frames (quaternions: normalised lerp of sign-continuous
    quaternions); the root actuators' controls are the reference root velocity (linear, angular) in
    the target's frame. The initial state is the first frame (joints clipped, body lifted out of the
    floor by MJX forward kinematics: :func:`.kinematics.lowest_point` on the MJX model ``mx``, built
    when not given), the initial velocities the clipped finite differences of the first two frames.
    ``fps`` is static.
    """
    from .kinematics import lowest_point

    inf = humanoid.info()
    ref = jnp.asarray(ref)
    T = ref.shape[-2]
    sub = physics.substeps(fps)
    lo, hi = _joint_limits()
    f0, w_np = _lerp_index(T, sub)
    w = jnp.asarray(w_np)

    def lerp(a):
        return a[..., f0, :] * (1 - w) + a[..., f0 + 1, :] * w

    quat = continuous_quats(ref[..., 3:7])
    pos = ref[..., :3]
    joints = jnp.clip(ref[..., 7:], lo, hi)
    j_t = lerp(joints)
    p_t = lerp(pos)
    q_t = qnorm(lerp(quat))
    v_world = (pos[..., 1:, :] - pos[..., :-1, :]) * fps
    w_world = qlog_angvel(quat[..., :-1, :], quat[..., 1:, :], 1.0 / fps)
    qinv = qconj(q_t)
    v_loc = qrotate(qinv, v_world[..., f0, :])
    w_loc = qrotate(qinv, w_world[..., f0, :])
    ctrl = jnp.zeros(j_t.shape[:-1] + (humanoid.NV,), j_t.dtype)
    ctrl = ctrl.at[..., inf.hinge_act].set(j_t)
    ctrl = ctrl.at[..., inf.root_act[:3]].set(v_loc)
    ctrl = ctrl.at[..., inf.root_act[3:]].set(w_loc)
    if start is not None:
        start = jnp.asarray(start)
        quat = continuous_quats(start[..., 3:7])
        joints = jnp.clip(start[..., 7:], lo, hi)
        v_world = (start[..., 1:, :3] - start[..., :-1, :3]) * fps
        w_world = qlog_angvel(quat[..., :-1, :], quat[..., 1:, :], 1.0 / fps)
        ref = start
    q0 = jnp.concatenate([ref[..., 0, :3], quat[..., 0, :], joints[..., 0, :]], axis=-1)
    low = lowest_point(q0, mx)
    q0 = q0.at[..., 2].add(jnp.maximum(0.0, -low).astype(q0.dtype))
    qv0 = jnp.concatenate([jnp.clip(v_world[..., 0, :], -5.0, 5.0),
                           jnp.clip(qrotate(qconj(quat[..., 0, :]), w_world[..., 0, :]), -10.0, 10.0),
                           jnp.clip((joints[..., 1, :] - joints[..., 0, :]) * fps, -10.0, 10.0)], axis=-1)
    return Plan(q0, qv0, ctrl, p_t, q_t)


# ----------------------------------------------------------------------------------------------
# the learned set-point planner (controller.py)
# ----------------------------------------------------------------------------------------------

def _yaw(q):
    """Twin of ``controller._yaw``: heading angle of the root quaternion of clips (..., 28)."""
    w, x, y, z = jnp.moveaxis(q[..., 3:7], -1, 0)
    return jnp.arctan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z))


def _to_heading(v, yaw):
    """Twin of ``controller._to_heading``: vectors (..., 3) rotated by -yaw about z."""
    c, s = jnp.cos(-yaw), jnp.sin(-yaw)
    return jnp.stack([c * v[..., 0] - s * v[..., 1], s * v[..., 0] + c * v[..., 1], v[..., 2]], -1)


def _gradient(x):
    """``np.gradient(x, axis=-2)`` at unit spacing: central differences inside, one-sided at the ends."""
    if x.shape[-2] < 2:
        raise ValueError("np.gradient needs at least 2 frames")
    inner = (x[..., 2:, :] - x[..., :-2, :]) / 2.0
    return jnp.concatenate([x[..., 1:2, :] - x[..., :1, :], inner, x[..., -1:, :] - x[..., -2:-1, :]], axis=-2)


def window_features(q, fps: float):
    """Twin of :func:`scsc_theory.motion.controller.window_features`: (..., T, D) planner input of clips
    (..., T, 28). Per frame: hinge angles, root height, gravity in the body frame, root velocity in the
    heading frame (``np.gradient`` along time) and body angular velocity (the last frame repeats the
    one before), for frames t - WINDOW .. t + WINDOW (edges repeated), then a bias and indicators of the
    first three and the last frame. ``fps`` is static."""
    q = jnp.asarray(q)
    T = q.shape[-2]
    batch = q.shape[:-2]
    quat = continuous_quats(q[..., 3:7])
    up = jnp.broadcast_to(jnp.asarray([0.0, 0.0, 1.0], q.dtype), q.shape[:-1] + (3,))
    g = qrotate(qconj(quat), up)
    v = _to_heading(_gradient(q[..., :3]) * fps, _yaw(q))
    w = qlog_angvel(quat[..., :-1, :], quat[..., 1:, :], 1.0 / fps)
    w = jnp.concatenate([w, w[..., -1:, :]], axis=-2)
    base = jnp.concatenate([q[..., 7:], q[..., 2:3], g, v, qrotate(qconj(quat), w)], -1)
    H = controller.WINDOW
    rep = lambda a: jnp.repeat(a, H, axis=-2)  # noqa: E731
    pad = jnp.concatenate([rep(base[..., :1, :]), base, rep(base[..., -1:, :])], -2)
    edges = np.zeros((T, 4))
    edges[0, 0] = edges[1, 1] = edges[2, 2] = edges[-1, 3] = 1.0
    consts = jnp.broadcast_to(jnp.asarray(np.concatenate([np.ones((T, 1)), edges], -1), base.dtype), batch + (T, 5))
    return jnp.concatenate([pad[..., H + k:H + k + T, :] for k in range(-H, H + 1)] + [consts], -1)


def offsets(q, u):
    """Twin of :func:`scsc_theory.motion.controller.offsets`: (..., T, 27) set points ``u`` relative to
    clips ``q`` (both (..., T, 28)): clipped hinge angle offsets, root position offset in the clip's
    heading frame, root rotation offset (rotation vector) in the body frame."""
    q, u = jnp.asarray(q), jnp.asarray(u)
    lo, hi = _joint_limits()
    d_j = jnp.clip(u[..., 7:], lo, hi) - q[..., 7:]
    d_p = _to_heading(u[..., :3] - q[..., :3], _yaw(q))
    d_r = rotvec(qmul(qconj(qnorm(q[..., 3:7])), qnorm(u[..., 3:7])))
    return jnp.concatenate([d_j, d_p, d_r], -1)


def apply_offsets(q, d):
    """Twin of :func:`scsc_theory.motion.controller.apply_offsets`: set points (..., T, 28) from clips
    ``q`` and offsets ``d`` (..., T, 27), the inverse of :func:`offsets`."""
    q, d = jnp.asarray(q), jnp.asarray(d)
    dtype = jnp.result_type(q.dtype, float)
    q = q.astype(dtype)
    lo, hi = _joint_limits()
    joints = jnp.clip(q[..., 7:] + d[..., :21], lo, hi)
    pos = q[..., :3] + _to_heading(d[..., 21:24], -_yaw(q))
    quat = qnorm(qmul(qnorm(q[..., 3:7]), quat_exp(d[..., 24:27])))
    return jnp.concatenate([pos, quat, joints], -1).astype(jnp.result_type(dtype, d.dtype))


def set_points(planner: controller.Planner, q, fps: float):
    """Twin of :func:`scsc_theory.motion.controller.set_points`: planned set points (..., T, 28) for clips
    ``q`` (..., T, 28), q + f(window_q), each standardised offset clipped to +-OFFSET_CLIP_SD.

    Like the host, the standardised features are cast to float32 and the planner (linear map plus
    :func:`controller._mlp`) runs in float32, through the host's own jitted ``controller._predict_fn``
    (nested in the caller's trace); the offsets are un-standardised in the ambient float dtype.
    ``planner`` is a pytree argument (pass it through ``jax.jit``); ``fps`` is static.

    Exactness: the float32 planner output is bit-identical to the host's on CPU (measured, eager, jit
    and vmap) because the same jitted function computes it; the same float32 expression written out
    inline and fused into a larger jit differed by up to 7e-7 (standardised units), so on another
    backend or XLA version agreement is only guaranteed to float32 rounding of the planner output
    (about 1e-7 y_std; tests/test_motion_device_plan.py allows 1e-6 rad / m)."""
    q = jnp.asarray(q)
    f32 = lambda a: jnp.asarray(a).astype(jnp.float32)  # noqa: E731
    x = f32((window_features(q, fps) - jnp.asarray(planner.x_mean)) / jnp.asarray(planner.x_std))
    layers = tuple((f32(W), f32(b)) for W, b in planner.layers)
    y = controller._predict_fn()(f32(planner.linear), layers, x)
    dtype = jnp.result_type(q.dtype, float)
    y = jnp.clip(y.astype(dtype), -controller.OFFSET_CLIP_SD, controller.OFFSET_CLIP_SD)
    return apply_offsets(q, y * jnp.asarray(planner.y_std) + jnp.asarray(planner.y_mean))


# ----------------------------------------------------------------------------------------------
# iterative learning control (physics._lowpass, physics._ilc_update)
# ----------------------------------------------------------------------------------------------

def _lfilter(b, a, x, zi):
    """``scipy.signal.lfilter(b, a, x, zi=zi)`` (direct form II transposed, a[0] == 1) along axis 0 of x
    (L, ...), state zi (len(b) - 1, ...); the per-sample arithmetic in scipy's order."""
    b, a = [float(c) for c in b], [float(c) for c in a]
    m = len(b) - 1

    def step(z, xt):
        y = z[0] + b[0] * xt
        new = [z[i + 1] + xt * b[i + 1] - y * a[i + 1] for i in range(m - 1)] + [xt * b[m] - y * a[m]]
        return jnp.stack(new), y

    _, y = jax.lax.scan(step, zi, x)
    return y


def lowpass(x, fps: float, cutoff_hz: float):
    """Twin of ``physics._lowpass``: zero-phase 2nd-order Butterworth low-pass along time (axis -2) of
    x (..., T, k), i.e. ``scipy.signal.filtfilt(b, a, x, padlen=min(3 * max(len(a), len(b)), T - 1))``
    with ``b, a = butter(2, min(cutoff_hz / (fps / 2), 0.99))``: odd extension of ``padlen`` frames at
    each end, forward pass from ``lfilter_zi`` scaled by the first (extended) sample, backward pass
    from ``lfilter_zi`` scaled by the forward pass's last sample, the extension cut off. The filter
    coefficients are computed with SciPy at trace time (``fps``, ``cutoff_hz`` static)."""
    from scipy.signal import butter, lfilter_zi

    b, a = butter(2, min(cutoff_hz / (fps / 2.0), 0.99))
    b, a = b / a[0], a / a[0]
    x = jnp.asarray(x)
    T = x.shape[-2]
    n = min(3 * max(len(a), len(b)), T - 1)
    xt = jnp.moveaxis(x, -2, 0)          # (T, ..., k)
    if n > 0:                            # scipy.signal._arraytools.odd_ext
        left = 2 * xt[:1] - xt[n:0:-1]
        right = 2 * xt[-1:] - xt[-2:-(n + 2):-1]
        xt = jnp.concatenate([left, xt, right], axis=0)
    zi = jnp.asarray(lfilter_zi(b, a), xt.dtype).reshape((-1,) + (1,) * (xt.ndim - 1))
    y = _lfilter(b, a, xt, zi * xt[0])
    y = _lfilter(b, a, y[::-1], zi * y[-1])[::-1]
    if n > 0:
        y = y[n:-n]
    return jnp.moveaxis(y, 0, -2)


def _shift(e, lead: int):
    """e (..., T, k) advanced by ``lead`` frames along time, the last frame repeated."""
    return jnp.concatenate([e[..., lead:, :], jnp.repeat(e[..., -1:, :], lead, axis=-2)], axis=-2)


def ilc_update(setpoint, ref, sim, fps: float):
    """Twin of ``physics._ilc_update``: one iterative-learning-control update of the set-point clips
    ``setpoint`` (..., T, 28) from rollout ``sim`` against the input ``ref``.

    The error e (hinge angles against the clipped input, root position, root rotation vector of
    ref sim*) is advanced by ILC_LEAD frames and low-passed (:func:`lowpass` at ILC_CUTOFF_HZ); the set
    points move by ILC_GAINS times it (hinges clipped into their ranges, the rotation applied on the
    left). ``fps`` is static."""
    setpoint, ref, sim = jnp.asarray(setpoint), jnp.asarray(ref), jnp.asarray(sim)
    lo, hi = _joint_limits()
    e_j = jnp.clip(ref[..., 7:], lo, hi) - sim[..., 7:]
    e_p = ref[..., :3] - sim[..., :3]
    e_r = rotvec(qmul(qnorm(ref[..., 3:7]), qconj(sim[..., 3:7])))
    e = lowpass(_shift(jnp.concatenate([e_j, e_p, e_r], axis=-1), physics.ILC_LEAD), fps, physics.ILC_CUTOFF_HZ)
    g_j, g_p, g_r = physics.ILC_GAINS
    joints = jnp.clip(setpoint[..., 7:] + g_j * e[..., :21], lo, hi)
    pos = setpoint[..., :3] + g_p * e[..., 21:24]
    quat = qnorm(qmul(quat_exp(g_r * e[..., 24:27]), qnorm(setpoint[..., 3:7])))
    return jnp.concatenate([pos, quat, joints], axis=-1).astype(setpoint.dtype)


# ----------------------------------------------------------------------------------------------
# root speed limit (physics.limit_root_speed)
# ----------------------------------------------------------------------------------------------

def _cumsum_time(x):
    """Cumulative sum along axis -2, sequential like NumPy's ``cumsum`` (a ``lax.scan``, so every
    backend adds in the same order)."""
    xt = jnp.moveaxis(x, -2, 0)
    _, c = jax.lax.scan(lambda s, v: (s + v, s + v), jnp.zeros_like(xt[0]), xt)
    return jnp.moveaxis(c, 0, -2)


def limit_root_speed(qpos, fps: float = physics.DEFAULT_FPS, *, v_max: float | None = None):
    """Twin of :func:`scsc_theory.motion.physics.limit_root_speed`: clips (..., T, 28) with every
    frame-to-frame horizontal root step longer than ``v_max / fps`` (default
    ``VALIDITY_THRESHOLDS["root_speed"]``) shortened to it, the rest of the path carried along.

    Returns (clips, limited (...,) True where a step was shortened). Static shapes: the shortened
    path is computed for every clip and selected with ``jnp.where(limited, ...)``, so a clip within
    the bound comes back exactly as it went in. ``fps`` and ``v_max`` are static."""
    v_max = VALIDITY_THRESHOLDS["root_speed"] if v_max is None else v_max
    q = jnp.asarray(qpos)
    xy = q[..., :2]
    step = xy[..., 1:, :] - xy[..., :-1, :]
    speed = jnp.sqrt((step ** 2).sum(axis=-1)) * fps          # metrics.root_speeds (NumPy's ** 0.5 is sqrt)
    fast = (speed > v_max).any(axis=-1)
    d = step * jnp.minimum(1.0, v_max / jnp.maximum(speed, 1e-12))[..., None]
    path = jnp.concatenate([xy[..., :1, :], xy[..., :1, :] + _cumsum_time(d)], axis=-2)
    moved = jnp.concatenate([path, q[..., 2:]], axis=-1)
    return jnp.where(fast[..., None, None], moved, q), fast
