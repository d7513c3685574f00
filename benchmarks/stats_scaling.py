"""Issue 14, benchmark (b): cost per generation of the sufficient-statistic path as n and d grow.

For each n in 50 .. 10^6 (d = 2) and each d in 2 .. 100 (n = 1000): C configs, lambda = 0.5,
gamma = 1, fixed mode, ideal correction; the generation chunk is compiled and run once (warm-up),
then timed (best of ``--repeats``; the one-off real-data draw and summary at init are excluded:
they are O(n) once per seed, not per generation). The point-level path is timed alongside for the
smaller n as the contrast (its cost grows like m = floor(lambda n)). Ratios are against the
smallest n (or d) in the same run.

    python benchmarks/stats_scaling.py                 # n sweep and d sweep
    python benchmarks/stats_scaling.py --configs 8 --generations 20
"""
from __future__ import annotations

import argparse
import time

import numpy as np


def per_generation(n, d, C, T, sampling, repeats, prng="threefry2x32"):
    import jax
    import jax.numpy as jnp

    from scsc_theory import Gaussian, Normal
    from scsc_theory import correction as corr
    from scsc_theory.loop import LoopSpec, compiled_runner, synthetic_count

    fam, law = Gaussian(d), Normal.standard(d)
    lam, gam, seed = np.full(C, 0.5), np.full(C, 1.0), np.arange(C)
    m = synthetic_count(lam, n)
    spec = LoopSpec(n=n, generations=T, m_max=0 if sampling == "stats" else int(m.max()), sampling=sampling, prng=prng)
    run = compiled_runner(fam, law, spec, T)
    dt = jnp.zeros(()).dtype
    ts = fam.theta_star(law)
    th0 = jax.tree_util.tree_map(lambda a: jnp.broadcast_to(a, (C,) + a.shape), ts)
    args = (jnp.asarray(lam, dt), jnp.asarray(gam, dt), jnp.asarray(seed, jnp.uint32))
    st, _ = run.init(*args, th0, jnp.zeros(C, bool))
    if sampling == "stats":
        lo, cdf = corr.count_table("ideal", m, gam)
        st = dict(st, count_lo=jnp.asarray(lo), count_cdf=jnp.asarray(cdf, dt))
    jax.block_until_ready(st)
    best = np.inf
    for r in range(repeats + 1):
        s_in = jax.tree_util.tree_map(jnp.copy, st)  # the chunk donates its state
        t0 = time.perf_counter()
        out = run.chunk(jnp.asarray(0, jnp.int32), s_in, *args, jnp.asarray(m))
        jax.block_until_ready(out)
        if r > 0:  # r = 0 compiles
            best = min(best, time.perf_counter() - t0)
    return best / T


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--configs", type=int, default=16)
    ap.add_argument("--generations", type=int, default=50)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--ns", default="50,500,5000,50000,500000,1000000")
    ap.add_argument("--ds", default="2,5,10,30,100")
    ap.add_argument("--finite-max-n", type=int, default=5000, help="largest n timed on the point-level path")
    args = ap.parse_args()
    import jax

    C, T = args.configs, args.generations
    print(f"{C} configs, lambda=0.5, gamma=1, ideal, fixed mode; time per generation (all configs), best of "
          f"{args.repeats} warm runs of {T} generations; {jax.devices()[0].platform}")
    ns = [int(float(x)) for x in args.ns.split(",")]
    base = None
    print(f"{'n':>9} {'stats us/gen':>13} {'vs n=' + str(ns[0]):>9} {'finite us/gen':>14} {'finite/stats':>13}")
    rows = []
    for n in ns:
        s = per_generation(n, 2, C, T, "stats", args.repeats)
        f = per_generation(n, 2, C, T, "finite", args.repeats) if n <= args.finite_max_n else float("nan")
        base = s if base is None else base
        rows.append(s)
        print(f"{n:>9} {s * 1e6:>13.1f} {s / base:>8.2f}x {f * 1e6:>14.1f} {f / s:>12.1f}x", flush=True)
    print(f"stats path: max/min time per generation over n = {ns[0]}..{ns[-1]}: {max(rows) / min(rows):.2f}x")
    ds = [int(x) for x in args.ds.split(",")]
    print(f"{'d':>9} {'stats us/gen':>13} {'vs d=' + str(ds[0]):>9} {'finite us/gen':>14} {'finite/stats':>13}   (n=1000)")
    base = None
    for d in ds:
        s = per_generation(1000, d, C, T, "stats", args.repeats)
        f = per_generation(1000, d, C, T, "finite", args.repeats)
        base = s if base is None else base
        print(f"{d:>9} {s * 1e6:>13.1f} {s / base:>8.2f}x {f * 1e6:>14.1f} {f / s:>12.1f}x", flush=True)


if __name__ == "__main__":
    main()
