"""A labelled, physically valid human-motion dataset made by the simulator itself.

Every clip is produced by simulating the humanoid (``assets/humanoid.xml``) while it tracks a
procedural kinematic target of one of nine action classes; the *simulated* trajectory is the clip.
So every clip obeys the simulator's physics: ground contact, joint limits, no interpenetration of
body parts, bounded torques. The residual root force used for tracking (bounded, below body weight,
as in residual force control) is the only non-physical help; it is the same helper the corrector uses.

Validity is also checked: a clip whose simulation misses :data:`VALIDITY_THRESHOLDS` (for example
a kick that ends in a stumble with sliding feet) is redrawn with new style parameters and the same
label, so every clip meets the stated thresholds.

Per-clip variety: speed / period, amplitude, phase, start time, left/right or direction where it
applies, torso lean, and smooth per-joint style noise.

Public API
----------
``generate(n, seed=0, split="train", T=60, fps=20, cache=True) -> MotionDataset``
``sample_clips(labels, seed, T=60, fps=20) -> qpos (n, T, 28)``  fresh true clips (idealized arm)
``qpos_to_features(qpos, contacts=None) -> (n, T, 33)`` and ``features_to_qpos(features) -> (n, T, 28)``
``corrupt(qpos, kind, seed) -> qpos``  the corruptions used to test the corrector
``ACTION_CLASSES``, ``FEATURE_LAYOUT``, ``N_FEATURES``

Feature layout (per frame, float32; F = 33), all in the *heading frame* of the previous frame:

====== ========================================================================
0      root height z (m)
1:3    root horizontal velocity (m/s) in the previous frame's heading frame (0 at frame 0)
3      root yaw rate (rad/s) (0 at frame 0)
4:10   root orientation without heading: first two columns of Rz(-yaw) R (6-D rotation)
10:31  the 21 hinge angles (rad), in ``humanoid.JOINT_NAMES`` order
31:33  left / right foot contact (1.0 when the foot's lowest point is below 0.05 m); auxiliary,
       not used by ``features_to_qpos``
====== ========================================================================

Clips are canonical: frame 0 has root xy = (0, 0) and heading (yaw) 0, so
``features_to_qpos(qpos_to_features(q)) == q`` up to float32 rounding for canonical clips (for any
clip it is exact up to that initial horizontal position and heading, which features do not encode).
"""
from __future__ import annotations

import functools
import hashlib
import inspect
import json
from dataclasses import dataclass, field
from pathlib import Path

import jax
import numpy as np

from .._validate import SCSCInputError, check_choice, check_int, check_positive
from . import humanoid
from . import metrics as _metrics

ACTION_CLASSES = ("walk", "jog_in_place", "squat", "jump", "wave_right_hand", "wave_left_hand",
                  "raise_both_arms", "turn_in_place", "kick")
N_FEATURES = 33
FEATURE_LAYOUT = {"root_height": slice(0, 1), "root_velocity_xy": slice(1, 3), "yaw_rate": slice(3, 4),
                  "root_tilt_6d": slice(4, 10), "joints": slice(10, 31), "foot_contacts": slice(31, 33)}
SPLITS = {"train": 0, "test": 1, "fresh": 2}
#: Floor of per-feature standard deviations when standardising features (dataset and motion loop
#: share it): near-constant features (the torso roll/pitch entries of the 6-D rotation) are not
#: blown up into huge z-scores by a small deviation.
FEATURE_STD_FLOOR = 1e-2
GENERATOR_VERSION = 1

_J = humanoid.JOINT_INDEX
# arm poses (shoulder1, shoulder2, elbow), found by a grid search for non-overlapping poses
ARM_DOWN = np.array([0.65, -0.4, -1.7])      # hand beside the hip, away from the thigh
ARM_RELAXED = np.array([0.35, -0.3, -1.2])   # hanging slightly forward, elbow bent
ARM_UP = np.array([-1.45, 0.65, -1.7])       # straight up and a little forward


# ----------------------------------------------------------------------------------------------
# procedural targets
# ----------------------------------------------------------------------------------------------

def _set_arm(j, side: str, pose):
    j[..., _J[f"shoulder1_{side}"]] = pose[..., 0]
    j[..., _J[f"shoulder2_{side}"]] = pose[..., 1]
    j[..., _J[f"elbow_{side}"]] = pose[..., 2]


def _leg(j, side: str, hip_y, knee, hip_x=0.0, hip_z=0.0, ankle_extra=0.0):
    j[:, _J[f"hip_y_{side}"]] = hip_y
    j[:, _J[f"knee_{side}"]] = knee
    j[:, _J[f"hip_x_{side}"]] = hip_x
    j[:, _J[f"hip_z_{side}"]] = hip_z
    j[:, _J[f"ankle_y_{side}"]] = knee - hip_y + ankle_extra  # keeps the sole level


def _smooth_step(x):
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


def _clip_params(rng: np.random.Generator, label: int) -> dict:
    """Style parameters of one clip (all drawn from ``rng``)."""
    p = {
        "phase": rng.uniform(0, 2 * np.pi),
        "start": rng.uniform(0.0, 0.4),           # s of idle before the action starts
        "speed": rng.uniform(0.8, 1.25),          # tempo multiplier
        "amp": rng.uniform(0.75, 1.15),           # amplitude multiplier
        "lean": rng.uniform(-0.08, 0.12),         # abdomen pitch (rad)
        "side": int(rng.integers(2)),             # 0 right, 1 left, where it applies
        "turn": rng.uniform(np.pi / 3, np.pi) * rng.choice([-1.0, 1.0]),
        "noise_amp": rng.uniform(0.01, 0.05, size=humanoid.N_HINGE),
        "noise_freq": rng.uniform(0.2, 1.2, size=(2, humanoid.N_HINGE)),
        "noise_phase": rng.uniform(0, 2 * np.pi, size=(2, humanoid.N_HINGE)),
        "arm_var": rng.normal(0.0, 0.08, size=(2, 3)),
    }
    return p


def _target(label: int, p: dict, T: int, fps: float):
    """Kinematic target of one clip: hinge angles (T, 21), yaw (T,), root xy (T, 2), lift (T,)."""
    t = np.arange(T) / fps
    ta = np.maximum(t - p["start"], 0.0)            # action time
    env = _smooth_step(ta / 0.4)                     # fade-in of the action
    j = np.zeros((T, humanoid.N_HINGE))
    yaw = np.zeros(T)
    xy = np.zeros((T, 2))
    lift = np.zeros(T)
    amp, spd, ph = p["amp"], p["speed"], p["phase"]
    relaxed = np.tile(ARM_RELAXED, (T, 1))
    _set_arm(j, "right", relaxed + p["arm_var"][0])
    _set_arm(j, "left", relaxed + p["arm_var"][1])
    j[:, _J["abdomen_y"]] = p["lean"] * env
    name = ACTION_CLASSES[label]
    if name == "walk":
        # duty factor beta: stance sweeps the hip linearly from -A to +A (foot planted, the body
        # moves over it at constant speed); swing brings it back with the knee bent
        P = 1.1 / spd
        A = 0.3 * amp
        beta = 0.6
        L = 0.78
        for side, off in (("right", 0.0), ("left", 0.5)):
            phi = np.mod(ta / P + ph / (2 * np.pi) + off, 1.0)
            st = phi < beta
            u = np.where(st, phi / beta, (phi - beta) / (1 - beta))
            hip_st = -A + 2 * A * u
            hip_sw = A - 2 * A * _smooth_step(u)
            hip = np.where(st, hip_st, hip_sw) * env - 0.05 * env
            knee = -(0.08 + np.where(st, 0.0, 1.1 * np.sin(np.pi * u))) * env
            _leg(j, side, hip, knee)
            arm = relaxed.copy()
            arm[:, 0] = ARM_RELAXED[0] + 0.8 * hip
            _set_arm(j, "left" if side == "right" else "right", arm + p["arm_var"][0 if side == "right" else 1])
        v = 2 * L * np.sin(A) / (beta * P)
        xy[:, 0] = np.cumsum(v * env) / fps
        xy[:, 0] -= xy[0, 0]
    elif name == "jog_in_place":
        P = 0.7 / spd
        w = 2 * np.pi / P
        B = 0.55 * amp
        for side, off in (("right", 0.0), ("left", np.pi)):
            s = np.maximum(0.0, np.sin(w * ta + ph + off)) * env
            _leg(j, side, -B * s, -1.6 * B * s)
            arm = ARM_RELAXED + np.array([0.0, 0.0, -0.2])
            arm = np.tile(arm, (T, 1))
            arm[:, 0] += 0.4 * np.sin(w * ta + ph + off) * env
            _set_arm(j, side, arm)
    elif name == "squat":
        P = 1.8 / spd
        depth = _smooth_step(0.5 - 0.5 * np.cos(2 * np.pi * ta / P)) * env
        hip = -1.1 * amp * depth
        knee = -1.9 * amp * depth
        for side in ("right", "left"):
            _leg(j, side, hip, knee, ankle_extra=0.0)
            j[:, _J[f"ankle_y_{side}"]] = np.clip(knee - hip, -0.85, 0.85)
            arm = np.tile(ARM_RELAXED, (T, 1))
            arm[:, 0] += -0.9 * depth
            _set_arm(j, side, arm)
        j[:, _J["abdomen_y"]] += -0.35 * depth
    elif name == "jump":
        # crouch (0.35 s), push off, flight, land, recover; once or twice
        tau = 0.22 + 0.12 * (amp - 0.75) / 0.4   # flight time (s)
        cycle = 1.25 / spd
        tc = np.mod(ta, cycle)
        crouch = np.exp(-0.5 * ((tc - 0.35) / 0.12) ** 2) + np.exp(-0.5 * ((tc - (0.6 + tau)) / 0.12) ** 2)
        crouch = crouch * env * (ta > 0)
        fl = (tc > 0.5) & (tc < 0.5 + tau) & (ta > 0)
        s = np.clip((tc - 0.5) / tau, 0, 1)
        lift = np.where(fl, 0.5 * 9.81 * tau ** 2 * s * (1 - s), 0.0)   # ballistic, peak g tau^2 / 8
        hip = -0.8 * crouch
        knee = -1.4 * crouch
        for side in ("right", "left"):
            push = np.exp(-0.5 * ((tc - 0.47) / 0.05) ** 2) * env * (ta > 0)
            _leg(j, side, hip, knee, ankle_extra=0.5 * push + 0.2 * fl)
            arm = np.tile(ARM_RELAXED, (T, 1))
            arm[:, 0] += 0.6 * crouch - 0.8 * fl
            _set_arm(j, side, arm)
        j[:, _J["abdomen_y"]] += -0.3 * crouch
    elif name in ("wave_right_hand", "wave_left_hand"):
        side = "right" if name == "wave_right_hand" else "left"
        raise_ = _smooth_step(ta / 0.5) * env
        f = (1.6 + 0.8 * (spd - 0.8) / 0.45)
        arm = ARM_RELAXED[None] * (1 - raise_[:, None]) + np.array([-1.3, 0.9, -0.4])[None] * raise_[:, None]
        arm[:, 1] += 0.35 * amp * np.sin(2 * np.pi * f * ta + ph) * raise_
        arm[:, 2] += -0.4 * amp * np.sin(2 * np.pi * f * ta + ph + 0.6) * raise_
        _set_arm(j, side, arm + p["arm_var"][0])
    elif name == "raise_both_arms":
        P = 2.0 / spd
        up = _smooth_step(0.5 - 0.5 * np.cos(2 * np.pi * ta / P + 0.0)) * env * amp / 1.15
        for k, side in enumerate(("right", "left")):
            arm = ARM_RELAXED[None] * (1 - up[:, None]) + ARM_UP[None] * up[:, None]
            _set_arm(j, side, arm + 0.5 * p["arm_var"][k])
    elif name == "turn_in_place":
        dur = max(T / fps - p["start"], 0.5)
        prog = _smooth_step(ta / dur)
        yaw = p["turn"] * prog
        P = 0.8 / spd
        w = 2 * np.pi / P
        moving = np.sin(np.pi * np.clip(ta / dur, 0, 1)) * env
        for side, off in (("right", 0.0), ("left", np.pi)):
            s = np.maximum(0.0, np.sin(w * ta + ph + off)) * moving
            _leg(j, side, -0.3 * amp * s, -0.6 * amp * s)
    elif name == "kick":
        side = "right" if p["side"] == 0 else "left"
        other = "left" if side == "right" else "right"
        cycle = 1.6 / spd
        tc = np.mod(ta, cycle)
        wind = np.exp(-0.5 * ((tc - 0.4) / 0.14) ** 2) * (ta > 0)
        sig = np.where(tc < 0.72, 0.1, 0.25)                   # fast kick, slow return
        kick = np.exp(-0.5 * ((tc - 0.72) / sig) ** 2) * (ta > 0)
        shift = env
        hip = (0.35 * wind - 1.1 * amp * kick) * env
        knee = (-1.2 * wind - 0.15 * kick - 0.5 * np.exp(-0.5 * ((tc - 1.0) / 0.15) ** 2)) * env
        _leg(j, side, hip, knee, hip_x=-0.05 * shift)
        _leg(j, other, np.full(T, -0.05) * env, np.full(T, -0.15) * env, hip_x=0.08 * shift)
        j[:, _J["abdomen_y"]] += 0.15 * kick * env
    else:  # pragma: no cover
        raise AssertionError(name)
    # smooth style noise on every hinge
    tt = t[:, None]
    noise = p["noise_amp"] * (np.sin(2 * np.pi * p["noise_freq"][0] * tt + p["noise_phase"][0])
                              + 0.5 * np.sin(2 * np.pi * p["noise_freq"][1] * tt + p["noise_phase"][1]))
    j = j + noise
    lo, hi = humanoid.info().joint_range.T
    j = np.clip(j, lo + 0.02, hi - 0.02)
    return j, yaw, xy, lift


def _yaw_quat(yaw):
    return np.stack([np.cos(yaw / 2), np.zeros_like(yaw), np.zeros_like(yaw), np.sin(yaw / 2)], -1)


def targets(labels, params: list, T: int, fps: float) -> np.ndarray:
    """Grounded kinematic targets (n, T, 28): root height put so the lowest body point touches
    the floor (plus the ballistic lift of jumps)."""
    from .kinematics import lowest_point

    n = len(labels)
    q = np.zeros((n, T, humanoid.NQ))
    lifts = np.zeros((n, T))
    for i, (lab, p) in enumerate(zip(labels, params)):
        j, yaw, xy, lift = _target(int(lab), p, T, fps)
        q[i, :, 7:] = j
        q[i, :, 3:7] = _yaw_quat(yaw)
        q[i, :, :2] = xy
        lifts[i] = lift
    low = lowest_point(q)
    q[..., 2] = -low + 0.0005 + lifts
    return q


# ----------------------------------------------------------------------------------------------
# seeds, labels, sampling
# ----------------------------------------------------------------------------------------------

def _clip_rng(seed: int, stream: int, i: int, attempt: int = 0) -> np.random.Generator:
    key = [int(seed), int(stream), int(i), 7] + ([int(attempt)] if attempt else [])
    return np.random.default_rng(np.random.SeedSequence(key))


def _labels_for(n: int, seed: int, stream: int) -> np.ndarray:
    """Balanced labels: each block of 9 consecutive clips is a random permutation of the classes,
    so a dataset of size n is a prefix of every larger one with the same seed and split."""
    K = len(ACTION_CLASSES)
    out = []
    for b in range((n + K - 1) // K):
        rng = np.random.default_rng(np.random.SeedSequence([int(seed), int(stream), b, 11]))
        out.append(rng.permutation(K))
    return np.concatenate(out)[:n].astype(np.int32) if n else np.zeros(0, np.int32)


def _check_T_fps(T, fps):
    T = check_int("T", T, 2)
    fps = check_positive("fps", fps)
    from .physics import substeps

    substeps(fps)
    return T, fps


#: Every clip of the dataset satisfies these bounds (the package's definition of valid, shared
#: with the corrector; see :data:`scsc_theory.motion.metrics.VALIDITY_THRESHOLDS`).
VALIDITY_THRESHOLDS = _metrics.VALIDITY_THRESHOLDS
#: A clip whose simulation misses a threshold is redrawn (new style parameters, same label) up to
#: this many times; the rare clip that still misses keeps its least-violating draw.
MAX_ATTEMPTS = 6


def _invalid(q, fps):
    score = _metrics.validity_score(q, fps=fps)
    return score > 0, score


def _simulate(labels, seed, stream, T, fps, n_threads=None):
    """Simulate the tracking of procedural targets; redraw clips that miss VALIDITY_THRESHOLDS."""
    from .physics import simulate_tracking

    labels = np.asarray(labels)

    def run(idx, attempt):
        params = [_clip_params(_clip_rng(seed, stream, i, attempt), int(labels[i])) for i in idx]
        tgt = targets(labels[idx], params, T, fps)
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)   # a diverged draw is redrawn below
            q, unstable = simulate_tracking(tgt, fps=fps, backend="rollout", n_threads=n_threads)
        q = canonicalize(q)
        bad, score = _invalid(q, fps)
        score = np.where(unstable, np.inf, score)
        return q, tgt, bad | unstable, score

    idx = np.arange(len(labels))
    q, tgt, bad, score = run(idx, 0)
    for attempt in range(1, MAX_ATTEMPTS):
        redo = np.flatnonzero(bad)
        if redo.size == 0:
            break
        q2, t2, bad2, score2 = run(redo, attempt)
        better = score2 < score[redo]
        q[redo[better]], tgt[redo[better]] = q2[better], t2[better]
        score[redo[better]] = score2[better]
        bad[redo] = np.where(better, bad2, bad[redo])
    if np.isinf(score).any():  # pragma: no cover - never seen with the shipped model
        raise RuntimeError(f"dataset simulation diverged {MAX_ATTEMPTS} times for clips {np.flatnonzero(np.isinf(score))[:10].tolist()}")
    return q, tgt


def sample_clips(labels, seed: int, *, T: int = 60, fps: float = 20.0, n_threads: int | None = None) -> np.ndarray:
    """Fresh true clips (n, T, 28) float32 for the given class ``labels`` (ints in [0, 9)).

    Draws from the same distribution as :func:`generate` but from its own seed stream ("fresh"),
    disjoint from the train and test streams: the idealized correction pi_gamma can sample the true
    motion distribution without limit. Deterministic in (labels, seed, T, fps).
    """
    labels = np.asarray(labels)
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise SCSCInputError(f"labels must be a 1-D integer array (got dtype {labels.dtype}, shape {labels.shape})")
    if labels.size and (labels.min() < 0 or labels.max() >= len(ACTION_CLASSES)):
        raise SCSCInputError(f"labels must lie in [0, {len(ACTION_CLASSES)}) (got {labels.min()}..{labels.max()})")
    seed = check_int("seed", seed, 0)
    T, fps = _check_T_fps(T, fps)
    if labels.size == 0:
        return np.zeros((0, T, humanoid.NQ), np.float32)
    q, _ = _simulate(labels, seed, SPLITS["fresh"], T, fps, n_threads)
    return q.astype(np.float32)


# ----------------------------------------------------------------------------------------------
# features
# ----------------------------------------------------------------------------------------------

def _quat_to_mat(q):
    import jax.numpy as jnp

    q = q / jnp.linalg.norm(q, axis=-1, keepdims=True)
    w, x, y, z = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    return jnp.stack([
        jnp.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], -1),
        jnp.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], -1),
        jnp.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], -1)], -2)


def _mat_to_quat(R):
    """Rotation matrices (..., 3, 3) -> unit quaternions (..., 4) wxyz with w >= 0 (branch-free)."""
    import jax.numpy as jnp

    m00, m11, m22 = R[..., 0, 0], R[..., 1, 1], R[..., 2, 2]
    cands = jnp.stack([
        jnp.stack([1 + m00 + m11 + m22, R[..., 2, 1] - R[..., 1, 2], R[..., 0, 2] - R[..., 2, 0], R[..., 1, 0] - R[..., 0, 1]], -1),
        jnp.stack([R[..., 2, 1] - R[..., 1, 2], 1 + m00 - m11 - m22, R[..., 0, 1] + R[..., 1, 0], R[..., 0, 2] + R[..., 2, 0]], -1),
        jnp.stack([R[..., 0, 2] - R[..., 2, 0], R[..., 0, 1] + R[..., 1, 0], 1 - m00 + m11 - m22, R[..., 1, 2] + R[..., 2, 1]], -1),
        jnp.stack([R[..., 1, 0] - R[..., 0, 1], R[..., 0, 2] + R[..., 2, 0], R[..., 1, 2] + R[..., 2, 1], 1 - m00 - m11 + m22], -1),
    ], -2)                                                   # (..., 4, 4); row k has 4 q_k^2 at k
    diag = jnp.stack([1 + m00 + m11 + m22, 1 + m00 - m11 - m22, 1 - m00 + m11 - m22, 1 - m00 - m11 + m22], -1)
    k = jnp.argmax(diag, axis=-1)
    row = jnp.take_along_axis(cands, k[..., None, None], axis=-2)[..., 0, :]
    q = row / jnp.linalg.norm(row, axis=-1, keepdims=True)
    return q * jnp.where(q[..., :1] < 0, -1.0, 1.0)


def _rotz(yaw):
    import jax.numpy as jnp

    c, s = jnp.cos(yaw), jnp.sin(yaw)
    z, o = jnp.zeros_like(yaw), jnp.ones_like(yaw)
    return jnp.stack([jnp.stack([c, -s, z], -1), jnp.stack([s, c, z], -1), jnp.stack([z, z, o], -1)], -2)


def root_features(qpos, fps: float = 20.0):
    """Pure jnp: qpos (..., T, 28) -> the first 31 features (everything but the foot contacts)."""
    import jax.numpy as jnp

    q = jnp.asarray(qpos, jnp.float32)
    R = _quat_to_mat(q[..., 3:7])
    yaw = jnp.arctan2(R[..., 1, 0], R[..., 0, 0])
    tilt = jnp.einsum("...ji,...jk->...ik", _rotz(yaw), R)     # Rz(-yaw) R
    six = jnp.concatenate([tilt[..., :, 0], tilt[..., :, 1]], -1)
    dp = q[..., 1:, :2] - q[..., :-1, :2]
    c, s = jnp.cos(yaw[..., :-1]), jnp.sin(yaw[..., :-1])
    v_loc = jnp.stack([c * dp[..., 0] + s * dp[..., 1], -s * dp[..., 0] + c * dp[..., 1]], -1) * fps
    dyaw = jnp.angle(jnp.exp(1j * (yaw[..., 1:] - yaw[..., :-1]))) * fps
    zeros2 = jnp.zeros(v_loc.shape[:-2] + (1, 2), v_loc.dtype)
    v_loc = jnp.concatenate([zeros2, v_loc], axis=-2)
    dyaw = jnp.concatenate([jnp.zeros(dyaw.shape[:-1] + (1,), dyaw.dtype), dyaw], axis=-1)
    return jnp.concatenate([q[..., 2:3], v_loc, dyaw[..., None], six, q[..., 7:]], -1)


_root_features_jit = jax.jit(root_features)


def features_to_qpos(features, fps: float = 20.0):
    """Pure jnp, exact inverse of :func:`qpos_to_features` for canonical clips.

    features (..., T, F >= 31) -> qpos (..., T, 28) float32; the tilt is re-orthonormalised
    (Gram-Schmidt), the path and heading are integrated from frame 0 at xy = 0, yaw = 0.
    """
    import jax.numpy as jnp

    f = jnp.asarray(features, jnp.float32)
    z = f[..., 0]
    v = f[..., 1:3] / fps
    yaw = jnp.cumsum(f[..., 3], axis=-1) / fps
    # (tiny offsets keep a degenerate generated 6-D vector finite; exact inputs are unaffected
    # beyond float32 rounding)
    a1 = f[..., 4:7] + jnp.array([1e-12, 0.0, 0.0], jnp.float32)
    a2 = f[..., 7:10] + jnp.array([0.0, 1e-12, 0.0], jnp.float32)
    b1 = a1 / jnp.maximum(jnp.linalg.norm(a1, axis=-1, keepdims=True), 1e-12)
    b2 = a2 - (b1 * a2).sum(-1, keepdims=True) * b1
    b2 = b2 / jnp.maximum(jnp.linalg.norm(b2, axis=-1, keepdims=True), 1e-12)
    b3 = jnp.cross(b1, b2)
    tilt = jnp.stack([b1, b2, b3], axis=-1)
    R = jnp.einsum("...ij,...jk->...ik", _rotz(yaw), tilt)
    quat = _mat_to_quat(R)
    yaw_prev = jnp.concatenate([jnp.zeros_like(yaw[..., :1]), yaw[..., :-1]], axis=-1)
    c, s = jnp.cos(yaw_prev), jnp.sin(yaw_prev)
    dx = c * v[..., 0] - s * v[..., 1]
    dy = s * v[..., 0] + c * v[..., 1]
    xy = jnp.stack([jnp.cumsum(dx, -1), jnp.cumsum(dy, -1)], -1)
    return jnp.concatenate([xy, z[..., None], quat, f[..., 10:31]], -1)


def qpos_to_features(qpos, contacts=None, fps: float = 20.0) -> np.ndarray:
    """qpos (n, T, 28) -> features (n, T, 33) float32 (layout in the module docstring).

    ``contacts`` (n, T, 2) may be given; otherwise it is computed by forward kinematics (a foot is
    in contact when its lowest point is below 0.05 m).
    """
    from .metrics import foot_contacts
    from .kinematics import check_qpos

    q = check_qpos(qpos, "qpos")
    if contacts is None:
        contacts = foot_contacts(q)
    base = np.asarray(_root_features_jit(q.astype(np.float32), fps))
    return np.concatenate([base, np.asarray(contacts, np.float32)], -1).astype(np.float32)


def canonicalize(qpos) -> np.ndarray:
    """Move each clip so frame 0 has root xy = (0, 0) and heading 0 (rotation about z), (n, T, 28)."""
    from .physics import _qmul

    q = np.array(qpos, dtype=np.float64)
    w, x, y, z = np.moveaxis(q[:, 0, 3:7], -1, 0)
    yaw0 = np.arctan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z))
    c, s = np.cos(-yaw0)[:, None], np.sin(-yaw0)[:, None]
    px = q[..., 0] - q[:, :1, 0]
    py = q[..., 1] - q[:, :1, 1]
    q[..., 0], q[..., 1] = c * px - s * py, s * px + c * py
    rz = np.stack([np.cos(-yaw0 / 2), 0 * yaw0, 0 * yaw0, np.sin(-yaw0 / 2)], -1)[:, None]
    q[..., 3:7] = _qmul(np.broadcast_to(rz, q[..., 3:7].shape), q[..., 3:7])
    return q


# ----------------------------------------------------------------------------------------------
# the dataset object and its generator
# ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class MotionDataset:
    """A labelled motion dataset.

    qpos:          (n, T, 28) float32 clips (root xyz m, root quaternion wxyz, 21 hinge angles rad)
    labels:        (n,) int32 action class indices into ``label_names``
    label_names:   tuple of the 9 class names (:data:`ACTION_CLASSES`)
    fps:           frames per second (20 by default)
    features:      (n, T, 33) float32 raw features (layout: :data:`FEATURE_LAYOUT`)
    feature_mean, feature_std: (33,) float32 statistics of ``features`` over all clips and frames
                   (std floored at 1e-2); use :meth:`normalize` / :meth:`denormalize`
    tracking_error: (n,) RMS hinge-angle gap (rad) between each clip and its procedural target
    split, seed:   how it was generated
    """

    qpos: np.ndarray
    labels: np.ndarray
    label_names: tuple
    fps: float
    features: np.ndarray
    feature_mean: np.ndarray
    feature_std: np.ndarray
    tracking_error: np.ndarray
    split: str
    seed: int
    meta: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.qpos.shape[0])

    @property
    def n_features(self) -> int:
        return N_FEATURES

    @property
    def features_normalized(self) -> np.ndarray:
        return self.normalize(self.features)

    def normalize(self, features):
        return (features - self.feature_mean) / self.feature_std

    def denormalize(self, features):
        return features * self.feature_std + self.feature_mean

    def qpos_to_features(self, qpos, contacts=None) -> np.ndarray:
        return qpos_to_features(qpos, contacts, fps=self.fps)

    def features_to_qpos(self, features):
        return features_to_qpos(features, fps=self.fps)

    def sample_clips(self, labels, seed: int) -> np.ndarray:
        """Fresh true clips for ``labels`` with this dataset's T and fps (see :func:`sample_clips`)."""
        return sample_clips(labels, seed, T=self.qpos.shape[1], fps=self.fps)


def _source_hash() -> str:
    from . import kinematics, metrics, physics

    h = hashlib.sha256()
    for mod in (humanoid, kinematics, metrics, physics):
        h.update(inspect.getsource(mod).encode())
    h.update(Path(__file__).read_bytes())
    h.update(humanoid.mjcf_text().encode())
    return h.hexdigest()


def cache_dir() -> Path:
    """:func:`scsc_theory.io.cache_dir` ($SCSC_CACHE, else ~/.cache/scsc_theory); datasets go in its ``motion/`` folder."""
    from ..io import cache_dir as _cache_dir

    return _cache_dir()


def cache_key(n, seed, split, T, fps) -> str:
    """Key of a dataset in the cache: changes when the generator source, the MJCF or the args change."""
    args = json.dumps({"n": n, "seed": seed, "split": split, "T": T, "fps": fps, "v": GENERATOR_VERSION}, sort_keys=True)
    return hashlib.sha256((_source_hash() + args).encode()).hexdigest()[:24]


def generate(n: int, seed: int = 0, *, split: str = "train", T: int = 60, fps: float = 20.0,
             cache: bool = True, n_threads: int | None = None) -> MotionDataset:
    """Generate (or load from the cache) ``n`` labelled, physically valid clips.

    The paper's training sizes are n = 64, 128, 256, 2794; ``split="test"`` draws a held-out set
    from a seed stream disjoint from the training stream (so ``generate(k, seed, split="test")``
    never repeats a training clip). Clip i depends only on (seed, split, i, T, fps): a smaller
    dataset is a prefix of a larger one. Cached as ``cache_dir()/motion/<key>.npz``.
    """
    n = check_int("n", n, 1)
    seed = check_int("seed", seed, 0)
    split = check_choice("split", split, ("train", "test"))
    T, fps = _check_T_fps(T, fps)
    path = cache_dir() / "motion" / f"{cache_key(n, seed, split, T, fps)}.npz"
    if cache and path.exists():
        z = np.load(path)
        qpos, labels, feats, terr = z["qpos"], z["labels"], z["features"], z["tracking_error"]
    else:
        labels = _labels_for(n, seed, SPLITS[split])
        q, tgt = _simulate(labels, seed, SPLITS[split], T, fps, n_threads)
        terr = np.sqrt(((q[..., 7:] - tgt[..., 7:]) ** 2).mean(axis=(1, 2)))
        qpos = q.astype(np.float32)
        feats = qpos_to_features(q, fps=fps)
        if cache:
            from ..io import write_npz

            write_npz(path, qpos=qpos, labels=labels, features=feats, tracking_error=terr)
    mean = feats.reshape(-1, N_FEATURES).mean(0).astype(np.float32)
    std = np.maximum(feats.reshape(-1, N_FEATURES).std(0), FEATURE_STD_FLOOR).astype(np.float32)
    return MotionDataset(qpos=qpos, labels=labels.astype(np.int32), label_names=ACTION_CLASSES, fps=float(fps),
                         features=feats, feature_mean=mean, feature_std=std, tracking_error=terr,
                         split=split, seed=seed, meta={"T": T, "cache_path": str(path)})


# ----------------------------------------------------------------------------------------------
# corruptions (for testing the corrector)
# ----------------------------------------------------------------------------------------------

CORRUPTIONS = ("foot_under_ground", "forearm_through_torso", "joint_beyond_limit", "teleport_root", "joint_noise")
#: The physics metric (:func:`.metrics.physics_violations`) each corruption breaks; "float_10cm"
#: (every frame lifted 0.10 m) is the floating test of the corrector.
CORRUPTION_METRIC = {"foot_under_ground": "ground_penetration", "forearm_through_torso": "self_penetration",
                     "joint_beyond_limit": "joint_limit", "teleport_root": "foot_skating",
                     "joint_noise": "foot_skating", "float_10cm": "floating"}


@functools.lru_cache(maxsize=1)
def _forearm_pose_cached() -> tuple:
    return tuple(_forearm_pose_search())


def _forearm_pose() -> np.ndarray:
    """Right-arm (shoulder1, shoulder2, elbow) that puts the forearm through the trunk (cached)."""
    return np.array(_forearm_pose_cached())


def _forearm_pose_search():
    """Right-arm (shoulder1, shoulder2, elbow) within limits that puts the forearm/hand deepest
    into the torso / waist / pelvis (grid search on the standing pose; deterministic)."""
    import itertools

    from .kinematics import forward_kinematics
    from .metrics import self_overlap

    inf = humanoid.info()
    names = inf.geom_names
    arm = [names.index(g) for g in ("lower_arm_right", "hand_right")]
    trunk = [names.index(g) for g in ("torso", "waist_upper", "waist_lower", "butt")]
    pairs = np.array([(a, b) for a in arm for b in trunk], dtype=np.int32)
    lo, hi = inf.joint_range[15:18].T
    grids = [np.linspace(l + 0.05, h - 0.05, 9) for l, h in zip(lo, hi)]
    combos = np.array(list(itertools.product(*grids)))
    q = np.tile(humanoid.stand_qpos(), (len(combos), 1))
    q[:, 7 + 15:7 + 18] = combos
    gp, ga, _, _ = forward_kinematics(q)
    ov = np.asarray(self_overlap(gp, ga, pairs=pairs))
    return combos[int(np.argmax(ov))]


def corrupt(qpos, kind: str, seed: int = 0) -> np.ndarray:
    """Corrupt clips (n, T, 28) -> (n, T, 28) float64 with one physical violation of type ``kind``.

    ``foot_under_ground``      every frame lowered so its lowest point (a foot) is 5 cm under the floor
    ``forearm_through_torso``  from T/4 on the right arm is posed so the forearm passes through the trunk
    ``joint_beyond_limit``     from T/4 on, the right knee hyperextended 0.5 rad beyond its limit
    ``teleport_root``          from T/2 on, the root jumps 0.5 m sideways in a random direction
    ``joint_noise``            i.i.d. N(0, 0.1^2) rad noise on every hinge angle of every frame
    Deterministic in ``seed``.
    """
    from .kinematics import check_qpos, lowest_point

    q = check_qpos(qpos, "qpos").copy()
    kind = check_choice("kind", kind, CORRUPTIONS)
    seed = check_int("seed", seed, 0)
    rng = np.random.default_rng(np.random.SeedSequence([seed, 99]))
    n, T, _ = q.shape
    if kind == "foot_under_ground":
        low = lowest_point(q)
        q[..., 2] -= low + 0.05
    elif kind == "forearm_through_torso":
        pose = _forearm_pose()
        w = _smooth_step((np.arange(T) - T // 4) / 3.0)[None, :, None]
        q[..., 7 + 15:7 + 18] = q[..., 7 + 15:7 + 18] * (1 - w) + pose * w
    elif kind == "joint_beyond_limit":
        k = 7 + _J["knee_right"]
        hi = humanoid.info().joint_range[_J["knee_right"], 1]
        w = _smooth_step((np.arange(T) - T // 4) / 3.0)[None, :]
        q[..., k] = q[..., k] * (1 - w) + (hi + 0.5) * w
    elif kind == "teleport_root":
        ang = rng.uniform(0, 2 * np.pi, size=n)
        d = 0.5 * np.stack([np.cos(ang), np.sin(ang)], -1)
        q[:, T // 2:, :2] += d[:, None]
    elif kind == "joint_noise":
        q[..., 7:] += rng.normal(0.0, 0.1, size=q[..., 7:].shape)
    return q
