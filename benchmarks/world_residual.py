"""How much non-physical help the motion world's clips need: the residual root wrench, per class.

    python benchmarks/world_residual.py [--per-class 8] [--seed 0] [--out runs/world_residual]

Re-simulates the generation of dataset clips (the procedural target of each clip, tracked under
the world's one actuation, exactly as ``motion.data`` does for a first draw) step by step in C
MuJoCo and records the six residual root actuator forces. Reports per action class, as fractions
of the humanoid's body weight (40.8 kg x 9.81 m/s^2): mean and peak vertical force |F_z|, mean and
peak horizontal force |F_xy|, and the fraction of physics steps at which a force sits at its bound
(F_z 200 N, F_x / F_y 60 N). Writes ``residual.json`` (with the code version) to ``--out``.
"""
from __future__ import annotations

import argparse
import sys

import numpy as np


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--per-class", type=int, default=8, help="clips per action class (default 8)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="runs/world_residual")
    args = ap.parse_args(argv)
    if args.per_class < 1 or args.seed < 0:
        print("error: --per-class must be >= 1 and --seed >= 0", file=sys.stderr)
        return 2
    from scsc_theory._validate import SCSCInputError, check_output_dir

    try:
        out = check_output_dir("--out", args.out)
    except SCSCInputError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2

    import mujoco

    from scsc_theory.io import provenance, write_json
    from scsc_theory.motion import data, humanoid, physics

    model = humanoid.load_model()
    inf = humanoid.info()
    weight = inf.total_mass * 9.81
    T, fps = 60, 20.0
    labels = np.repeat(np.arange(len(data.ACTION_CLASSES)), args.per_class)
    params = [data._clip_params(data._clip_rng(args.seed, data.SPLITS["train"], i), int(lab)) for i, lab in enumerate(labels)]
    tgt = data.targets(labels, params, T, fps)
    plan = physics.plan_controls(tgt, fps)
    d = mujoco.MjData(model)
    fz_b, fxy_b = humanoid.ROOT_FORCE_BOUND, humanoid.ROOT_FORCE_BOUND_XY
    res = {}
    per_clip = []
    for i in range(len(labels)):
        mujoco.mj_resetData(model, d)
        d.qpos[:] = plan.init_qpos[i]
        d.qvel[:] = plan.init_qvel[i]
        f = np.empty((plan.ctrl.shape[1], 3))
        for k in range(plan.ctrl.shape[1]):
            d.ctrl[:] = plan.ctrl[i, k]
            d.mocap_pos[0] = plan.mocap_pos[i, k]
            d.mocap_quat[0] = plan.mocap_quat[i, k]
            mujoco.mj_step(model, d)
            f[k] = d.actuator_force[inf.root_act[:3]]
        per_clip.append(f)
    for c, name in enumerate(data.ACTION_CLASSES):
        f = np.stack([per_clip[i] for i in np.flatnonzero(labels == c)])
        fz, fxy = np.abs(f[..., 2]), np.abs(f[..., :2]).max(-1)
        res[name] = {"fz_mean": float(fz.mean() / weight), "fz_peak": float(fz.max() / weight),
                     "fxy_mean": float(fxy.mean() / weight), "fxy_peak": float(fxy.max() / weight),
                     "at_bound_fraction": float(((fz >= fz_b - 1e-6) | (fxy >= fxy_b - 1e-6)).mean())}
    doc = {"body_weight_N": weight, "bounds_N": {"fz": fz_b, "fxy": fxy_b}, "per_class": res,
           "settings": vars(args), "provenance": provenance(["motion"])}
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "residual.json", doc)
    print(f"body weight {weight:.1f} N; bounds F_z {fz_b:g} N ({fz_b / weight:.2f} BW), F_xy {fxy_b:g} N ({fxy_b / weight:.2f} BW)")
    print("| class | mean F_z | peak F_z | mean F_xy | peak F_xy | steps at a bound |\n|---|---|---|---|---|---|")
    for name, r in res.items():
        print(f"| {name} | {r['fz_mean']:.2f} | {r['fz_peak']:.2f} | {r['fxy_mean']:.2f} | {r['fxy_peak']:.2f} | "
              f"{100 * r['at_bound_fraction']:.0f}% |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
