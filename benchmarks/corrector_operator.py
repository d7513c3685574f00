"""The physics corrector as an operator: what one and repeated passes do to true, model and broken clips.

    python benchmarks/corrector_operator.py [--n 128] [--passes 1,3,10] [--out runs/corrector_operator]

A self-correction function should act like pi_gamma with large gamma: a projection onto valid
motion. This script measures that, before any loop is run, on four sets of clips:

``true``        n held-out dataset clips (valid by construction: the corrector must leave them alone)
``true-forced`` the same clips pushed through the learning-control projection itself (the gate
                bypassed): how closely the simulator realizes a true clip under the world's actuation
``gen0``        n samples of a generation-0 denoiser (cpu preset, n = 64 real clips, seed 0)
``degraded``    the package's five corruptions plus a 10 cm float, applied to true clips

plus ``gen0 x1, loop guard``: one pass over the generation-0 samples as the loop applies it (the
corrector, then the loop's guard that keeps a sample's raw features where the corrected clip leaves
the data's feature range).

For each set and k passes (default 1, 3, 10) it reports: MPJPE (cm) and joint RMS (rad) against
the input, joint lag (frames, by sub-frame cross-correlation) and amplitude ratio (std over time,
output / input), mean root height change (mm) and torso tilt change (degrees), falls, FID of the
result against the evaluator's reference clips (and the true-vs-true floor), the physics violation
(ground penetration + floating + self-penetration, m) and foot skating (m/s), the fraction of
clips the corrector simulated, and clips/s of one pass. Writes ``operator.json`` (with the code
version) and ``operator.md`` to ``--out``.
"""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np
from _cli import checked_output


def _lag_and_amplitude(out, inp):
    """(lag in frames, amplitude ratio): the shift tau in [-3, 3] (0.05 steps) minimising
    sum (out(t) - inp(t - tau))^2 over hinge angles, and mean std_t(out) / std_t(inp)."""
    T = inp.shape[1]
    t = np.arange(T, dtype=np.float64)
    a, b = out[..., 7:], inp[..., 7:]
    best, best_tau = np.inf, 0.0
    for tau in np.arange(-3.0, 3.0001, 0.05):
        src = np.clip(t - tau, 0, T - 1)
        i0 = np.floor(src).astype(int)
        i1 = np.minimum(i0 + 1, T - 1)
        w = (src - i0)[None, :, None]
        shifted = b[:, i0] * (1 - w) + b[:, i1] * w
        err = ((a[:, 4:-4] - shifted[:, 4:-4]) ** 2).sum()
        if err < best:
            best, best_tau = err, tau
    sd_in = b.std(axis=1)
    mask = sd_in > 0.02
    amp = float(np.mean(a.std(axis=1)[mask] / sd_in[mask])) if mask.any() else 1.0
    return float(best_tau), amp


def measure(physics, metrics, ctx, q_in, q_out, seconds=None, simulated=None):
    mp, je, _ = physics.tracking_errors(q_out, q_in)
    lag, amp = _lag_and_amplitude(q_out, q_in)
    v = metrics.physics_violations(q_out)
    row = {
        "mpjpe_cm": 100 * float(mp.mean()), "joint_rms_rad": float(je.mean()), "lag_frames": lag, "amplitude_ratio": amp,
        "root_height_change_mm": 1000 * float((q_out[..., 2] - q_in[..., 2]).mean()),
        "torso_tilt_change_deg": float((physics.torso_tilt(q_out) - physics.torso_tilt(q_in)).mean()),
        "falls": int(physics.fallen(q_out).sum()),
        "fid": float(ctx.evaluator.fid(ctx.from_qpos(q_out))),
        "physics_violation_m": float(np.mean(v["ground_penetration"] + v["floating"] + v["self_penetration"])),
        "foot_skating": float(np.mean(v["foot_skating"])),
        "max_abs_z": float(np.abs(ctx.from_qpos(q_out)).max()),
    }
    if simulated is not None:
        row["simulated_fraction"] = float(np.mean(simulated))
    if seconds is not None:
        row["clips_per_s"] = len(q_in) / max(seconds, 1e-9)
    return row


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=128, help="clips per set (default 128)")
    ap.add_argument("--passes", default="1,3,10", help="comma-separated pass counts (default 1,3,10)")
    ap.add_argument("--strength", type=float, default=1.0, help="corrector strength in [0, 1] (default 1, the loop's)")
    ap.add_argument("--out", default="runs/corrector_operator", help="output folder (default runs/corrector_operator)")
    args = ap.parse_args(argv)
    try:
        passes = sorted({int(p) for p in args.passes.split(",")})
    except ValueError:
        print(f"error: --passes must be comma-separated integers >= 1 (got {args.passes!r})", file=sys.stderr)
        return 2
    if not passes or passes[0] < 1 or args.n < 9 or not 0 <= args.strength <= 1:
        print("error: --passes must be >= 1, --n >= 9 and --strength in [0, 1]", file=sys.stderr)
        return 2
    out = checked_output([], args.out)
    if out is None:
        return 2

    import jax

    from scsc_theory.io import provenance, write_json
    from scsc_theory.motion import data, metrics, physics
    from scsc_theory.motion.loop import MotionLoopSettings, build, guard_correction

    ctx, loop = build(MotionLoopSettings(n=64, arms=("selfcorrect",), seeds=(0,), generations=1))
    true = data.generate(args.n, seed=31, split="test").qpos.astype(np.float64)
    floor_clips = data.generate(args.n, seed=32, split="test").qpos.astype(np.float64)
    fid_floor = float(ctx.evaluator.fid(ctx.from_qpos(floor_clips)))

    # generation-0 samples of the loop's own denoiser (cpu preset, n = 64 real clips, seed 0)
    x, y = loop.real_fn(0)
    key = jax.random.PRNGKey(0)
    state = loop.init_fn(key)
    state = loop.train_fn(state, x, y, ctx.preset.gen0_steps, jax.random.PRNGKey(1))
    labels = np.resize(np.arange(ctx.num_classes), args.n).astype(np.int32)
    gen0 = ctx.to_qpos(np.asarray(loop.sample_fn(state, labels, jax.random.PRNGKey(2))))

    per = max(1, args.n // 6)
    broken = [data.corrupt(true[:per], k, seed=1) for k in data.CORRUPTIONS]
    lifted = true[:per].copy()
    lifted[..., 2] += 0.10
    degraded = np.concatenate(broken + [lifted])

    sets = {"true": true, "gen0": gen0, "degraded": degraded}
    results = {"settings": vars(args), "fid_floor_true_vs_true": fid_floor, "device": str(jax.devices()[0]),
               "rows": {}, "provenance": provenance(["motion"])}
    t0 = time.perf_counter()
    forced = physics.project(true).qpos
    results["rows"]["true-forced x1"] = measure(physics, metrics, ctx, true, forced, time.perf_counter() - t0,
                                                np.ones(len(true), bool))
    print("true-forced x1", results["rows"]["true-forced x1"], flush=True)
    first = {}   # each set's first-pass Correction, reused below (the corrector acts clip by clip)
    for name, q0 in sets.items():
        q = q0
        for k in range(1, passes[-1] + 1):
            t0 = time.perf_counter()
            c = physics.correct(q, strength=args.strength)
            dt = time.perf_counter() - t0
            q = c.qpos
            first.setdefault(name, c)
            if k in passes:
                row = measure(physics, metrics, ctx, q0, q, dt if k == 1 else None, c.corrected)
                row["input_fid"] = float(ctx.evaluator.fid(ctx.from_qpos(q0)))
                row["input_falls"] = int(physics.fallen(q0).sum())
                row["input_max_abs_z"] = float(np.abs(ctx.from_qpos(q0)).max())
                results["rows"][f"{name} x{k}"] = row
                print(f"{name} x{k}", row, flush=True)
    # generation-0 samples as the loop applies the corrector: physics.correct, then the loop's guard
    # (motion.loop.guard_correction: a corrected sample that leaves the data's feature range keeps its
    # raw features; ctx.z_max = the largest |z| of the loop's held-out evaluator clips)
    z_max = ctx.z_max
    raw_z = ctx.from_qpos(gen0)
    c = first["gen0"]
    guarded, keep = guard_correction(raw_z, ctx.from_qpos(c.qpos), c, z_max)
    results["rows"]["gen0 x1, loop guard"] = {
        "fid": float(ctx.evaluator.fid(guarded)), "input_fid": float(ctx.evaluator.fid(raw_z)),
        "max_abs_z": float(np.abs(guarded).max()), "input_max_abs_z": float(np.abs(raw_z).max()), "z_max": z_max,
        "simulated_fraction": float(np.mean(c.corrected)), "kept_raw_fraction": float(np.mean(keep)),
        "falls": int(physics.fallen(np.where(keep[:, None, None], gen0, c.qpos)).sum())}
    print("gen0 x1, loop guard", results["rows"]["gen0 x1, loop guard"], flush=True)
    # where the physics corrector sits on the theory's map for generation-0 samples (issue 17):
    # gamma_eff of the corrector alone and as the loop applies it, raw = the generation-0 samples,
    # target = the held-out true clips of the FID floor, in the evaluator's feature space
    from scsc_theory.effective_gamma import effective_gamma, summary

    f_raw, f_tgt = ctx.evaluator.features(raw_z), ctx.evaluator.features(ctx.from_qpos(floor_clips))
    geff = {"settings": {"raw": f"{args.n} generation-0 samples (cpu preset, seed 0)",
                         "target": f"{args.n} held-out true clips (test split, seed 32)",
                         "features": "motion evaluator features", "strength": args.strength},
            "provenance": provenance(["motion", "effective_gamma"]), "rows": {}}
    for i, (name, f_c) in enumerate([("corrector", ctx.evaluator.features(ctx.from_qpos(c.qpos))),
                                     ("corrector + loop guard", ctx.evaluator.features(guarded))]):
        geff["rows"][name] = summary(effective_gamma(f_raw, f_c, f_tgt, key=jax.random.PRNGKey(17 + i), n_boot=200))
        print("gamma_eff gen0", name, geff["rows"][name], flush=True)
    # corruption-by-corruption repair ratios (one pass: the degraded set's first pass, per corruption)
    repair = {}
    for i, (kind, qb) in enumerate(zip(list(data.CORRUPTIONS) + ["float_10cm"], broken + [lifted])):
        m = data.CORRUPTION_METRIC[kind]
        before = float(metrics.physics_violations(qb)[m].mean())
        sl = slice(i * per, (i + 1) * per)
        c1 = first["degraded"]
        v_after = np.asarray(metrics.physics_violations(c1.qpos[sl])[m], float)
        after = float(v_after.mean())
        # where the remaining violation sits: clips the gate passed as valid (returned unchanged), clips
        # whose every rollout fell or leaned (returned unchanged, Correction.fallback), clips projected
        passed, fell_back = ~np.asarray(c1.corrected[sl]), np.asarray(c1.fallback[sl])
        projected = ~passed & ~fell_back
        share = lambda mask: float(v_after[mask].sum() / max(v_after.sum(), 1e-12))  # noqa: E731
        repair[kind] = {"metric": m, "broken": before, "corrected": after, "ratio": after / max(before, 1e-12),
                        "clips": int(per), "passed_as_valid": int(passed.sum()), "fell_back": int(fell_back.sum()),
                        "projected": int(projected.sum()),
                        "ratio_projected_only": (float(v_after[projected].mean()) / max(before, 1e-12)
                                                 if projected.any() else float("nan")),
                        "remaining_share": {"passed_as_valid": share(passed), "fell_back": share(fell_back),
                                            "projected": share(projected)}}
    results["repair"] = repair
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "operator.json", results)
    write_json(out / "gamma_eff_gen0.json", geff)
    cols = ["mpjpe_cm", "joint_rms_rad", "lag_frames", "amplitude_ratio", "root_height_change_mm",
            "torso_tilt_change_deg", "falls", "fid", "max_abs_z", "physics_violation_m", "foot_skating", "simulated_fraction"]
    lines = [f"Corrector strength {args.strength:g}; FID floor (true vs true) {fid_floor:.3f}; "
             f"n = {args.n} clips per set ({results['provenance']['source_hash'][:12]}).", "",
             "| clips, passes | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for name, row in results["rows"].items():
        lines.append(f"| {name} | " + " | ".join(f"{row.get(c, float('nan')):.3g}" for c in cols) + " |")
    lines += ["", "| corruption | metric | broken | corrected | ratio | clips passed as valid / fell back / projected "
              "| ratio over projected clips | share of what remains: passed / fell back / projected |",
              "|---|---|---|---|---|---|---|---|"]
    for kind, r in repair.items():
        sh = r["remaining_share"]
        lines.append(f"| {kind} | {r['metric']} | {r['broken']:.4g} | {r['corrected']:.4g} | {r['ratio']:.2f} | "
                     f"{r['passed_as_valid']} / {r['fell_back']} / {r['projected']} | {r['ratio_projected_only']:.2f} | "
                     f"{sh['passed_as_valid']:.2f} / {sh['fell_back']:.2f} / {sh['projected']:.2f} |")
    (out / "operator.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
