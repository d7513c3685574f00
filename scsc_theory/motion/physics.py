"""Physics-based self-correction of humanoid motions (residual force control, as in UHC).

The humanoid starts from the clip's first frame (joint angles clipped into their limits, the body
lifted out of the floor if needed) and tracks the clip in the simulator:

* the 21 hinge joints are driven by position servos (PD control, bounded torques) whose set points
  are the clip's joint angles, linearly interpolated between frames;
* the root (torso) is pulled toward the clip's root pose by six *bounded* PD actuators acting
  between the torso and a mocap body that follows the clip: the residual force of residual force
  control. Its bound is what keeps the correction physical: it cannot hold the body in the air
  (the bound is below body weight at strength 1) nor teleport it.

The simulated trajectory, sampled at the clip's frame rate, is the corrected clip: it has ground
contact, joint limits and non-penetrating body parts because the simulator enforces them.

Two backends share one model (``assets/humanoid.xml``):

``"rollout"``  MuJoCo's multi-threaded C rollout (``mujoco.rollout``), float64; CPU default.
``"mjx"``      MJX under ``jit(vmap(scan(step)))``, float32; the default on an accelerator.

They agree to within ``BACKEND_TOLERANCE`` over short horizons (tested); over long horizons
contact-rich simulations diverge chaotically, as any two physics engines do.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from .._validate import SCSCInputError, check_choice, check_finite_number, check_int, check_positive
from . import humanoid

#: Frame rate assumed when none is given (frames per second).
DEFAULT_FPS = 20.0
#: Stated agreement of the two backends on short clips (see tests/test_motion_physics.py):
#: joint angles (rad), root position (m).
BACKEND_TOLERANCE = {"joint_rad": 0.05, "root_m": 0.02}



def check_qpos(qpos, name: str = "qpos") -> np.ndarray:
    """Validate a batch of clips and return it as float64 (n, T, 28).

    Raises :class:`SCSCInputError` naming the problem for: a non-array or non-float dtype, a shape
    other than (n, T, 28), T < 2, n < 1, or NaN / infinite entries (with the first bad clip and frame).
    """
    if not hasattr(qpos, "shape") or not hasattr(qpos, "dtype"):
        try:
            qpos = np.asarray(qpos)
        except Exception:  # pragma: no cover
            raise SCSCInputError(f"{name} must be an array of shape (n, T, {humanoid.NQ})") from None
    dt = np.dtype(qpos.dtype)
    if not np.issubdtype(dt, np.floating):
        raise SCSCInputError(f"{name} must have a floating dtype (float32 or float64), got {dt}")
    shape = tuple(qpos.shape)
    if len(shape) != 3:
        raise SCSCInputError(
            f"{name} must have shape (n_clips, T, {humanoid.NQ}) (got shape {shape}); "
            f"add a leading axis for a single clip")
    n, T, nq = shape
    if nq != humanoid.NQ:
        raise SCSCInputError(f"{name} last axis must be nq = {humanoid.NQ} for this humanoid (got {nq})")
    if n < 1:
        raise SCSCInputError(f"{name} must hold at least one clip (got n = {n})")
    if T < 2:
        raise SCSCInputError(f"{name} must have at least T = 2 frames (got T = {T})")
    q = np.asarray(qpos, dtype=np.float64)
    finite = np.isfinite(q).all(axis=-1)
    if not finite.all():
        i, t = np.argwhere(~finite)[0]
        raise SCSCInputError(f"{name} has NaN or infinite values (first at clip {i}, frame {t})")
    quat_norm = np.linalg.norm(q[..., 3:7], axis=-1)
    if (quat_norm < 1e-6).any():
        i, t = np.argwhere(quat_norm < 1e-6)[0]
        raise SCSCInputError(f"{name} has a zero root quaternion qpos[..., 3:7] (clip {i}, frame {t})")
    return q


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


def lowest_point(qpos: np.ndarray) -> np.ndarray:
    """Height (m) of the lowest point of any body geom, for each pose in ``qpos`` (..., 28)."""
    from .metrics import geom_poses

    inf = humanoid.info()
    flat = np.asarray(qpos, dtype=np.float64).reshape(-1, humanoid.NQ)
    pos, axis = geom_poses(flat)
    low = pos[..., 2] - inf.geom_halflen * np.abs(axis[..., 2]) - inf.geom_radius   # as metrics.lowest_geom_z
    return low.min(axis=-1).reshape(np.shape(qpos)[:-1])


def plan_controls(ref: np.ndarray, fps: float) -> _Plan:
    """Per-physics-step set points that make the humanoid track the reference clips ``ref``.

    Step k (k = 0 .. K-1, K = (T-1) * substeps) targets time (k+1) * timestep: joint set points
    and the mocap root pose are interpolated linearly (quaternions: normalised lerp) between
    frames; the root actuators' controls are the reference root velocity (linear m/s, angular
    rad/s) in the target's frame, so their damping acts on the velocity *error*.
    """
    inf = humanoid.info()
    n, T, _ = ref.shape
    sub = substeps(fps)
    K = (T - 1) * sub
    dt = inf.timestep
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


_MJX_CACHE: dict = {}


def _mjx_simulator(model, T: int, sub: int):
    """jit(vmap(scan)) simulator for one model; cached per (strength model id, T, sub)."""
    import jax
    import jax.numpy as jnp
    from mujoco import mjx

    mx = mjx.put_model(model)

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


def _run_mjx(model, plan: _Plan, T: int, strength_key) -> np.ndarray:
    import jax.numpy as jnp

    key = (strength_key, T, plan.sub)
    if key not in _MJX_CACHE:
        _MJX_CACHE[key] = _mjx_simulator(model, T, plan.sub)
    f = _MJX_CACHE[key]
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


@dataclass(frozen=True)
class Correction:
    """Result of :func:`correct`.

    qpos:           (n, T, 28) the corrected clips (simulated trajectories at the clip frame rate).
    tracking_error: (n,) mean over frames and bodies of the distance (m) between each body's
                    position in the corrected and in the input clip (MPJPE, global frame).
    joint_error:    (n,) root-mean-square hinge angle difference (rad), corrected vs input.
    root_error:     (n,) mean root position distance (m), corrected vs input.
    unstable:       (n,) True where the simulation diverged (MuJoCo reset it / MJX produced NaN);
                    such a clip's frames are not a valid correction. Not seen on the dataset or
                    the corruptions of ``data.corrupt``; a warning is issued when it happens.
    """

    qpos: np.ndarray
    tracking_error: np.ndarray
    joint_error: np.ndarray
    root_error: np.ndarray
    unstable: np.ndarray


def tracking_errors(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(MPJPE in m, joint RMS in rad, mean root distance in m) between clip batches a and b (n, T, 28)."""
    from .metrics import body_positions

    pa, pb = body_positions(a), body_positions(b)
    mpjpe = np.linalg.norm(pa - pb, axis=-1).mean(axis=(1, 2))
    jerr = np.sqrt(((a[..., 7:] - b[..., 7:]) ** 2).mean(axis=(1, 2)))
    rerr = np.linalg.norm(a[..., :3] - b[..., :3], axis=-1).mean(axis=1)
    return mpjpe, jerr, rerr


def simulate_tracking(ref, *, fps: float = DEFAULT_FPS, strength: float = 1.0, backend: str | None = None,
                      n_threads: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Simulate the humanoid tracking clips ``ref`` (n, T, 28).

    Returns (qpos (n, T, 28) of the simulation sampled at the frame rate, unstable (n,) bool).

    Validates its input (see :func:`check_qpos`). ``strength`` in [0, 1] (see
    :func:`scsc_theory.motion.humanoid.strength_scales`); ``backend`` "rollout" or "mjx" (default:
    :func:`default_backend`); ``n_threads`` for the rollout backend (default: all usable cores).
    """
    ref = check_qpos(ref, "qpos")
    fps = check_positive("fps", fps)
    strength = check_finite_number("strength", strength)
    if not 0.0 <= strength <= 1.0:
        raise SCSCInputError(f"strength must lie in [0, 1] (got {strength})")
    backend = default_backend() if backend is None else check_choice("backend", backend, ("rollout", "mjx"))
    if n_threads is not None:
        n_threads = check_int("n_threads", n_threads, 1)
    substeps(fps)  # validates fps before any work
    model = humanoid.model_for_strength(strength)
    plan = plan_controls(ref, fps)
    T = ref.shape[1]
    if backend == "rollout":
        out, unstable = _run_rollout(model, plan, T, n_threads)
    else:
        out, unstable = _run_mjx(model, plan, T, round(strength, 12))
    if unstable.any():
        import warnings

        warnings.warn(f"the simulation diverged for {int(unstable.sum())} of {len(unstable)} clips "
                      f"(first: clip {int(np.argmax(unstable))}); see Correction.unstable", RuntimeWarning, stacklevel=2)
        out[unstable] = np.where(np.isfinite(out[unstable]), out[unstable], 0.0)
        out[unstable, :, 3] = np.where(np.linalg.norm(out[unstable, :, 3:7], axis=-1) > 0, out[unstable, :, 3], 1.0)
    out[..., 3:7] = _qnorm(out[..., 3:7])
    return out, unstable


def correct(qpos, *, backend: str | None = None, strength: float = 1.0, fps: float = DEFAULT_FPS,
            n_threads: int | None = None) -> Correction:
    """Physics correction: track each clip in the simulator and return the simulated clips.

    Args:
      qpos: (n, T, 28) float clips (root xyz m, root quaternion wxyz, 21 hinge angles rad).
      backend: "rollout" (MuJoCo C, multi-threaded; CPU default) or "mjx" (accelerator default).
      strength: in [0, 1], default 1. 1 = the most physical correction (nominal servo gains,
        residual root force bounded by 200 N / 100 N m per axis, about half the body weight);
        0 = the weakest (gains x4, residual bounds x20: close to kinematic replay, so the output
        stays closer to the input and keeps more of its violations). Sweep it as gamma is swept.
      fps: frame rate of the clips (Hz); 1 / (fps * 0.005 s) must be a whole number.
      n_threads: threads for the rollout backend (default: all usable cores).

    Returns:
      :class:`Correction` with the corrected qpos and per-clip tracking errors against the input.
    """
    ref = check_qpos(qpos, "qpos")
    out, unstable = simulate_tracking(ref, fps=fps, strength=strength, backend=backend, n_threads=n_threads)
    mpjpe, jerr, rerr = tracking_errors(out, ref)
    return Correction(qpos=out, tracking_error=mpjpe, joint_error=jerr, root_error=rerr, unstable=unstable)
