"""Workflows by name: aliases give identical numbers, accumulate-all / -subsample semantics, clear errors."""
import jax.numpy as jnp
import numpy as np
import pytest

from scsc_theory import Gaussian, GaussianParams, Normal, SCSCInputError, run_loop
from scsc_theory.cli import main

FAM, LAW = Gaussian(2), Normal.standard(2)
KW = dict(lam=[0.5, 1.0], gamma=[0.0, 2.0], seed=[0, 1], n=12, generations=6)


def test_aliases_give_identical_numbers():
    """'accumulate' = 'toy-schedule' and 'replace' = fixed + fully_synthetic, bit for bit."""
    a, b = run_loop(FAM, LAW, mode="accumulate", **KW), run_loop(FAM, LAW, mode="toy-schedule", **KW)
    np.testing.assert_array_equal(a.thetas.cov, b.thetas.cov)
    assert a.spec.mode == "toy-schedule"
    c, d = run_loop(FAM, LAW, mode="replace", **KW), run_loop(FAM, LAW, mode="fixed", fully_synthetic=True, **KW)
    np.testing.assert_array_equal(c.thetas.cov, d.thetas.cov)


def test_accumulate_all_population_weights_every_generation_equally(x64):
    """Population, gamma = 0, 1-D: mu_{t+1} = (mu* + lam sum_{j<=t} mu_j) / (1 + (t+1) lam) (equal weights)."""
    lam, T = 0.5, 6
    res = run_loop(Gaussian(1), Normal.standard(1), lam=lam, gamma=0.0, seed=0, n=10, generations=T,
                   mode="accumulate-all", sampling="population", theta0=GaussianParams(jnp.ones(1), jnp.eye(1)))
    mu = [1.0]
    for t in range(T):
        mu.append(lam * sum(mu) / (1 + (t + 1) * lam))
    np.testing.assert_allclose(res.thetas.mean[0, :, 0], mu, rtol=1e-12, atol=1e-14)


def test_subsample_of_the_whole_pool_is_accumulate_all(x64):
    """accumulate-subsample with subsample >= the final pool keeps every point: = accumulate-all (stats path)."""
    kw = dict(KW, lam=1.0, gamma=[0.0, 2.0], seed=[0, 1])
    full = run_loop(FAM, LAW, mode="accumulate-all", **kw)
    sub = run_loop(FAM, LAW, mode="accumulate-subsample", subsample=12 + 6 * 12, **kw)
    np.testing.assert_allclose(sub.thetas.cov, full.thetas.cov, rtol=1e-10, atol=1e-12)
    small = run_loop(FAM, LAW, mode="accumulate-subsample", **kw)  # subsample = n: a real subsample
    assert not np.allclose(small.thetas.cov[:, 1:], full.thetas.cov[:, 1:])
    np.testing.assert_array_equal(small.thetas.cov[:, 0], full.thetas.cov[:, 0])  # same real data


@pytest.mark.parametrize("kw, match", [
    (dict(mode="replace", sampling="population"), "replace has no real data"),
    (dict(mode="accumulate-subsample", sampling="population"), "subsample is not an infinite-sample"),
    (dict(mode="accumulate-all", sampling="stats"), "sampling='stats' is defined for mode in"),
    (dict(mode="fixed", subsample=5), "subsample is a parameter"),
    (dict(mode="replace", fully_synthetic=True), "already fully synthetic"),
    (dict(mode="accumulate-subsample", subsample=10**6), "subsample must be <="),
    (dict(mode="collapse"), "mode must be one of"),
])
def test_bad_combinations_are_refused(kw, match):
    with pytest.raises(SCSCInputError, match=match):
        run_loop(FAM, LAW, lam=0.5, gamma=0.0, n=10, generations=3, **kw)


def test_cli_toy_runs_a_named_workflow_and_refuses_a_bad_pair(tmp_path, capsys):
    out = tmp_path / "r"
    assert main(["toy", "--mode", "replace", "--seeds", "2", "--generations", "3", "--gamma", "0,1",
                 "--out", str(out)]) == 0
    assert (out / "toy_w2_replace.png").exists()
    assert main(["toy", "--mode", "accumulate-all", "--sampling", "stats", "--out", str(tmp_path / "x")]) == 2
    assert "--sampling stats needs --mode fixed|replace" in capsys.readouterr().err
    assert main(["toy", "--mode", "fixed", "--subsample", "5", "--out", str(tmp_path / "y")]) == 2
    assert "subsample is a parameter" in capsys.readouterr().err


@pytest.mark.slow
def test_cli_collapse_writes_its_figure_and_exact_curves(tmp_path):
    import json

    out = tmp_path / "c"
    assert main(["collapse", "--family", "linreg", "--seeds", "4", "--generations", "3", "--gamma", "0,1",
                 "--out", str(out)]) == 0
    s = json.loads((out / "summary.json").read_text())
    assert set(s["final_mean"]) == {"fixed", "replace", "accumulate-all", "accumulate-subsample", "toy-schedule"}
    assert (out / "collapse_linreg.png").exists() and s["provenance"]["source_hash"]
    assert main(["collapse", "--family", "bogus", "--out", str(out)]) == 2
