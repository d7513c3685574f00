"""How much non-physical help the motion world's clips need: the residual root wrench, per class.

    python benchmarks/world_residual.py [--per-class 8] [--seed 0] [--out runs/world_residual]
    python benchmarks/world_residual.py --leg-gain 1,2,4 --height-offset 0,0.008 --residual-scale 1,0.5
    python benchmarks/world_residual.py --support 0,0.5,1 --residual-scale 1,0.5 [--support-pose target]

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

Horizontal help alone (``--xy-scale``, a comma list, combined with the options above): the horizontal
residual bounds (F_x, F_y) multiplied by X on top of ``--residual-scale``; X = 0 leaves the body where
its legs carry it (vertical force and torques unchanged). Every row reports ``travel_ratio``, the
root's horizontal displacement over the clip divided by the target's (classes whose target moves
0.3 m or more; the walk), and ``foot_skating`` (``metrics.physics_violations``, threshold 0.15 m/s): with
X = 0 a walk whose simulated legs do not carry it at the target's speed covers part of its path, and
its feet slide where the target's stride does not fit the simulated one. ``--classes`` limits the run
to some action classes.

Quasi-static weight support in the set points (``--support``, a comma list of factors f in [0, 2], combined
with the options above): a position servo's torque is kp (u - q) - kv qdot (clipped to its force
range), so adding tau / kp to its set point u adds a feed-forward torque tau without changing the
world's actuation. At every physics step, for the 15 leg and abdomen servos (:func:`leg_actuators`),
tau is the hinge rows of the quasi-static generalized force that holds a pose still with the stance
feet carrying f x the body weight (:func:`support_torques`):

* tau = qfrc_bias(q, qdot = 0) - sum over stance feet of J_foot(q)^T (0, 0, F_foot): MuJoCo's
  recursive Newton-Euler at zero velocity and acceleration (the gravity term), minus the vertical
  foot forces mapped through the translational Jacobian (``mj_jac``) of a point of the foot: the
  mean of its two foot geoms' centres (a vertical force's moment depends only on that point's x, y).
  The joints' passive springs (stiffness 1-20 N m / rad, against kp 100-600) are not compensated:
  the option adds weight support, nothing else. The arm servos get nothing.
* Stance from the target pose (as ``metrics.foot_contacts``): a foot is in stance when its lowest
  point is within 5 cm of the floor. F = f x body weight, shared by two stance feet in inverse
  proportion to their horizontal distance to the centre of mass (the lever rule: the centre of
  pressure falls on the centre of mass when it lies between the feet), one stance foot takes all.
* No feed-forward at all when no foot is in stance (flights of jumps) or f = 0 (f = 0 is the world
  itself); with f > 0 the swing leg's own gravity term is part of tau (it is held up, not hanging).
* q: the target pose of the step (``--support-pose target``, the default: the interpolated mocap
  root pose and hinge set points, independent of the state, a pure feed-forward like the set points
  themselves) or the simulated state before the step (``--support-pose state``, which makes it a
  feedback). Kept: target. Measured (8 clips per class, bounds x1, f = 1): the state pose lowers the
  walk's mean |F_z| to 0.30 but only by letting the walk fall 49 cm behind its target (3 cm with the
  target pose), raises the jog's pitch torque from +22 to +50 N m and leaves the steps at a bound
  where they were (walk 81%); at half the bounds it makes 2 of 8 jogs fall. Stance comes from the
  target in both.
* kp is the servo's (counterfactual) stiffness (``model.actuator_gainprm[:, 0]``); the set point
  u + tau / kp is clamped to the joint range by MuJoCo (the servos' ctrlrange, part of the world's
  actuation, kept): ``setpoint_clipped`` reports how often that cuts the feed-forward (fraction of
  leg servos over the steps with support), ``ff_beyond_bound`` how often |tau| exceeds the servo's
  force bound, ``support_active_fraction`` the fraction of steps with support.

Every row also reports the pelvis tilt (``pelvis_tilt_max_deg``: per clip the largest angle between the
pelvis' up axis and the vertical, averaged over the clips; ``pelvis_tipped``: the fraction of clips
whose pelvis tilts beyond ``physics.FALL_TILT_DEG``): the fall rule looks at the torso only, and the
residual can hold a torso upright above legs that tip over (the targets' pelvis tilts at most 5-6
degrees in walk, jog and the arm classes, 10 in kick, about 20 in squat and jump).

Falls (a diverged simulation counts as one) and validity misses are those of the frames of the
step-by-step simulation (:func:`simulate_clip`; without support, bit for bit the world's batched rollout).
"""
from __future__ import annotations

import argparse
import sys

import numpy as np
from _cli import checked_output


def leg_actuators() -> list:
    """Actuator ids of the leg and abdomen servos (hip, knee, ankle, abdomen)."""
    import mujoco

    from scsc_theory.motion import humanoid

    m = humanoid._base_model()
    return [int(a) for a in humanoid.info().hinge_act
            if any(k in mujoco.mj_id2name(m, mujoco.mjtObj.mjOBJ_ACTUATOR, int(a)) for k in ("hip", "knee", "ankle", "abdomen"))]


def counterfactual_model(gain: float, scale: float, xy_scale: float = 1.0):
    """The world's model with the leg servos' stiffness and damping x ``gain`` (their torque bounds
    x max(1, gain / 2)), the residual root bounds x ``scale`` and the horizontal ones (F_x, F_y) x
    ``xy_scale`` more."""
    from scsc_theory.motion import humanoid

    model = humanoid.load_model()
    legs = leg_actuators()
    model.actuator_gainprm[legs, 0] *= gain
    model.actuator_biasprm[legs, 1:3] *= gain
    model.actuator_forcerange[legs] *= max(1.0, gain / 2)
    model.actuator_forcerange[humanoid.info().root_act] *= scale
    model.actuator_forcerange[humanoid.info().root_act[:2]] *= xy_scale
    return model


def support_torques(model, d, qpos, stance, factor: float) -> np.ndarray:
    """Quasi-static generalized force (nv,) that holds pose ``qpos`` (28,) still with the ``stance``
    feet ((2,) booleans, [left, right]) carrying ``factor`` x the body weight: the gravity term
    (``mj_rne`` at zero velocity and acceleration) minus J_foot^T (0, 0, F_foot) per stance foot
    (module docstring). Zeros when ``factor`` is 0 or no foot is in stance. Overwrites ``d``'s
    kinematics (use a scratch ``MjData``)."""
    import mujoco

    from scsc_theory.motion import humanoid

    tau = np.zeros(model.nv)
    stance = np.asarray(stance, dtype=bool)
    if factor == 0 or not stance.any():
        return tau
    inf = humanoid.info()
    d.qpos[:] = qpos
    d.qvel[:] = 0.0
    mujoco.mj_kinematics(model, d)
    mujoco.mj_comPos(model, d)
    mujoco.mj_rne(model, d, 0, tau)
    torso = model.body("torso").id
    com, weight = d.subtree_com[torso], model.body_subtreemass[torso] * -model.opt.gravity[2]
    pts = [d.geom_xpos[inf.geom_ids[inf.foot_geoms[s]]].mean(0) for s in range(2)]
    dist = np.array([np.linalg.norm(p[:2] - com[:2]) for p in pts])
    if stance.all():
        share = dist[::-1] / dist.sum() if dist.sum() > 1e-9 else np.full(2, 0.5)
    else:
        share = stance.astype(float)
    jacp = np.zeros((3, model.nv))
    for s in range(2):
        if share[s] > 0:
            mujoco.mj_jac(model, d, jacp, None, pts[s], int(inf.geom_body[inf.foot_geoms[s, 0]]))
            tau -= factor * weight * share[s] * jacp[2]
    return tau


def support_offsets(model, tau, acts) -> np.ndarray:
    """Set-point offsets (nu,): tau at each of the servos ``acts``' joints divided by its kp, 0 elsewhere."""
    off = np.zeros(model.nu)
    acts = np.asarray(acts)
    off[acts] = tau[model.jnt_dofadr[model.actuator_trnid[acts, 0]]] / model.actuator_gainprm[acts, 0]
    return off


def simulate_clip(model, plan, i: int, T: int, factor: float = 0.0, stance=None, pose=None):
    """Step clip ``i`` of ``plan`` through the generation in C MuJoCo, with the support feed-forward of
    ``factor`` (stance (K, 2) and, for the target pose, the step poses ``pose`` (K, 28); ``pose`` None:
    the simulated state). Returns the root actuator forces (K, 6), the root lag behind the mocap
    target (K, 3), the frames (T, 28), per step whether the support acted, the fraction of leg set
    points clamped to their range and of feed-forward torques beyond their bound, and whether the
    simulation diverged (MuJoCo resets a diverging simulation, time back to 0)."""
    import mujoco

    from scsc_theory.motion import humanoid

    inf, legs = humanoid.info(), leg_actuators()
    lo, hi = model.actuator_ctrlrange[legs, 0], model.actuator_ctrlrange[legs, 1]
    fmax, kp = model.actuator_forcerange[legs, 1], model.actuator_gainprm[legs, 0]
    d, scratch = mujoco.MjData(model), mujoco.MjData(model)
    d.qpos[:] = plan.init_qpos[i]
    d.qvel[:] = plan.init_qvel[i]
    K = plan.ctrl.shape[1]
    f, e, q = np.empty((K, 6)), np.empty((K, 3)), np.empty((T, humanoid.NQ))
    active, clipped, beyond = np.zeros(K, bool), np.zeros(K), np.zeros(K)
    q[0] = d.qpos
    for k in range(K):
        d.ctrl[:] = plan.ctrl[i, k]
        if factor > 0 and stance[k].any():
            tau = support_torques(model, scratch, d.qpos if pose is None else pose[k], stance[k], factor)
            off = support_offsets(model, tau, legs)
            d.ctrl[:] += off
            active[k] = True
            clipped[k] = ((d.ctrl[legs] < lo) | (d.ctrl[legs] > hi)).mean()
            beyond[k] = (np.abs(kp * off[legs]) > fmax).mean()
        d.mocap_pos[0] = plan.mocap_pos[i, k]
        d.mocap_quat[0] = plan.mocap_quat[i, k]
        mujoco.mj_step(model, d)
        f[k] = d.actuator_force[inf.root_act]
        e[k] = plan.mocap_pos[i, k] - d.qpos[:3]
        if (k + 1) % plan.sub == 0:
            q[(k + 1) // plan.sub] = d.qpos
    unstable = abs(d.time - K * model.opt.timestep) > 1e-6
    return f, e, q, active, clipped, beyond, unstable


def pelvis_tilt(qpos) -> np.ndarray:
    """Angle (degrees) between the pelvis' up axis and the vertical per frame, (..., 28) -> (...). The fall
    rule (``physics.fallen``) looks at the torso only; a torso the residual holds upright can sit on legs
    that tip over."""
    import mujoco

    from scsc_theory.motion import humanoid

    m = humanoid._base_model()
    d, pelvis = mujoco.MjData(m), m.body("pelvis").id
    flat = np.asarray(qpos, dtype=np.float64).reshape(-1, humanoid.NQ)
    up = np.empty(len(flat))
    for i, q in enumerate(flat):
        d.qpos[:] = q
        mujoco.mj_kinematics(m, d)
        up[i] = d.xmat[pelvis][8]
    return np.degrees(np.arccos(np.clip(up, -1.0, 1.0))).reshape(np.shape(qpos)[:-1])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--per-class", type=int, default=8, help="clips per action class (default 8)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="runs/world_residual")
    ap.add_argument("--leg-gain", default="1", help="comma list: leg/abdomen servo stiffness multipliers (> 0)")
    ap.add_argument("--height-offset", default="0", help="comma list: metres the targets' root is lowered (>= 0)")
    ap.add_argument("--residual-scale", default="1", help="comma list: residual bound multipliers (> 0)")
    ap.add_argument("--xy-scale", default="1", help="comma list: horizontal residual bound multipliers (>= 0), "
                    "on top of --residual-scale")
    ap.add_argument("--classes", default="all", help="comma list of action classes (default all)")
    ap.add_argument("--support", default="0", help="comma list: body-weight fractions the stance feet carry (>= 0)")
    ap.add_argument("--support-pose", default="target", help="target or state: the pose the support torques are "
                    "computed at (default target)")
    args = ap.parse_args(argv)
    if args.per_class < 1 or args.seed < 0:
        print("error: --per-class must be >= 1 and --seed >= 0", file=sys.stderr)
        return 2
    try:
        gains = [float(x) for x in args.leg_gain.split(",")]
        offsets = [float(x) for x in args.height_offset.split(",")]
        scales = [float(x) for x in args.residual_scale.split(",")]
        supports = [float(x) for x in args.support.split(",")]
        xy_scales = [float(x) for x in args.xy_scale.split(",")]
    except ValueError:
        print("error: --leg-gain, --height-offset, --residual-scale, --xy-scale and --support take comma lists of numbers",
              file=sys.stderr)
        return 2
    if not all(np.isfinite(g) and g > 0 for g in gains + scales) or not all(np.isfinite(z) and 0 <= z < 0.1 for z in offsets):
        print("error: --leg-gain and --residual-scale must be > 0, --height-offset in [0, 0.1) m", file=sys.stderr)
        return 2
    if not all(np.isfinite(f) and 0 <= f <= 2 for f in supports):
        print("error: --support factors must be in [0, 2]", file=sys.stderr)
        return 2
    if not all(np.isfinite(x) and x >= 0 for x in xy_scales):
        print("error: --xy-scale factors must be >= 0", file=sys.stderr)
        return 2
    from scsc_theory.motion.data import ACTION_CLASSES

    classes = list(ACTION_CLASSES) if args.classes == "all" else args.classes.split(",")
    if not classes or any(c not in ACTION_CLASSES for c in classes):
        print(f"error: --classes must be 'all' or a comma list of {', '.join(ACTION_CLASSES)}", file=sys.stderr)
        return 2
    if args.support_pose not in ("target", "state"):
        print("error: --support-pose must be target or state", file=sys.stderr)
        return 2
    out = checked_output([], args.out)
    if out is None:
        return 2

    from scsc_theory.io import provenance, write_json
    from scsc_theory.motion import data, humanoid, metrics, physics

    inf = humanoid.info()
    weight = inf.total_mass * 9.81
    T, fps = 60, 20.0
    labels = np.repeat(np.arange(len(data.ACTION_CLASSES)), args.per_class)
    params = [data._clip_params(data._clip_rng(args.seed, data.SPLITS["train"], i), int(lab)) for i, lab in enumerate(labels)]
    keep = np.isin(labels, [data.ACTION_CLASSES.index(c) for c in classes])   # same clips as a run of every class
    labels, params = labels[keep], [p for p, k in zip(params, keep) if k]
    base_tgt = data.targets(labels, params, T, fps)
    fz_b, fxy_b = humanoid.ROOT_FORCE_BOUND, humanoid.ROOT_FORCE_BOUND_XY
    rows = []
    for gain in gains:
        for dz in offsets:
            tgt = base_tgt.copy()
            tgt[..., 2] -= dz
            plan = physics.plan_controls(tgt, fps)
            n, K = plan.ctrl.shape[:2]
            # the target pose of every physics step and its stance feet (the support's kinematics)
            step_q = np.concatenate([plan.mocap_pos, plan.mocap_quat, plan.ctrl[..., inf.hinge_act]], -1)
            stance = metrics.foot_contacts(step_q) if any(f > 0 for f in supports) else np.zeros((n, K, 2), bool)
            for scale, xy in ((a, b) for a in scales for b in xy_scales):
                model = counterfactual_model(gain, scale, xy)
                for factor in supports:
                    sims = [simulate_clip(model, plan, i, T, factor, stance[i],
                                          step_q[i] if args.support_pose == "target" else None) for i in range(n)]
                    f_all, e_all, q, active, clipped, beyond, unstable = (np.stack(x) for x in zip(*sims))
                    q = data.canonicalize(q)
                    fell, invalid = physics.fallen(q) | unstable, metrics.validity_score(q, fps=fps) > 0
                    tilt = pelvis_tilt(q).max(-1)
                    skate = metrics.physics_violations(q, fps=fps)["foot_skating"]
                    moved = np.linalg.norm(q[:, -1, :2] - q[:, 0, :2], axis=-1)
                    target_moved = np.linalg.norm(tgt[:, -1, :2] - tgt[:, 0, :2], axis=-1)
                    res = {}
                    for c, name in enumerate(data.ACTION_CLASSES):
                        sel = np.flatnonzero(labels == c)
                        if sel.size == 0:
                            continue
                        walks = sel[target_moved[sel] >= 0.3]
                        f, e, act = f_all[sel], e_all[sel], active[sel]
                        fz, fxy = np.abs(f[..., 2]), np.abs(f[..., :2]).max(-1)
                        at_bound = (fz >= scale * fz_b - 1e-6) | ((xy > 0) & (fxy >= scale * xy * fxy_b - 1e-6))
                        res[name] = {"fz_mean": float(fz.mean() / weight), "fz_peak": float(fz.max() / weight),
                                     "fxy_mean": float(fxy.mean() / weight), "fxy_peak": float(fxy.max() / weight),
                                     "at_bound_fraction": float(at_bound.mean()),
                                     "fx_signed_mean": float(f[..., 0].mean() / weight),
                                     "fz_signed_mean": float(f[..., 2].mean() / weight),
                                     "pitch_torque_mean_Nm": float(f[..., 4].mean()),
                                     "lag_x_cm": float(100 * e[..., 0].mean()),
                                     "lag_z_cm": float(100 * e[..., 2].mean()),
                                     "fell": float(fell[sel].mean()), "invalid": float(invalid[sel].mean()),
                                     "pelvis_tilt_max_deg": float(tilt[sel].mean()),
                                     "pelvis_tipped": float((tilt[sel] > physics.FALL_TILT_DEG).mean()),
                                     "foot_skating": float(np.mean(skate[sel])),
                                     "travel_ratio": (float(np.mean(moved[walks] / target_moved[walks]))
                                                      if walks.size else None),
                                     "support_active_fraction": float(act.mean()),
                                     "setpoint_clipped": float(clipped[sel][act].mean()) if act.any() else 0.0,
                                     "ff_beyond_bound": float(beyond[sel][act].mean()) if act.any() else 0.0}
                    rows.append({"leg_gain": gain, "height_offset_m": dz, "residual_scale": scale, "xy_scale": xy,
                                 "support": factor,
                                 "support_pose": args.support_pose, "per_class": res})
    nominal = next((r for r in rows if r["leg_gain"] == 1 and r["height_offset_m"] == 0 and r["residual_scale"] == 1
                    and r["xy_scale"] == 1 and r["support"] == 0), None)
    doc = {"body_weight_N": weight, "bounds_N": {"fz": fz_b, "fxy": fxy_b}, "per_class": (nominal or rows[0])["per_class"],
           "counterfactuals": rows, "settings": vars(args), "provenance": provenance(["motion"])}
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "residual.json", doc)
    print(f"body weight {weight:.1f} N; bounds F_z {fz_b:g} N ({fz_b / weight:.2f} BW), F_xy {fxy_b:g} N ({fxy_b / weight:.2f} BW)")
    for r in rows:
        print(f"\nleg gain {r['leg_gain']:g}, root lowered {1000 * r['height_offset_m']:g} mm, residual bounds "
              f"x{r['residual_scale']:g} (horizontal x{r['xy_scale']:g} more), support {r['support']:g} x body weight "
              f"({r['support_pose']} pose)")
        print("| class | mean F_z | peak F_z | mean F_xy | peak F_xy | steps at a bound | F_x signed | pitch torque N m "
              "| lag x / z cm | fell | invalid | pelvis tilt max | set points clipped | skating m/s | travel |\n"
              + "|---" * 15 + "|")
        for name, c in r["per_class"].items():
            print(f"| {name} | {c['fz_mean']:.2f} | {c['fz_peak']:.2f} | {c['fxy_mean']:.2f} | {c['fxy_peak']:.2f} | "
                  f"{100 * c['at_bound_fraction']:.0f}% | {c['fx_signed_mean']:+.3f} | {c['pitch_torque_mean_Nm']:+.0f} | "
                  f"{c['lag_x_cm']:+.1f} / {c['lag_z_cm']:+.1f} | {c['fell']:.2f} | {c['invalid']:.2f} | "
                  f"{c['pelvis_tilt_max_deg']:.0f} deg | {100 * c['setpoint_clipped']:.0f}% | {c['foot_skating']:.3f} | "
                  + ("-" if c["travel_ratio"] is None else f"{c['travel_ratio']:.2f}") + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
