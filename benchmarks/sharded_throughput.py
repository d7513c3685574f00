"""Issue 14, benchmark (c): sharded sweep throughput for 1, 2 and 4 forced host devices.

Each device count runs in its own subprocess (``XLA_FLAGS=--xla_force_host_platform_device_count=D``
must be set before JAX is imported). The config axis (C configs, lambda and gamma spread over a
grid, n = 50) is laid out with a ``NamedSharding`` over all devices, exactly as ``scsc sweep`` does,
and the engine's jitted chunk is timed warm (best of 3) for the stats and the point-level path.
Ratios are config-generations/s against 1 device in the same run. Per-config numbers do not
depend on D (``tests/test_sharding_exact.py``): the same run checks that here too.

    python benchmarks/sharded_throughput.py [--configs 2048] [--generations 100] [--devices 1,2,4]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

CHILD = r'''
import json, sys, time, hashlib
import numpy as np, jax, jax.numpy as jnp
from jax.sharding import Mesh, NamedSharding, PartitionSpec
from scsc_theory import Gaussian, Normal
from scsc_theory import correction as corr
from scsc_theory.loop import LoopSpec, compiled_runner, synthetic_count
C, T = int(sys.argv[1]), int(sys.argv[2])
fam, law = Gaussian(2), Normal.standard(2)
rng = np.random.default_rng(0)
lam, gam, seed = rng.uniform(0.1, 1.5, C), rng.uniform(0.0, 3.0, C), np.arange(C)
n = 50
m = synthetic_count(lam, n)
devs = jax.devices()
sh = NamedSharding(Mesh(np.asarray(devs), ("c",)), PartitionSpec("c"))
put = lambda x: jax.device_put(x, sh)
dt = jnp.zeros(()).dtype
out = {"devices": len(devs)}
for sampling in ("stats", "finite"):
    spec = LoopSpec(n=n, generations=T, m_max=0 if sampling == "stats" else int(m.max()), sampling=sampling)
    run = compiled_runner(fam, law, spec, T)
    ts = fam.theta_star(law)
    th0 = jax.tree_util.tree_map(lambda a: put(np.broadcast_to(np.asarray(a), (C,) + a.shape).copy()), ts)
    args = (put(lam.astype(dt)), put(gam.astype(dt)), put(seed.astype(np.uint32)))
    st, _ = run.init(*args, th0, put(np.zeros(C, bool)))
    if sampling == "stats":
        lo, cdf = corr.count_table("ideal", m, gam)
        st = dict(st, count_lo=put(lo), count_cdf=put(cdf.astype(dt)))
    best = np.inf
    for r in range(4):
        s_in = jax.tree_util.tree_map(jnp.copy, st)
        t0 = time.perf_counter()
        res = run.chunk(jnp.asarray(0, jnp.int32), s_in, *args, put(m.astype(np.int32)))
        jax.block_until_ready(res)
        if r > 0:
            best = min(best, time.perf_counter() - t0)
    w2 = np.asarray(res[2]["metrics"]["w2"])
    out[sampling] = {"s": best, "rate": C * T / best, "sha": hashlib.sha256(w2.tobytes()).hexdigest()[:12]}
print(json.dumps(out))
'''


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--configs", type=int, default=2048)
    ap.add_argument("--generations", type=int, default=100)
    ap.add_argument("--devices", default="1,2,4")
    args = ap.parse_args()
    root = Path(__file__).resolve().parents[1]
    res = []
    for d in [int(x) for x in args.devices.split(",")]:
        env = dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={d}",
                   PYTHONPATH=str(root) + os.pathsep + os.environ.get("PYTHONPATH", ""))
        p = subprocess.run([sys.executable, "-c", CHILD, str(args.configs), str(args.generations)],
                           capture_output=True, text=True, env=env)
        if p.returncode != 0:
            raise SystemExit(p.stderr[-2000:])
        res.append(json.loads(p.stdout.strip().splitlines()[-1]))
    print(f"{args.configs} configs x {args.generations} generations, n=50, gaussian d=2, {os.cpu_count()} CPU cores "
          "(warm, best of 3)")
    for r in res:
        print(f"devices={r['devices']}: " + "   ".join(
            f"{s}: {r[s]['rate']:>10,.0f} config-gen/s ({r[s]['rate'] / res[0][s]['rate']:.2f}x vs 1 device, w2 sha {r[s]['sha']})"
            for s in ("stats", "finite")))
    same = all(r[s]["sha"] == res[0][s]["sha"] for r in res for s in ("stats", "finite"))
    print(f"per-config w2 bit-identical across device counts: {same}")


if __name__ == "__main__":
    main()
