"""Kinematics against closed forms: rigid moves of a clip, lowest point, clip validation."""
import numpy as np
import pytest

pytest.importorskip("mujoco")

from scsc_theory._validate import SCSCInputError  # noqa: E402
from scsc_theory.motion import humanoid, kinematics  # noqa: E402


def _clip(T=5):
    q = np.repeat(humanoid.stand_qpos()[None, None], T, axis=1).astype(np.float64)
    q[0, :, 7:] += 0.05 * np.sin(np.arange(T))[:, None]      # some joint motion
    return q


def test_translation_moves_every_body_by_the_offset():
    a = _clip()
    v = np.array([0.03, -0.04, 0.12])                        # |v| = 0.13 m
    b = a.copy()
    b[..., :3] += v
    mpjpe, jrms, root = kinematics.tracking_errors(b, a)
    np.testing.assert_allclose(mpjpe, np.linalg.norm(v), rtol=1e-9)
    np.testing.assert_allclose(root, np.linalg.norm(v), rtol=1e-9)
    np.testing.assert_allclose(jrms, 0.0, atol=1e-15)
    # lifting the clip lifts its lowest point by the same height
    np.testing.assert_allclose(kinematics.lowest_point(b) - kinematics.lowest_point(a), v[2], atol=1e-9)


def test_joint_offset_gives_its_rms_and_moves_no_root():
    a = _clip()
    b = a.copy()
    b[..., 7:] += 0.02
    mpjpe, jrms, root = kinematics.tracking_errors(b, a)
    np.testing.assert_allclose(jrms, 0.02, rtol=1e-9)
    np.testing.assert_allclose(root, 0.0, atol=1e-15)
    assert 0 < mpjpe[0] < 0.02 * 1.0          # bodies move by less than angle x limb length (< 1 m)


@pytest.mark.parametrize("angle", [0.0, 0.7, np.pi / 2, 2.5, np.pi])
def test_lowest_point_is_the_lowest_capsule_surface(angle):
    q = humanoid.stand_qpos()[None].astype(np.float64)
    q[0, 3:7] = [np.cos(angle / 2), np.sin(angle / 2), 0.0, 0.0]     # tilted about x, up to upside down
    q[0, 7:] = np.linspace(-0.4, 0.4, 21)
    gpos, gaxis = kinematics.geom_poses(q)
    inf = humanoid.info()
    # brute force: sample points on every capsule's axis and subtract the radius
    s = np.linspace(-1, 1, 201)
    ends = gpos[0, :, None, :] + s[None, :, None] * inf.geom_halflen[:, None, None] * gaxis[0, :, None, :]
    brute = (ends[..., 2] - inf.geom_radius[:, None]).min()
    np.testing.assert_allclose(kinematics.lowest_point(q)[0], brute, atol=1e-9)


@pytest.mark.parametrize("bad, words", [
    (np.zeros((2, 5, 27)), "nq = 28"),
    (np.zeros((5, 28)), "shape (n_clips, T, 28)"),
    (np.zeros((1, 1, 28)), "T = 2"),
    (np.full((1, 3, 28), np.nan), "NaN"),
    (np.zeros((1, 3, 28)), "zero root quaternion"),
    (np.zeros((1, 3, 28), dtype=np.int32), "floating dtype"),
])
def test_check_qpos_names_the_problem(bad, words):
    with pytest.raises(SCSCInputError, match=words.replace("(", r"\(").replace(")", r"\)")):
        kinematics.check_qpos(bad)
