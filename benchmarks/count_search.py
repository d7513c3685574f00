"""Issue 14: where the stats path's step at n = 1e6 comes from, and what a two-level search would buy.

    python benchmarks/count_search.py [--configs 16] [--steps 200]

The ideal correction's exact binomial count is drawn by inverting a per-config CDF table
(``scsc_theory.correction.count_table`` / ``draw_count``) whose width grows like sqrt(m): 26 sd + 1
entries, 9,195 at m = 5e5. This script times, inside one jitted ``lax.scan`` of ``--steps`` draws for
``--configs`` configs (as the loop engine runs them), the inversion of tables of K entries by
``jnp.searchsorted`` with each of its methods, and by a two-level search (a host-precomputed coarse
table of every B-th entry, B = ceil(sqrt(K)), then one B-entry block by ``lax.dynamic_slice``), which
touches O(sqrt(K)) entries per draw. Both give the same index for every draw (checked here on each
K). Ratios are against ``draw_count``'s method (``compare_all`` up to 64 entries, else ``scan``) in the
same run. The two-level form is the candidate fix for ``draw_count``; it changes ``correction.py``,
whose hash the motion and digits results carry, so it lands with their next re-run.
"""
from __future__ import annotations

import argparse
import math
import time

import numpy as np


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--configs", type=int, default=16)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--ks", default="9,200,2000,9195,13000,40000")
    a = ap.parse_args(argv)
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)  # the loop engine's count tables are float64
    C, S = a.configs, a.steps

    def two_level(coarse, cdf, u, B):
        b = jnp.sum(coarse <= u)
        return b * B + jnp.sum(jax.lax.dynamic_slice(cdf, (b * B,), (B,)) <= u)

    def timed(fn, *tables):
        def loop(key):
            def body(k, _):
                k, s = jax.random.split(k)
                return k, fn(*tables, jax.random.uniform(s, (C,), jnp.float64))
            return jax.lax.scan(body, key, None, length=S)[1]

        g = jax.jit(loop)
        out = jax.block_until_ready(g(jax.random.PRNGKey(0)))
        best = np.inf
        for r in range(a.repeats):
            t0 = time.perf_counter()
            jax.block_until_ready(g(jax.random.PRNGKey(r + 1)))
            best = min(best, time.perf_counter() - t0)
        return best / S, np.asarray(out)

    print(f"{C} configs, {S} draws per jitted scan, best of {a.repeats}; us per draw step (all configs); "
          f"{jax.devices()[0].platform}")
    print(f"{'K':>7} {'draw_count':>11} {'scan':>8} {'unrolled':>9} {'compare_all':>12} {'two-level':>10} "
          f"{'draw_count/two-level':>21}")
    rng = np.random.default_rng(0)
    for K in [int(x) for x in a.ks.split(",")]:
        B = math.isqrt(K - 1) + 1
        nb = -(-K // B)
        cdf = np.sort(rng.random((C, K)), axis=1)
        padded = np.concatenate([cdf, np.ones((C, nb * B - K + B))], axis=1)  # P(k <= last) = 1 beyond the table
        coarse = padded[:, B - 1:nb * B:B]
        res = {}
        ref = None
        for meth in ("scan", "scan_unrolled", "compare_all"):
            f = jax.vmap(lambda c, u, m=meth: jnp.searchsorted(c, u, side="right", method=m))
            res[meth], idx = timed(f, jnp.asarray(cdf))
            ref = idx if ref is None else ref
            assert np.array_equal(idx, ref)
        f2 = jax.vmap(lambda co, c, u: two_level(co, c, u, B))
        res["two"], idx = timed(f2, jnp.asarray(coarse), jnp.asarray(padded))
        assert np.array_equal(idx, ref), "two-level search disagrees with searchsorted"
        dc = res["compare_all"] if K <= 64 else res["scan"]
        print(f"{K:>7} {dc * 1e6:>11.2f} {res['scan'] * 1e6:>8.2f} {res['scan_unrolled'] * 1e6:>9.2f} "
              f"{res['compare_all'] * 1e6:>12.2f} {res['two'] * 1e6:>10.2f} {dc / res['two']:>20.1f}x", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
