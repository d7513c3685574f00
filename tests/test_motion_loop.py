"""The motion diffusion self-consuming loop (scsc_theory.motion.loop): wiring with the real motion
world, the evaluator's sanity, the CLI's validation and an end-to-end resume on the tiny preset."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

pytest.importorskip("mujoco")

from scsc_theory._validate import SCSCInputError
from scsc_theory.diffusion import read_metrics_csv
from scsc_theory.diffusion.loop import training_set
from scsc_theory.motion.loop import (DATA_SEED_OFFSET, MotionLoopSettings, build, run_motion_loop, world_clips)
from scsc_theory.motion.model import GeometricLoss, MotionDenoiser, PRESETS, get_preset

SMALL = dict(n=16, lam=1.0, generations=1, seeds=(0,), preset="tiny", n_eval_train=128, n_ref=128,
             gen0_steps=20, steps_per_gen=4)


ALL4 = MotionLoopSettings(**SMALL, arms=("baseline", "selfconsume", "selfcorrect", "ideal"))


@pytest.fixture(scope="module")
def built():
    return build(ALL4)  # the evaluator is cached (by a hash of its data and settings) across runs


def test_settings_validation_names_the_parameter():
    with pytest.raises(SCSCInputError, match="preset"):
        MotionLoopSettings(preset="huge").validate()
    with pytest.raises(SCSCInputError, match="arms"):
        MotionLoopSettings(arms=("selfconsume", "nope")).validate()
    with pytest.raises(SCSCInputError, match="strength"):
        MotionLoopSettings(strength=2.0).validate()
    with pytest.raises(SCSCInputError, match="lam"):
        MotionLoopSettings(lam=-1.0).validate()
    with pytest.raises(SCSCInputError, match="generations"):
        MotionLoopSettings(generations=-1).validate()


def test_presets_state_reductions():
    assert PRESETS["paper"].diffusion_steps == 1000 and PRESETS["paper"].sample_steps == 1000
    assert PRESETS["paper"].steps_per_gen == 1000 and PRESETS["paper"].gen0_steps == 5000
    assert PRESETS["paper"].batch_size == 64 and PRESETS["paper"].lr == 1e-4
    text = get_preset("cpu").reductions()
    assert "reduced" in text and "fine-tuning steps per generation" in text


@pytest.mark.parametrize("unroll", [False, True])
def test_scanned_encoder_is_the_layer_by_layer_stack(unroll):
    """The stacked blocks under one lax.scan compute block L-1(... block 0(h)), with block i initialised
    from key i exactly as a lone _Block; rolled and unrolled scans are the same function."""
    from scsc_theory.diffusion.nets import timestep_embedding
    from scsc_theory.motion.model import _Block, _dense, _layer_norm, _sinusoid_positions

    key = jax.random.PRNGKey(3)
    m = MotionDenoiser(60, 33, 9, d_model=32, layers=3, heads=2, ff=64, patch=5, unroll_layers=unroll, key=key)
    assert m.layers == 3 and m.blocks.ff1.weight.shape == (3, 64, 32)
    lone = _Block(32, 2, 64, key=jax.random.split(key, 3 + 4)[4 + 2])
    for a, b in zip(jax.tree_util.tree_leaves(lone), jax.tree_util.tree_leaves(m.block(2))):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    x = np.random.default_rng(1).normal(size=(60, 33)).astype(np.float32)
    tok = _dense(m.in_proj, x.reshape(12, 5 * 33))
    h = jnp.concatenate([(m.t_mlp(timestep_embedding(17, 32)) + m.label_emb(4))[None], tok]) + _sinusoid_positions(13, 32)
    for i in range(m.layers):
        h = m.block(i)(h)
    want = _dense(m.out_proj, _layer_norm(m.ln_out, h[1:])).reshape(60, 33)
    got = eqx.filter_jit(m)(x, 17, 4)
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), atol=2e-5)


def test_denoiser_shapes_and_geometric_loss():
    m = MotionDenoiser(60, 33, 9, d_model=32, layers=1, heads=2, ff=64, patch=5, key=jax.random.PRNGKey(0))
    out = eqx.filter_jit(m)(np.zeros((60, 33), np.float32), 10, 9)
    assert out.shape == (60, 33)
    with pytest.raises(SCSCInputError, match="patch"):
        MotionDenoiser(60, 33, 9, patch=7, key=jax.random.PRNGKey(0))
    x = np.random.default_rng(0).normal(size=(60, 33)).astype(np.float32)
    gl = GeometricLoss(w_vel=1.0, w_foot=1.0, foot_idx=(31, 32))
    # closed form: target still (foot columns constant), prediction's feet moving 0.1 per frame
    tgt = np.zeros((60, 33), np.float32)
    pred = tgt.copy()
    pred[:, 31:33] = 0.1 * np.arange(60)[:, None]
    want = 1.0 * (2 * 0.1 ** 2 / 33) + 1.0 * 0.1 ** 2  # velocity term over 33 features + foot term on 2
    assert float(gl(pred, tgt)) == pytest.approx(want, rel=1e-5)
    # a target whose feet move fast is not in contact: only the velocity term remains
    assert float(gl(pred, pred + 0.0)) == 0.0
    assert float(gl(tgt, pred)) == pytest.approx(2 * 0.1 ** 2 / 33, rel=1e-5)
    assert float(GeometricLoss(w_vel=1.0)(x, x)) == 0.0
    assert float(GeometricLoss(w_vel=1.0)(x + np.arange(60)[:, None], x)) > 0.5


def test_fid_true_vs_true_near_zero_noise_large(built):
    ctx, loop = built
    x_train, _ = loop.real_fn(0)
    xt, _, _ = world_clips(64, 99, "test")
    ev = ctx.evaluator
    fid_true = ev.fid(ctx.norm.fwd(xt))
    fid_train = ev.fid(x_train)
    fid_noise = ev.fid(np.random.default_rng(0).normal(size=(64,) + x_train.shape[1:]))
    assert fid_true < 0.05 * fid_noise and fid_train < 0.1 * fid_noise
    assert fid_true < 1.5 and fid_noise > 10


def test_selfcorrect_trains_on_corrected_clips_selfconsume_on_raw(built):
    """The motion world's physics corrector is what selfcorrect trains on; selfconsume gets the raw clips."""
    from scsc_theory.motion import metrics

    ctx, loop = built
    cfg = loop.cfg
    x_real, y_real = loop.real_fn(0)
    rng = np.random.default_rng(1)
    raw = x_real + 0.8 * rng.normal(size=x_real.shape).astype(np.float32)  # "samples" with artefacts
    lab = y_real
    xs, _ = training_set("selfconsume", cfg, x_real, y_real, raw, lab, loop.correct_fn, loop.ideal_fn, 1, 0)
    xc, _ = training_set("selfcorrect", cfg, x_real, y_real, raw, lab, loop.correct_fn, loop.ideal_fn, 1, 0)
    xb, _ = training_set("baseline", cfg, x_real, y_real, raw, lab, loop.correct_fn, loop.ideal_fn, 1, 0)
    n, m = cfg.n, cfg.m
    assert xb.shape[0] == n and xs.shape[0] == xc.shape[0] == n + m
    np.testing.assert_array_equal(np.asarray(xs[n:]), raw[:m])
    assert not np.allclose(np.asarray(xc[n:]), raw[:m])
    # where the corrector applied its projection the physics is repaired; where every rollout fell or
    # leaned (measured: 3 in 4 of these very noisy clips) the raw sample is what selfcorrect trains on
    from scsc_theory.motion import physics

    c = physics.correct(ctx.to_qpos(raw[:m]), fps=ctx.fps)
    kept = c.fallback
    assert 0 < kept.sum() < m
    np.testing.assert_array_equal(np.asarray(xc[n:])[kept], raw[:m][kept])
    v_raw = metrics.summarize(metrics.physics_violations(ctx.to_qpos(raw[:m][~kept]), fps=ctx.fps))
    v_cor = metrics.summarize(metrics.physics_violations(ctx.to_qpos(np.asarray(xc[n:])[~kept]), fps=ctx.fps))
    bad = lambda v: v["ground_penetration"] + v["floating"] + v["joint_limit"] + v["foot_skating"]
    assert bad(v_cor) < 0.5 * bad(v_raw)


def test_ideal_fn_gives_true_clips(built):
    ctx, loop = built
    lab = np.array([0, 1, 2, 3] * 8)
    fresh = loop.ideal_fn(lab, jax.random.PRNGKey(0))
    assert fresh.shape == (32, ctx.n_frames, ctx.n_feats)
    assert ctx.evaluator.accuracy(fresh, lab) > 0.8


def test_tiny_loop_end_to_end_and_resume_identical(tmp_path, built, monkeypatch):
    """Run uninterrupted; run again stopping after 3 units, then resume with a new driver: same CSV.
    The first run's code record is taken before any work (a source edit during the run must not
    re-label it) and written to the run folder when it starts (a resume by other code is refused)."""
    from scsc_theory.motion import loop as L

    calls = []
    real = L.provenance

    def spy(groups):   # records whether any generation had been computed when the code was hashed
        calls.append((list(groups), (tmp_path / "a" / "metrics.csv").exists()))
        return real(groups)

    monkeypatch.setattr(L, "provenance", spy)
    a = run_motion_loop(ALL4, tmp_path / "a", progress=False, figures=False, built=built)
    monkeypatch.setattr(L, "provenance", real)
    assert calls == [(["motion"], False)]
    assert json.loads((tmp_path / "a" / "code.json").read_text()) == a["provenance"]
    run_motion_loop(ALL4, tmp_path / "b", progress=False, figures=False, built=built, stop_after=3)
    part = read_metrics_csv(tmp_path / "b" / "metrics.csv")
    assert {r["generation"] for r in part} == {0, 1}
    run_motion_loop(ALL4, tmp_path / "b", progress=False, figures=False, built=built)
    assert (tmp_path / "a" / "metrics.csv").read_text() == (tmp_path / "b" / "metrics.csv").read_text()
    rows = read_metrics_csv(tmp_path / "a" / "metrics.csv")
    mets = {r["metric"] for r in rows}
    assert {"fid", "diversity", "multimodality", "accuracy", "ground_penetration", "physics_violation"} <= mets
    assert len(rows) == 4 * 2 * len(mets)
    assert a["synthetic_per_generation"] == 16
    # the arms really differ after generation 0 (and are identical at generation 0)
    fid = {(r["arm"], r["generation"]): r["value"] for r in rows if r["metric"] == "fid"}
    assert len({fid[a, 0] for a in ALL4.arms}) == 1
    assert len({fid[a, 1] for a in ALL4.arms}) == 4


@pytest.mark.slow
def test_quick_cli_survives_sigkill_and_resumes_identically(tmp_path):
    """`scsc motion loop` killed with SIGKILL mid-run, then re-run: metrics identical to an uninterrupted run."""
    env = dict(os.environ, SCSC_CACHE=str(tmp_path / "cache"))
    cmd = [sys.executable, "-m", "scsc_theory.cli", "motion", "loop", "--n", "16", "--generations", "3", "--seeds", "1",
           "--preset", "tiny", "--arms", "selfconsume,selfcorrect", "--no-progress"]
    subprocess.run(cmd + ["--out", str(tmp_path / "a")], check=True, env=env, capture_output=True)
    p = subprocess.Popen(cmd + ["--out", str(tmp_path / "b")], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ck = tmp_path / "b" / "ckpt" / "seed0_selfconsume.npz"
    t0 = time.time()
    while time.time() - t0 < 300:
        if ck.exists():
            z = np.load(ck)
            import json
            if json.loads(str(z["__meta__"]))["generation"] >= 1:
                break
        time.sleep(0.2)
    p.send_signal(signal.SIGKILL)
    p.wait()
    subprocess.run(cmd + ["--out", str(tmp_path / "b")], check=True, env=env, capture_output=True)
    assert (tmp_path / "a" / "metrics.csv").read_text() == (tmp_path / "b" / "metrics.csv").read_text()


def test_normalizer_floor_matches_the_dataset():
    """Near-constant features (torso roll/pitch) must not become huge z-scores: one floor for both."""
    from scsc_theory.motion import data
    from scsc_theory.motion.loop import Normalizer

    x = np.zeros((4, 5, 3), np.float32)
    x[..., 1] = np.linspace(0, 1e-4, 5)          # (near) constant feature
    x[..., 2] = np.arange(20).reshape(4, 5)
    norm = Normalizer(x)
    assert norm.sd[0] == norm.sd[1] == np.float32(data.FEATURE_STD_FLOOR)
    assert norm.sd[2] > 1
    z = norm.fwd(x + np.array([0, 0.087, 0], np.float32))  # a 5 degree roll-sized offset
    assert np.abs(z[..., 1]).max() < 10


def test_guard_keeps_raw_samples_the_corrector_did_not_apply():
    from types import SimpleNamespace

    from scsc_theory.motion.loop import guard_correction

    raw = np.zeros((4, 3, 2), np.float32)
    raw[:, 0, 0] = [1.0, 2.0, 3.0, 1.0]
    cor = raw + 0.5
    cor[2, 1, 1] = 50.0                                  # leaves the data's range
    c = SimpleNamespace(corrected=np.array([False, True, True, True]), fallback=np.array([False, False, False, True]))
    out, keep = guard_correction(raw, cor, c, z_max=10.0)
    np.testing.assert_array_equal(keep, [True, False, True, True])
    np.testing.assert_array_equal(out[keep], raw[keep])
    np.testing.assert_array_equal(out[1], cor[1])


def test_a_run_resumes_only_with_the_code_it_started_with(tmp_path):
    from scsc_theory.io import provenance
    from scsc_theory.motion.loop import check_resume_code

    code = provenance(["motion"])
    check_resume_code(tmp_path, code)                    # first start: recorded
    assert json.loads((tmp_path / "code.json").read_text())["source_hash"] == code["source_hash"]
    check_resume_code(tmp_path, code)                    # same code: resumes
    with pytest.raises(SCSCInputError, match="out_dir .* other code"):
        check_resume_code(tmp_path, dict(code, source_hash="0" * 16))
