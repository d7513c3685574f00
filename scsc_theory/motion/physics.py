"""Physics-based self-correction of humanoid motions (residual force control, as in UHC).

The humanoid starts from the clip's first frame (joint angles clipped into their limits, the body
lifted out of the floor if needed) and tracks set points in the simulator; the corrector's set
points come from the world's learned planner (:mod:`scsc_theory.motion.controller`, which maps a
clip to the set points that realize it) refined by iterative learning control:

* the 21 hinge joints are driven by position servos (PD control, bounded torques) whose set points
  are joint angles, linearly interpolated between frames;
* the root (torso) is pulled toward the clip's root pose by six *bounded* PD actuators acting
  between the torso and a mocap body that follows the set points: the residual force of residual
  force control. Its bound (200 N vertically, 0.49 of body weight; 60 N horizontally) keeps the
  correction physical: it cannot hold the body in the air nor teleport it.

The simulated trajectory, sampled at the clip's frame rate, is the corrected clip: it has ground
contact, joint limits and non-penetrating body parts because the simulator enforces them.

Two backends share one model (``assets/humanoid.xml``):

``"rollout"``  MuJoCo's multi-threaded C rollout (``mujoco.rollout``), float64; CPU default.
``"mjx"``      MJX under ``jit(vmap(scan(step)))``, float32; the default on an accelerator.

They agree to within ``BACKEND_TOLERANCE`` over short horizons (tested); over long horizons
contact-rich simulations diverge chaotically, as any two physics engines do.
"""
from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from .._validate import SCSCInputError, check_choice, check_finite_number, check_int, check_positive
from . import humanoid
from .kinematics import check_qpos, lowest_point, tracking_errors  # noqa: F401  (part of this module's API)
from .metrics import VALIDITY_THRESHOLDS, root_speeds, validity_score

#: Frame rate assumed when none is given (frames per second).
DEFAULT_FPS = 20.0
#: Stated agreement of the two backends on short clips (see tests/test_motion_physics.py):
#: joint angles (rad), root position (m).
BACKEND_TOLERANCE = {"joint_rad": 0.05, "root_m": 0.02}


# ----------------------------------------------------------------------------------------------
# quaternion helpers (w, x, y, z), NumPy
# ----------------------------------------------------------------------------------------------

def _qnorm(q):
    return q / np.linalg.norm(q, axis=-1, keepdims=True)


def _qmul(a, b):
    aw, ax, ay, az = np.moveaxis(a, -1, 0)
    bw, bx, by, bz = np.moveaxis(b, -1, 0)
    return np.stack([aw * bw - ax * bx - ay * by - az * bz,
                     aw * bx + ax * bw + ay * bz - az * by,
                     aw * by - ax * bz + ay * bw + az * bx,
                     aw * bz + ax * by - ay * bx + az * bw], axis=-1)


def _qconj(q):
    return q * np.array([1.0, -1.0, -1.0, -1.0])


def _qrotate(q, v):
    """Rotate vectors v (..., 3) by unit quaternions q (..., 4)."""
    qv = np.concatenate([np.zeros(v.shape[:-1] + (1,)), v], axis=-1)
    return _qmul(_qmul(q, qv), _qconj(q))[..., 1:]


def _qlog_angvel(q0, q1, dt):
    """Angular velocity (world frame, rad/s) that rotates q0 into q1 in time dt."""
    dq = _qmul(q1, _qconj(q0))
    dq = np.where(dq[..., :1] < 0, -dq, dq)
    s = np.linalg.norm(dq[..., 1:], axis=-1, keepdims=True)
    ang = 2.0 * np.arctan2(s, dq[..., :1])
    axis = dq[..., 1:] / np.maximum(s, 1e-12)
    return axis * ang / dt


def _continuous_quats(quat):
    """Flip quaternion signs along time so consecutive frames lie in the same hemisphere."""
    q = _qnorm(quat.copy())
    for t in range(1, q.shape[1]):
        flip = (q[:, t] * q[:, t - 1]).sum(-1) < 0
        q[flip, t] *= -1
    return q


# ----------------------------------------------------------------------------------------------
# reference -> per-step controls (shared by both backends)
# ----------------------------------------------------------------------------------------------

def substeps(fps: float, timestep: float | None = None) -> int:
    """Physics steps per frame: round(1 / (fps * timestep)); must be a whole number >= 1."""
    ts = humanoid.info().timestep if timestep is None else timestep
    k = 1.0 / (fps * ts)
    if abs(k - round(k)) > 1e-6 or round(k) < 1:
        raise SCSCInputError(f"fps must divide {1 / ts:g} (the simulator rate, Hz) into whole steps (got fps={fps})")
    return int(round(k))


@dataclass(frozen=True)
class _Plan:
    init_qpos: np.ndarray   # (n, 28)
    init_qvel: np.ndarray   # (n, 27)
    ctrl: np.ndarray        # (n, K, 27)
    mocap_pos: np.ndarray   # (n, K, 3)
    mocap_quat: np.ndarray  # (n, K, 4)
    sub: int


def plan_controls(ref: np.ndarray, fps: float, start: np.ndarray | None = None) -> _Plan:
    """Per-physics-step set points that make the humanoid track the reference clips ``ref``.

    ``start`` (n, T, 28), default ``ref``: the clips whose first two frames give the initial
    state (the corrector's iterative learning control shifts ``ref``'s set points but starts every
    rollout from the input clip).

    Step k (k = 0 .. K-1, K = (T-1) * substeps) targets time (k+1) * timestep: joint set points
    and the mocap root pose are interpolated linearly (quaternions: normalised lerp) between
    frames; the root actuators' controls are the reference root velocity (linear m/s, angular
    rad/s) in the target's frame, so their damping acts on the velocity *error*.
    """
    inf = humanoid.info()
    n, T, _ = ref.shape
    sub = substeps(fps)
    K = (T - 1) * sub
    lo, hi = inf.joint_range[:, 0], inf.joint_range[:, 1]
    quat = _continuous_quats(ref[..., 3:7])
    pos = ref[..., :3]
    joints = np.clip(ref[..., 7:], lo, hi)
    # interpolation weights for every step
    tt = (np.arange(K) + 1) / sub               # fractional frame index in (0, T-1]
    f0 = np.minimum(np.floor(tt).astype(int), T - 2)
    w = (tt - f0)[None, :, None]
    lerp = lambda a: a[:, f0] * (1 - w) + a[:, f0 + 1] * w  # noqa: E731
    j_t = lerp(joints)   # (velocity feed-forward was tried: it tracked worse on noisy clips)
    p_t = lerp(pos)
    q_t = _qnorm(lerp(quat))
    # reference velocities per frame interval, expressed in the target frame
    v_world = (pos[:, 1:] - pos[:, :-1]) * fps                           # (n, T-1, 3)
    w_world = _qlog_angvel(quat[:, :-1], quat[:, 1:], 1.0 / fps)         # (n, T-1, 3)
    v_k = v_world[:, f0]
    w_k = w_world[:, f0]
    qinv = _qconj(q_t)
    v_loc = _qrotate(qinv, v_k)
    w_loc = _qrotate(qinv, w_k)
    ctrl = np.zeros((n, K, humanoid.NV), dtype=np.float64)
    ctrl[:, :, inf.hinge_act] = j_t
    ctrl[:, :, inf.root_act[:3]] = v_loc
    ctrl[:, :, inf.root_act[3:]] = w_loc
    # initial state: first frame, joints inside limits, body lifted out of the floor
    if start is not None:
        quat = _continuous_quats(start[..., 3:7])
        joints = np.clip(start[..., 7:], lo, hi)
        v_world = (start[:, 1:, :3] - start[:, :-1, :3]) * fps
        w_world = _qlog_angvel(quat[:, :-1], quat[:, 1:], 1.0 / fps)
        ref = start
    q0 = ref[:, 0].copy()
    q0[:, 3:7] = quat[:, 0]
    q0[:, 7:] = joints[:, 0]
    low = lowest_point(q0)
    q0[:, 2] += np.maximum(0.0, -low)
    qv0 = np.zeros((n, humanoid.NV))
    qv0[:, :3] = np.clip(v_world[:, 0], -5.0, 5.0)
    qv0[:, 3:6] = np.clip(_qrotate(_qconj(quat[:, 0]), w_world[:, 0]), -10.0, 10.0)  # body frame
    qv0[:, 6:] = np.clip((joints[:, 1] - joints[:, 0]) * fps, -10.0, 10.0)
    return _Plan(q0, qv0, ctrl, p_t, q_t, sub)


# ----------------------------------------------------------------------------------------------
# backends
# ----------------------------------------------------------------------------------------------

def _ctrl_spec() -> int:
    import mujoco

    return int(mujoco.mjtState.mjSTATE_CTRL | mujoco.mjtState.mjSTATE_MOCAP_POS | mujoco.mjtState.mjSTATE_MOCAP_QUAT)


def _n_threads(n_threads: int | None) -> int:
    if n_threads is None:
        n_threads = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, int(n_threads))


def _run_rollout(model, plan: _Plan, T: int, n_threads: int | None, chunk: int = 256):
    import mujoco
    from mujoco import rollout

    n = plan.init_qpos.shape[0]
    nthread = _n_threads(n_threads)
    datas = [mujoco.MjData(model) for _ in range(nthread)]
    spec_full = mujoco.mjtState.mjSTATE_FULLPHYSICS
    d = datas[0]
    out = np.empty((n, T, humanoid.NQ))
    out[:, 0] = plan.init_qpos
    unstable = np.zeros(n, dtype=bool)
    for s in range(0, n, chunk):
        e = min(n, s + chunk)
        init = np.empty((e - s, mujoco.mj_stateSize(model, spec_full)))
        for i in range(s, e):
            mujoco.mj_resetData(model, d)
            d.qpos[:] = plan.init_qpos[i]
            d.qvel[:] = plan.init_qvel[i]
            d.mocap_pos[0] = plan.mocap_pos[i, 0]
            d.mocap_quat[0] = plan.mocap_quat[i, 0]
            mujoco.mj_getState(model, d, init[i - s], spec_full)
        control = np.concatenate([plan.ctrl[s:e], plan.mocap_pos[s:e], plan.mocap_quat[s:e]], axis=-1)
        state, _ = rollout.rollout(model, datas, init, control, control_spec=_ctrl_spec())
        # state[:, k] is the state after step k, i.e. time (k+1) dt; frame f is after step f*sub-1
        idx = np.arange(1, T) * plan.sub - 1
        out[s:e, 1:] = state[:, idx, 1:1 + humanoid.NQ]
        # MuJoCo resets a diverging simulation (time back to 0): detect it from the time column
        expect = (np.arange(state.shape[1]) + 1) * model.opt.timestep
        unstable[s:e] = np.abs(state[:, :, 0] - expect).max(axis=1) > 1e-6
    return out, unstable


@functools.lru_cache(maxsize=4)
def _mjx_simulator(T: int, sub: int):
    """jit(vmap(scan)) simulator of the world's model for clips of T frames and ``sub`` steps per
    frame (bounded cache: one compiled simulator per clip length)."""
    import jax
    import jax.numpy as jnp
    from mujoco import mjx

    mx = mjx.put_model(humanoid.load_model())

    def one(q0, v0, ctrl, mpos, mquat):
        d = mjx.make_data(mx)
        d = d.replace(qpos=q0, qvel=v0, mocap_pos=mpos[0:1], mocap_quat=mquat[0:1])
        c = ctrl.reshape(T - 1, sub, -1)
        mp = mpos.reshape(T - 1, sub, 3)
        mq = mquat.reshape(T - 1, sub, 4)

        def inner(d, xs):
            c_k, p_k, q_k = xs
            d = d.replace(ctrl=c_k, mocap_pos=p_k[None], mocap_quat=q_k[None])
            return mjx.step(mx, d), None

        def outer(d, xs):
            d, _ = jax.lax.scan(inner, d, xs)
            return d, d.qpos

        _, qs = jax.lax.scan(outer, d, (c, mp, mq))
        return jnp.concatenate([q0[None], qs], axis=0)

    return jax.jit(jax.vmap(one))


def _run_mjx(plan: _Plan, T: int) -> tuple[np.ndarray, np.ndarray]:
    import jax.numpy as jnp

    f = _mjx_simulator(T, plan.sub)
    out = f(jnp.asarray(plan.init_qpos, jnp.float32), jnp.asarray(plan.init_qvel, jnp.float32),
            jnp.asarray(plan.ctrl, jnp.float32), jnp.asarray(plan.mocap_pos, jnp.float32),
            jnp.asarray(plan.mocap_quat, jnp.float32))
    out = np.asarray(out, dtype=np.float64)
    return out, ~np.isfinite(out).all(axis=(1, 2))


def default_backend() -> str:
    """"mjx" when JAX sees a GPU/TPU, otherwise "rollout"."""
    try:
        import jax

        return "mjx" if jax.default_backend() in ("gpu", "cuda", "rocm", "tpu") else "rollout"
    except Exception:  # pragma: no cover
        return "rollout"


#: Stated rule for a clip that has fallen: at some frame its torso is tilted more than this
#: from upright (degrees), or its root is lower than :data:`FALL_ROOT_HEIGHT` (m).
FALL_TILT_DEG = 60.0
FALL_ROOT_HEIGHT = 0.6
#: Stated rule for a rollout that loses its balance without falling: its torso leans more than
#: LEAN_DEG (degrees) beyond the input's, averaged over LEAN_WINDOW_S seconds, at some time (the
#: humanoid is tipping over; a stumble is not the closest valid motion). Chosen by measurement
#: (``benchmarks/corrector_operator.py``): true clips forced through the projection never lean by
#: this much, and the rollouts that do are the ones that raised generation-0 samples' FID.
LEAN_DEG = 5.0
LEAN_WINDOW_S = 0.5
#: Iterative learning control of the corrector: rollouts after the first, zero-phase low-pass
#: cut-off (Hz) of the learned set-point offsets, and the lead (frames) of the error used to
#: update the set point of a frame (the servos lag their set points by about 0.7 frames).
ILC_ITERATIONS = 3
ILC_CUTOFF_HZ = 4.0
ILC_LEAD = 1
#: Learning gains of the update: hinge angles, root position, root rotation.
ILC_GAINS = (1.0, 1.0, 1.0)
#: A rollout that misses a validity threshold ranks behind every rollout that meets them: its
#: MPJPE (m) is raised by this much when :func:`project` picks the rollout to keep.
INVALID_PENALTY_M = 1.0


def torso_tilt(qpos) -> np.ndarray:
    """Angle (degrees) between the torso's up axis and the vertical, per frame: (..., T, 28) -> (..., T)."""
    q = np.asarray(qpos, dtype=np.float64)
    up = _qrotate(_qnorm(q[..., 3:7]), np.broadcast_to(np.array([0.0, 0.0, 1.0]), q.shape[:-1] + (3,)))
    return np.degrees(np.arccos(np.clip(up[..., 2], -1.0, 1.0)))


def fallen(qpos) -> np.ndarray:
    """(n,) True where a clip falls: some frame with torso tilt > FALL_TILT_DEG or root z < FALL_ROOT_HEIGHT."""
    q = np.asarray(qpos, dtype=np.float64)
    return (torso_tilt(q) > FALL_TILT_DEG).any(axis=-1) | (q[..., 2] < FALL_ROOT_HEIGHT).any(axis=-1)


def leans(qpos, ref, *, fps: float = DEFAULT_FPS) -> np.ndarray:
    """(n,) True where clips ``qpos`` lean beyond clips ``ref`` (both (n, T, 28)): at some time the
    moving average over LEAN_WINDOW_S of torso_tilt(qpos) - torso_tilt(ref) exceeds LEAN_DEG.

    Signed on purpose: leaning *less* than the input is not losing balance (measured: an unsigned
    rule rejects rollouts that lower generation-0 samples' FID). The average keeps a noisy input's
    frame-to-frame tilt jitter from counting; at the clip's ends the first and last frames' lean is
    taken to persist (a humanoid tipping over in the last frames would go on tipping), i.e. the
    difference is padded with its end values."""
    from scipy.ndimage import uniform_filter1d

    d = torso_tilt(qpos) - torso_tilt(ref)
    w = max(1, int(round(LEAN_WINDOW_S * fps)))
    return uniform_filter1d(d, w, axis=-1, mode="nearest").max(axis=-1) > LEAN_DEG


def _rotvec(q):
    """Rotation vector (..., 3) of unit quaternions (..., 4), shortest way round."""
    q = np.where(q[..., :1] < 0, -q, q)
    s = np.linalg.norm(q[..., 1:], axis=-1, keepdims=True)
    ang = 2.0 * np.arctan2(s, q[..., :1])
    return q[..., 1:] / np.maximum(s, 1e-12) * ang


def _quat_exp(r):
    """Unit quaternion of rotation vectors r (..., 3)."""
    ang = np.linalg.norm(r, axis=-1, keepdims=True)
    axis = r / np.maximum(ang, 1e-12)
    return np.concatenate([np.cos(ang / 2), axis * np.sin(ang / 2)], axis=-1)


def _lowpass(x, fps: float, cutoff_hz: float):
    """Zero-phase (forward-backward) 2nd-order Butterworth low-pass along the time axis 1 of x (n, T, k)."""
    from scipy.signal import butter, filtfilt

    b, a = butter(2, min(cutoff_hz / (fps / 2.0), 0.99))
    T = x.shape[1]
    return filtfilt(b, a, x, axis=1, padlen=min(3 * max(len(a), len(b)), T - 1))


@dataclass(frozen=True)
class Correction:
    """Result of :func:`correct`.

    qpos:           (n, T, 28) the corrected clips: the input itself where it was already valid,
                    otherwise the simulated trajectory closest to it (see :func:`correct`).
    corrected:      (n,) True where the clip missed the validity thresholds and was simulated.
    fallback:       (n,) True where every simulated candidate fell or leaned beyond the input
                    (:func:`leans`) while the input did not fall: the input is returned unchanged
                    (the stated rule for motions the humanoid cannot realize without falling).
    iteration:      (n,) the iterative-learning-control rollout whose result was kept (0 = tracking of
                    the planned set points; -1 where the clip was not simulated or fell back).
    tracking_error: (n,) mean over frames and bodies of the distance (m) between each body's
                    position in the corrected and in the input clip (MPJPE, global frame).
    joint_error:    (n,) root-mean-square hinge angle difference (rad), corrected vs input.
    root_error:     (n,) mean root position distance (m), corrected vs input.
    unstable:       (n,) True where the simulation diverged (MuJoCo reset it / MJX produced NaN)
                    in the kept rollout; such a clip falls back to its input.
    """

    qpos: np.ndarray
    corrected: np.ndarray
    fallback: np.ndarray
    iteration: np.ndarray
    tracking_error: np.ndarray
    joint_error: np.ndarray
    root_error: np.ndarray
    unstable: np.ndarray


def _check_backend(backend, n_threads):
    backend = default_backend() if backend is None else check_choice("backend", backend, ("rollout", "mjx"))
    if n_threads is not None:
        n_threads = check_int("n_threads", n_threads, 1)
    return backend, n_threads


def _simulate(ref, fps, backend, n_threads, start=None):
    plan = plan_controls(ref, fps, start)
    T = ref.shape[1]
    if backend == "rollout":
        out, unstable = _run_rollout(humanoid.load_model(), plan, T, n_threads)
    else:
        out, unstable = _run_mjx(plan, T)
    if unstable.any():
        out[unstable] = np.where(np.isfinite(out[unstable]), out[unstable], 0.0)
        out[unstable, :, 3] = np.where(np.linalg.norm(out[unstable, :, 3:7], axis=-1) > 0, out[unstable, :, 3], 1.0)
    out[..., 3:7] = _qnorm(out[..., 3:7])
    return out, unstable


def simulate_tracking(ref, *, fps: float = DEFAULT_FPS, backend: str | None = None,
                      n_threads: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Simulate the humanoid tracking clips ``ref`` (n, T, 28) under the world's actuation.

    The actuation is the one of ``assets/humanoid.xml``, shared by the dataset and the corrector:
    bounded joint servos and a residual root wrench of at most 60 N horizontally and 200 N
    vertically (0.15 and 0.49 of the 40.8 kg humanoid's weight) and 100 N m per axis.

    Returns (qpos (n, T, 28) of the simulation sampled at the frame rate, unstable (n,) bool).
    Validates its input (see :func:`check_qpos`); ``backend`` "rollout" or "mjx" (default:
    :func:`default_backend`); ``n_threads`` for the rollout backend (default: all usable cores).
    """
    ref = check_qpos(ref, "qpos")
    fps = check_positive("fps", fps)
    backend, n_threads = _check_backend(backend, n_threads)
    substeps(fps)  # validates fps before any work
    out, unstable = _simulate(ref, fps, backend, n_threads)
    if unstable.any():
        import warnings

        warnings.warn(f"the simulation diverged for {int(unstable.sum())} of {len(unstable)} clips "
                      f"(first: clip {int(np.argmax(unstable))})", RuntimeWarning, stacklevel=2)
    return out, unstable


def _ilc_update(setpoint, ref, sim, fps):
    """One iterative-learning-control update of the set-point clips (Arimoto-type, Q-filtered).

    With e_k(t) the error of rollout k against the input (hinge angles, root position, root
    rotation vector), the set point of frame t moves by Q[e_k](t + lead): Q a zero-phase low-pass
    filter (ILC_CUTOFF_HZ), lead ILC_LEAD frames. The filter keeps the learned offsets smooth, so
    repeated passes do not amplify high-frequency error (unfiltered ILC did).
    """
    lo, hi = humanoid.info().joint_range.T
    shift = lambda e: np.concatenate([e[:, ILC_LEAD:], np.repeat(e[:, -1:], ILC_LEAD, axis=1)], axis=1)  # noqa: E731
    e_j = np.clip(ref[..., 7:], lo, hi) - sim[..., 7:]
    e_p = ref[..., :3] - sim[..., :3]
    e_r = _rotvec(_qmul(_qnorm(ref[..., 3:7]), _qconj(sim[..., 3:7])))
    e = _lowpass(shift(np.concatenate([e_j, e_p, e_r], axis=-1)), fps, ILC_CUTOFF_HZ)
    g_j, g_p, g_r = ILC_GAINS
    sp = setpoint.copy()
    sp[..., 7:] = np.clip(sp[..., 7:] + g_j * e[..., :21], lo, hi)
    sp[..., :3] += g_p * e[..., 21:24]
    sp[..., 3:7] = _qnorm(_qmul(_quat_exp(g_r * e[..., 24:27]), _qnorm(sp[..., 3:7])))
    return sp


class Projection(NamedTuple):
    """Result of :func:`project`, per clip.

    qpos:      (n, T, 28) the kept rollout; the input itself where every rollout fell, leaned
               (:func:`leans`) or diverged.
    iteration: (n,) int, the kept rollout (0 = the planned set points), -1 where every rollout
               fell, leaned or diverged.
    fell_all:  (n,) bool, every rollout fell, leaned or diverged.
    plain:     (n, T, 28) rollout 0 (tracking of the planned set points), kept for the fall-back
               rule of :func:`correct`; plain_unstable (n,) bool: rollout 0 diverged.
    """

    qpos: np.ndarray
    iteration: np.ndarray
    fell_all: np.ndarray
    plain: np.ndarray
    plain_unstable: np.ndarray


def limit_root_speed(qpos, *, fps: float = DEFAULT_FPS, v_max: float | None = None):
    """Clips (n, T, 28) with every frame-to-frame horizontal root step shortened to at most
    ``v_max / fps`` (default ``VALIDITY_THRESHOLDS["root_speed"]``), the rest of the path carried
    along: a clip within the bound is returned as is; a teleport (a 0.5 m jump between two frames)
    becomes a step of v_max / fps, and the path after it keeps its shape, offset by the part of the
    jump that was removed. Returns (clips, limited: (n,) True where a step was shortened)."""
    v_max = VALIDITY_THRESHOLDS["root_speed"] if v_max is None else v_max
    q = np.asarray(qpos, dtype=np.float64)
    speed = root_speeds(q[..., :2], fps)[..., None]
    fast = (speed > v_max).any(axis=(1, 2))   # other clips are returned bit for bit
    d = np.diff(q[fast, :, :2], axis=1) * np.minimum(1.0, v_max / np.maximum(speed[fast], 1e-12))
    out = q.copy()
    out[fast, 1:, :2] = q[fast, :1, :2] + np.cumsum(d, axis=1)
    return out, fast


def _ilc_rollouts(target, ref, fps, backend, n_threads, iterations, best_q, best_err):
    """Rollouts of iterative learning control towards ``target`` (n, T, 28), each judged against
    the input ``ref``: a rollout replaces the kept clip ``best_q`` (error ``best_err``) where it
    neither fell, leaned nor diverged and is closer to ``ref`` (MPJPE, a rollout missing a validity
    threshold ranked behind every one that meets them).

    Returns (qpos, err, iteration (-1 where no rollout was kept), rollout 0, rollout 0 diverged)."""
    from .controller import planner, set_points

    best_q, best_err, best_it = best_q.copy(), best_err.copy(), np.full(len(ref), -1)
    setpoint = set_points(planner(fps), target, fps)
    for k in range(iterations + 1):
        sim, unstable = _simulate(setpoint, fps, backend, n_threads, start=ref)
        if k == 0:
            plain, plain_unstable = sim, unstable
        err = tracking_errors(sim, ref)[0] + INVALID_PENALTY_M * (validity_score(sim, fps=fps) > 0)
        ok = ~unstable & ~fallen(sim) & ~leans(sim, ref, fps=fps) & (err < best_err)
        best_q[ok], best_err[ok], best_it[ok] = sim[ok], err[ok], k
        if k < iterations:
            setpoint = _ilc_update(setpoint, target, sim, fps)
    return best_q, best_err, best_it, plain, plain_unstable


def project(ref, *, fps: float = DEFAULT_FPS, backend: str | None = None, n_threads: int | None = None,
            iterations: int = ILC_ITERATIONS) -> Projection:
    """The realizable motion closest to each clip of ``ref`` (n, T, 28): planned set points, refined
    by iterative learning control.

    Rollout 0 tracks the set points of the world's learned planner
    (:func:`scsc_theory.motion.controller.set_points`: the servo set points that realize ``ref``, as
    fitted on the world's own clips); rollout k + 1 tracks set points moved by the filtered error of
    rollout k (:func:`_ilc_update`); every rollout starts from the input's first frame. Each
    rollout is a motion the humanoid realizes under the world's actuation; the one kept per clip
    is the closest to the input (MPJPE) among those that neither fell (:func:`fallen`), leaned
    beyond the input (:func:`leans`) nor diverged, a rollout that meets the validity thresholds
    preferred to one that does not.

    A clip whose root moves faster than the world allows (``VALIDITY_THRESHOLDS["root_speed"]``)
    gets a second set of ``iterations`` + 1 rollouts, towards :func:`limit_root_speed` of it (the
    jump taken out), judged against the input by the same rule: following a teleport saturates the
    residual root wrench and the humanoid leans, while the path without the jump is realizable.
    Their iteration numbers are offset by ``iterations`` + 1.
    """
    backend, n_threads = _check_backend(backend, n_threads)
    q, err, it, plain, plain_unstable = _ilc_rollouts(ref, ref, fps, backend, n_threads, iterations,
                                                      ref.copy(), np.full(len(ref), np.inf))
    target, limited = limit_root_speed(ref, fps=fps)
    fast = np.flatnonzero(limited)
    if fast.size:
        q[fast], err[fast], it_f, _, _ = _ilc_rollouts(target[fast], ref[fast], fps, backend, n_threads,
                                                        iterations, q[fast], err[fast])
        it[fast[it_f >= 0]] = it_f[it_f >= 0] + iterations + 1
    return Projection(q, it, it < 0, plain, plain_unstable)


def needs_correction(qpos, *, fps: float = DEFAULT_FPS, strength: float = 1.0) -> np.ndarray:
    """(n,) True where a clip misses the validity thresholds scaled by 1 / strength.

    The thresholds are :data:`scsc_theory.motion.metrics.VALIDITY_THRESHOLDS`, the bounds every
    dataset clip meets; strength 0 corrects nothing.
    """

    if strength <= 0:
        return np.zeros(len(qpos), bool)
    return validity_score(qpos, fps=fps, scale=1.0 / strength) > 0


def correct(qpos, *, backend: str | None = None, strength: float = 1.0, fps: float = DEFAULT_FPS,
            n_threads: int | None = None, iterations: int = ILC_ITERATIONS) -> Correction:
    """Physics self-correction as a projection onto physically valid motion.

    Physically valid means: meets :data:`~scsc_theory.motion.metrics.VALIDITY_THRESHOLDS` (the
    bounds every dataset clip meets) and is realized by the simulator under the world's actuation
    (bounded joint servos, a residual root wrench bounded below body weight; see
    :func:`simulate_tracking`). The corrector

    1. returns a clip that already meets the thresholds (scaled by 1 / strength) unchanged: a valid
       clip is a fixed point;
    2. replaces every other clip by the realizable motion closest to it (:func:`project`:
       iterative learning control of the joint and root set points, at most ``iterations`` + 1
       rollouts, the closest rollout that does not fall kept);
    3. returns the input unchanged, flagged in ``Correction.fallback``, where every rollout fell
       or leaned beyond the input (:func:`leans`) although the input did not fall (falling and
       stumbling are not the closest valid motion, the humanoid merely lacks a balance controller).

    Correcting twice is correcting once wherever the first pass produced a clip that meets the
    thresholds (most rollouts do; see ``benchmarks/corrector_operator.py``).

    Args:
      qpos: (n, T, 28) float clips (root xyz m, root quaternion wxyz, 21 hinge angles rad).
      backend: "rollout" (MuJoCo C, multi-threaded; CPU default) or "mjx" (accelerator default).
      strength: in [0, 1], default 1: how strict the definition of valid is. 1 corrects every clip
        that misses the dataset's own thresholds; s < 1 corrects only clips that miss them by more
        than a factor 1 / s (so the output keeps more of the input); 0 corrects nothing.
      fps: frame rate of the clips (Hz); 1 / (fps * 0.005 s) must be a whole number.
      n_threads: threads for the rollout backend (default: all usable cores).
      iterations: learning-control rollouts after the first (>= 0; default ILC_ITERATIONS).

    Returns:
      :class:`Correction` with the corrected qpos and per-clip tracking errors against the input.
    """
    ref = check_qpos(qpos, "qpos")
    fps = check_positive("fps", fps)
    strength = check_finite_number("strength", strength)
    if not 0.0 <= strength <= 1.0:
        raise SCSCInputError(f"strength must lie in [0, 1] (got {strength})")
    backend, n_threads = _check_backend(backend, n_threads)
    iterations = check_int("iterations", iterations, 0)
    substeps(fps)
    n = ref.shape[0]
    out = ref.copy()
    todo = needs_correction(ref, fps=fps, strength=strength)
    iteration = np.full(n, -1)
    fallback = np.zeros(n, bool)
    unstable = np.zeros(n, bool)
    if todo.any():
        idx = np.flatnonzero(todo)
        pr = project(ref[idx], fps=fps, backend=backend, n_threads=n_threads, iterations=iterations)
        out[idx], iteration[idx] = pr.qpos, pr.iteration
        fallback[idx] = pr.fell_all & ~fallen(ref[idx])
        # a clip that fell in the input too and whose every rollout fell: keep the plain rollout
        keep = np.flatnonzero(pr.fell_all & ~fallback[idx])
        out[idx[keep]], unstable[idx[keep]], iteration[idx[keep]] = pr.plain[keep], pr.plain_unstable[keep], 0
    mpjpe, jerr, rerr = tracking_errors(out, ref)
    return Correction(qpos=out, corrected=todo, fallback=fallback, iteration=iteration, tracking_error=mpjpe,
                      joint_error=jerr, root_error=rerr, unstable=unstable)
