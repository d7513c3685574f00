"""Are the motion world's targets and clips balanced? Centre of mass and zero-moment point against the support.

    python benchmarks/target_balance.py [--per-class 8] [--seed 0] [--out runs/target_balance]

A body that stands on its feet with no external help keeps its zero-moment point (ZMP) inside the
support polygon of its stance feet; quasi-statically (slow motion) the same holds for the ground
projection of its centre of mass (COM). The world's residual root wrench is external help, so a target
whose ZMP leaves the support cannot be realized without it, whatever the controller. This script
measures, per action class and for the procedural targets of ``motion.data`` (the set-point clips the
generator tracks; the same clips as ``benchmarks/world_residual.py``) and for dataset clips (the
simulated trajectories, ``data.generate``):

* COM and ZMP from MuJoCo C forward kinematics (``kinematics.forward_kinematics``), the ZMP by the
  cart-table model p = c_xy - (c_z / g) c''_xy, c'' by central differences at the clip's frame rate
  (ends one-sided);
* the support polygon per frame: the convex hull of the ground projections of the end points of the
  stance feet's capsules (``metrics.foot_contacts``: a foot whose lowest point is within 5 cm of the
  floor), grown by the capsule radius; frames without stance (flight) are left out;
* per class: the fraction of stance frames whose COM / ZMP lies outside, and the mean and 95th
  percentile of how far outside (cm; 0 inside).

Writes ``balance.json`` (with the code version) to ``--out`` and prints a table.
"""
from __future__ import annotations

import argparse

import numpy as np
from _cli import checked_output


def support_distance(points, stance, radius, p):
    """How far (m) point ``p`` (2,) lies outside the support polygon: the convex hull of ``points``
    (F, 2, 2): F foot capsules' two end points) of the capsules with ``stance`` (F,) True, grown by their
    ``radius`` (F,). 0 inside; NaN without a stance capsule. The distance to a convex polygon is the
    largest signed distance to its edge lines when that is positive (exact for points beyond one edge,
    a lower bound near a corner)."""
    from scipy.spatial import ConvexHull
    from scipy.spatial import QhullError

    pts = points[stance].reshape(-1, 2)
    if pts.size == 0:
        return np.nan
    r = float(np.max(radius[stance]))
    try:
        hull = ConvexHull(pts, qhull_options="QJ")
        signed = hull.equations[:, :2] @ p + hull.equations[:, 2]
        out = float(np.max(signed))
    except QhullError:          # a degenerate support (a segment): distance to it
        a, b = pts.min(0), pts.max(0)
        out = float(np.linalg.norm(p - np.clip(p, a, b)))
    return max(out - r, 0.0)


def zero_moment_point(com, fps: float):
    """Cart-table zero-moment point (..., T, 2) of centre-of-mass trajectories ``com`` (..., T, 3) sampled at
    ``fps``: p = c_xy - (c_z / g) c''_xy, c'' by central differences (``np.gradient`` twice)."""
    acc = np.gradient(np.gradient(com[..., :2], axis=-2), axis=-2) * fps ** 2
    return com[..., :2] - com[..., 2:3] / 9.81 * acc


def balance(qpos, fps: float):
    """Per frame: (COM outside distance, ZMP outside distance), each (n, T) in metres (NaN in flight)."""
    from scsc_theory.motion import humanoid, kinematics, metrics

    inf = humanoid.info()
    q = np.asarray(qpos, np.float64)
    gpos, gaxis, _, com = kinematics.forward_kinematics(q)
    zmp = zero_moment_point(com, fps)
    feet = inf.foot_geoms.reshape(-1)                     # left foot1, left foot2, right foot1, right foot2
    half = inf.geom_halflen[feet][:, None]
    ends = np.stack([gpos[..., feet, :] - half * gaxis[..., feet, :], gpos[..., feet, :] + half * gaxis[..., feet, :]], -2)
    contacts = metrics.foot_contacts(q)                    # (n, T, 2) left, right
    stance = np.repeat(contacts, 2, axis=-1)               # per capsule
    radius = inf.geom_radius[feet]
    n, T = q.shape[:2]
    d_com, d_zmp = np.full((n, T), np.nan), np.full((n, T), np.nan)
    for i in range(n):
        for t in range(T):
            if stance[i, t].any():
                pts = ends[i, t, :, :, :2]
                d_com[i, t] = support_distance(pts, stance[i, t], radius, com[i, t, :2])
                d_zmp[i, t] = support_distance(pts, stance[i, t], radius, zmp[i, t])
    return d_com, d_zmp


def summarize(d):
    v = d[np.isfinite(d)]
    return {"outside": float((v > 0).mean()), "mean_cm": float(100 * v.mean()), "p95_cm": float(100 * np.percentile(v, 95))}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--per-class", type=int, default=8, help="clips per action class (default 8)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="runs/target_balance")
    args = ap.parse_args(argv)
    out = checked_output([(args.per_class >= 1 and args.seed >= 0, "--per-class must be >= 1 and --seed >= 0")], args.out)
    if out is None:   # every refusal before any work, the output folder included
        return 2
    from scsc_theory.io import provenance, write_json
    from scsc_theory.motion import data

    T, fps = 60, 20.0
    C = len(data.ACTION_CLASSES)
    labels = np.repeat(np.arange(C), args.per_class)
    params = [data._clip_params(data._clip_rng(args.seed, data.SPLITS["train"], i), int(lab)) for i, lab in enumerate(labels)]
    targets = data.canonicalize(data.targets(labels, params, T, fps))
    ds = data.generate(C * args.per_class, seed=args.seed, split="train", T=T, fps=fps)   # labels: one of each class per 9
    ds_labels = np.asarray(ds.labels)
    pick = np.concatenate([np.flatnonzero(ds_labels == c)[:args.per_class] for c in range(C)])
    clips, clip_labels = np.asarray(ds.qpos, np.float64)[pick], ds_labels[pick]
    res = {}
    for kind, q, lab in (("target", targets, labels), ("clip", clips, clip_labels)):
        d_com, d_zmp = balance(q, fps)
        res[kind] = {name: {"com": summarize(d_com[lab == c]), "zmp": summarize(d_zmp[lab == c]),
                            "stance_frames": float(np.isfinite(d_com[lab == c]).mean()), "clips": int((lab == c).sum())}
                     for c, name in enumerate(data.ACTION_CLASSES)}
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "balance.json", {"per_class": res, "settings": vars(args), "provenance": provenance(["motion"])})
    print("| class | kind | stance frames | COM outside | COM out mean / p95 cm | ZMP outside | ZMP out mean / p95 cm |\n"
          + "|---" * 7 + "|")
    for name in data.ACTION_CLASSES:
        for kind in ("target", "clip"):
            r = res[kind][name]
            print(f"| {name} | {kind} | {r['stance_frames']:.2f} | {r['com']['outside']:.2f} | {r['com']['mean_cm']:.1f} / "
                  f"{r['com']['p95_cm']:.1f} | {r['zmp']['outside']:.2f} | {r['zmp']['mean_cm']:.1f} / {r['zmp']['p95_cm']:.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
