"""The corrector as one jit-compiled function (:mod:`scsc_theory.motion.device.project`) against the
host corrector: its rules exactly, with one deterministic stand-in simulator for both (float64), and,
on MJX, the projection itself and the fused selfcorrect generation of the loop (slow: compiling MJX
rollouts with all contact pairs takes minutes on 2 CPU cores)."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from scsc_theory.motion import controller, data, metrics, physics
from scsc_theory.motion.device import kinematics as dk
from scsc_theory.motion.device import project as dp

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


@pytest.mark.slow
def test_same_clips_are_corrected_and_valid_ones_are_fixed_points(clips, both):
    dev, host = both
    np.testing.assert_array_equal(dev.corrected, host.corrected)
    assert dev.corrected.tolist() == [False, True, True, True]
    np.testing.assert_array_equal(dev.qpos[0], clips[0].astype(np.float32))   # returned unchanged
    np.testing.assert_array_equal(dev.fallback, host.fallback)


@pytest.mark.slow
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


@pytest.mark.slow
def test_no_clip_to_correct_skips_the_simulation(clips, monkeypatch):
    """A batch of valid clips never reaches the simulator (the projection sits behind ``lax.cond``)."""
    calls = []
    real = dp.simulate

    def counting(*a, **k):
        calls.append(1)
        return real(*a, **k)

    monkeypatch.setattr(dp, "simulate", counting)
    planner = jax.tree_util.tree_map(jnp.asarray, controller.planner(20.0))
    fn = jax.jit(lambda q: dp.correct(q, strength=1.0, fps=20.0, planner=planner))
    out = fn(jnp.asarray(clips[:1], jnp.float32))
    np.testing.assert_array_equal(np.asarray(out.qpos), clips[:1].astype(np.float32))
    assert not bool(out.corrected[0]) and int(out.iteration[0]) == -1
    # traced into both branches of the cond, so the simulator appears in the program ...
    assert len(calls) == 2
    jaxpr = str(jax.make_jaxpr(lambda q: dp.correct(q, strength=1.0, fps=20.0, planner=planner))(
        jnp.asarray(clips[:1], jnp.float32)))
    assert "cond" in jaxpr


# ----- the rules, exactly: one deterministic stand-in simulator for the host and the device ---------
def _stand_in(xp, setpoint, start):
    """A deterministic 'simulator' written once for NumPy and jnp: the clip's kind is its first root x
    / 100 (0 tracks with a lag and a sag, 1 falls at the last frame, 2 diverges, 3 leans 25 degrees,
    4 falls like its input; any clip whose set points jump faster than 3 m/s falls). Returns (qpos,
    unstable)."""
    kind = xp.round(start[:, 0, 0] / 100.0)[:, None, None]
    joints = 0.7 * setpoint[..., 7:] + 0.3 * start[..., 7:]
    z = setpoint[..., 2:3] - 0.01
    T_ = setpoint.shape[1]
    last = (xp.arange(T_) == T_ - 1)[None, :, None]
    step = xp.sqrt(((setpoint[:, 1:, :2] - setpoint[:, :-1, :2]) ** 2).sum(-1)).max(-1) * 20.0
    follows_jump = (step > 3.0)[:, None, None]      # tracking a teleport falls (the second set does not)
    z = xp.where(((kind == 1) | (kind == 4) | follows_jump) & last, 0.3, z)
    h = np.radians(25.0) / 2
    lean = xp.asarray(np.array([np.cos(h), np.sin(h), 0.0, 0.0]))
    q = start[..., 3:7]   # the lean is about the input's orientation: learning control cannot undo it
    w1, x1, y1, z1 = lean
    w2, x2, y2, z2 = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    rolled = xp.stack([w1 * w2 - x1 * x2 - y1 * y2 - z1 * z2, w1 * x2 + x1 * w2 + y1 * z2 - z1 * y2,
                       w1 * y2 - x1 * z2 + y1 * w2 + z1 * x2, w1 * z2 + x1 * y2 - y1 * x2 + z1 * w2], -1)
    quat = xp.where(kind == 3, rolled, setpoint[..., 3:7])
    quat = quat / xp.sqrt((quat ** 2).sum(-1, keepdims=True))
    out = xp.concatenate([setpoint[..., :2], z, quat, joints], -1)
    return out, kind[:, 0, 0] == 2


def test_rules_match_the_host_exactly_with_one_stand_in_simulator(monkeypatch):
    """Gate, rollout ranking (fall, lean, divergence, validity penalty, MPJPE), the second set for a
    teleport, fall-back and keep-rollout-0, compared field by field with the host in float64."""
    ds = data.generate(6, seed=5, split="test")
    q = data.corrupt(np.asarray(ds.qpos[:, :T], np.float64), "joint_noise", 1)   # every clip invalid
    q[4, 5:, 2] = 0.4                          # kind 4: the input itself falls
    q[5, T // 2:, 0] += 0.5                    # kind 0 with a teleport: the second set runs
    kinds = np.array([0, 1, 2, 3, 4, 0])
    q[..., 0] += 100.0 * kinds[:, None]
    monkeypatch.setattr(physics, "_simulate", lambda ref, fps, backend, n_threads, start=None:
                        _stand_in(np, ref, ref if start is None else start))
    monkeypatch.setattr(dp, "simulate", lambda sp, fps, start, mx=None: _stand_in(jnp, sp, start))
    host = physics.correct(q, backend="rollout")
    with jax.enable_x64(True):
        planner = jax.tree_util.tree_map(jnp.asarray, controller.planner(20.0))
        mx = dk.device_model()
        dev = jax.tree_util.tree_map(np.asarray, jax.jit(
            lambda x: dp.correct(x, strength=1.0, fps=20.0, planner=planner, mx=mx))(q))
    assert host.corrected.all() and host.fallback.tolist() == [False, True, True, True, False, False]
    assert host.iteration[4] == 0 and host.iteration[5] >= physics.ILC_ITERATIONS + 1   # kept from the second set
    for f in ("corrected", "fallback", "iteration", "unstable"):
        np.testing.assert_array_equal(getattr(dev, f), getattr(host, f), err_msg=f)
    # the host plans the second set for the teleporting clip alone, the device for the whole batch: the
    # planner's float32 MLP rounds a batch of another size differently (measured 4e-8 here)
    np.testing.assert_allclose(dev.qpos[:5], host.qpos[:5], atol=1e-9, rtol=0)
    np.testing.assert_allclose(dev.qpos[5], host.qpos[5], atol=1e-6, rtol=0)
    np.testing.assert_allclose(dev.tracking_error, host.tracking_error, atol=1e-7, rtol=0)


@pytest.mark.slow
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


@pytest.mark.slow
def test_chunked_rollout_is_the_batched_one(clips):
    """Simulating the batch in chunks (the CPU default, a deadlock workaround) gives each clip's
    trajectory of the all-at-once rollout."""
    from scsc_theory.motion.device import plan as pl

    q = jnp.asarray(clips[:, :6], jnp.float32)
    p = pl.plan_controls(q, 20.0)
    sub = physics.substeps(20.0)
    whole = jax.jit(lambda p: dp.rollout(p, 6, sub, chunk=4))(p)
    parts = jax.jit(lambda p: dp.rollout(p, 6, sub, chunk=3))(p)
    np.testing.assert_allclose(np.asarray(parts), np.asarray(whole), atol=1e-4, rtol=0)
