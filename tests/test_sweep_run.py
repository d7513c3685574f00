"""Running sweeps (scsc_theory.sweep.run): the well-specified Gaussian against Theorem 4.3's q, the
results files and their reload, the corrector, the checkpoint hook, a GMM with floored components."""
import json

import numpy as np
import pytest

from scsc_theory import make_data_law, theory
from scsc_theory.families import Gaussian
from scsc_theory.sweep import load_results, phase_summary, run_sweep


def test_well_specified_gaussian_contracts_below_theorem_bound(gaussian_sweep):
    res, _ = gaussian_sweep
    lam, gam = res.coords["lam"], res.coords["gamma"]
    L, G = np.meshgrid(lam, gam, indexing="ij")
    r = res["contraction_median"]
    # population Jacobian of the well-specified Gaussian: lambda / ((1 + lambda)(1 + gamma))
    np.testing.assert_allclose(r, L / ((1 + L) * (1 + G)), rtol=0.3)
    adm = theory.is_admissible(L, 1.0, G)
    assert adm.sum() >= 4
    assert np.all(r[adm] < theory.q(L, G, 1.0)[adm])


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


def test_corrector_is_used():
    law = make_data_law("normal", 2)
    a = run_sweep(Gaussian(2), law, "0.5", "1", [0], n=50, generations=3, corrector="ideal")
    b = run_sweep(Gaussian(2), law, "0.5", "1", [0], n=50, generations=3, corrector="stratified")
    assert not np.array_equal(a["dist"], b["dist"])


@pytest.mark.slow
def test_gmm_sweep_with_floored_components_stays_finite():
    from scsc_theory.families import GMM
    res = run_sweep(GMM(2, k=4, em_steps=3, star_n=2000, star_steps=50), make_data_law("mixture", 2), "0.5", "0",
                    [0, 1], n=2, generations=2, chunk=2)
    assert res["finite"][..., 1].all()
    assert phase_summary(res, 1.0)["nonfinite_configs"] == 0


def test_checkpoint_hook_is_called_after_each_written_checkpoint(tmp_path):
    """on_checkpoint(k) after the k-th checkpoint (not after the last chunk, which writes the results);
    an exception there stops the run with the checkpoint on disk, and a rerun resumes from it."""
    law, calls = make_data_law("normal", 2), []

    class Stop(Exception):
        pass

    def hook(k):
        calls.append(k)
        if k == 1:
            raise Stop

    kw = dict(n=40, generations=4, chunk=2)
    with pytest.raises(Stop):
        run_sweep(Gaussian(2), law, "0.3", "0,1", [0], out_dir=tmp_path, on_checkpoint=hook, **kw)
    assert calls == [1] and (tmp_path / "checkpoint.npz").exists() and not (tmp_path / "results.npz").exists()
    resumed = run_sweep(Gaussian(2), law, "0.3", "0,1", [0], out_dir=tmp_path, on_checkpoint=calls.append, **kw)
    assert json.loads((tmp_path / "run_log.json").read_text())["resumed_from_generation"] == 2
    assert calls == [1]  # the last chunk writes results, not a checkpoint
    assert resumed["dist"].shape == (1, 2, 1, 5) and np.isfinite(resumed["dist"]).all()
    # (resumed == uninterrupted, byte for byte: tests/test_sweep_multidevice.py kills a process in this hook)
