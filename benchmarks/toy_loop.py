"""Throughput of the jitted toy sweep against a one-config-at-a-time NumPy loop, in the same run.

Both do the same work per config-generation (fixed mode, finite samples, ideal correction):
draw floor(lambda n) points from the current Gaussian, replace each by a p_theta* draw with
probability gamma/(1+gamma), refit the weighted MLE on n real + synthetic points, and compute
the closed-form W2 to theta*. Throughput is config-generations per second; the JAX time includes
compilation. The NumPy loop is timed on a subset of configs (its cost is linear in configs).

    python benchmarks/toy_loop.py                 # 2048 configs x 500 generations
    python benchmarks/toy_loop.py --configs 256 --generations 200
"""
from __future__ import annotations

import argparse
import time

import numpy as np


def numpy_loop(lam, gamma, seed, n, generations, dim=2):
    """The straightforward reference: one config, a Python loop over generations."""
    rng = np.random.default_rng(seed)
    x_real = rng.standard_normal((n, dim))
    mean, cov = x_real.mean(0), np.cov(x_real.T, bias=True)
    m = int(np.floor(lam * n + 1e-9))
    w = np.concatenate([np.full(n, 1.0 / n), np.full(m, lam / max(m, 1))])
    p = gamma / (1 + gamma)
    out = np.empty(generations + 1)

    def w2(mean, cov):  # target N(0, I): W2^2 = |m|^2 + tr(S + I - 2 S^{1/2})
        ev = np.linalg.eigvalsh(cov)
        return np.sqrt(max(mean @ mean + np.sum(ev + 1 - 2 * np.sqrt(np.clip(ev, 0, None))), 0.0))

    out[0] = w2(mean, cov)
    for t in range(generations):
        ev, V = np.linalg.eigh(cov)
        root = (V * np.sqrt(np.clip(ev, 0, None))) @ V.T
        xs = mean + rng.standard_normal((m, dim)) @ root
        flip = rng.random(m) < p
        xs[flip] = rng.standard_normal((int(flip.sum()), dim))
        x = np.concatenate([x_real, xs])
        mean = w @ x / w.sum()
        d = x - mean
        cov = (w[:, None] * d).T @ d / w.sum()
        out[t + 1] = w2(mean, cov)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--configs", type=int, default=2048)
    ap.add_argument("--generations", type=int, default=500)
    ap.add_argument("--numpy-configs", type=int, default=16, help="configs timed for the NumPy loop")
    ap.add_argument("--n", type=int, default=50)
    args = ap.parse_args()

    import jax

    from scsc_theory import Gaussian, Normal, grid, run_loop

    gammas = np.linspace(0.0, 5.0, 8)
    seeds = np.arange(max(1, args.configs // len(gammas)))
    lam, gamma, seed = grid([0.5], gammas, seeds)
    C, T = lam.size, args.generations

    t0 = time.perf_counter()
    res = run_loop(Gaussian(2), Normal.standard(2), lam=lam, gamma=gamma, seed=seed, n=args.n, generations=T,
                   record_thetas=False)
    jax.block_until_ready(res.metrics["w2"])
    t_jax_total = time.perf_counter() - t0
    t0 = time.perf_counter()
    res = run_loop(Gaussian(2), Normal.standard(2), lam=lam, gamma=gamma, seed=seed, n=args.n, generations=T,
                   record_thetas=False)
    t_jax_warm = time.perf_counter() - t0

    k = min(args.numpy_configs, C)
    t0 = time.perf_counter()
    for c in range(k):
        numpy_loop(lam[c], gamma[c], int(seed[c]), args.n, T)
    t_np = time.perf_counter() - t0

    thr_jax = C * T / t_jax_total
    thr_jax_warm = C * T / t_jax_warm
    thr_np = k * T / t_np
    print(f"device: {jax.devices()[0].device_kind} ({jax.device_count()} device(s)), n={args.n}, lambda=0.5, fixed mode")
    print(f"jax  jit+vmap+scan: {C} configs x {T} generations in {t_jax_total:.2f} s incl. compile "
          f"({t_jax_warm:.2f} s warm) -> {thr_jax:,.0f} config-gen/s ({thr_jax_warm:,.0f} warm)")
    print(f"numpy one config at a time: {k} configs x {T} generations in {t_np:.2f} s -> {thr_np:,.0f} config-gen/s")
    print(f"ratio (jax incl. compile / numpy): {thr_jax / thr_np:.1f}x   (warm: {thr_jax_warm / thr_np:.1f}x)")


if __name__ == "__main__":
    main()
