"""Shared fixtures. Float64 is opt-in per test (``x64`` fixture; theory modules set it for all their
tests with ``pytestmark``) so the diffusion tests keep float32."""
import jax
import numpy as np
import pytest


@pytest.fixture
def x64():
    """Run the test with jax_enable_x64 (closed-form comparisons need float64 tolerances)."""
    with jax.enable_x64(True):
        yield


@pytest.fixture
def gaussian_setup():
    """(data, dim) -> (Gaussian(dim), make_data_law(data, dim)): the theory tests' family and law."""
    from scsc_theory.data import make_data_law
    from scsc_theory.families import Gaussian

    return lambda data, dim: (Gaussian(dim), make_data_law(data, dim))


@pytest.fixture(scope="session")
def gaussian_sweep(tmp_path_factory):
    """A finished well-specified Gaussian sweep (4 lambda x 3 gamma x 4 seeds, n = 1000, 10 generations)
    and its output folder, shared by the sweep run, results and plotting tests."""
    from scsc_theory.data import make_data_law
    from scsc_theory.families import Gaussian
    from scsc_theory.sweep import run_sweep

    out = tmp_path_factory.mktemp("gs")
    res = run_sweep(Gaussian(2), make_data_law("normal", 2), "0.2:0.9:4", "0:3:3", np.arange(4), n=1000,
                    generations=10, chunk=5, out_dir=out)
    return res, out
