"""How much non-physical help the motion world's clips need: the residual root wrench, per class.

    python benchmarks/world_residual.py [--per-class 8] [--seed 0] [--out runs/world_residual]
    python benchmarks/world_residual.py --leg-gain 1,2,4 --height-offset 0,0.008 --residual-scale 1,0.5

Re-simulates the generation of dataset clips (the procedural target of each clip, tracked under
the world's one actuation, exactly as ``motion.data`` does for a first draw) step by step in C
MuJoCo and records the six residual root actuator forces. Reports per action class, as fractions
of the humanoid's body weight (40.8 kg x 9.81 m/s^2): mean and peak vertical force |F_z|, mean and
peak horizontal force |F_xy|, and the fraction of physics steps at which a force sits at its bound
(F_z 200 N, F_x / F_y 60 N). Writes ``residual.json`` (with the code version) to ``--out``.

What the help does, per class: the signed mean force along the walking direction (x), vertically
and the pitch torque, and the mean lag of the simulated root behind the mocap target (cm), which
tell propulsion and balance apart from weight support.

Counterfactual worlds (``--leg-gain``, ``--height-offset``, ``--residual-scale``, each a comma
list, every combination run): the world's model with the leg and abdomen servos' stiffness and
damping multiplied by G (torque bounds by max(1, G / 2)), the targets' root lowered by the given
metres (MuJoCo's soft contact lets a standing body sink a few millimetres below the kinematic
grounding, and the residual then holds it up), and the residual bounds multiplied by S. Each
combination also reports the falls (``physics.fallen``) and validity misses of the simulated
first draws. These runs change nothing in the package; they measure what a world with margin
would need (the rows of ``counterfactuals`` in the JSON; the default run has one, G = 1, 0 m, S = 1).
"""
from __future__ import annotations

import argparse
import sys

import numpy as np


def leg_actuators() -> list:
    """Actuator ids of the leg and abdomen servos (hip, knee, ankle, abdomen)."""
    import mujoco

    from scsc_theory.motion import humanoid

    m = humanoid._base_model()
    return [int(a) for a in humanoid.info().hinge_act
            if any(k in mujoco.mj_id2name(m, mujoco.mjtObj.mjOBJ_ACTUATOR, int(a)) for k in ("hip", "knee", "ankle", "abdomen"))]


def counterfactual_model(gain: float, scale: float):
    """The world's model with the leg servos' stiffness and damping x ``gain`` (their torque bounds
    x max(1, gain / 2)) and the residual root bounds x ``scale``."""
    from scsc_theory.motion import humanoid

    model = humanoid.load_model()
    legs = leg_actuators()
    model.actuator_gainprm[legs, 0] *= gain
    model.actuator_biasprm[legs, 1:3] *= gain
    model.actuator_forcerange[legs] *= max(1.0, gain / 2)
    model.actuator_forcerange[humanoid.info().root_act] *= scale
    return model


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--per-class", type=int, default=8, help="clips per action class (default 8)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="runs/world_residual")
    ap.add_argument("--leg-gain", default="1", help="comma list: leg/abdomen servo stiffness multipliers (> 0)")
    ap.add_argument("--height-offset", default="0", help="comma list: metres the targets' root is lowered (>= 0)")
    ap.add_argument("--residual-scale", default="1", help="comma list: residual bound multipliers (> 0)")
    args = ap.parse_args(argv)
    if args.per_class < 1 or args.seed < 0:
        print("error: --per-class must be >= 1 and --seed >= 0", file=sys.stderr)
        return 2
    try:
        gains = [float(x) for x in args.leg_gain.split(",")]
        offsets = [float(x) for x in args.height_offset.split(",")]
        scales = [float(x) for x in args.residual_scale.split(",")]
    except ValueError:
        print("error: --leg-gain, --height-offset and --residual-scale take comma lists of numbers", file=sys.stderr)
        return 2
    if not all(np.isfinite(g) and g > 0 for g in gains + scales) or not all(np.isfinite(z) and 0 <= z < 0.1 for z in offsets):
        print("error: --leg-gain and --residual-scale must be > 0, --height-offset in [0, 0.1) m", file=sys.stderr)
        return 2
    from scsc_theory._validate import SCSCInputError, check_output_dir

    try:
        out = check_output_dir("--out", args.out)
    except SCSCInputError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2

    import mujoco

    from scsc_theory.io import provenance, write_json
    from scsc_theory.motion import data, humanoid, metrics, physics

    inf = humanoid.info()
    weight = inf.total_mass * 9.81
    T, fps = 60, 20.0
    labels = np.repeat(np.arange(len(data.ACTION_CLASSES)), args.per_class)
    params = [data._clip_params(data._clip_rng(args.seed, data.SPLITS["train"], i), int(lab)) for i, lab in enumerate(labels)]
    base_tgt = data.targets(labels, params, T, fps)
    fz_b, fxy_b = humanoid.ROOT_FORCE_BOUND, humanoid.ROOT_FORCE_BOUND_XY
    rows = []
    for gain in gains:
        for dz in offsets:
            for scale in scales:
                model = counterfactual_model(gain, scale)
                tgt = base_tgt.copy()
                tgt[..., 2] -= dz
                plan = physics.plan_controls(tgt, fps)
                d = mujoco.MjData(model)
                per_clip, lag = [], []
                for i in range(len(labels)):
                    mujoco.mj_resetData(model, d)
                    d.qpos[:] = plan.init_qpos[i]
                    d.qvel[:] = plan.init_qvel[i]
                    f = np.empty((plan.ctrl.shape[1], 6))
                    e = np.empty((plan.ctrl.shape[1], 3))
                    for k in range(plan.ctrl.shape[1]):
                        d.ctrl[:] = plan.ctrl[i, k]
                        d.mocap_pos[0] = plan.mocap_pos[i, k]
                        d.mocap_quat[0] = plan.mocap_quat[i, k]
                        mujoco.mj_step(model, d)
                        f[k] = d.actuator_force[inf.root_act]
                        e[k] = plan.mocap_pos[i, k] - d.qpos[:3]
                    per_clip.append(f)
                    lag.append(e)
                q, _ = physics._run_rollout(model, plan, T, None)
                q = data.canonicalize(q)
                fell, invalid = physics.fallen(q), metrics.validity_score(q, fps=fps) > 0
                res = {}
                for c, name in enumerate(data.ACTION_CLASSES):
                    sel = np.flatnonzero(labels == c)
                    f = np.stack([per_clip[i] for i in sel])
                    e = np.stack([lag[i] for i in sel])
                    fz, fxy = np.abs(f[..., 2]), np.abs(f[..., :2]).max(-1)
                    res[name] = {"fz_mean": float(fz.mean() / weight), "fz_peak": float(fz.max() / weight),
                                 "fxy_mean": float(fxy.mean() / weight), "fxy_peak": float(fxy.max() / weight),
                                 "at_bound_fraction": float(((fz >= scale * fz_b - 1e-6) | (fxy >= scale * fxy_b - 1e-6)).mean()),
                                 "fx_signed_mean": float(f[..., 0].mean() / weight),
                                 "fz_signed_mean": float(f[..., 2].mean() / weight),
                                 "pitch_torque_mean_Nm": float(f[..., 4].mean()),
                                 "lag_x_cm": float(100 * e[..., 0].mean()), "lag_z_cm": float(100 * e[..., 2].mean()),
                                 "fell": float(fell[sel].mean()), "invalid": float(invalid[sel].mean())}
                rows.append({"leg_gain": gain, "height_offset_m": dz, "residual_scale": scale, "per_class": res})
    nominal = next((r for r in rows if r["leg_gain"] == 1 and r["height_offset_m"] == 0 and r["residual_scale"] == 1), None)
    doc = {"body_weight_N": weight, "bounds_N": {"fz": fz_b, "fxy": fxy_b}, "per_class": (nominal or rows[0])["per_class"],
           "counterfactuals": rows, "settings": vars(args), "provenance": provenance(["motion"])}
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "residual.json", doc)
    print(f"body weight {weight:.1f} N; bounds F_z {fz_b:g} N ({fz_b / weight:.2f} BW), F_xy {fxy_b:g} N ({fxy_b / weight:.2f} BW)")
    for r in rows:
        print(f"\nleg gain {r['leg_gain']:g}, root lowered {1000 * r['height_offset_m']:g} mm, residual bounds x{r['residual_scale']:g}")
        print("| class | mean F_z | peak F_z | mean F_xy | peak F_xy | steps at a bound | F_x signed | pitch torque N m "
              "| lag x / z cm | fell | invalid |\n|---|---|---|---|---|---|---|---|---|---|---|")
        for name, c in r["per_class"].items():
            print(f"| {name} | {c['fz_mean']:.2f} | {c['fz_peak']:.2f} | {c['fxy_mean']:.2f} | {c['fxy_peak']:.2f} | "
                  f"{100 * c['at_bound_fraction']:.0f}% | {c['fx_signed_mean']:+.3f} | {c['pitch_torque_mean_Nm']:+.0f} | "
                  f"{c['lag_x_cm']:+.1f} / {c['lag_z_cm']:+.1f} | {c['fell']:.2f} | {c['invalid']:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
