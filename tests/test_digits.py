"""Digits loop: the cluster-centre correction, the idealised arm, input errors, the wiring of the
arms into the generic driver, resume after a kill, the CLI and the paper check."""
import json
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from scsc_theory._validate import SCSCInputError
from scsc_theory.digits.correction import (PerClassPool, check_gamma, correct_images, fit_centres, ideal_correct,
                                           nearest_centre)
from scsc_theory.digits.data import NUM_CLASSES, check_images, load_split, to_model_scale, to_pixels
from scsc_theory.digits.model import MixerDenoiser, patchify, unpatchify


@pytest.fixture(scope="module")
def split():
    return load_split(n_train=100)


@pytest.fixture(scope="module")
def centres(split):
    return fit_centres(split.x_train, split.y_train, k=3, seed=0)


# ----- data -----------------------------------------------------------------------------------
def test_split_is_disjoint_stratified_and_scaled():
    s = load_split()
    assert s.sizes == {"train": 898, "pool": 451, "ref": 448}
    assert sum(s.sizes.values()) == 1797
    assert s.x_train.min() == -1.0 and s.x_train.max() == 1.0
    for y in (s.y_train, s.y_pool, s.y_ref):
        assert np.bincount(y, minlength=10).min() >= 40
    # disjoint: no held-out image equals a training image at the same time as being the same array row
    allx = np.concatenate([s.x_train, s.x_pool, s.x_ref]).reshape(1797, -1)
    assert len({r.tobytes() for r in allx}) >= 1790  # (a handful of exact duplicates exist in load_digits)
    np.testing.assert_allclose(to_model_scale(to_pixels(s.x_ref)), s.x_ref, atol=1e-6)


# ----- correction -----------------------------------------------------------------------------
def test_centres_shape_and_nearest_is_brute_force_nearest_of_own_class(split, centres):
    assert centres.shape == (10, 3, 8, 8)
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (40, 8, 8)).astype(np.float32)
    y = rng.integers(0, 10, 40)
    c = np.asarray(nearest_centre(x, y, centres))
    for i in range(40):
        d = ((centres[y[i]] - x[i]) ** 2).sum(axis=(1, 2))
        np.testing.assert_allclose(c[i], centres[y[i], np.argmin(d)], atol=1e-6)


def test_gamma_zero_leaves_images_unchanged(split, centres):
    x = split.x_train[:30]
    np.testing.assert_array_equal(np.asarray(correct_images(x, split.y_train[:30], centres, 0.0)), x)


@pytest.mark.parametrize("gamma", [1e6, math.inf, None])
def test_large_gamma_lands_on_the_centres(split, centres, gamma):
    x, y = split.x_train[:30], split.y_train[:30]
    target = np.asarray(nearest_centre(x, y, centres))
    np.testing.assert_allclose(np.asarray(correct_images(x, y, centres, gamma)), target, atol=1e-5)


@settings(max_examples=25, deadline=None)
@given(gamma=st.floats(0.0, 50.0), seed=st.integers(0, 10_000))
def test_gamma_moves_gamma_over_one_plus_gamma_of_the_way(centres, gamma, seed):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, (5, 8, 8)).astype(np.float32)
    y = rng.integers(0, 10, 5)
    c = np.asarray(nearest_centre(x, y, centres))
    out = np.asarray(correct_images(x, y, centres, gamma))
    np.testing.assert_allclose(out, (x + gamma * c) / (1 + gamma), atol=1e-5)
    # the corrected image is on the segment: distance to the centre shrinks by 1 / (1 + gamma)
    np.testing.assert_allclose(np.linalg.norm((out - c).reshape(5, -1), axis=1),
                               np.linalg.norm((x - c).reshape(5, -1), axis=1) / (1 + gamma), rtol=1e-3, atol=1e-5)


def test_ideal_correction_replaces_by_heldout_same_class(split):
    pool = PerClassPool(split.x_pool, split.y_pool)
    x, y = split.x_train[:50], split.y_train[:50]
    np.testing.assert_array_equal(np.asarray(ideal_correct(x, y, pool, 0.0, jax.random.PRNGKey(0))), x)
    out = np.asarray(ideal_correct(x, y, pool, 1e9, jax.random.PRNGKey(1)))
    for i in range(50):
        same = split.x_pool[split.y_pool == y[i]].reshape(-1, 64)
        assert np.any(np.all(same == out[i].reshape(64), axis=1)), "not a held-out image of its class"
    # replacement frequency gamma / (1 + gamma) = 0.5 at gamma = 1
    xs = np.full((2000, 8, 8), 5.0, np.float32)
    frac = np.mean(np.asarray(ideal_correct(xs, np.arange(2000) % 10, pool, 1.0, jax.random.PRNGKey(2)))[:, 0, 0] != 5.0)
    assert abs(frac - 0.5) < 0.05


# ----- bad input ------------------------------------------------------------------------------
def test_bad_input_errors(split, centres):
    x, y = split.x_train[:4], split.y_train[:4]
    with pytest.raises(SCSCInputError, match="gamma must be >= 0"):
        correct_images(x, y, centres, -0.1)
    with pytest.raises(SCSCInputError, match="gamma must be >= 0"):
        ideal_correct(x, y, PerClassPool(split.x_pool, split.y_pool), -1.0, jax.random.PRNGKey(0))
    with pytest.raises(SCSCInputError, match=r"shape \(n, 8, 8\)"):
        correct_images(np.zeros((4, 64)), y, centres, 1.0)
    with pytest.raises(SCSCInputError, match=r"shape \(n, 8, 8\)"):
        check_images("x", np.zeros((3, 28, 28)))
    with pytest.raises(SCSCInputError, match="labels"):
        correct_images(x, np.array([0, 1, 2, 10]), centres, 1.0)
    with pytest.raises(SCSCInputError, match="centres"):
        correct_images(x, y, centres[:, :, :4], 1.0)
    with pytest.raises(SCSCInputError, match="fewer than k"):
        fit_centres(x, y, k=16)
    assert check_gamma("inf") is None and check_gamma(2) == 2.0
    from scsc_theory.digits.loop import DigitsLoopSettings

    with pytest.raises(SCSCInputError, match="lam must be >= 0"):
        DigitsLoopSettings(lam=-0.5).validate()
    with pytest.raises(SCSCInputError, match="correct_gamma must be >= 0"):
        DigitsLoopSettings(correct_gamma=-2).validate()
    with pytest.raises(SCSCInputError, match="arms"):
        DigitsLoopSettings(arms=("selfcorrect", "nope")).validate()


@pytest.mark.parametrize("argv,msg", [
    (["--lams", "0.5,-1"], "lams[1] must be >= 0"),
    (["--correct-gamma", "-1"], "correct_gamma must be >= 0"),
    (["--gamma", "-3"], "gamma must be >= 0"),
    (["--arms", "selfcorrect,bogus"], "arms must be one of"),
])
def test_cli_bad_input_is_a_clear_error(argv, msg, capsys, tmp_path):
    from scsc_theory.cli import main

    rc = main(["digits", "loop", "--out", str(tmp_path), *argv])
    assert rc == 2
    assert msg in capsys.readouterr().err
    assert not (tmp_path / "baseline").exists()  # nothing ran


# ----- model ----------------------------------------------------------------------------------
def test_mixer_denoiser_protocol():
    x = jnp.arange(64.0).reshape(8, 8)
    np.testing.assert_array_equal(unpatchify(patchify(x)), x)
    assert patchify(x)[0].tolist() == [0.0, 1.0, 8.0, 9.0]
    m = MixerDenoiser(16, 1, key=jax.random.PRNGKey(0))
    assert m.num_classes == NUM_CLASSES
    out = jax.vmap(m)(jnp.zeros((3, 8, 8)), jnp.array([0, 5, 999]), jnp.array([0, 9, 10]))
    assert out.shape == (3, 8, 8) and bool(jnp.all(jnp.isfinite(out)))


# ----- the loop: wiring of the arms and resume --------------------------------------------------
TINY = dict(generations=2, n_train=100, k=3, width=8, depth=1, diffusion_steps=50, sample_steps=4, gen0_steps=20,
            steps_per_gen=5, n_eval=40, clf_steps=50, per_class=1, batch_size=16)


def test_arms_train_on_the_right_data(split):
    from scsc_theory.diffusion.loop import training_set
    from scsc_theory.digits.loop import DigitsLoopSettings, build

    ctx, loop = build(DigitsLoopSettings(lam=0.5, gamma=1e9, **TINY))
    cfg = loop.cfg
    assert cfg.n == 100 and cfg.m == 50
    xr, yr = loop.real_fn(0)
    rng = np.random.default_rng(0)
    raw = jnp.asarray(rng.uniform(-1, 1, (cfg.num_samples, 8, 8)), jnp.float32)
    lab = jnp.asarray(rng.integers(0, 10, cfg.num_samples), jnp.int32)
    sets = {a: training_set(a, cfg, xr, yr, raw, lab, loop.correct_fn, loop.ideal_fn, 1, 0) for a in
            ("baseline", "selfconsume", "selfcorrect", "ideal")}
    assert sets["baseline"][0].shape[0] == 100
    for a in ("selfconsume", "selfcorrect", "ideal"):
        x, y = sets[a]
        assert x.shape == (150, 8, 8)
        np.testing.assert_array_equal(np.asarray(x[:100]), xr)
        np.testing.assert_array_equal(np.asarray(y[100:]), np.asarray(lab[:50]))
    np.testing.assert_array_equal(np.asarray(sets["selfconsume"][0][100:]), np.asarray(raw[:50]))
    np.testing.assert_allclose(np.asarray(sets["selfcorrect"][0][100:]),
                               np.asarray(nearest_centre(raw[:50], lab[:50], ctx.centres)), atol=1e-6)
    syn = np.asarray(sets["ideal"][0][100:]).reshape(50, 64)
    for i in range(50):  # gamma = 1e9: every sample replaced by a held-out digit of its class
        same = split.x_pool[split.y_pool == int(lab[i])].reshape(-1, 64)
        assert np.any(np.all(same == syn[i], axis=1))
    # the corrections run inside the fused jitted generation
    assert loop.correct_fn.jittable and loop.ideal_fn.jittable


def test_resume_after_kill_is_identical(tmp_path):
    from scsc_theory.diffusion import read_metrics_csv
    from scsc_theory.digits.loop import DigitsLoopSettings, load_snapshot, run_digits_loop

    s = DigitsLoopSettings(lam=1.0, arms=("selfcorrect",), **TINY)
    run_digits_loop(s, tmp_path / "full", progress=False, figures=False)
    # "killed" after generation 1 of 2 (checkpoints are atomic), then the same command again
    run_digits_loop(s, tmp_path / "killed", progress=False, figures=False, stop_after=1)
    part = read_metrics_csv(tmp_path / "killed" / "metrics.csv")
    assert max(r["generation"] for r in part) == 1
    info = run_digits_loop(s, tmp_path / "killed", progress=False, figures=True)
    a = read_metrics_csv(tmp_path / "full" / "metrics.csv")
    b = read_metrics_csv(tmp_path / "killed" / "metrics.csv")
    assert [(r["arm"], r["generation"], r["metric"]) for r in a] == [(r["arm"], r["generation"], r["metric"]) for r in b]
    np.testing.assert_allclose([r["value"] for r in a], [r["value"] for r in b], rtol=1e-5, atol=1e-6)
    assert {r["metric"] for r in a} == {"fid", "accuracy", "diversity", "multimodality"}
    assert load_snapshot(tmp_path / "killed", 0, "selfcorrect", 2).shape == (10, 1, 8, 8)
    assert any(f.endswith("digits_samples.png") for f in info["files"])
    # a different configuration in the same folder is refused
    with pytest.raises(SCSCInputError, match="different configuration"):
        run_digits_loop(DigitsLoopSettings(lam=0.5, arms=("selfcorrect",), **TINY), tmp_path / "full",
                        progress=False, figures=False)


# ----- the paper check reads the measured file ----------------------------------------------------
def _fake_summary(path, fc, fs, gen=50, noise=0.01):
    rng = np.random.default_rng(0)
    gens = list(range(gen + 1))
    curve = lambda v: {"generations": gens, "mean": list(v + noise * rng.normal(size=len(gens)))}
    arm = lambda v, acc: {"fid": curve(v), "accuracy": curve(acc)}
    g = {"seeds_reported": {lam: {"selfcorrect": [0, 1]} for lam in ("1", "1.5")},
         "summary": {lam: {"selfcorrect": arm(fc, 0.99), "selfconsume": arm(fs, 0.95), "baseline": arm(0.5, 0.97)}
                     for lam in ("1", "1.5")},
         "provenance": __import__("scsc_theory.io", fromlist=["provenance"]).provenance(["digits"])}
    path.write_text(json.dumps(g))


def test_digits_check_status_comes_from_the_file(tmp_path):
    from scsc_theory.checks.digits import digits_claim_from

    m, status = digits_claim_from(tmp_path / "missing.json")
    assert status == "FAIL" and "no results file" in m
    p = tmp_path / "s.json"
    _fake_summary(p, 1.0, 2.0)
    m, status = digits_claim_from(p)
    assert status == "PASS" and "lower, resolved" in m and "(2 seed(s))" in m
    _fake_summary(p, 3.0, 2.0)
    m, status = digits_claim_from(p)
    assert status == "FAIL" and "NOT lower" in m
    _fake_summary(p, 1.0, 1.01, noise=0.5)  # lower on average but inside the noise
    m, status = digits_claim_from(p)
    assert status == "FAIL" and ("not resolved" in m or "NOT lower" in m) and "lower, resolved" not in m
    _fake_summary(p, 1.0, 2.0, gen=30)
    m, status = digits_claim_from(p)
    assert status == "FAIL" and "only 30 of 50" in m



def test_digits_check_t_statistic_is_the_paired_t(tmp_path):
    """paired(): t = mean(d) / (sd(d) / sqrt(window)) on the last 10 generations, against a direct computation."""
    from scsc_theory.checks.digits import paired

    p = tmp_path / "s.json"
    _fake_summary(p, 1.0, 1.05, noise=0.05)
    g = json.loads(p.read_text())["summary"]
    a = np.asarray(g["1"]["selfconsume"]["fid"]["mean"][-10:])
    b = np.asarray(g["1"]["selfcorrect"]["fid"]["mean"][-10:])
    d = a - b
    ms, mc, dm, t = paired(g, "1", "fid")
    assert (ms, mc, dm) == pytest.approx((a.mean(), b.mean(), d.mean()))
    assert t == pytest.approx(d.mean() / (d.std(ddof=1) / np.sqrt(10)), rel=1e-12)
