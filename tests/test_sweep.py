"""Phase-diagram sweeps: input checks (before compiling), contraction-factor fit, the well-specified
Gaussian against Theorem 4.3's rho/(1+gamma), the results files and the figure."""
import json

import numpy as np
import pytest

from scsc_theory import SCSCInputError, make_data_law
from scsc_theory.cli import main
from scsc_theory.sweep import (contraction_factor, empirical_boundary, lambda_max, load_results, parse_range,
                               parse_seeds, plot_phase, run_sweep, theory_bound)
from scsc_theory.families import Gaussian


def test_parse_range_and_seeds():
    np.testing.assert_allclose(parse_range("lam", "0:1:3"), [0, 0.5, 1])
    np.testing.assert_allclose(parse_range("lam", "0.5"), [0.5])
    np.testing.assert_allclose(parse_range("lam", "0.1,0.3"), [0.1, 0.3])
    for bad in ["", "1:0:3", "0:1:0", "0:1:-2", "a:b:c", "0:1:1", "-1:1:3", "0:1", "0,0"]:
        with pytest.raises(SCSCInputError):
            parse_range("lam", bad)
    np.testing.assert_array_equal(parse_seeds("3"), [0, 1, 2])
    np.testing.assert_array_equal(parse_seeds("5,7"), [5, 7])
    for bad in ["0", "x", "1,1", "-1,2"]:
        with pytest.raises(SCSCInputError):
            parse_seeds(bad)


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


@pytest.mark.parametrize("argv, msg", [
    (["--family", "vae", "--lam", "0:1:2", "--gamma", "0:1:2"], "family"),
    (["--family", "gmm", "--data", "cauchy", "--lam", "0:1:2", "--gamma", "0:1:2"], "data"),
    (["--family", "gmm", "--k", "0", "--lam", "0:1:2", "--gamma", "0:1:2"], "K"),
    (["--family", "gaussian", "--lam", "0:1:0", "--gamma", "0:1:2"], "empty"),
    (["--family", "gaussian", "--lam", "0:1:2", "--gamma", ""], "empty"),
    (["--family", "flow", "--dim", "3", "--lam", "0:1:2", "--gamma", "0:1:2"], "2-D"),
    (["--family", "gaussian", "--lam", "0:2:100000", "--gamma", "0:4:1000", "--seeds", "100", "--generations", "1000"],
     "grid too large"),
])
def test_cli_bad_input_is_a_clear_error_before_compiling(argv, msg, tmp_path, capsys, monkeypatch):
    import scsc_theory.loop as loop

    def boom(*a, **k):
        raise AssertionError("compiled before validating")

    monkeypatch.setattr(loop, "_compiled_runner", boom)
    rc = main(["sweep", *argv, "--out", str(tmp_path / "o"), "--C", "1"])
    assert rc == 2
    assert msg in capsys.readouterr().err


@pytest.fixture(scope="module")
def gaussian_sweep(tmp_path_factory):
    out = tmp_path_factory.mktemp("gs")
    lams, gammas = "0.2:0.9:4", "0:3:3"
    res = run_sweep(Gaussian(2), make_data_law("normal", 2), lams, gammas, np.arange(4), n=1000,
                    generations=10, chunk=5, out_dir=out)
    return res, out


def test_well_specified_gaussian_contracts_below_theorem_bound(gaussian_sweep):
    res, _ = gaussian_sweep
    lam, gam = res.coords["lam"], res.coords["gamma"]
    L, G = np.meshgrid(lam, gam, indexing="ij")
    r = res["contraction_median"]
    # population Jacobian of the well-specified Gaussian: lambda / ((1 + lambda)(1 + gamma))
    np.testing.assert_allclose(r, L / ((1 + L) * (1 + G)), rtol=0.3)
    adm = L < lambda_max(1.0, G)
    assert adm.sum() >= 4
    assert np.all(r[adm] < theory_bound(L, G, 1.0)[adm])


def test_results_files_are_labelled_and_reload(gaussian_sweep):
    res, out = gaussian_sweep
    idx = json.loads((out / "index.json").read_text())
    assert idx["dims"] == ["lam", "gamma", "seed", "generation"]
    assert idx["variables"]["dist"]["dims"] == ["lam", "gamma", "seed", "generation"]
    assert idx["variables"]["dist"]["shape"] == [4, 3, 4, 11]
    back = load_results(out)
    for k in res.data:
        np.testing.assert_array_equal(back.data[k], res.data[k])
    np.testing.assert_allclose(back.coords["lam"], res.coords["lam"])
    assert not (out / "checkpoint.npz").exists()
    # a rerun of a finished sweep loads the results instead of recomputing
    again = run_sweep(Gaussian(2), make_data_law("normal", 2), "0.2:0.9:4", "0:3:3", np.arange(4), n=1000,
                      generations=10, chunk=5, out_dir=out)
    np.testing.assert_array_equal(again["dist"], res["dist"])


def test_phase_figure_and_summary(gaussian_sweep, tmp_path):
    res, _ = gaussian_sweep
    summ = plot_phase(res, tmp_path / "p.png", C=1.0)
    assert (tmp_path / "p.png").stat().st_size > 10_000
    assert summ["all_below_bound"] and summ["min_margin"] > 0
    assert all(np.isnan(r["lambda_contraction_boundary"]) for r in summ["rows"])  # "none in range"
    assert summ["rows"][0]["lambda_max_theory"] == pytest.approx(0.5)


def test_corrector_is_used():
    law = make_data_law("normal", 2)
    a = run_sweep(Gaussian(2), law, "0.5", "1", [0], n=50, generations=3, corrector="ideal")
    b = run_sweep(Gaussian(2), law, "0.5", "1", [0], n=50, generations=3, corrector="stratified")
    assert not np.array_equal(a["dist"], b["dist"])


def _fake_result(per_seed):
    """A SweepResult over lam = (0.2, 0.4), gamma = (0, 1) with given per-seed contraction factors."""
    from scsc_theory.sweep import SweepResult

    per_seed = np.asarray(per_seed, np.float64)
    lam, gam = np.array([0.2, 0.4]), np.array([0.0, 1.0])
    data = {"contraction": per_seed, "contraction_median": np.median(per_seed, axis=2),
            "final_dist": np.full((2, 2), 0.1)}
    return SweepResult(data=data, dims={}, coords={"lam": lam, "gamma": gam, "seed": np.arange(per_seed.shape[2])},
                       attrs={})


def test_phase_summary_counts_only_resolved_violations():
    from scsc_theory.sweep import phase_summary, theory_bound

    rng = np.random.default_rng(0)
    LL, GG = np.meshgrid([0.2, 0.4], [0.0, 1.0], indexing="ij")
    bound = theory_bound(LL, GG, 1.0)
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
    from scsc_theory.sweep import phase_summary, theory_bound

    LL, GG = np.meshgrid([0.2, 0.4], [0.0, 1.0], indexing="ij")
    good = theory_bound(LL, GG, 1.0)[..., None] * 0.5 + 1e-3 * np.linspace(-1, 1, 8)
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
    from scsc_theory.sweep import phase_summary, theory_bound

    LL, GG = np.meshgrid([0.2, 0.4], [0.0, 1.0], indexing="ij")
    bound = theory_bound(LL, GG, 1.0)
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


@pytest.mark.parametrize("covariance", ["full", "diag"])
def test_gmm_perturbation_keeps_covariances_positive_definite_at_the_floor(covariance):
    """Components on the variance floor (n = 2, K = 4 fits) stay valid after the sweep's perturbation."""
    import jax
    import jax.numpy as jnp

    from scsc_theory.families import GMM, GMMParams
    from scsc_theory.sweep import _direction

    fam = GMM(2, k=4, covariance=covariance)
    floor = fam.var_floor
    p = GMMParams(jnp.array([0.25, 0.25, 0.25, 0.25]), jnp.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]),
                  jnp.broadcast_to(floor * jnp.eye(2), (4, 2, 2)))
    for s in range(20):
        move = _direction(fam, p, jax.random.PRNGKey(s))
        q = move(p, 0.05)
        ev = np.linalg.eigvalsh(np.asarray(q.covs))
        assert np.all(np.isfinite(ev)) and ev.min() > 0, (s, ev.min())
        assert np.all(np.asarray(q.weights) > 0) and float(jnp.sum(q.weights)) == pytest.approx(1.0, abs=1e-5)
        if covariance == "diag":
            assert np.all(np.asarray(q.covs)[:, 0, 1] == 0)
        # a genuine perturbation of the requested size (not a no-op)
        assert 0.0 < float(fam.distance(q, p)) < 1.0
    # eps = 0 is the identity (up to float round-off)
    np.testing.assert_allclose(np.asarray(move(p, 0.0).covs), np.asarray(p.covs), rtol=1e-5, atol=1e-9)


@pytest.mark.slow
def test_gmm_sweep_with_floored_components_stays_finite():
    from scsc_theory.families import GMM
    from scsc_theory.sweep import phase_summary

    res = run_sweep(GMM(2, k=4, em_steps=3, star_n=2000, star_steps=50), make_data_law("mixture", 2), "0.5", "0",
                    [0, 1], n=2, generations=2, chunk=2)
    assert res["finite"][..., 1].all()
    assert phase_summary(res, 1.0)["nonfinite_configs"] == 0
