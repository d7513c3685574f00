"""The motion world's humanoid: one MuJoCo model shared by the dataset, the corrector and the metrics.

Where the model comes from
--------------------------
``assets/humanoid.xml`` is *vendored* (copied into the package with its Apache-2.0 licence,
``assets/LICENSE``) from mujoco-mjx 3.17.0's ``mujoco/mjx/test_data/humanoid/humanoid.xml``, the
MJX-tuned variant of dm_control's suite humanoid (DeepMind, Apache-2.0). Why vendored rather than
loaded from an installed package: the mujoco wheel ships no humanoid, the mjx copy is test data that
may move between releases, and dm_control is a heavy dependency that would be installed only for one
XML file. The file is never downloaded at run time. Why this humanoid: it uses only capsules and
spheres (collision pairs MJX supports), and it runs in both C MuJoCo and MJX.

Adaptations (documented at the top of the XML): implicitfast integrator, every body geom collides
with the floor and with non-adjacent body parts, position servos (PD) on the 21 hinge joints, and a
mocap body ``root_target`` plus six bounded site actuators that pull the torso toward it (the
residual root force of residual force control).

Coordinates: metres, radians, z up; qpos = [root xyz (3), root quaternion wxyz (4), 21 hinge angles].
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ASSET_DIR = Path(__file__).resolve().parent / "assets"
MJCF_PATH = ASSET_DIR / "humanoid.xml"

NQ = 28
NV = 27
N_HINGE = 21
#: Hinge joint names in qpos order (qpos[7 + i]).
JOINT_NAMES = (
    "abdomen_z", "abdomen_y", "abdomen_x",
    "hip_x_right", "hip_z_right", "hip_y_right", "knee_right", "ankle_y_right", "ankle_x_right",
    "hip_x_left", "hip_z_left", "hip_y_left", "knee_left", "ankle_y_left", "ankle_x_left",
    "shoulder1_right", "shoulder2_right", "elbow_right",
    "shoulder1_left", "shoulder2_left", "elbow_left",
)
JOINT_INDEX = {name: i for i, name in enumerate(JOINT_NAMES)}
#: Geoms that count as feet (for contact and skating metrics), per side.
FOOT_GEOMS = {"left": ("foot1_left", "foot2_left"), "right": ("foot1_right", "foot2_right")}

#: Bounds of the residual root wrench (the XML holds exactly these; the dataset and the corrector
#: share them): vertical force 200 N (0.49 of the 40.8 kg body weight), horizontal 60 N (0.15),
#: torque 100 N m per axis. Below body weight, so the residual cannot hold the body in the air.
ROOT_FORCE_BOUND = 200.0   # N, vertical
ROOT_FORCE_BOUND_XY = 60.0  # N, per horizontal axis
ROOT_TORQUE_BOUND = 100.0  # N m, per axis


@functools.lru_cache(maxsize=None)
def _base_model():
    import mujoco

    return mujoco.MjModel.from_xml_path(str(MJCF_PATH))


def load_model():
    """A fresh ``mujoco.MjModel`` of the humanoid at nominal gains (a copy: safe to modify)."""
    import copy

    return copy.deepcopy(_base_model())


def mjcf_text() -> str:
    """The MJCF source (used in cache keys so a model change invalidates cached datasets)."""
    return MJCF_PATH.read_text()


@dataclass(frozen=True)
class ModelInfo:
    """Static facts about the humanoid, as NumPy arrays (read once from the MjModel)."""

    joint_range: np.ndarray      # (21, 2) hinge limits, rad
    geom_names: tuple            # body geoms (floor excluded), in model order
    geom_ids: np.ndarray         # (G,) their MuJoCo ids
    geom_type: np.ndarray        # (G,) 0 = capsule, 1 = sphere
    geom_radius: np.ndarray      # (G,) m
    geom_halflen: np.ndarray     # (G,) capsule half length along local z, m (0 for spheres)
    geom_body: np.ndarray        # (G,) body id
    foot_geoms: np.ndarray       # (2, 2) indices into geom_ids: [left, right] x [foot1, foot2]
    self_pairs: np.ndarray       # (P, 2) indices into geom_ids of non-adjacent pairs
    hinge_act: np.ndarray        # (21,) actuator ids of the joint servos (qpos order)
    root_act: np.ndarray         # (6,) actuator ids of the root residual (fx fy fz tx ty tz)
    timestep: float              # s
    total_mass: float            # kg


@functools.lru_cache(maxsize=None)
def info() -> ModelInfo:
    """Geometry, limits, collision pairs and actuator ids of the humanoid (cached)."""
    import mujoco

    m = _base_model()
    jr = np.array([m.jnt_range[m.joint(n).id] for n in JOINT_NAMES])
    floor = m.geom("floor").id
    gids = [g for g in range(m.ngeom) if g != floor]
    names = tuple(m.geom(g).name for g in gids)
    gtype = []
    for g in gids:
        t = m.geom_type[g]
        if t == mujoco.mjtGeom.mjGEOM_CAPSULE:
            gtype.append(0)
        elif t == mujoco.mjtGeom.mjGEOM_SPHERE:
            gtype.append(1)
        else:  # pragma: no cover - the vendored model only has these two
            raise RuntimeError(f"unsupported geom type {t} for geom {m.geom(g).name}")
    radius = np.array([m.geom_size[g, 0] for g in gids])
    halflen = np.array([m.geom_size[g, 1] if t == 0 else 0.0 for g, t in zip(gids, gtype)])
    gbody = np.array([m.geom_bodyid[g] for g in gids])
    feet = np.array([[names.index(n) for n in FOOT_GEOMS[s]] for s in ("left", "right")])
    # Non-adjacent pairs, with the same rule MuJoCo's collision filter uses for this model:
    # different bodies, not parent and child, not excluded in <contact>.
    excluded = set()
    for e in range(m.nexclude):
        b1, b2 = m.exclude_signature[e] >> 16, m.exclude_signature[e] & 0xFFFF
        excluded.add((min(b1, b2), max(b1, b2)))
    pairs = []
    for i in range(len(gids)):
        for j in range(i + 1, len(gids)):
            bi, bj = gbody[i], gbody[j]
            if bi == bj or m.body_parentid[bi] == bj or m.body_parentid[bj] == bi:
                continue
            if (min(bi, bj), max(bi, bj)) in excluded:
                continue
            pairs.append((i, j))
    hinge_act = np.array([m.actuator(n).id for n in JOINT_NAMES])
    root_act = np.array([m.actuator(n).id for n in ("root_fx", "root_fy", "root_fz", "root_tx", "root_ty", "root_tz")])
    return ModelInfo(
        joint_range=jr, geom_names=names, geom_ids=np.array(gids), geom_type=np.array(gtype),
        geom_radius=radius, geom_halflen=halflen, geom_body=gbody, foot_geoms=feet,
        self_pairs=np.array(pairs, dtype=np.int32), hinge_act=hinge_act, root_act=root_act,
        timestep=float(m.opt.timestep), total_mass=float(m.body_subtreemass[m.body("torso").id]),
    )


def stand_qpos() -> np.ndarray:
    """The neutral standing pose (root at 1.282 m, identity orientation, all hinges 0), (28,)."""
    return np.array(_base_model().key_qpos[0], dtype=np.float64)
