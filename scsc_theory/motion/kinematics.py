"""Kinematics of the humanoid: clip validation, forward kinematics, lowest point, tracking errors.

The one home of what both the physics metrics (:mod:`.metrics`) and the corrector (:mod:`.physics`)
need about poses, so neither imports the other for it. Forward kinematics is MuJoCo's C
``mj_kinematics`` on ``assets/humanoid.xml``; a clip is (n, T, 28): root xyz (m), root quaternion
(w, x, y, z) and 21 hinge angles (rad).
"""
from __future__ import annotations

import numpy as np

from .._validate import SCSCInputError
from . import humanoid


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


def forward_kinematics(qpos: np.ndarray):
    """C forward kinematics for every frame: (geom_pos, geom_axis, body_pos, com) arrays.

    qpos (..., 28) -> geom centres (..., G, 3) m, geom local z axes (..., G, 3), positions of the
    humanoid's bodies (..., B, 3) m and whole-body centre of mass (..., 3) m.
    """
    import mujoco

    m = humanoid._base_model()
    inf = humanoid.info()
    d = mujoco.MjData(m)
    q = np.asarray(qpos, dtype=np.float64)
    lead = q.shape[:-1]
    flat = q.reshape(-1, humanoid.NQ).copy()
    flat[:, 3:7] /= np.linalg.norm(flat[:, 3:7], axis=-1, keepdims=True)
    N = flat.shape[0]
    gids = inf.geom_ids
    bodies = np.array([b for b in range(1, m.nbody) if not m.body_mocapid[b] >= 0])
    mass = m.body_mass[bodies]
    G, B = len(gids), len(bodies)
    gpos = np.empty((N, G, 3))
    gaxis = np.empty((N, G, 3))
    bpos = np.empty((N, B, 3))
    com = np.empty((N, 3))
    for i in range(N):
        d.qpos[:] = flat[i]
        mujoco.mj_kinematics(m, d)
        gpos[i] = d.geom_xpos[gids]
        gaxis[i] = d.geom_xmat[gids].reshape(G, 3, 3)[:, :, 2]
        bpos[i] = d.xpos[bodies]
        com[i] = mass @ d.xipos[bodies] / mass.sum()
    return (gpos.reshape(lead + (G, 3)), gaxis.reshape(lead + (G, 3)),
            bpos.reshape(lead + (B, 3)), com.reshape(lead + (3,)))


def geom_poses(qpos):
    """Geom centres (..., G, 3) in m and geom axes (unit local z, (..., G, 3)) for qpos (..., 28)."""
    gpos, gaxis, _, _ = forward_kinematics(qpos)
    return gpos, gaxis


def body_positions(qpos) -> np.ndarray:
    """World positions (m) of the humanoid's 13 bodies for qpos (..., 28): (..., 13, 3)."""
    return forward_kinematics(qpos)[2]


def geom_lowest_z(gpos, gaxis, radius, halflen):
    """Per-geom height (m) of the lowest point: (..., G, 3) x2 -> (..., G); NumPy or jax arrays.

    For a capsule of half length h and radius r along unit axis a centred at c the lowest point is
    c_z - h |a_z| - r (a sphere has h = 0).
    """
    return gpos[..., 2] - halflen * abs(gaxis[..., 2]) - radius


def lowest_point(qpos: np.ndarray) -> np.ndarray:
    """Height (m) of the lowest point of any body geom, for each pose in ``qpos`` (..., 28)."""
    inf = humanoid.info()
    flat = np.asarray(qpos, dtype=np.float64).reshape(-1, humanoid.NQ)
    pos, axis = geom_poses(flat)
    low = geom_lowest_z(pos, axis, inf.geom_radius, inf.geom_halflen)
    return low.min(axis=-1).reshape(np.shape(qpos)[:-1])


def tracking_errors(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(MPJPE in m, joint RMS in rad, mean root distance in m) between clip batches a and b (n, T, 28)."""
    pa, pb = body_positions(a), body_positions(b)
    mpjpe = np.linalg.norm(pa - pb, axis=-1).mean(axis=(1, 2))
    jerr = np.sqrt(((a[..., 7:] - b[..., 7:]) ** 2).mean(axis=(1, 2)))
    rerr = np.linalg.norm(a[..., :3] - b[..., :3], axis=-1).mean(axis=1)
    return mpjpe, jerr, rerr
