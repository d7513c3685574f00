"""Forward kinematics, validity and balance rules of the motion world in jnp (MJX), jit-able.

Twins of the host functions that use MuJoCo's C ``mj_kinematics`` (:mod:`scsc_theory.motion.kinematics`,
:mod:`scsc_theory.motion.metrics`) and of the corrector's fall and lean rules
(:func:`scsc_theory.motion.physics.fallen`, :func:`~scsc_theory.motion.physics.leans`). Forward
kinematics is ``mujoco.mjx.kinematics`` on the same model (``assets/humanoid.xml``); every function
takes clips (..., T, 28) as jnp or NumPy arrays, casts them to the ambient float dtype (float64 under
``jax.enable_x64``) and returns jnp arrays of it, except :func:`physics_violations`, which like the
host's runs its metric kernel in float32; forward kinematics computes in the dtype of the MJX model
``mx``. In float64 they agree with the host to rounding (``tests/test_motion_device_kinematics.py``).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from .. import humanoid
from ..metrics import VALIDITY_THRESHOLDS, violations_from_poses
from ..metrics import geom_lowest_z as metrics_geom_lowest_z
from ..physics import FALL_ROOT_HEIGHT, FALL_TILT_DEG, LEAN_DEG, LEAN_WINDOW_S


def device_model():
    """The world's model as an MJX model (``mjx.put_model`` of the vendored humanoid): pass it to the
    functions below to build it once per process; each function builds it itself when given none."""
    from mujoco import mjx

    return mjx.put_model(humanoid._base_model())


def _bodies() -> np.ndarray:
    m = humanoid._base_model()
    return np.array([b for b in range(1, m.nbody) if not m.body_mocapid[b] >= 0])


@jax.jit
def _pose_kinematics(mx, flat):
    """MJX forward kinematics of poses (N, 28) (root quaternions unit) on model ``mx``: geom centres,
    geom local z axes, body positions (N, ., 3), centre of mass (N, 3). One jitted function with the
    model as an argument: inside a larger trace every call at the same shapes reuses one trace of
    ``mjx.kinematics`` (tracing it takes about 2 s on a CPU)."""
    from mujoco import mjx

    m = humanoid._base_model()
    gids = jnp.asarray(humanoid.info().geom_ids)
    bodies = _bodies()
    mass = jnp.asarray(m.body_mass[bodies])
    d0 = mjx.make_data(mx)

    def one(qp):
        d = mjx.kinematics(mx, d0.replace(qpos=qp.astype(d0.qpos.dtype)))
        return d.geom_xpos[gids], d.geom_xmat[gids][:, :, 2], d.xpos[bodies], mass @ d.xipos[bodies] / mass.sum()

    return jax.vmap(one)(flat)


def forward_kinematics(qpos, mx=None):
    """Twin of :func:`scsc_theory.motion.kinematics.forward_kinematics`: qpos (..., 28) ->
    (geom centres (..., G, 3), geom local z axes (..., G, 3), body positions (..., B, 3), centre of
    mass (..., 3)), the root quaternion normalised first."""
    mx = device_model() if mx is None else mx
    q = jnp.asarray(qpos, dtype=float)
    lead = q.shape[:-1]
    flat = q.reshape(-1, humanoid.NQ)
    flat = flat.at[:, 3:7].set(flat[:, 3:7] / jnp.linalg.norm(flat[:, 3:7], axis=-1, keepdims=True))
    gpos, gaxis, bpos, com = _pose_kinematics(mx, flat)
    G, B = gpos.shape[1], bpos.shape[1]
    return (gpos.reshape(lead + (G, 3)), gaxis.reshape(lead + (G, 3)), bpos.reshape(lead + (B, 3)),
            com.reshape(lead + (3,)))


def geom_lowest_z(qpos, mx=None):
    """Per-geom height (m) of the lowest point, c_z - h |a_z| - r, of clips' poses: (..., 28) -> (..., G)
    (the metric kernel :func:`scsc_theory.motion.metrics.geom_lowest_z` on MJX forward kinematics)."""
    gpos, gaxis, _, _ = forward_kinematics(qpos, mx)
    return metrics_geom_lowest_z(gpos, gaxis)


def lowest_point(qpos, mx=None):
    """Twin of :func:`scsc_theory.motion.kinematics.lowest_point`: height (m) of the lowest point of
    any body geom: (..., 28) -> (...)."""
    return geom_lowest_z(qpos, mx).min(axis=-1)


def foot_contacts(qpos, mx=None, contact_height: float = 0.05):
    """Twin of :func:`scsc_theory.motion.metrics.foot_contacts`: (..., T, 2) left / right foot's lowest
    point below ``contact_height`` (m)."""
    low = geom_lowest_z(qpos, mx)
    feet = humanoid.info().foot_geoms
    return jnp.stack([low[..., feet[0]].min(-1), low[..., feet[1]].min(-1)], axis=-1) < contact_height


def tracking_errors(a, b, mx=None):
    """Twin of :func:`scsc_theory.motion.kinematics.tracking_errors`: (MPJPE m, joint RMS rad, mean root
    distance m) between clip batches a and b (n, T, 28), each (n,)."""
    a, b = jnp.asarray(a, dtype=float), jnp.asarray(b, dtype=float)
    pa, pb = forward_kinematics(a, mx)[2], forward_kinematics(b, mx)[2]
    mpjpe = jnp.linalg.norm(pa - pb, axis=-1).mean(axis=(1, 2))
    jerr = jnp.sqrt(((a[..., 7:] - b[..., 7:]) ** 2).mean(axis=(1, 2)))
    rerr = jnp.linalg.norm(a[..., :3] - b[..., :3], axis=-1).mean(axis=1)
    return mpjpe, jerr, rerr


def physics_violations(qpos, *, fps: float = 20.0, mx=None) -> dict:
    """Twin of :func:`scsc_theory.motion.metrics.physics_violations` at its default tolerances: the
    six per-clip metrics (n,) of clips (n, T, 28). Like the host, the metric kernel
    (:func:`~scsc_theory.motion.metrics.violations_from_poses`) runs on float32 poses."""
    q = jnp.asarray(qpos, dtype=float)
    gpos, gaxis, _, com = forward_kinematics(q, mx)
    f32 = lambda x: x.astype(jnp.float32)  # noqa: E731
    return violations_from_poses(f32(gpos), f32(gaxis), f32(com[..., 2]), f32(q[..., 7:]), f32(q[..., :2]), fps)


def validity_score(qpos, *, fps: float = 20.0, scale=1.0, mx=None):
    """Twin of :func:`scsc_theory.motion.metrics.validity_score`: (n,) sum over the metrics of
    max(0, violation / (scale * threshold) - 1); 0 means valid. ``scale`` may be traced."""
    v = physics_violations(qpos, fps=fps, mx=mx)
    return sum(jnp.maximum(v[k].astype(jnp.result_type(float)) / (scale * thr) - 1.0, 0.0)
               for k, thr in VALIDITY_THRESHOLDS.items())


def needs_correction(qpos, *, fps: float = 20.0, strength=1.0, mx=None):
    """Twin of :func:`scsc_theory.motion.physics.needs_correction`: (n,) True where a clip misses the
    validity thresholds scaled by 1 / strength; strength 0 corrects nothing (``strength`` may be traced)."""
    safe = jnp.where(strength > 0, strength, 1.0)
    return (strength > 0) & (validity_score(qpos, fps=fps, scale=1.0 / safe, mx=mx) > 0)


def torso_tilt(qpos):
    """Twin of :func:`scsc_theory.motion.physics.torso_tilt`: angle (degrees) between the torso's up
    axis and the vertical, per frame, (..., T, 28) -> (..., T). For a unit quaternion (w, x, y, z)
    the z component of the rotated up axis is 1 - 2 (x^2 + y^2)."""
    q = jnp.asarray(qpos, dtype=float)
    quat = q[..., 3:7] / jnp.linalg.norm(q[..., 3:7], axis=-1, keepdims=True)
    up_z = 1.0 - 2.0 * (quat[..., 1] ** 2 + quat[..., 2] ** 2)
    return jnp.degrees(jnp.arccos(jnp.clip(up_z, -1.0, 1.0)))


def fallen(qpos):
    """Twin of :func:`scsc_theory.motion.physics.fallen`: (n,) True where some frame has torso tilt >
    FALL_TILT_DEG or root height < FALL_ROOT_HEIGHT."""
    q = jnp.asarray(qpos, dtype=float)
    return (torso_tilt(q) > FALL_TILT_DEG).any(axis=-1) | (q[..., 2] < FALL_ROOT_HEIGHT).any(axis=-1)


def moving_average_nearest(x, size: int):
    """``scipy.ndimage.uniform_filter1d(x, size, axis=-1, mode="nearest")`` in jnp: the mean over the
    window [t - size // 2, t + (size - 1) // 2] (scipy's origin for an even size), ends padded with
    the end values."""
    lo, hi = size // 2, (size - 1) // 2
    pad = jnp.concatenate([jnp.repeat(x[..., :1], lo, axis=-1), x, jnp.repeat(x[..., -1:], hi, axis=-1)], axis=-1)
    T = x.shape[-1]
    return sum(pad[..., k:k + T] for k in range(size)) / size


def leans(qpos, ref, *, fps: float = 20.0):
    """Twin of :func:`scsc_theory.motion.physics.leans`: (n,) True where the moving average over
    LEAN_WINDOW_S of torso_tilt(qpos) - torso_tilt(ref) exceeds LEAN_DEG at some time."""
    d = torso_tilt(qpos) - torso_tilt(ref)
    w = max(1, int(round(LEAN_WINDOW_S * fps)))
    return moving_average_nearest(d, w).max(axis=-1) > LEAN_DEG
