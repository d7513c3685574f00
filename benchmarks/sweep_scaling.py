"""Config-generations per second of the SCSC loop: one config at a time, the vmapped sweep, and the
sweep sharded over all local devices, measured in the same run (compile time excluded, reported).

    python benchmarks/sweep_scaling.py [--family gaussian|gmm|flow] [--configs 64] [--generations 100] [--devices 2]

``--devices D`` forces XLA's host platform to D CPU devices (set before JAX is imported); on a
machine with accelerators the sharded run uses all local devices instead.
"""
from __future__ import annotations

import argparse
import os
import sys
import time


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--family", default="gaussian")
    ap.add_argument("--data", default=None)
    ap.add_argument("--configs", type=int, default=64)
    ap.add_argument("--generations", type=int, default=100)
    ap.add_argument("--single", type=int, default=8, help="configs timed one at a time (default 8)")
    ap.add_argument("--n", type=int, default=50)
    ap.add_argument("--devices", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    if "jax" not in sys.modules and args.devices > 1:
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                                   f" --xla_force_host_platform_device_count={args.devices}").strip()
    import jax
    import jax.numpy as jnp
    import numpy as np
    from jax.sharding import Mesh, NamedSharding, PartitionSpec

    from scsc_theory.data import make_data_law
    from scsc_theory.loop import LoopSpec, compiled_runner, synthetic_count
    from scsc_theory.sweep import make_family

    fam = make_family(args.family, 2)
    law = make_data_law(args.data or ("normal" if args.family == "gaussian" else "mixture"), 2)
    T, C = args.generations, args.configs
    rng = np.random.default_rng(0)
    lam = rng.uniform(0.1, 1.5, C)
    gam = rng.uniform(0.0, 3.0, C)
    seed = np.arange(C)
    m = synthetic_count(lam, args.n)
    spec = LoopSpec(n=args.n, generations=T, m_max=int(synthetic_count(1.5, args.n)))
    run = compiled_runner(fam, law, spec, T)
    ts = fam.theta_star(law)
    dt = jnp.zeros(()).dtype

    def inputs(idx, put):
        k = len(idx)
        th0 = jax.tree_util.tree_map(lambda a: put(np.broadcast_to(np.asarray(a), (k,) + a.shape).copy()), ts)
        return (put(lam[idx].astype(dt)), put(gam[idx].astype(dt)), put(seed[idx].astype(np.uint32)), th0,
                put(np.zeros(k, bool)), put(m[idx].astype(np.int32)))

    def go(args_):
        l, g, s, th0, use0, mm = args_
        st, _ = run.init(l, g, s, th0, use0)
        t, st, rec = run.chunk(jnp.asarray(0, jnp.int32), st, l, g, s, mm)
        jax.block_until_ready(rec)

    def timed(fn, reps):
        t0 = time.perf_counter()
        fn()
        first = time.perf_counter() - t0
        best = np.inf
        for _ in range(reps):
            t0 = time.perf_counter()
            fn()
            best = min(best, time.perf_counter() - t0)
        return first, best

    plain = lambda x: jnp.asarray(x)  # noqa: E731
    K = min(args.single, C)
    single_inputs = [inputs(np.array([i]), plain) for i in range(K)]
    f1, b1 = timed(lambda: [go(a) for a in single_inputs], args.repeats)
    vm = inputs(np.arange(C), plain)
    f2, b2 = timed(lambda: go(vm), args.repeats)
    devs = jax.local_devices()
    Cs = C // len(devs) * len(devs)
    sh = NamedSharding(Mesh(np.asarray(devs), ("c",)), PartitionSpec("c"))
    put = lambda x: jax.device_put(x, sh)  # noqa: E731
    shi = inputs(np.arange(Cs), put)
    f3, b3 = timed(lambda: go(shi), args.repeats)
    rows = [("one config at a time", K, b1, f1), ("vmapped sweep (1 device)", C, b2, f2),
            (f"sharded sweep ({len(devs)} devices)", Cs, b3, f3)]
    print(f"family={fam.name} data={law.name} n={args.n} generations={T} platform={devs[0].platform} "
          f"devices={len(devs)} (best of {args.repeats}, after warm-up)")
    base = K * T / b1
    for name, k, b, f in rows:
        rate = k * T / b
        print(f"{name:28s} configs={k:4d}  {rate:12.0f} config-generations/s  ({rate / base:6.1f}x)  "
              f"first call incl. compile {f:.2f} s")


if __name__ == "__main__":
    main()
