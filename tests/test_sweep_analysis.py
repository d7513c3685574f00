"""Reading a sweep (scsc_theory.sweep.analysis): the contraction-factor fit, empirical boundaries and the
phase summary's violation counting against Theorem 4.3's q = rho/(1+gamma)."""
import numpy as np
import pytest

from scsc_theory import theory
from scsc_theory.sweep import SweepResult, contraction_factor, empirical_boundary, phase_summary


def test_contraction_factor_recovers_geometric_rates():
    t = np.arange(20)
    d = np.stack([0.05 * 0.4**t, 0.05 * 1.2**t, np.r_[0.05, np.zeros(19)], np.r_[0.0, np.ones(19)]])
    r = contraction_factor(d, t_fit=8, floor=1e-5)
    assert r[0] == pytest.approx(0.4, rel=1e-6)
    assert r[1] == pytest.approx(1.2, rel=1e-6)
    assert r[2] == pytest.approx(1e-5 / 0.05)
    assert np.isnan(r[3])


def test_empirical_boundary():
    lams = np.array([0.0, 1.0, 2.0, 3.0])
    assert empirical_boundary(lams, [0.2, 0.6, 1.4, 2.0], 1.0) == pytest.approx(1.5)
    assert np.isnan(empirical_boundary(lams, [0.2, 0.3, 0.4, 0.5], 1.0))
    assert empirical_boundary(lams, [1.2, 1.3, 1.4, 1.5], 1.0) == 0.0
    assert empirical_boundary(lams, [0.2, np.inf, 1, 1], 1.0) == 1.0


def _fake_result(per_seed):
    """A SweepResult over lam = (0.2, 0.4), gamma = (0, 1) with given per-seed contraction factors."""
    per_seed = np.asarray(per_seed, np.float64)
    lam, gam = np.array([0.2, 0.4]), np.array([0.0, 1.0])
    data = {"contraction": per_seed, "contraction_median": np.median(per_seed, axis=2),
            "final_dist": np.full((2, 2), 0.1)}
    return SweepResult(data=data, dims={}, coords={"lam": lam, "gamma": gam, "seed": np.arange(per_seed.shape[2])},
                       attrs={})


def test_phase_summary_counts_only_resolved_violations():
    rng = np.random.default_rng(0)
    LL, GG = np.meshgrid([0.2, 0.4], [0.0, 1.0], indexing="ij")
    bound = theory.q(LL, GG, 1.0)
    # median slightly above the bound but within its sampling noise: not resolved
    noisy = bound[..., None] * 1.01 + 0.05 * np.linspace(-1.0, 1.0, 16)
    s = phase_summary(_fake_result(noisy), C=1.0)
    assert s["points_resolved_above_bound"] == 0
    # clearly above the bound with tiny noise: every admissible point is a resolved violation
    above = bound[..., None] * 1.5 + 1e-4 * rng.standard_normal((2, 2, 16))
    s = phase_summary(_fake_result(above), C=1.0)
    assert s["points_resolved_above_bound"] == s["admissible_points"] > 0
    assert not s["all_below_bound"]


def test_phase_summary_counts_diverged_admissible_points_as_violations():
    """All seeds diverged at an admissible point (r = inf / NaN, parameters non-finite): a violation,
    counted and reported, although its standard error is NaN."""
    LL, GG = np.meshgrid([0.2, 0.4], [0.0, 1.0], indexing="ij")
    good = theory.q(LL, GG, 1.0)[..., None] * 0.5 + 1e-3 * np.linspace(-1, 1, 8)
    per_seed = good.copy()
    per_seed[0, 0, :] = np.inf  # (lam 0.2, gamma 0): admissible, every seed diverged
    res = _fake_result(per_seed)
    res.data["contraction_median"][0, 0] = np.inf
    res.data["finite"] = np.ones(per_seed.shape + (3,), bool)
    res.data["finite"][0, 0, :, 2] = False
    s = phase_summary(res, C=1.0)
    assert s["points_diverged"] == 1 and s["points_violating"] == 1
    assert s["nonfinite_configs"] == 8 and s["total_configs"] == 32
    assert not s["all_below_bound"] and s["min_margin"] == -np.inf
    # one diverged seed (NaN r) among finite ones at an admissible point is a violation too
    per_seed = good.copy()
    per_seed[1, 1, 3] = np.nan
    s = phase_summary(_fake_result(per_seed), C=1.0)
    assert s["points_diverged"] == 1 and s["points_violating"] == 1 and s["nonfinite_configs"] == 1
    # and with everything finite and below the bound: no violation
    s = phase_summary(_fake_result(good), C=1.0)
    assert s["points_violating"] == 0 and s["nonfinite_configs"] == 0 and s["all_below_bound"]


def test_phase_summary_uses_two_standard_errors():
    """A median 3 standard errors above the bound is resolved (the rule is 2 se, not 20); one at 1 se is not."""
    LL, GG = np.meshgrid([0.2, 0.4], [0.0, 1.0], indexing="ij")
    bound = theory.q(LL, GG, 1.0)
    S = 16
    spread = np.linspace(-1.0, 1.0, S)
    sd = np.std(spread, ddof=1)
    noise = 0.01 * spread  # per-seed sd 0.01 * sd -> se of the median 1.2533 * 0.01 * sd / 4
    se = 1.2533 * 0.01 * sd / np.sqrt(S)
    for k, expect_resolved in ((3.0, True), (1.0, False)):
        per_seed = (bound + k * se)[..., None] + noise
        s = phase_summary(_fake_result(per_seed), C=1.0)
        assert s["max_contraction_se"] == pytest.approx(se, rel=1e-9)
        assert s["points_resolved_above_bound"] == (s["admissible_points"] if expect_resolved else 0), k
        assert s["points_above_bound"] == s["admissible_points"]


def test_phase_summary_uses_the_theory_formulas():
    """lambda_max and the admissible region of the summary are theory.bound's (no copy of the formulas)."""
    per_seed = np.full((2, 2, 4), 0.01)
    s = phase_summary(_fake_result(per_seed), C=2.0)
    assert [r["lambda_max_theory"] for r in s["rows"]] == [theory.lambda_max(2.0, 0.0), theory.lambda_max(2.0, 1.0)]
    LL, GG = np.meshgrid([0.2, 0.4], [0.0, 1.0], indexing="ij")
    assert s["admissible_points"] == int(theory.is_admissible(LL, 2.0, GG).sum()) == 2
    assert s["min_margin"] == pytest.approx(min(theory.q(0.2, 0.0, 2.0), theory.q(0.2, 1.0, 2.0)) - 0.01, rel=1e-12)
