"""Sharded (2 forced host devices), 2-process jax.distributed (gloo, loopback) and killed-then-resumed
sweeps must reproduce the single-device results. Each run is a subprocess: XLA_FLAGS and
jax.distributed must be set up before JAX is imported.

Tolerance (stated): XLA's CPU kernels may round differently for a different per-device batch of
configs, so sharded runs agree with the one-device run to float32 rounding carried through the
loop (measured: <= 2e-6 absolute, 1.5e-5 relative on every recorded distance; asserted 1e-4), and the fitted contraction factors (fitted from D_t down to 1e-5, which
amplifies last-bit differences) to 2e-3. The resumed run is compared byte for byte."""
import json
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
from _env import subprocess_env
import pytest

ARGS = ["--family", "gaussian", "--data", "normal", "--lam", "0.2:1.4:3", "--gamma", "0:2:2", "--seeds", "2",
        "--generations", "12", "--chunk", "4", "--n", "40", "--C", "1"]


def assert_same(a, b):
    assert a.keys() == b.keys()
    for k in a:
        if a[k].dtype.kind == "f":
            tol = 2e-3 if k.startswith("contraction") else 1e-4
            np.testing.assert_allclose(a[k], b[k], rtol=tol, atol=tol, err_msg=k)
        else:
            np.testing.assert_array_equal(a[k], b[k], err_msg=k)





def _cmd(out, extra=()):
    return [sys.executable, "-m", "scsc_theory.cli", "sweep", *ARGS, "--out", str(out), *extra]


#: ``scsc`` with the sweep's checkpoint hook set to SIGKILL the process after the k-th checkpoint
KILLING_CLI = """
import os, signal, sys
import scsc_theory.sweep as S
_run = S.run_config
def run_config(cfg, **kw):
    kw["on_checkpoint"] = lambda k: os.kill(os.getpid(), signal.SIGKILL) if k >= {k} else None
    return _run(cfg, **kw)
S.run_config = run_config
from scsc_theory.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _run(out, devices=1, extra=(), kill_after=None, check=True):
    cmd = _cmd(out, extra)
    if kill_after is not None:
        cmd = [sys.executable, "-c", KILLING_CLI.replace("{k}", str(int(kill_after)))] + cmd[3:]
    p = subprocess.run(cmd, env=subprocess_env(devices), capture_output=True, text=True, timeout=300)
    if check:
        assert p.returncode == 0, p.stderr[-3000:]
    return p


def _load(d):
    with np.load(Path(d) / "results.npz") as z:
        return {k: z[k] for k in z.files}


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    d = tmp_path_factory.mktemp("ref")
    _run(d)
    return d


def _free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_two_devices_equal_one_device(reference, tmp_path):
    _run(tmp_path, devices=2)
    log = json.loads((tmp_path / "run_log.json").read_text())
    assert log["devices"] == 2
    assert_same(_load(reference), _load(tmp_path))


def test_resume_after_kill_is_identical(reference, tmp_path):
    p = _run(tmp_path, kill_after=2, check=False)
    assert p.returncode != 0  # killed by SIGKILL after the 2nd checkpoint
    assert (tmp_path / "checkpoint.npz").exists() and not (tmp_path / "results.npz").exists()
    _run(tmp_path)  # same command: continues from the checkpoint
    log = json.loads((tmp_path / "run_log.json").read_text())
    assert log["resumed_from_generation"] == 8
    assert not (tmp_path / "checkpoint.npz").exists()
    assert (tmp_path / "results.npz").read_bytes() == (reference / "results.npz").read_bytes()
    assert (tmp_path / "index.json").read_text() == (reference / "index.json").read_text()


@pytest.mark.slow
def test_two_processes_jax_distributed(reference, tmp_path):
    port = _free_port()
    procs = []
    for i in range(2):
        extra = ["--coordinator", f"127.0.0.1:{port}", "--num-processes", "2", "--process-id", str(i)]
        procs.append(subprocess.Popen(_cmd(tmp_path, extra), env=subprocess_env(1), stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True))
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (_, err) in zip(procs, outs):
        assert p.returncode == 0, err[-3000:]
    log = json.loads((tmp_path / "run_log.json").read_text())
    assert log["processes"] == 2 and log["devices"] == 2
    assert_same(_load(reference), _load(tmp_path))
