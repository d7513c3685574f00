"""Throughput of the physics corrector planned in jnp and run as one jit-compiled function on MJX
(:func:`scsc_theory.motion.device.project.correct`) against the host corrector
(:func:`scsc_theory.motion.physics.correct`: NumPy planning, MuJoCo C rollouts or MJX), measured in
this run on the same clips, with clips/s and frames/s (UHC, the paper's corrector, runs at about
120 frames/s on a GPU).

The clips are held-out true clips with joint noise (every one misses the validity thresholds, so
every one is projected: the corrector's full cost). The device corrector's first call (compilation)
is reported apart from the timed repeats.

    python benchmarks/device_corrector.py                       # 64 clips of 60 frames
    python benchmarks/device_corrector.py --n 256 --json figures/device_corrector/cpu.json
"""
from __future__ import annotations

import argparse
import time

import numpy as np


def timed(fn, repeats):
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return float(np.median(ts))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=64, help="clips (>= 1)")
    ap.add_argument("--repeats", type=int, default=2, help="timed repeats per corrector (>= 1)")
    ap.add_argument("--skip-host-mjx", action="store_true", help="skip the host corrector with the MJX backend")
    ap.add_argument("--json", default=None, help="write the numbers (with the code version) to this file")
    a = ap.parse_args()
    if a.n < 1:
        ap.error(f"--n must be >= 1 (got {a.n})")
    if a.repeats < 1:
        ap.error(f"--repeats must be >= 1 (got {a.repeats})")
    import jax
    import jax.numpy as jnp

    from scsc_theory.io import provenance, write_json
    from scsc_theory.motion import controller, data, physics
    from scsc_theory.motion.device import kinematics as dk
    from scsc_theory.motion.device import project as dp

    ds = data.generate(a.n, seed=11, split="test")
    q = data.corrupt(np.asarray(ds.qpos, np.float64), "joint_noise", 0)
    n, T = q.shape[:2]
    planner = jax.tree_util.tree_map(jnp.asarray, controller.planner(ds.fps))
    mx = dk.device_model()
    fn = jax.jit(lambda x: dp.correct(x, strength=1.0, fps=ds.fps, planner=planner, mx=mx))
    x = jnp.asarray(q, jnp.float32)
    runs = {"device (jnp planning + MJX, one jit)": lambda: jax.block_until_ready(fn(x)),
            "host, C rollout": lambda: physics.correct(q, backend="rollout")}
    if not a.skip_host_mjx:
        runs["host, MJX backend"] = lambda: physics.correct(q, backend="mjx")
    first, rows = {}, {}
    for name, run in runs.items():   # the first call compiles (MJX) or loads the planner: reported apart
        first[name] = timed(run, 1)
        rows[name] = timed(run, a.repeats)
    print(f"{n} clips of {T} frames, every clip projected; JAX device: {jax.devices()[0]}")
    base = rows["host, C rollout"]
    for name, dt in rows.items():
        print(f"{name:40s} first call {first[name]:7.1f} s, then {dt:8.2f} s  {n / dt:8.2f} clips/s  "
              f"{n * T / dt:9.1f} frames/s  speed vs host C rollout {base / dt:5.2f}x")
    if a.json:
        write_json(a.json, {"n": n, "T": T, "device": str(jax.devices()[0]), "first_call_s": first,
                            "seconds": rows, "clips_per_s": {k: n / v for k, v in rows.items()},
                            "provenance": provenance(["motion_device"])})


if __name__ == "__main__":
    main()
