"""The sweep's configuration (scsc_theory.sweep.config): range and seed parsing, the frozen validated
SweepConfig and its key, and command-line errors raised before anything is compiled."""
import dataclasses

import numpy as np
import pytest

from scsc_theory import SCSCInputError, make_data_law
from scsc_theory.cli import main
from scsc_theory.families import GMM, Gaussian
from scsc_theory.sweep import SweepConfig, parse_range, parse_seeds, sweep_key


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

    monkeypatch.setattr(loop, "compiled_runner", boom)
    rc = main(["sweep", *argv, "--out", str(tmp_path / "o"), "--C", "1"])
    assert rc == 2
    assert msg in capsys.readouterr().err


def _cfg(**kw):
    args = dict(n=50, generations=6, chunk=3)
    args.update(kw)
    return SweepConfig.build(Gaussian(2), make_data_law("normal", 2), "0.2:0.6:3", "0,1", [0, 1], **args)


def test_sweep_config_is_frozen_hashable_and_keyed_by_what_sets_the_numbers():
    a, b = _cfg(), _cfg()
    assert a == b and hash(a) == hash(b) and a.key == b.key == sweep_key(a.attrs())
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.n = 10
    assert a.lams == (0.2, 0.4, 0.6) and a.gammas == (0.0, 1.0) and a.seeds == (0, 1)
    assert a.perturb == Gaussian(2).sweep_perturbation and a.chunk == 3
    # every number-determining field changes the key
    for kw in ({"n": 51}, {"generations": 7}, {"chunk": 2}, {"perturb": 0.1}, {"t_fit": 4}, {"corrector": "stratified"}):
        assert _cfg(**kw).key != a.key, kw
    other = SweepConfig.build(Gaussian(2), make_data_law("laplace", 2), "0.2:0.6:3", "0,1", [0, 1], n=50,
                              generations=6, chunk=3)
    assert other.key != a.key
    assert _cfg(chunk=100).chunk == 6  # chunk is capped at the number of generations


@pytest.mark.parametrize("kw, msg", [({"n": 1}, "n"), ({"generations": 0}, "generations"), ({"perturb": -1.0}, "perturb"),
                                     ({"t_fit": 0}, "t_fit"), ({"corrector": "magic"}, "corrector")])
def test_sweep_config_rejects_bad_values(kw, msg):
    with pytest.raises(SCSCInputError, match=msg):
        _cfg(**kw)
    with pytest.raises(SCSCInputError, match="seeds is empty"):
        SweepConfig.build(Gaussian(2), make_data_law("normal", 2), "0.2", "0", [], n=50)
    with pytest.raises(SCSCInputError, match="dimension"):
        SweepConfig.build(GMM(3), make_data_law("mixture", 2), "0.2", "0", [0], n=50)
