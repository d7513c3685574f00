"""Every workflow of :mod:`scsc_theory.workflows` runs as a sweep, and the sweep's unperturbed chain is
the loop engine's run of the same workflow, seed for seed (the sweep adds only the perturbed twin)."""
import numpy as np
import pytest

from scsc_theory._validate import SCSCInputError
from scsc_theory.data import Normal
from scsc_theory.families import Gaussian
from scsc_theory.loop import grid, run_loop
from scsc_theory.sweep import SweepConfig, run_sweep
from scsc_theory.workflows import WORKFLOWS

FAM, LAW = Gaussian(2), Normal.standard(2)
LAMS, GAMMAS, SEEDS = [0.5, 1.0], [0.0, 2.0], [0, 1]


@pytest.mark.parametrize("mode", WORKFLOWS)
def test_sweep_base_chain_is_the_loop(mode):
    kw = dict(n=20, generations=6, mode=mode, subsample=15 if mode == "accumulate-subsample" else None)
    res = run_sweep(FAM, LAW, LAMS, GAMMAS, SEEDS, **kw)
    lam, gam, seed = grid(LAMS, GAMMAS, SEEDS)
    ref = run_loop(FAM, LAW, lam=lam, gamma=gam, seed=seed, record_thetas=False, **kw)
    got = res["dist"].reshape(-1, 7)
    np.testing.assert_allclose(got, ref.metrics["dist"], rtol=1e-5, atol=1e-7)
    assert res.attrs["mode"] == mode
    # the workflows really differ from one another (else the test above could not tell them apart)
    if mode != "fixed":
        fixed = run_loop(FAM, LAW, lam=lam, gamma=gam, seed=seed, n=20, generations=6, record_thetas=False)
        assert not np.allclose(fixed.metrics["dist"][:, -1], ref.metrics["dist"][:, -1])


def test_sweep_key_of_fixed_workflow_unchanged_and_modes_differ():
    a = SweepConfig.build(FAM, LAW, LAMS, GAMMAS, SEEDS, n=20, generations=6)
    b = SweepConfig.build(FAM, LAW, LAMS, GAMMAS, SEEDS, n=20, generations=6, mode="accumulate-all")
    c = SweepConfig.build(FAM, LAW, LAMS, GAMMAS, SEEDS, n=20, generations=6, mode="accumulate-subsample", subsample=10)
    assert "subsample" not in a.attrs() and a.attrs()["mode"] == "fixed"
    assert len({a.key, b.key, c.key}) == 3 and c.attrs()["subsample"] == 10


@pytest.mark.parametrize("kw,msg", [
    (dict(mode="sometimes"), "mode must be one of"),
    (dict(mode="fixed", subsample=10), "subsample is a parameter of mode='accumulate-subsample'"),
    (dict(mode="accumulate-subsample", subsample=10_000), "subsample must be <="),
    (dict(mode="replace", lams=[0.05]), "need floor\\(lam\\*n\\) >= 2"),
])
def test_bad_workflow_input_refused_before_compiling(kw, msg):
    lams = kw.pop("lams", LAMS)
    with pytest.raises(SCSCInputError, match=msg):
        SweepConfig.build(FAM, LAW, lams, GAMMAS, SEEDS, n=20, generations=6, **kw)
