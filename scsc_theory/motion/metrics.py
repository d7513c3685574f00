"""Physics metrics of humanoid motions (PhysDiff / UHC style), per clip.

Forward kinematics (body and geom poses of every frame) comes from MuJoCo's C ``mj_kinematics``;
everything after it is a pure ``jax.numpy`` function of those poses, with every threshold an
explicit argument. Defaults follow PhysDiff / UHC: 5 mm tolerance for penetration and floating,
a foot counts as in contact when its lowest point is below 0.05 m, and a foot in contact skates
when it moves faster than 0.5 m/s horizontally (clips at 20 fps).

All returned quantities are per clip, shape (n,):

``ground_penetration``  m    mean over frames of max(0, depth of the lowest body point below the
                             floor - tol)
``floating``            m    mean over frames of max(0, height of the lowest body point - tol),
                             counted only on frames where the body is not in free fall (centre of
                             mass vertical acceleration above -g + accel_tol): off the ground yet
                             not falling means something non-physical holds it up; a jump is fine
``foot_skating``        m/s  mean over consecutive-frame pairs and the two feet of
                             max(0, horizontal foot speed - skate_speed), for feet in contact in
                             both frames
``self_penetration``    m    mean over frames of max(0, deepest overlap between two non-adjacent
                             body parts - tol) (capsule-capsule distances, exact)
``joint_limit``         rad  mean over frames of max(0, largest hinge excursion beyond its
                             limit - joint_tol)
``root_speed``          m/s  largest horizontal root speed between consecutive frames (a peak, not a
                             mean: one teleporting frame pair is enough to make a clip unrealizable)
``tracking_error``      m    only when ``reference`` is given: MPJPE against it (mean body distance)
"""
from __future__ import annotations

import jax
import numpy as np

from . import humanoid, kinematics
from .kinematics import check_qpos, forward_kinematics, geom_poses, tracking_errors

GRAVITY = 9.81

#: The definition of a physically valid clip used by the dataset (every clip meets it) and by the
#: corrector (a clip that meets it is returned unchanged): upper bounds on the per-clip metrics of
#: :func:`physics_violations` at its default tolerances; metres for penetration / floating /
#: self-penetration, m/s for skating, rad for joint limits.
#: ``root_speed`` bounds what the world's actuation can realize at all: its fastest clip moves its root
#: 1.8 m/s horizontally (walk; every other class below 1.4), the residual root wrench accelerates the
#: body by at most 1.5 m/s^2 sideways, so 3 m/s between two frames (15 cm in 0.05 s) is not a motion
#: of this world (the means above let a single 10 m/s frame pair through).
VALIDITY_THRESHOLDS = {"ground_penetration": 0.002, "floating": 0.005, "self_penetration": 0.002,
                       "joint_limit": 0.01, "foot_skating": 0.15, "root_speed": 3.0}


# ----------------------------------------------------------------------------------------------
# pure jnp metric kernels
# ----------------------------------------------------------------------------------------------

def _geom_consts():
    import jax.numpy as jnp

    inf = humanoid.info()
    return jnp.asarray(inf.geom_radius), jnp.asarray(inf.geom_halflen)


def geom_lowest_z(gpos, gaxis, radius=None, halflen=None):
    """Per-geom lowest point height (m): (..., G); the humanoid's geoms by default
    (:func:`.kinematics.geom_lowest_z`)."""
    if radius is None:
        radius, halflen = _geom_consts()
    return kinematics.geom_lowest_z(gpos, gaxis, radius, halflen)


def lowest_geom_z(gpos, gaxis, radius=None, halflen=None):
    """Height (m) of the lowest point of any body geom: (..., G, 3) x2 -> (...)."""
    return geom_lowest_z(gpos, gaxis, radius, halflen).min(axis=-1)


def segment_distance(p1, q1, p2, q2, eps: float = 1e-9):
    """Closest distance between segments [p1, q1] and [p2, q2] (..., 3) -> (...), exact.

    Ericson, Real-Time Collision Detection, 5.1.9, with the degenerate (point) cases handled by
    ``where`` so the function is jit/vmap friendly.
    """
    import jax.numpy as jnp

    d1, d2, r = q1 - p1, q2 - p2, p1 - p2
    a = (d1 * d1).sum(-1)
    e = (d2 * d2).sum(-1)
    f = (d2 * r).sum(-1)
    c = (d1 * r).sum(-1)
    b = (d1 * d2).sum(-1)
    a_s = jnp.where(a > eps, a, 1.0)
    e_s = jnp.where(e > eps, e, 1.0)
    denom = a * e - b * b
    s_gen = jnp.where(denom > eps, jnp.clip((b * f - c * e) / jnp.where(denom > eps, denom, 1.0), 0, 1), 0.0)
    t_gen = (b * s_gen + f) / e_s
    s_gen = jnp.where(t_gen < 0, jnp.clip(-c / a_s, 0, 1), jnp.where(t_gen > 1, jnp.clip((b - c) / a_s, 0, 1), s_gen))
    t_gen = jnp.clip(t_gen, 0, 1)
    # a ~ 0 (first is a point): s = 0, t = clip(f / e); e ~ 0 (second a point): t = 0, s = clip(-c / a)
    s = jnp.where(a <= eps, 0.0, jnp.where(e <= eps, jnp.clip(-c / a_s, 0, 1), s_gen))
    t = jnp.where(a <= eps, jnp.where(e <= eps, 0.0, jnp.clip(f / e_s, 0, 1)), jnp.where(e <= eps, 0.0, t_gen))
    c1 = p1 + d1 * s[..., None]
    c2 = p2 + d2 * t[..., None]
    return jnp.linalg.norm(c1 - c2, axis=-1)


def self_overlap(gpos, gaxis, pairs=None, radius=None, halflen=None):
    """Deepest overlap (m, >= 0) between non-adjacent body-part capsules per frame: (..., G, 3) -> (...)."""
    import jax.numpy as jnp

    inf = humanoid.info()
    if radius is None:
        radius, halflen = _geom_consts()
    if pairs is None:
        pairs = jnp.asarray(inf.self_pairs)
    i, j = pairs[:, 0], pairs[:, 1]
    ends_a = gpos - gaxis * halflen[:, None]
    ends_b = gpos + gaxis * halflen[:, None]
    dist = segment_distance(ends_a[..., i, :], ends_b[..., i, :], ends_a[..., j, :], ends_b[..., j, :])
    overlap = radius[i] + radius[j] - dist
    return jnp.maximum(overlap, 0.0).max(axis=-1)


def ground_penetration(low, tol: float = 0.005):
    """Mean over frames of max(0, -low - tol) (m); ``low`` (n, T) lowest body point heights."""
    import jax.numpy as jnp

    return jnp.maximum(-low - tol, 0.0).mean(axis=-1)


def floating(low, com_z, fps: float = 20.0, tol: float = 0.005, accel_tol: float = 3.0, g: float = GRAVITY):
    """Mean over frames of max(0, low - tol) on frames not in free fall (m); (n, T) inputs.

    Free fall: centre-of-mass vertical acceleration (second difference, m/s^2) <= -g + accel_tol.
    End frames use the acceleration of their neighbour.
    """
    import jax.numpy as jnp

    acc = (com_z[..., 2:] - 2 * com_z[..., 1:-1] + com_z[..., :-2]) * fps ** 2
    acc = jnp.concatenate([acc[..., :1], acc, acc[..., -1:]], axis=-1)
    supported_needed = acc > -g + accel_tol
    return (jnp.maximum(low - tol, 0.0) * supported_needed).mean(axis=-1)


def foot_skating(foot_xy, foot_low, fps: float = 20.0, contact_height: float = 0.05, skate_speed: float = 0.5):
    """Mean over frame pairs and feet of max(0, speed - skate_speed) for feet in contact (m/s).

    foot_xy (n, T, 2 feet, 2) horizontal foot positions (m); foot_low (n, T, 2) lowest point of
    each foot (m). A foot is in contact in a pair of frames when below ``contact_height`` in both.
    """
    import jax.numpy as jnp

    speed = jnp.linalg.norm(foot_xy[:, 1:] - foot_xy[:, :-1], axis=-1) * fps
    contact = (foot_low[:, 1:] < contact_height) & (foot_low[:, :-1] < contact_height)
    return (jnp.maximum(speed - skate_speed, 0.0) * contact).mean(axis=(1, 2))


def joint_limit(joints, joint_range=None, tol: float = 0.01):
    """Mean over frames of max(0, largest excursion beyond a hinge limit - tol) (rad); joints (n, T, 21)."""
    import jax.numpy as jnp

    if joint_range is None:
        joint_range = jnp.asarray(humanoid.info().joint_range)
    lo, hi = joint_range[:, 0], joint_range[:, 1]
    over = jnp.maximum(jnp.maximum(lo - joints, joints - hi), 0.0).max(axis=-1)
    return jnp.maximum(over - tol, 0.0).mean(axis=-1)


def root_speeds(root_xy, fps: float = 20.0):
    """Horizontal root speed between consecutive frames, |xy_{t+1} - xy_t| * fps (m/s): (..., T, 2) ->
    (..., T - 1). NumPy or jnp in, the same kind out (the metric below and the corrector's speed limit,
    :func:`scsc_theory.motion.physics.limit_root_speed`, both use it)."""
    step = root_xy[..., 1:, :] - root_xy[..., :-1, :]
    return (step ** 2).sum(axis=-1) ** 0.5 * fps


def root_speed(root_xy, fps: float = 20.0):
    """Largest horizontal root speed between consecutive frames (m/s); root_xy (n, T, 2) -> (n,)."""
    return root_speeds(root_xy, fps).max(axis=-1)


def foot_contacts(qpos, contact_height: float = 0.05) -> np.ndarray:
    """(..., T, 2) booleans: left / right foot's lowest point below ``contact_height`` (m)."""
    gpos, gaxis = geom_poses(qpos)
    low = np.asarray(geom_lowest_z(gpos, gaxis))
    feet = humanoid.info().foot_geoms
    return np.stack([low[..., feet[0]].min(-1), low[..., feet[1]].min(-1)], axis=-1) < contact_height


def violations_from_poses(gpos, gaxis, com_z, joints, root_xy, fps=20.0, tol=0.005, contact_height=0.05,
                          skate_speed=0.5, joint_tol=0.01, accel_tol=3.0) -> dict:
    """Pure jnp: the six per-clip metrics from geom poses (n, T, G, 3) x2, centre-of-mass height
    (n, T), hinge angles (n, T, 21) and root positions (n, T, 2). jit-able; :func:`physics_violations` jits it."""
    import jax.numpy as jnp

    glow = geom_lowest_z(gpos, gaxis)
    low = glow.min(axis=-1)
    feet = humanoid.info().foot_geoms
    foot_low = jnp.stack([glow[..., feet[0]].min(-1), glow[..., feet[1]].min(-1)], axis=-1)
    foot_xy = jnp.stack([gpos[..., feet[0], :2].mean(-2), gpos[..., feet[1], :2].mean(-2)], axis=-2)
    return {
        "ground_penetration": ground_penetration(low, tol),
        "floating": floating(low, com_z, fps, tol, accel_tol),
        "foot_skating": foot_skating(foot_xy, foot_low, fps, contact_height, skate_speed),
        "self_penetration": jnp.maximum(self_overlap(gpos, gaxis) - tol, 0.0).mean(axis=-1),
        "joint_limit": joint_limit(joints, tol=joint_tol),
        "root_speed": root_speed(root_xy, fps),
    }


_violations_jit = jax.jit(violations_from_poses)


def physics_violations(qpos, *, fps: float = 20.0, reference=None, tol: float = 0.005,
                       contact_height: float = 0.05, skate_speed: float = 0.5, joint_tol: float = 0.01,
                       accel_tol: float = 3.0, chunk: int = 256) -> dict:
    """Per-clip physics violations of clips ``qpos`` (n, T, 28); see the module docstring.

    Args:
      qpos: (n, T, 28) clips. Validated (shape, dtype, finiteness, T >= 2) before any work.
      fps: frame rate (Hz), for speeds and accelerations.
      reference: optional (n, T, 28) clips to report ``tracking_error`` (MPJPE, m) against.
      tol: penetration / floating / self-penetration tolerance (m), default 0.005 (PhysDiff).
      contact_height: foot contact threshold (m), default 0.05.
      skate_speed: foot skating threshold (m/s), default 0.5.
      joint_tol: joint limit tolerance (rad), default 0.01.
      accel_tol: free-fall slack for ``floating`` (m/s^2), default 3.
      chunk: clips per forward-kinematics / jit batch (memory bound only; default 256).

    Returns:
      dict of NumPy arrays of shape (n,): ground_penetration, floating, foot_skating,
      self_penetration, joint_limit, root_speed [, tracking_error].
    """
    import jax.numpy as jnp

    from .._validate import SCSCInputError, check_nonneg, check_positive

    q = check_qpos(qpos, "qpos")
    fps = check_positive("fps", fps)
    tol, contact_height = check_nonneg("tol", tol), check_nonneg("contact_height", contact_height)
    skate_speed, joint_tol = check_nonneg("skate_speed", skate_speed), check_nonneg("joint_tol", joint_tol)
    accel_tol = check_nonneg("accel_tol", accel_tol)
    if reference is not None:
        reference = check_qpos(reference, "reference")
        if reference.shape != q.shape:
            raise SCSCInputError(f"reference must have the shape of qpos {q.shape} (got {reference.shape})")
    parts = []
    for s in range(0, q.shape[0], chunk):   # bounded memory for large datasets
        qs = q[s:s + chunk]
        gpos, gaxis, _, com = forward_kinematics(qs)
        arrays = (gpos, gaxis, com[..., 2], qs[:, :, 7:], qs[:, :, :2])
        parts.append(_violations_jit(*(jnp.asarray(a, jnp.float32) for a in arrays), fps, tol, contact_height,
                                     skate_speed, joint_tol, accel_tol))
    out = {k: np.concatenate([np.asarray(p[k], dtype=np.float64) for p in parts]) for k in parts[0]}
    if reference is not None:
        out["tracking_error"] = tracking_errors(q, reference)[0]
    return out


def summarize(violations: dict) -> dict:
    """Mean of each per-clip metric (a dict of floats), for printing and JSON."""
    return {k: float(np.mean(v)) for k, v in violations.items()}


def validity_score(qpos, *, fps: float = 20.0, scale: float = 1.0) -> np.ndarray:
    """(n,) sum over the metrics of max(0, violation / (scale * threshold) - 1); 0 means valid.

    ``scale`` multiplies every bound of :data:`VALIDITY_THRESHOLDS` (the corrector's strength s
    uses scale = 1 / s).
    """
    v = physics_violations(qpos, fps=fps)
    return sum(np.maximum(v[k] / (scale * thr) - 1.0, 0.0) for k, thr in VALIDITY_THRESHOLDS.items())
