"""The persistent compilation cache the ``scsc`` command turns on saves compile time and changes no
number: a process that loads the cached executables computes exactly what a process without the
cache computes."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from scsc_theory.cli import build_parser
from scsc_theory.io import compile_cache_dir, enable_compile_cache

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = r'''
import json, sys
import numpy as np
from scsc_theory.io import enable_compile_cache
if sys.argv[1] != "off":
    enable_compile_cache(sys.argv[1], min_compile_s=0.0)
from scsc_theory import Gaussian, Normal, grid, run_loop
L, G, S = grid([0.5], [0.0, 1.0], np.arange(3))
r = run_loop(Gaussian(2), Normal.standard(2), lam=L, gamma=G, seed=S, n=50, generations=12, mode="fixed",
             sampling=sys.argv[2], record_thetas=False)
print(json.dumps({k: np.asarray(v, np.float64).tolist() for k, v in sorted(r.metrics.items())}))
'''


def _run(cache, sampling):
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    p = subprocess.run([sys.executable, "-c", SCRIPT, str(cache), sampling], capture_output=True, text=True,
                       env=env, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    return json.loads(p.stdout.strip().splitlines()[-1])


# the stats path is the one the P1 benchmark times; the cache is engine-agnostic, the finite path is the
# same check on a second program (slow: three more cold processes)
@pytest.mark.parametrize("sampling", ["stats", pytest.param("finite", marks=pytest.mark.slow)])
def test_cached_executables_compute_the_same_numbers(tmp_path, sampling):
    cache = tmp_path / "xla"
    fresh = _run(cache, sampling)                 # compiles and stores
    stored = sorted(p.name for p in cache.iterdir())
    assert any("chunk" in name for name in stored), stored   # the generation loop was cached
    loaded = _run(cache, sampling)                # loads the stored executables
    assert sorted(p.name for p in cache.iterdir()) == stored   # nothing recompiled into new entries
    plain = _run("off", sampling)
    assert fresh == plain and loaded == plain     # bit for bit (JSON of float64 values)


def test_cache_folder_is_per_machine_and_created(tmp_path, monkeypatch):
    monkeypatch.setenv("SCSC_CACHE", str(tmp_path))
    d = compile_cache_dir()
    assert d.parent == tmp_path / "xla" and len(d.name) == 16
    import jax

    before = (jax.config.jax_compilation_cache_dir, jax.config.jax_persistent_cache_min_compile_time_secs)
    try:
        assert enable_compile_cache(tmp_path / "c", min_compile_s=2.0) == tmp_path / "c"
        assert (tmp_path / "c").is_dir() and jax.config.jax_compilation_cache_dir == str(tmp_path / "c")
    finally:
        jax.config.update("jax_compilation_cache_dir", before[0])
        jax.config.update("jax_persistent_cache_min_compile_time_secs", before[1])


def test_command_line_switch():
    assert build_parser().parse_args(["--no-compile-cache", "constants"]).no_compile_cache
    assert not build_parser().parse_args(["constants"]).no_compile_cache


def test_the_console_command_keeps_compiled_programs_unless_told_not_to(tmp_path):
    env = dict(os.environ, SCSC_CACHE=str(tmp_path / "home"),
               PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    args = ["toy", "--mode", "fixed", "--seeds", "2", "--generations", "10"]
    xla = tmp_path / "home" / "xla"
    for flag, where in ((["--no-compile-cache"], "off"), ([], "on")):
        out = tmp_path / where
        p = subprocess.run([sys.executable, "-m", "scsc_theory.cli", *flag, *args, "--out", str(out), "--figures",
                            str(out)], capture_output=True, text=True, env=env, timeout=300)
        assert p.returncode == 0, p.stderr[-2000:]
        if where == "off":
            assert not xla.exists(), "scsc --no-compile-cache wrote compiled programs"
    assert any("chunk" in f.name for f in xla.rglob("*")), "scsc did not store its compiled loop"
    on, off = (json.loads((tmp_path / w / "summary.json").read_text()) for w in ("on", "off"))
    assert on["final_w2_mean"] == off["final_w2_mean"]
