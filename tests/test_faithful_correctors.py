"""The paper scripts' toy correctors vs a NumPy transcription of the official code run here.

Transcribed from nate-gillman/self-correcting-self-consuming, exp_scripts/gaussian_toy_example.py
(PointwiseCorrection.self_correction / rejection_sampling; first commit's WhiteningSelfCorrection).
The transcription vectorises the script's one-candidate-at-a-time ``while`` loop over blocks of
candidates (same law: the first n accepted candidates, in order)."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import cdist

from scsc_theory import Gaussian, Normal
from scsc_theory.correction import correct

FAM, LAW = Gaussian(2), Normal.standard(2)


def official_pointwise(data, t, rng, target_mean=np.zeros(2), target_cov=np.eye(2)):
    empirical_pdf, xedges, yedges = np.histogram2d(data[:, 0], data[:, 1], bins=10, density=True)
    n_samples = data.shape[0]
    xdelta, ydelta = xedges[1] - xedges[0], yedges[1] - yedges[0]
    num_bins = empirical_pdf.shape[0]
    p0 = scipy.stats.multivariate_normal.pdf([0, 0], target_mean, target_cov)
    M = ((1 - t) * np.max(empirical_pdf) + t * p0) / p0
    out = []
    while len(out) < n_samples:
        cand = rng.multivariate_normal(target_mean, target_cov, 256)
        u = rng.uniform(size=256)
        i_x = ((cand[:, 0] - xedges[0]) / xdelta).astype(int)  # int(): truncation toward zero
        i_y = ((cand[:, 1] - yedges[0]) / ydelta).astype(int)
        ok = ~((i_x >= num_bins) | (i_y >= num_bins) | (i_x < 0) | (i_y < 0))
        emp = np.where(ok, empirical_pdf[np.clip(i_x, 0, 9), np.clip(i_y, 0, 9)], 0.0)
        pc = scipy.stats.multivariate_normal.pdf(cand, target_mean, target_cov)
        pdf_eval = (1 - t) * emp + t * pc
        out.extend(cand[pdf_eval / (M * pc) > u])
    return np.asarray(out[:n_samples])


def _stats(pts):
    """Per-draw statistics compared: coordinate means, second moments, and |x|_inf > 1.5 (tail mass)."""
    return np.stack([pts[..., 0].mean(-1), pts[..., 1].mean(-1), (pts ** 2).sum(-1).mean(-1),
                     (np.abs(pts).max(-1) > 1.5).mean(-1)], -1)


@pytest.mark.parametrize("gamma", [0.0, 1.0])
def test_pointwise_matches_the_official_script_in_law(x64, gamma):
    """Same input batch (25 points of N(0, 0.96 I)), R = 600 corrections each: the four statistics agree
    within 4.5 combined standard errors; and the script's quirk is reproduced: at gamma = 0 the output
    variance is far below the batch's (tails cut by the non-dominating bound)."""
    R = 600
    TS = FAM.theta_star(LAW)  # built inside the float64 context
    x = np.random.default_rng(0).normal(size=(25, 2)) * np.sqrt(0.96)
    rng = np.random.default_rng(1)
    ref = np.stack([official_pointwise(x, gamma / (1 + gamma), rng) for _ in range(R)])
    f = jax.jit(jax.vmap(lambda k: correct("pointwise", k, jnp.asarray(x), 25, gamma, FAM, TS)))
    got = np.asarray(f(jax.random.split(jax.random.PRNGKey(2), R)))
    a, b = _stats(got), _stats(ref)
    se = np.sqrt(a.var(0) / R + b.var(0) / R)
    assert np.all(np.abs(a.mean(0) - b.mean(0)) <= 4.5 * se), (a.mean(0), b.mean(0), se)
    if gamma == 0.0:
        assert got.var(1).mean() < 0.8 * x.var(0).mean()
        clean = np.asarray(jax.vmap(lambda k: correct("histogram", k, jnp.asarray(x), 25, 0.0, FAM, TS))(
            jax.random.split(jax.random.PRNGKey(3), R)))
        assert clean.var(1).mean() - got.var(1).mean() > 10 * np.sqrt(se[2] ** 2)


def test_whitening_is_the_v1_euclidean_assignment(x64):
    """Given the same target draws y, whitening = t y[assignment(cdist(x, y))] + (1 - t) x exactly; ot differs."""
    m, gamma = 30, 1.5
    TS = FAM.theta_star(LAW)
    t = gamma / (1 + gamma)
    key = jax.random.PRNGKey(4)
    x = np.random.default_rng(5).normal(size=(m, 2)) * 2.0 + 1.0
    y = np.asarray(FAM.sample(key, TS, m))  # the draws the corrector makes from the same key
    rows, cols = linear_sum_assignment(cdist(x, y))
    ref = t * y[cols] + (1 - t) * x
    got = np.asarray(correct("whitening", key, jnp.asarray(x), m, gamma, FAM, TS))
    np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-12)
    ot = np.asarray(correct("ot", key, jnp.asarray(x), m, gamma, FAM, TS))
    assert not np.allclose(ot, ref)  # squared-Euclidean cost: another assignment on this batch


def official_toy_loop(gamma, n_steps, rng, n=50, synth_aug_percent=0.5):
    """run_self_correction_augmentation_loop with accumulate_synth_examples=True, transcribed; the sklearn
    one-component GaussianMixture fit is its closed form (mean, biased covariance + reg_covar 1e-6 I)."""
    from scsc_theory.families.gaussian import gaussian_w2

    t = gamma / (1 + gamma)
    gt = rng.multivariate_normal(np.zeros(2), np.eye(2), n)

    def fit(d):
        return d.mean(0), np.cov(d.T, bias=True) + 1e-6 * np.eye(2)

    mean, cov = fit(gt)
    m = int(synth_aug_percent * n)
    acc = {}
    for i in range(n_steps):
        acc[i] = official_pointwise(rng.multivariate_normal(mean, cov, m), t, rng)
        syn = np.concatenate([acc[j][:int(((j + 1) / len(acc)) * m)] for j in range(len(acc))])
        mean, cov = fit(np.concatenate([gt, syn]))
    return float(gaussian_w2(jnp.asarray(mean), jnp.asarray(cov), jnp.zeros(2), jnp.eye(2)))


@pytest.mark.slow
def test_pointwise_toy_loop_matches_the_official_loop(x64):
    """toy-schedule + pointwise vs the transcribed official loop: final W2 after 20 generations, 48 seeds,
    gamma in {0, 1}, seed means within 4.5 combined standard errors."""
    from scsc_theory.toy import run_toy

    S, T = 48, 20
    run = run_toy(mode="toy-schedule", gammas=(0.0, 1.0), seeds=S, generations=T, corrector="pointwise")
    rng = np.random.default_rng(7)
    for i, g in enumerate((0.0, 1.0)):
        ref = np.array([official_toy_loop(g, T, rng) for _ in range(S)])
        got = run.w2[i, :, -1]
        se = np.sqrt(got.var() / S + ref.var() / S)
        assert abs(got.mean() - ref.mean()) <= 4.5 * se, (g, got.mean(), ref.mean(), se)
