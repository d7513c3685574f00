"""Clips per second of the physics corrector, both backends, measured in the same run.

    python benchmarks/physics_correction.py [--n 256] [--frames 60] [--threads N] [--mjx-n 64] [--repeats 3]

Corrects n dataset clips with added joint noise (60 frames at 20 fps: 590 physics steps each).
On CPU the MJX batch defaults to 16 clips (clips per second is what is compared).
Wall time on a shared machine depends on the load, so the rollout line also gives the CPU time.
Reports the median wall time of ``--repeats`` runs per backend (MJX: after one compile run, which
is reported separately), clips per second, and the ratio rollout / mjx; and the full corrector
(``physics.correct``, every joint-noise clip invalid, so every clip is projected) once.
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np


def _time(fn, repeats):
    """Median wall seconds and median process CPU seconds (all threads) of ``fn()``."""
    ts, cs = [], []
    for _ in range(repeats):
        c0, t0 = time.process_time(), time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
        cs.append(time.process_time() - c0)
    return statistics.median(ts), statistics.median(cs)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=256, help="clips for the rollout backend (default 256)")
    ap.add_argument("--mjx-n", type=int, default=None,
                    help="clips for MJX (default: --n on an accelerator, 16 on CPU, where MJX with this model's "
                         "175 contact slots is slow: 256 clips did not finish in 13 min on 2 busy cores)")
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--threads", type=int, default=None, help="rollout threads (default: all usable cores)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--skip-mjx", action="store_true")
    args = ap.parse_args(argv)

    import jax

    from scsc_theory.motion import data, physics

    ds = data.generate(args.n, seed=0, T=args.frames)
    q = data.corrupt(ds.qpos, "joint_noise", seed=0)
    print(f"device: {jax.devices()[0]}, clips of {args.frames} frames at 20 fps")
    physics.simulate_tracking(q[:4], backend="rollout", n_threads=args.threads)  # warm caches
    nthr = physics._n_threads(args.threads)
    t_r, c_r = _time(lambda: physics.simulate_tracking(q, backend="rollout", n_threads=args.threads), args.repeats)
    cps_r = args.n / t_r
    print(f"rollout: {args.n} clips in {t_r:.2f} s -> {cps_r:.1f} clips/s (threads={nthr}; "
          f"{c_r:.2f} CPU-s, i.e. {c_r / nthr:.2f} s on {nthr} uncontended cores)")
    t_c, c_c = _time(lambda: physics.correct(q, backend="rollout", n_threads=args.threads), 1)
    print(f"corrector (physics.correct: validity gate + {physics.ILC_ITERATIONS + 1} learning-control rollouts "
          f"per invalid clip): {args.n} clips in {t_c:.2f} s -> {args.n / t_c:.1f} clips/s "
          f"({c_c:.2f} CPU-s; target: 256 clips in < 20 s on 2 cores)")
    if args.skip_mjx:
        return 0
    nm = args.mjx_n or (args.n if jax.default_backend() != "cpu" else 16)
    qm = q[:nm]
    t0 = time.perf_counter()
    physics.simulate_tracking(qm, backend="mjx")
    t_c = time.perf_counter() - t0
    t_m, _ = _time(lambda: physics.simulate_tracking(qm, backend="mjx"), args.repeats)
    cps_m = nm / t_m
    print(f"mjx:     {nm} clips in {t_m:.2f} s -> {cps_m:.1f} clips/s (first call incl. compile {t_c:.1f} s)")
    print(f"ratio rollout/mjx clips per second: {cps_r / cps_m:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
