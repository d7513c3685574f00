"""Physics metrics: exact geometry and units on hand-made poses."""
import numpy as np
import pytest

pytest.importorskip("mujoco")

from scsc_theory._validate import SCSCInputError  # noqa: E402
from scsc_theory.motion import humanoid, metrics, physics  # noqa: E402


def _standing(T=20):
    q = humanoid.stand_qpos()
    q[2] -= physics.lowest_point(q[None])[0]
    return np.tile(q, (1, T, 1))


def test_segment_distance_matches_brute_force():
    rng = np.random.default_rng(0)
    p1, q1, p2, q2 = (rng.normal(size=(100, 3)) for _ in range(4))
    q2[:20] = p2[:20]                      # degenerate: point vs segment
    q1[20:30], q2[20:30] = p1[20:30], p2[20:30]
    s = np.linspace(0, 1, 301)
    a = p1[:, None] + (q1 - p1)[:, None] * s[None, :, None]
    b = p2[:, None] + (q2 - p2)[:, None] * s[None, :, None]
    brute = np.linalg.norm(a[:, :, None] - b[:, None], axis=-1).min(axis=(1, 2))
    import jax

    got = np.asarray(jax.jit(metrics.segment_distance)(p1, q1, p2, q2))
    assert (got <= brute + 1e-6).all()
    np.testing.assert_allclose(got, brute, atol=1e-2)


def test_standing_pose_has_no_violations():
    v = metrics.physics_violations(_standing())
    for k, x in v.items():
        assert x.shape == (1,) and x[0] == pytest.approx(0.0, abs=1e-9), k


def test_ground_penetration_and_floating_units():
    q = _standing()
    down = q.copy(); down[..., 2] -= 0.05
    up = q.copy(); up[..., 2] += 0.10
    v = metrics.physics_violations(np.concatenate([down, up]), tol=0.005)
    assert v["ground_penetration"][0] == pytest.approx(0.045, abs=2e-5)
    assert v["floating"][1] == pytest.approx(0.095, abs=2e-5)
    assert v["ground_penetration"][1] == 0 and v["floating"][0] == 0


def test_free_fall_is_not_floating():
    q = _standing(T=21)
    t = np.arange(21) / 20.0
    q[0, :, 2] += 1.0 - 0.5 * 9.81 * t ** 2 * (t <= 0.45) - (1 - 0.5 * 9.81 * 0.45 ** 2) * 0  # falling from 1 m
    q[0, :, 2] = np.maximum(q[0, :, 2], q[0, 0, 2] - 1.0 + 0.0)
    v = metrics.physics_violations(q[:, :9])   # frames 0..8: ballistic only
    assert v["floating"][0] == pytest.approx(0.0, abs=1e-9)


def test_foot_skating_units():
    q = _standing(T=21)
    q[0, :, 0] += np.arange(21) / 20.0 * 1.0          # slide at 1 m/s with feet on the floor
    v = metrics.physics_violations(q, skate_speed=0.5)
    assert v["foot_skating"][0] == pytest.approx(0.5, abs=2e-5)
    assert metrics.physics_violations(q, skate_speed=1.5)["foot_skating"][0] == 0


def test_root_speed_is_the_peak_horizontal_root_speed():
    slide = _standing(T=121)
    slide[0, :, 0] += np.arange(121) / 20.0 * 1.0       # 1 m/s throughout
    jump = _standing(T=121)
    jump[0, 60:, 1] += 0.5                               # one 0.5 m jump between frames 59 and 60: 10 m/s
    v = metrics.physics_violations(np.concatenate([slide, jump]))
    assert v["root_speed"][0] == pytest.approx(1.0, abs=1e-4)
    assert v["root_speed"][1] == pytest.approx(10.0, abs=1e-3)
    # the mean-based skating bound lets the single jump through (one pair in 120); the peak does not
    assert v["foot_skating"][1] < metrics.VALIDITY_THRESHOLDS["foot_skating"]
    assert metrics.validity_score(jump)[0] > 0
    assert metrics.validity_score(jump, scale=10.0 / 3.0 + 0.01)[0] == 0


def test_joint_limit_and_self_penetration():
    q = _standing(T=4)
    k = 7 + humanoid.JOINT_INDEX["knee_right"]
    q[0, :, k] = humanoid.info().joint_range[humanoid.JOINT_INDEX["knee_right"], 1] + 0.3
    v = metrics.physics_violations(q, joint_tol=0.01)
    assert v["joint_limit"][0] == pytest.approx(0.29, abs=2e-5)
    from scsc_theory.motion.data import _forearm_pose

    q2 = _standing(T=4)
    q2[0, :, 7 + 15:7 + 18] = _forearm_pose()
    assert metrics.physics_violations(q2)["self_penetration"][0] > 0.03


@pytest.mark.parametrize("bad, msg", [
    (np.zeros((2, 10, 27)), "nq = 28"),
    (np.zeros((10, 28)), "shape"),
    (np.zeros((2, 1, 28)), "T = 2"),
    (np.zeros((2, 10, 28), dtype=np.int64), "floating dtype"),
    ("not an array", "floating dtype|shape"),
])
def test_bad_input_is_named(bad, msg):
    with pytest.raises(SCSCInputError, match=msg):
        metrics.physics_violations(bad)


def test_nan_and_inf_are_named():
    q = _standing(T=5)
    q[0, 3, 10] = np.nan
    with pytest.raises(SCSCInputError, match="NaN or infinite.*clip 0, frame 3"):
        metrics.physics_violations(q)
    q[0, 3, 10] = np.inf
    with pytest.raises(SCSCInputError, match="NaN or infinite"):
        metrics.physics_violations(q)


def test_foot_skating_needs_contact_in_both_frames_of_a_pair():
    """A foot counts as in contact for a frame pair only when it is low in BOTH frames: a foot that
    lifts off (or touches down) between the two frames does not skate."""
    T = 5
    xy = np.zeros((1, T, 2, 2))
    xy[0, :, :, 0] = (np.arange(T) / 20.0)[:, None] * 1.0  # both feet move at 1 m/s
    low = np.full((1, T, 2), 0.01)
    low[0, 2, 0] = 0.2            # left foot lifted in frame 2 only: pairs (1,2), (2,3) are not in contact
    low[0, :, 1] = [0.01, 0.2, 0.01, 0.2, 0.01]   # right foot alternates: no pair is in contact
    got = float(metrics.foot_skating(xy, low, fps=20.0, contact_height=0.05, skate_speed=0.5)[0])
    # left foot: pairs (0,1) and (3,4) in contact, each 0.5 m/s over threshold; 8 (pair, foot) cells
    assert got == pytest.approx(2 * 0.5 / 8, abs=1e-6)
    low_all = np.full((1, T, 2), 0.01)
    assert float(metrics.foot_skating(xy, low_all, fps=20.0)[0]) == pytest.approx(0.5, abs=1e-6)
