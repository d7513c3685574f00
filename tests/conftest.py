"""Shared fixtures. Float64 is opt-in per test (``x64`` fixture; theory modules set it for all their
tests with ``pytestmark``) so the diffusion tests keep float32."""
import os
import shutil
import tempfile

#: The suite compiles hundreds of XLA programs on 2 CPU cores, and compilation is most of its time.
#: LLVM's optimisation level changes how fast the generated code runs, not what it computes (XLA's CPU
#: backend does not use fast-math, so no floating-point operation is reordered or fused differently),
#: and the HLO passes run as for any user; level 0 compiles about a third faster. Set before JAX starts
#: its backend; subprocesses the tests start inherit it (tests that set their own flags append to it).
from _env import xla_flags_with  # noqa: E402

os.environ["XLA_FLAGS"] = xla_flags_with("--xla_backend_optimization_level=0")

import jax  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

#: One XLA compilation cache per test run, shared by pytest-xdist's workers (the controller names it
#: before they start; they inherit the variable): a program that several tests build (the same loop
#: scan, model or corrector at the same shapes) compiles once per run instead of once per test. The
#: executable is the one compilation produces (``tests/test_io_compile_cache.py``), so no number
#: changes. The folder is new for every run (CI measures a cold suite) and removed at its end.
_RUN_CACHE = "SCSC_TEST_XLA_CACHE"


def pytest_configure(config):
    if not hasattr(config, "workerinput") and _RUN_CACHE not in os.environ:
        os.environ[_RUN_CACHE] = tempfile.mkdtemp(prefix="scsc-test-xla-")
        config._scsc_run_cache = os.environ[_RUN_CACHE]
    jax.config.update("jax_compilation_cache_dir", os.environ[_RUN_CACHE])
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)


def pytest_unconfigure(config):
    folder = getattr(config, "_scsc_run_cache", None)
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)
        os.environ.pop(_RUN_CACHE, None)


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
