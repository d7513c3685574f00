"""A world with margin, tried: clips generated with less residual help, and whether the corrector reproduces them.

    python benchmarks/world_margin.py [--leg-gain 4] [--generation-scale 0.5] [--corrector-scale 0.5,1]
                                      [--per-class 20] [--seed 0] [--out runs/world_margin]

A world with margin generates its clips under a smaller residual root wrench than the corrector may
use, so that every clip is realizable under the corrector's actuation with room to spare. This script
builds such a counterfactual world without touching the package and measures both halves:

1. Generation. The world's generator (``motion.data``: procedural targets tracked in C MuJoCo, a draw
   that misses a validity threshold redrawn up to ``data.MAX_ATTEMPTS`` times) run on the world's
   model with the leg and abdomen servos G times as stiff (``world_residual.counterfactual_model``)
   and the residual bounds x ``--generation-scale``; a draw that falls (``physics.fallen``) is
   redrawn as well. Reported per class: the share of first draws that fell or missed a threshold,
   the share of clips still failing after the redraws, the mean number of redraws.
2. Reproduction. The corrector's projection (``physics.project``: the learned planner's set points,
   refined by iterative learning control, the closest rollout that neither falls nor leans kept) of
   those clips, on the same counterfactual model with the residual bounds x each ``--corrector-scale``.
   The corrector's planner is refitted for each corrector scale on (clip, set point) pairs of the
   package's generator run on that corrector's model (``controller.fit``, ``--pairs`` pairs,
   ``--fit-steps`` steps; the pairs' draws are redrawn when invalid, not when they fall), as the
   package fits it on its own world's pairs: it plans for the dynamics it will be run on. Reported
   per class: MPJPE of the kept rollout and of rollout 0 (the planned set points alone) against the
   clip (cm), and the share of clips whose every rollout fell or leaned.
3. Sensitivity. Each clip's own set points (the target the generator tracked) replayed open loop on
   the generation model from a start whose hinge angles are off by +-``--replay-delta`` rad (random
   signs): the MPJPE (cm) between the replay and the clip. With no offset the replay is the clip
   exactly; how far a small offset carries it tells whether a clip is realizable only along a knife's
   edge (the residual's feedback is the only balance feedback an open-loop plan has).

With ``--mpc-samples K`` the reproduction also reports the planner's set points tracked with the
predictive-sampling feedback of ``benchmarks/mpc_tracking.py`` (K candidates, 10-frame horizon,
replanning every 2 frames) toward the clip, from the clip's start: MPJPE and the share that fell or
leaned beyond the clip (``physics.leans``). It replaces the learning-control iterations, not the planner.

The first row is the package's world itself (G = 1, generation and corrector at the world's bounds),
run through the same code, for comparison. The package's own planner is fitted the same way, so at the
default ``--pairs`` / ``--fit-steps`` that row's planner is the package's. Writes ``margin.json`` (with
the code version) and ``table.md`` to ``--out``.
"""
from __future__ import annotations

import argparse
import contextlib
import copy
import sys
from pathlib import Path
from typing import NamedTuple
from unittest import mock

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _cli import checked_output, comma_floats  # noqa: E402
from world_residual import counterfactual_model  # noqa: E402


@contextlib.contextmanager
def world(model, planner=None):
    """Run the package's motion code on ``model`` (each ``humanoid.load_model()`` a copy of it), with
    ``planner`` as the corrector's planner when given."""
    from scsc_theory.motion import controller, humanoid

    with contextlib.ExitStack() as stack:
        stack.enter_context(mock.patch.object(humanoid, "load_model", lambda: copy.deepcopy(model)))
        if planner is not None:
            stack.enter_context(mock.patch.object(controller, "planner", lambda fps=20.0: planner))
        yield


class Generated(NamedTuple):
    """Clips of :func:`generate`: canonical clips (n, T, 28); the raw simulation and the set points
    (target) of each kept draw, in the simulator's frame; per clip whether the first draw fell or
    missed a threshold, whether the kept draw still does, and the kept draw's redraw number."""

    clips: np.ndarray
    raw: np.ndarray
    targets: np.ndarray
    first_failed: np.ndarray
    failing: np.ndarray
    redraws: np.ndarray


def generate(model, labels, seed: int, T: int = 60, fps: float = 20.0) -> Generated:
    """Clips of the package's generator on ``model`` (train split), a fallen draw redrawn like an
    invalid one."""
    import warnings

    from scsc_theory.motion import data, metrics, physics

    stream = data.SPLITS["train"]

    def run(idx, attempt):
        params = [data._clip_params(data._clip_rng(seed, stream, i, attempt), int(labels[i])) for i in idx]
        tgt = data.targets(labels[idx], params, T, fps)
        with world(model), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            raw, unstable = physics.simulate_tracking(tgt, fps=fps, backend="rollout")
        q = data.canonicalize(raw)
        lost = unstable | physics.fallen(q)
        score = np.where(lost, np.inf, metrics.validity_score(q, fps=fps))
        return (q, raw, tgt), lost | (score > 0), score

    labels = np.asarray(labels)
    arrays, bad, score = run(np.arange(len(labels)), 0)
    first, redraws = bad.copy(), np.zeros(len(labels), int)
    for attempt in range(1, data.MAX_ATTEMPTS):
        redo = np.flatnonzero(bad)
        if redo.size == 0:
            break
        arrays2, bad2, score2 = run(redo, attempt)
        better = score2 < score[redo]
        for a, a2 in zip(arrays, arrays2):
            a[redo[better]] = a2[better]
        score[redo[better]], redraws[redo[better]] = score2[better], attempt
        bad[redo] = np.where(better, bad2, bad[redo])
    return Generated(*arrays, first, bad, redraws)


def offset_start(targets, delta: float, seed: int) -> np.ndarray:
    """``targets`` (n, T, 28) with the hinge angles of their first two frames (the start state) moved by
    +-``delta`` rad, one random sign per clip and hinge (``seed``)."""
    start = targets.copy()
    rng = np.random.default_rng(seed)
    start[:, :2, 7:] += delta * rng.choice([-1.0, 1.0], size=(len(start), 1, start.shape[-1] - 7))
    return start


def replay(model, targets, delta: float, seed: int = 0, fps: float = 20.0) -> np.ndarray:
    """Set points ``targets`` (n, T, 28) simulated open loop on ``model`` from :func:`offset_start`."""
    import warnings

    from scsc_theory.motion import physics

    with world(model), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        sim, _ = physics._simulate(targets, fps, "rollout", None, start=offset_start(targets, delta, seed))
    return sim


def replay_drift(model, gen: Generated, delta: float, seed: int = 0, fps: float = 20.0) -> np.ndarray:
    """Per clip MPJPE (m) between the clip and its own set points replayed on ``model`` from a start
    whose hinge angles are moved by +-``delta`` rad (:func:`replay`): how far an open-loop replay drifts
    from a realizable clip when its start is off by a little (0 for ``delta`` = 0 on the generator's
    model: the simulation is deterministic)."""
    from scsc_theory.motion import physics

    return physics.tracking_errors(replay(model, gen.targets, delta, seed, fps), gen.raw)[0]


def reproduce(model, planner, clips, fps: float = 20.0, mpc: dict | None = None) -> dict:
    """The corrector's projection of ``clips`` on ``model`` with ``planner``: per clip MPJPE (m) of the
    kept rollout and of rollout 0, and whether every rollout fell or leaned. With ``mpc`` (keyword
    arguments of ``mpc_tracking.track``) also the planner's set points tracked with predictive-sampling
    feedback toward the clip, from the clip's start: its MPJPE (m) and whether it fell or leaned."""
    from scsc_theory.motion import controller, physics

    with world(model, planner):
        pr = physics.project(clips, fps=fps, backend="rollout")
    out = {"mpjpe": physics.tracking_errors(pr.qpos, clips)[0], "plain": physics.tracking_errors(pr.plain, clips)[0],
           "fell_all": pr.fell_all}
    if mpc:
        from mpc_tracking import track

        q = track(model, controller.set_points(planner, clips, fps), clips, fps, start=clips, **mpc)
        out["mpc_mpjpe"], out["mpc_lost"] = physics.tracking_errors(q, clips)[0], physics.fallen(q) | physics.leans(q, clips)
    return out


def row(name, labels, gen: Generated, rep_by_scale, drift) -> dict:
    from scsc_theory.motion.data import ACTION_CLASSES

    first, bad, redraws = gen.first_failed, gen.failing, gen.redraws
    per_class = {}
    for k, c in enumerate(ACTION_CLASSES):
        m = labels == k
        if not m.any():
            continue
        per_class[c] = {"first_draw_failed": float(first[m].mean()), "still_failing": float(bad[m].mean()),
                        "redraws_mean": float(redraws[m].mean()),
                        "replay_drift_cm": float(100 * drift[m].mean()), "replay_drift_max_cm": float(100 * drift[m].max()),
                        "reproduction": {f"{s:g}": {"mpjpe_cm": float(100 * r["mpjpe"][m].mean()),
                                                     "mpjpe_max_cm": float(100 * r["mpjpe"][m].max()),
                                                     "plain_mpjpe_cm": float(100 * r["plain"][m].mean()),
                                                     "fell_all": float(r["fell_all"][m].mean()),
                                                     **({"mpc_mpjpe_cm": float(100 * r["mpc_mpjpe"][m].mean()),
                                                         "mpc_lost": float(r["mpc_lost"][m].mean())} if "mpc_mpjpe" in r else {})}
                                         for s, r in rep_by_scale.items()}}
    return {"world": name, "per_class": per_class}


def table(r) -> str:
    reps = next(iter(r["per_class"].values()))["reproduction"]
    scales, mpc = list(reps), "mpc_mpjpe_cm" in next(iter(reps.values()))
    head = ("| class | first draws failing | failing after redraws | redraws | replay drift cm (max) | "
            + " | ".join(f"x{s}: MPJPE cm (max) / rollout 0 / all fell or leaned"
                         + (" / with MPC: MPJPE cm / fell or leaned" if mpc else "") for s in scales) + " |")
    lines = [f"{r['world']}", "", head, "|---" * (5 + len(scales)) + "|"]
    for c, v in r["per_class"].items():
        rep = " | ".join(f"{p['mpjpe_cm']:.2f} ({p['mpjpe_max_cm']:.1f}) / {p['plain_mpjpe_cm']:.2f} / {p['fell_all']:.2f}"
                         + (f" / {p['mpc_mpjpe_cm']:.2f} / {p['mpc_lost']:.2f}" if "mpc_mpjpe_cm" in p else "")
                         for p in v["reproduction"].values())
        lines.append(f"| {c} | {v['first_draw_failed']:.2f} | {v['still_failing']:.2f} | {v['redraws_mean']:.2f} | "
                     f"{v['replay_drift_cm']:.2f} ({v['replay_drift_max_cm']:.1f}) | {rep} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--leg-gain", type=float, default=4.0, help="leg/abdomen servo stiffness multiplier G (> 0)")
    ap.add_argument("--generation-scale", type=float, default=0.5, help="residual bounds multiplier of the generator (> 0)")
    ap.add_argument("--corrector-scale", default="0.5,1", help="comma list: residual bounds multipliers of the corrector (> 0)")
    ap.add_argument("--per-class", type=int, default=20, help="clips per action class (>= 1)")
    ap.add_argument("--seed", type=int, default=0, help="dataset seed (>= 0)")
    ap.add_argument("--pairs", type=int, default=None, help="planner fit pairs (>= 9; default controller.FIT's)")
    ap.add_argument("--fit-steps", type=int, default=None, help="planner fit steps (>= 1; default controller.FIT's)")
    ap.add_argument("--replay-delta", type=float, default=0.01, help="start offset of the open-loop replay, rad (>= 0)")
    ap.add_argument("--mpc-samples", type=int, default=0, help="also track the planner's set points with predictive "
                    "sampling (benchmarks/mpc_tracking.py: this many candidates, 10-frame horizon, replan every 2 frames); "
                    "0 = off (default)")
    ap.add_argument("--out", default="runs/world_margin")
    args = ap.parse_args(argv)
    scales = comma_floats(args.corrector_scale)
    checks = [(np.isfinite(args.leg_gain) and args.leg_gain > 0, "--leg-gain must be > 0"),
              (np.isfinite(args.generation_scale) and args.generation_scale > 0, "--generation-scale must be > 0"),
              (all(np.isfinite(s) and s > 0 for s in scales), "--corrector-scale must be a comma list of numbers > 0"),
              (args.per_class >= 1, "--per-class must be >= 1"), (args.seed >= 0, "--seed must be >= 0"),
              (args.pairs is None or args.pairs >= 9, "--pairs must be >= 9"),
              (args.fit_steps is None or args.fit_steps >= 1, "--fit-steps must be >= 1"),
              (np.isfinite(args.replay_delta) and 0 <= args.replay_delta < 0.5, "--replay-delta must be in [0, 0.5) rad"),
              (args.mpc_samples >= 0, "--mpc-samples must be >= 0")]
    out = checked_output(checks, args.out)
    if out is None:
        return 2
    from scsc_theory.io import provenance, write_json, write_text
    from scsc_theory.motion import controller, data

    fit = {k: v for k, v in (("n_pairs", args.pairs), ("steps", args.fit_steps)) if v is not None}
    labels = np.repeat(np.arange(len(data.ACTION_CLASSES)), args.per_class)
    rows = []
    for name, gain, s_gen, s_corr in (("the package's world: G = 1, generation x1, corrector x1", 1.0, 1.0, [1.0]),
                                      (f"counterfactual: G = {args.leg_gain:g}, generation x{args.generation_scale:g}",
                                       args.leg_gain, args.generation_scale, scales)):
        gen_model = counterfactual_model(gain, s_gen)
        gen = generate(gen_model, labels, args.seed)
        reps = {}
        for s in s_corr:
            corr_model = counterfactual_model(gain, s)
            with world(corr_model):   # the corrector's planner, fitted on its own world's pairs
                planner = controller.fit(20.0, **fit)
            reps[s] = reproduce(corr_model, planner, gen.clips, mpc={"samples": args.mpc_samples} if args.mpc_samples else None)
        rows.append(row(name, labels, gen, reps, replay_drift(gen_model, gen, args.replay_delta, seed=args.seed)))
        print(table(rows[-1]), flush=True)
    doc = {"rows": rows, "settings": vars(args), "provenance": provenance(["motion"])}
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "margin.json", doc)
    write_text(out / "table.md", "\n".join(table(r) for r in rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
