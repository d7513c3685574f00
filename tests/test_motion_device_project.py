"""The corrector as one jit-compiled function on MJX (:mod:`scsc_theory.motion.device.project`) against
the host corrector with the MJX backend, and the fused selfcorrect generation of the loop.

Slow: compiling MJX rollouts with all contact pairs takes minutes on 2 CPU cores."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from scsc_theory.motion import controller, data, metrics, physics
from scsc_theory.motion.device import kinematics as dk
from scsc_theory.motion.device import project as dp

pytestmark = pytest.mark.slow
T = 12  # a short horizon: two physics engines (and float orders) agree over it (physics.BACKEND_TOLERANCE)


@pytest.fixture(scope="module")
def clips():
    """A true clip (valid), joint noise, a 10 cm float, and a 0.5 m root teleport (beyond 3 m/s)."""
    q = np.asarray(data.generate(4, seed=3, split="test").qpos[:, :T], np.float64)
    noisy = data.corrupt(q[1:2], "joint_noise", 0)
    float_ = q[2:3].copy()
    float_[..., 2] += 0.10
    tele = q[3:4].copy()
    tele[:, T // 2:, 0] += 0.5
    return np.concatenate([q[:1], noisy, float_, tele]).astype(np.float64)


@pytest.fixture(scope="module")
def both(clips):
    planner = jax.tree_util.tree_map(jnp.asarray, controller.planner(20.0))
    mx = dk.device_model()
    fn = jax.jit(lambda q: dp.correct(q, strength=1.0, fps=20.0, planner=planner, mx=mx))
    dev = jax.tree_util.tree_map(np.asarray, fn(jnp.asarray(clips, jnp.float32)))
    host = physics.correct(clips, backend="mjx", strength=1.0)
    return dev, host


def test_same_clips_are_corrected_and_valid_ones_are_fixed_points(clips, both):
    dev, host = both
    np.testing.assert_array_equal(dev.corrected, host.corrected)
    assert dev.corrected.tolist() == [False, True, True, True]
    np.testing.assert_array_equal(dev.qpos[0], clips[0].astype(np.float32))   # returned unchanged
    np.testing.assert_array_equal(dev.fallback, host.fallback)


def test_projection_agrees_with_the_host_within_the_backend_tolerance(clips, both):
    dev, host = both
    tol = physics.BACKEND_TOLERANCE
    assert np.abs(dev.qpos[..., 7:] - host.qpos[..., 7:]).max() < tol["joint_rad"]
    assert np.linalg.norm(dev.qpos[..., :3] - host.qpos[..., :3], axis=-1).max() < tol["root_m"]
    # and it repairs what it was given: the float lands, the teleport's jump is taken out
    # (over 12 frames the body starts 10 cm up and must fall first: the host repairs it to 0.23x, too)
    fl = [metrics.physics_violations(q[2:3].astype(np.float64))["floating"][0] for q in (clips, dev.qpos, host.qpos)]
    assert fl[1] < 0.3 * fl[0] and abs(fl[1] - fl[2]) < 0.1 * fl[0], fl
    speeds = np.linalg.norm(np.diff(dev.qpos[3, :, :2], axis=0), axis=-1) * 20.0
    assert speeds.max() < 3.0


def test_no_clip_to_correct_skips_the_simulation(clips):
    planner = jax.tree_util.tree_map(jnp.asarray, controller.planner(20.0))
    out = jax.jit(lambda q: dp.correct(q, strength=1.0, fps=20.0, planner=planner))(jnp.asarray(clips[:1], jnp.float32))
    np.testing.assert_array_equal(np.asarray(out.qpos), clips[:1].astype(np.float32))
    assert not bool(out.corrected[0]) and int(out.iteration[0]) == -1


def test_fused_selfcorrect_generation_runs_as_one_jitted_function(tmp_path):
    """The loop with the device corrector fuses the selfcorrect generation (sampling, MJX correction,
    fine-tuning), records its corrector fractions and the motion_device provenance."""
    from scsc_theory.diffusion import read_metrics_csv
    from scsc_theory.motion.device.generation import SOURCE_GROUP, build_device_loop, run_device_loop
    from scsc_theory.motion.loop import MotionLoopSettings

    s = MotionLoopSettings(n=4, lam=1.0, generations=1, seeds=(0,), preset="tiny", n_eval_train=128, n_ref=128,
                           backend="mjx", gen0_steps=20, steps_per_gen=4, arms=("selfcorrect",))
    ctx, loop = build_device_loop(s)
    assert loop._jittable("selfcorrect")
    info = run_device_loop(s, tmp_path / "run", progress=False, figures=False)
    rows = read_metrics_csv(tmp_path / "run" / "metrics.csv")
    assert {r["generation"] for r in rows} == {0, 1}
    assert all(np.isfinite(r["value"]) for r in rows)
    assert info["provenance"]["source_groups"] == [SOURCE_GROUP]
    assert info["corrector_this_call"]["calls"] >= 1
