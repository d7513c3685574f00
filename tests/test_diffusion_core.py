"""Shared diffusion machinery: schedule, sampler, warm-started fit, checkpoints, FID."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from scsc_theory._validate import SCSCInputError
from scsc_theory.diffusion import (TrainConfig, checkpoint, cosine_schedule, fid_from_features, fit,
                                   frechet_distance, init_opt_state, q_sample, sample, strided_timesteps,
                                   diversity, multimodality, mean_ci)
from scsc_theory.diffusion.nets import MLPDenoiser


def test_cosine_schedule_monotone_and_endpoints():
    s = cosine_schedule(1000)
    abar = np.asarray(s.alphas_cumprod)
    assert abar.shape == (1000,)
    assert np.all(np.diff(abar) < 0)
    assert abar[0] > 0.999 and abar[-1] < 1e-4
    # closed form of Nichol & Dhariwal at t = T/2
    f = lambda t: np.cos((t / 1000 + 0.008) / 1.008 * np.pi / 2) ** 2
    assert abar[499] == pytest.approx(f(500) / f(0), rel=1e-4)


def test_q_sample_moments():
    s = cosine_schedule(100)
    x0 = jnp.ones((20000, 1)) * 2.0
    t = 50
    xt = q_sample(s, x0, t, jax.random.normal(jax.random.PRNGKey(0), x0.shape))
    a = float(s.alphas_cumprod[t])
    assert float(xt.mean()) == pytest.approx(2 * np.sqrt(a), abs=0.03)
    assert float(xt.var()) == pytest.approx(1 - a, abs=0.03)


def test_strided_timesteps():
    ts = strided_timesteps(1000, 20)
    assert ts[0] == 999 and ts[-1] == 0 and len(ts) == 20 and np.all(np.diff(ts) < 0)
    assert np.array_equal(strided_timesteps(10, 10), np.arange(9, -1, -1))
    with pytest.raises(SCSCInputError, match="sample_steps"):
        strided_timesteps(10, 11)


@pytest.fixture(scope="module")
def trained():
    """A small class-conditional model of two well-separated 3-D clusters."""
    key = jax.random.PRNGKey(0)
    sch = cosine_schedule(50)
    rng = np.random.default_rng(0)
    y = np.arange(256) % 2
    x = (rng.normal(size=(256, 3)) * 0.1 + (2 * y[:, None] - 1) * 1.5).astype(np.float32)
    m = MLPDenoiser((3,), 2, 64, 2, key=key)
    cfg = TrainConfig(lr=3e-3, batch_size=64)
    m, o, losses = fit(m, init_opt_state(m, cfg), x, y, 400, key, sch, cfg)
    return m, o, sch, cfg, x, y, np.asarray(losses)


def test_fit_learns_and_sampler_is_class_conditional(trained):
    m, _, sch, _, _, _, losses = trained
    assert losses[-50:].mean() < 0.5 * losses[:20].mean()
    lab = jnp.array([0, 1] * 64)
    s = np.asarray(sample(m, sch, lab, jax.random.PRNGKey(1), (3,), 10, guidance=2.0))
    assert s.shape == (128, 3)
    assert np.mean(s[0::2].mean(1) < 0) > 0.9 and np.mean(s[1::2].mean(1) > 0) > 0.9


def test_scan_and_loop_samplers_agree(trained):
    m, _, sch, *_ = trained
    lab = jnp.array([0, 1, 1, 0])
    a = sample(m, sch, lab, jax.random.PRNGKey(3), (3,), 7, guidance=1.5, mode="scan")
    b = sample(m, sch, lab, jax.random.PRNGKey(3), (3,), 7, guidance=1.5, mode="loop")
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-5)
    with pytest.raises(SCSCInputError, match="mode"):
        sample(m, sch, lab, jax.random.PRNGKey(3), (3,), 7, mode="fast")


def test_guidance_is_honoured(trained):
    m, _, sch, *_ = trained
    lab = jnp.array([0, 1] * 8)
    a = sample(m, sch, lab, jax.random.PRNGKey(3), (3,), 5, guidance=1.0)
    b = sample(m, sch, lab, jax.random.PRNGKey(3), (3,), 5, guidance=3.0)
    assert float(jnp.abs(a - b).max()) > 1e-3


def test_fit_warm_start_equals_one_long_run_in_steps(trained):
    """fit carries the optimizer state: Adam's step count continues across calls."""
    m, o, sch, cfg, x, y, _ = trained
    m2, o2, _ = fit(m, o, x, y, 5, jax.random.PRNGKey(9), sch, cfg)
    counts = [int(l) for l in jax.tree_util.tree_leaves(o2) if jnp.ndim(l) == 0 and jnp.issubdtype(l.dtype, jnp.integer)]
    assert 405 in counts


def test_checkpoint_roundtrip(tmp_path, trained):
    m, o, *_ = trained
    p = checkpoint.save(tmp_path / "c.npz", {"s": (m, o)}, {"generation": 3})
    fresh = MLPDenoiser((3,), 2, 64, 2, key=jax.random.PRNGKey(5))
    cfg = TrainConfig(lr=3e-3, batch_size=64)
    tree, meta = checkpoint.load(p, {"s": (fresh, init_opt_state(fresh, cfg))})
    assert meta == {"generation": 3}
    for a, b in zip(jax.tree_util.tree_leaves((m, o)), jax.tree_util.tree_leaves(tree["s"])):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    other = MLPDenoiser((3,), 2, 32, 2, key=jax.random.PRNGKey(5))
    with pytest.raises(ValueError, match="shape"):
        checkpoint.load(p, {"s": (other, init_opt_state(other, cfg))})


def test_frechet_distance_closed_form():
    # 1-D: (m1-m2)^2 + (s1 - s2)^2 for standard deviations s
    assert frechet_distance([0.0], [[4.0]], [1.0], [[1.0]]) == pytest.approx(1 + 1)
    rng = np.random.default_rng(0)
    A = rng.normal(size=(5, 5)); S = A @ A.T + np.eye(5)
    assert frechet_distance(np.zeros(5), S, np.zeros(5), S) == pytest.approx(0, abs=1e-8)
    # commuting covariances: sum (sqrt(a) - sqrt(b))^2
    a, b = np.array([1.0, 4.0, 9.0]), np.array([4.0, 4.0, 1.0])
    assert frechet_distance(np.zeros(3), np.diag(a), np.ones(3), np.diag(b)) == pytest.approx(3 + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2))
    # rank-deficient covariance stays finite and real
    v = rng.normal(size=(5, 1)); assert np.isfinite(frechet_distance(np.zeros(5), v @ v.T, np.zeros(5), S))


def test_fid_same_distribution_small_and_shift_large():
    rng = np.random.default_rng(0)
    f = rng.normal(size=(2000, 8))
    assert fid_from_features(f[:1000], f[1000:]) < 0.1
    assert fid_from_features(f[:1000], f[1000:] + 2.0) > 30


def test_diversity_and_multimodality():
    rng = np.random.default_rng(0)
    f = rng.normal(size=(400, 4))
    assert diversity(f) == pytest.approx(np.sqrt(2) * 1.88, rel=0.15)  # E||z1 - z2||, z ~ N(0, 2 I_4)
    assert diversity(np.zeros((50, 4))) == 0
    lab = np.repeat(np.arange(4), 100)
    g = f * 0.01 + lab[:, None]
    assert multimodality(g, lab) < 0.1 < diversity(g)


def test_mean_ci():
    m, lo, hi = mean_ci([1.0, 2.0, 3.0])
    assert m == 2 and lo < 2 < hi
    assert mean_ci([5.0]) == (5.0, 5.0, 5.0)
