"""The paper's human-motion experiment (Gillman et al., ICML 2024, section 5), CPU-sized.

n = 64 real clips, lambda = 1 (100% synthetic augmentation), 50 generations, 3 seeds, four arms
(baseline, selfconsume, selfcorrect with the physics corrector, ideal with gamma = 1), the ``cpu``
preset (reductions stated on the figure and in summary.json). Same as::

    scsc motion loop --n 64 --lam 1.0 --arms baseline,selfconsume,selfcorrect,ideal \\
        --generations 50 --seeds 3 --preset cpu --gamma 1.0 --out runs/motion_full --figures figures

The larger-n study (paper: less collapse with more real data) is the same script with
``--n 256 --arms baseline,selfconsume,selfcorrect --seeds 2 --out runs/motion_n256 --figures figures/motion_n256``.
The gamma_eff prediction (``paper_checks.md``, row ``gamma-eff-prediction-motion``) runs the ideal arm
alone at the physics corrector's measured gamma_eff: ``--arms ideal --gamma G --out
runs/motion_ideal_geff --figures figures/motion_ideal_geff``, G from
``figures/corrector_operator/gamma_eff_gen0.json`` (row "corrector + loop guard").

Re-running resumes from the checkpoints in ``--out``. Afterwards it writes
``figures/motion_loop_metrics.png``, ``figures/motion_loop_clips.png`` and the per-arm table
``figures/motion_loop_summary.json`` / ``figures/motion_loop_table.md``. On a GPU use
``--preset paper`` (the paper's schedule: 1000 diffusion/sampling steps, 1000 fine-tuning steps
per generation; the physics corrector then defaults to the C rollout unless ``--backend mjx``).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scsc_theory.io import write_json, write_text  # noqa: E402
from scsc_theory.diffusion import read_metrics_csv  # noqa: E402
from scsc_theory.motion.loop import (MotionLoopSettings, format_table, format_window_table, run_motion_loop,  # noqa: E402
                                     window_table)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="cpu", choices=("tiny", "cpu", "paper"))
    ap.add_argument("--n", type=int, default=64, help="real clips (the larger-n study uses 256)")
    ap.add_argument("--arms", default="baseline,selfconsume,selfcorrect,ideal")
    ap.add_argument("--generations", type=int, default=50)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--strength", type=float, default=1.0, help="physics corrector strength (default 1)")
    ap.add_argument("--gamma", type=float, default=1.0,
                    help="ideal arm's gamma (default 1; the gamma_eff prediction runs it at the corrector's gamma_eff)")
    ap.add_argument("--out", default="runs/motion_full")
    ap.add_argument("--figures", default="figures")
    args = ap.parse_args(argv)
    s = MotionLoopSettings(n=args.n, lam=1.0, arms=tuple(a.strip() for a in args.arms.split(",") if a.strip()), generations=args.generations, seeds=tuple(range(args.seeds)),
                           preset=args.preset, gamma=args.gamma, strength=args.strength)
    info = run_motion_loop(s, args.out, figure_dir=args.figures)
    rows = read_metrics_csv(Path(args.out) / "metrics.csv")
    wt = window_table(rows)
    table = format_window_table(wt) + "\n\nLast generation only:\n\n" + format_table(info["summary"])
    fig = Path(args.figures)
    write_json(fig / "motion_loop_summary.json", {**{k: info[k] for k in ("settings", "preset", "reductions", "denoiser_params",
                                                                           "last_generation_table", "provenance",
                                                                           "corrector_this_call")},
                                                  "last10_generations_table": wt})
    write_text(fig / "motion_loop_table.md", info["reductions"] + "\n\n" + table + "\n")
    print(info["reductions"])
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
