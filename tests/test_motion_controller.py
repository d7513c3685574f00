"""The corrector's learned set-point planner: exact coordinates, and a tight projection of true clips."""
import numpy as np
import pytest

pytest.importorskip("mujoco")

from scsc_theory.motion import controller, data, humanoid, physics  # noqa: E402


def test_offsets_round_trip():
    """apply_offsets inverts offsets (joints inside their limits, root in the heading frame)."""
    q = data.generate(6, seed=3).qpos.astype(np.float64)
    rng = np.random.default_rng(0)
    u = q.copy()
    lo, hi = humanoid.info().joint_range.T
    u[..., 7:] = np.clip(q[..., 7:] + rng.normal(0, 0.05, q[..., 7:].shape), lo, hi)
    u[..., :3] += rng.normal(0, 0.02, q[..., :3].shape)
    u[..., 3:7] = physics._qnorm(u[..., 3:7] + rng.normal(0, 0.02, u[..., 3:7].shape))
    back = controller.apply_offsets(q, controller.offsets(q, u))
    np.testing.assert_allclose(back[..., :3], u[..., :3], atol=1e-12)
    np.testing.assert_allclose(back[..., 7:], u[..., 7:], atol=1e-12)
    same = np.sign((back[..., 3:7] * u[..., 3:7]).sum(-1, keepdims=True))
    np.testing.assert_allclose(back[..., 3:7] * same, u[..., 3:7], atol=1e-9)


def test_training_pairs_are_the_worlds_own():
    """A (clip, set point) pair: simulating the set points from the clip's start gives the clip back."""
    q, u = controller.training_pairs(4, 9, controller.FIT["stream"], 60, 20.0)
    sim, unstable = physics._simulate(u, 20.0, "rollout", None, start=q)
    assert not unstable.any()
    assert physics.tracking_errors(sim, q)[0].max() < 0.01


def test_projection_of_true_clips_is_tight():
    """Forced through the projection (validity gate bypassed), held-out true clips come back within
    issue 11's one-pass criteria: MPJPE <= 1 cm, joint RMS <= 0.01 rad, |root height change| <= 1 mm,
    torso tilt change <= 0.2 degrees, no falls. Plain tracking (the clip as its own set points) misses
    every one of them."""
    true = data.generate(27, seed=31, split="test").qpos.astype(np.float64)
    pr = physics.project(true)
    mp, je, _ = physics.tracking_errors(pr.qpos, true)
    assert not pr.fell_all.any() and not physics.fallen(pr.qpos).any()
    assert mp.mean() <= 0.01 and je.mean() <= 0.01
    assert abs((pr.qpos[..., 2] - true[..., 2]).mean()) <= 0.001
    assert abs((physics.torso_tilt(pr.qpos) - physics.torso_tilt(true)).mean()) <= 0.2
    plain, _ = physics._simulate(true, 20.0, "rollout", None, start=true)
    mp0, je0, _ = physics.tracking_errors(plain, true)
    assert mp0.mean() > 0.03 and je0.mean() > 0.03


def test_training_pairs_come_from_a_stream_of_their_own():
    """No dataset, held-out or fresh clip is ever a planner training pair."""
    assert controller.FIT["stream"] not in data.SPLITS.values()
    q, _ = controller.training_pairs(3, 0, controller.FIT["stream"], 60, 20.0)
    train = data.generate(3, seed=0).qpos.astype(np.float64)
    assert np.abs(q - train).max() > 0.1


def test_planner_is_fitted_once_and_cached():
    """The fitted planner is read back from the cache bit for bit (no refit)."""
    p = controller.planner(20.0)
    path = controller._cache_path(20.0)
    assert path.exists()
    back = controller._load(path)
    np.testing.assert_array_equal(back.linear, p.linear)
    for (W, b), (W2, b2) in zip(back.layers, p.layers):
        np.testing.assert_array_equal(W, W2)
        np.testing.assert_array_equal(b, b2)
