"""Issue 14, benchmark (a): the P1 configuration, wall time including start-up and compile.

P1 = ``scsc toy --mode fixed --seeds 256``: 8 gammas x 256 seeds x 500 generations (2048 configs),
n = 50, lambda = 0.5, ideal correction. Measured in this run, each as a fresh subprocess (Python
start-up, imports, compilation, the run, writing summary/curves/figure):

* ``--sampling stats`` (exact sufficient-statistic draws), with the default PRNG and with
  ``--prng philox4x32``;
* ``--sampling finite`` (the point-level JAX path);
* the reference: an independent one-config-at-a-time NumPy loop (``benchmarks/toy_loop.py::numpy_loop``,
  point-level, W2 every generation), timed on ``--numpy-configs`` configs and extrapolated linearly
  to 2048 (its cost is linear in configs; the output says so).

Each ``scsc toy`` configuration runs twice with one fresh package cache folder: ``cold`` (compiles and
fills the persistent compilation cache the command keeps, :func:`scsc_theory.io.enable_compile_cache`)
and ``cached`` (a repeat of the same command, which loads the compiled programs).

Then where the stats run's time goes (in one subprocess): start-up + imports, first call
(compile + run), a warm second call, and the random numbers alone.

    python benchmarks/p1_toy.py                   # full P1
    python benchmarks/p1_toy.py --seeds 32 --numpy-configs 8
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

BREAKDOWN = r'''
import time, json, sys
t0 = time.perf_counter()
import numpy as np, jax, jax.numpy as jnp
from scsc_theory import Gaussian, Normal, grid, run_loop
from scsc_theory.toy import PAPER_GAMMAS
jnp.zeros(1).block_until_ready()
t_import = time.perf_counter() - t0
seeds, T, prng = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
L, G, S = grid([0.5], PAPER_GAMMAS, np.arange(seeds))
kw = dict(lam=L, gamma=G, seed=S, n=50, generations=T, mode="fixed", sampling="stats", prng=prng, record_thetas=False)
t0 = time.perf_counter(); run_loop(Gaussian(2), Normal.standard(2), **kw); t_first = time.perf_counter() - t0
t0 = time.perf_counter(); run_loop(Gaussian(2), Normal.standard(2), **kw); t_warm = time.perf_counter() - t0
# the random numbers alone: one uniform call of the size the stats path draws per generation
from scsc_theory.loop import root_key
n_u = L.size * (2 * (2 + 4 + 2 * 2 + 2 * 2 + 2) + 1)
f = jax.jit(lambda k, t: jax.random.uniform(jax.random.fold_in(k, t), (n_u,)).sum())
k = root_key(0, prng); f(k, 0).block_until_ready()
t0 = time.perf_counter()
for t in range(T): f(k, t).block_until_ready()
t_rng = time.perf_counter() - t0
print(json.dumps({"import_s": t_import, "first_call_s": t_first, "warm_call_s": t_warm, "rng_s": t_rng}))
'''


def cli_time(args, out, cache_home):
    """Wall time of one ``scsc toy`` process whose package cache (hence compile cache) is ``cache_home``."""
    cmd = [sys.executable, "-m", "scsc_theory.cli", "toy", *args, "--out", str(out), "--figures", str(out)]
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
               SCSC_CACHE=str(cache_home))
    t0 = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    dt = time.perf_counter() - t0
    if p.returncode != 0:
        raise SystemExit(p.stderr[-2000:])
    return dt, json.loads((Path(out) / "summary.json").read_text())


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=256)
    ap.add_argument("--generations", type=int, default=500)
    ap.add_argument("--numpy-configs", type=int, default=16, help="NumPy configs timed (then extrapolated)")
    ap.add_argument("--skip-finite", action="store_true", help="skip the point-level JAX run")
    args = ap.parse_args()
    sys.path.insert(0, str(HERE))
    import numpy as np

    from toy_loop import numpy_loop

    gammas = (0.0, 0.01, 0.03, 0.1, 0.3, 1.0, 2.0, 5.0)
    C, T = len(gammas) * args.seeds, args.generations
    base = ["--mode", "fixed", "--seeds", str(args.seeds), "--generations", str(T)]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        # each configuration twice with one fresh cache folder: a cold start (compiles, fills the
        # persistent compilation cache) and a repeat (loads the compiled programs)
        for name, extra in [("stats, threefry2x32", ["--sampling", "stats"]),
                            ("stats, philox4x32", ["--sampling", "stats", "--prng", "philox4x32"])] + \
                ([] if args.skip_finite else [("finite (point-level JAX)", ["--sampling", "finite"])]):
            home = Path(tmp) / f"cache{len(rows)}"
            for start in ("cold", "cached"):
                dt, summ = cli_time(base + extra, Path(tmp) / f"out{len(rows)}", home)
                rows.append((name, start, dt, summ))
    k = min(args.numpy_configs, C)
    t0 = time.perf_counter()
    for c in range(k):
        numpy_loop(0.5, gammas[c % len(gammas)], c, 50, T)
    t_np_k = time.perf_counter() - t0
    t_np = t_np_k * C / k
    import jax

    print(f"P1: {len(gammas)} gammas x {args.seeds} seeds x {T} generations = {C} configs, n=50, lambda=0.5, "
          f"fixed mode, ideal correction; {os.cpu_count()} CPU cores, {jax.devices()[0].platform}")
    print(f"numpy one config at a time: {k} configs timed in {t_np_k:.2f} s, extrapolated linearly to {C} configs: {t_np:.1f} s")
    for name, start, dt, summ in rows:
        fw = ", ".join(f"{m:.3f}" for m in summ["final_w2_mean"])
        print(f"scsc toy --sampling {name + ', ' + start:36s} {dt:7.2f} s wall (start-up + compile + run + files)  "
              f"ratio vs numpy {t_np / dt:6.1f}x   final W2 by gamma: {fw}")
    if not args.skip_finite:
        fin = {start: dt for _, start, dt, _ in rows[-2:]}
        for name, start, dt, _ in rows[:-2]:
            print(f"stats ({name.split(', ', 1)[1]}) vs point-level JAX ({start}): {fin[start] / dt:.1f}x")
    p = subprocess.run([sys.executable, "-c", BREAKDOWN, str(args.seeds), str(T), "philox4x32"],
                       capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    if p.returncode == 0:
        b = json.loads(p.stdout.strip().splitlines()[-1])
        print(f"where the stats (philox4x32) time goes: start-up + imports {b['import_s']:.2f} s, first run_loop "
              f"{b['first_call_s']:.2f} s (compile ~ {b['first_call_s'] - b['warm_call_s']:.2f} s + run), warm run "
              f"{b['warm_call_s']:.2f} s, of which the random numbers alone ~ {b['rng_s']:.2f} s")
    else:
        print("breakdown failed:", p.stderr[-500:])


if __name__ == "__main__":
    main()
