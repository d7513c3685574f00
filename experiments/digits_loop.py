"""Full digits run: the paper's lambda grid {0.2, 0.5, 1, 1.5} x 50 generations, four arms.

    nohup python experiments/digits_loop.py --out runs/digits_full > runs/digits_full.log 2>&1 &
    # a second seed in parallel, in its own folder (same configuration), lambda 1.5 and 1 + baseline:
    nohup python experiments/digits_loop.py --out runs/digits_full_s1 --seeds 1 --lams 1.5,1 \
        --figures runs/digits_full_s1/fig > runs/digits_full_s1.log 2>&1 &
    # figures + summary from what exists, pooling the seeds:
    python experiments/digits_loop.py --out runs/digits_full --seeds 0,1 --report-only --also runs/digits_full_s1

Runs lambda 1.5 and 1 first (the claim in paper_checks.md is about them), then the baseline, then
0.5 and 0.2; resumable (re-run the same command). Writes figures/digits_metrics.png,
figures/digits_samples.png and figures/digits_summary.json.
"""
import argparse
import time

from scsc_theory._validate import parse_float_list
from scsc_theory.digits.loop import DigitsLoopSettings, grid_report, run_digits_grid

ap = argparse.ArgumentParser()
ap.add_argument("--out", default="runs/digits_full")
ap.add_argument("--lams", default="1.5,1,0.5,0.2")
ap.add_argument("--seeds", default="0")
ap.add_argument("--generations", type=int, default=50)
ap.add_argument("--figures", default="figures")
ap.add_argument("--report-only", action="store_true")
ap.add_argument("--also", default="", help="comma list of more run folders (other seeds, same configuration) to pool")
a = ap.parse_args()
st = DigitsLoopSettings(generations=a.generations, seeds=tuple(int(s) for s in a.seeds.split(",")))
lams = parse_float_list("--lams", a.lams)
t0 = time.time()
kw = dict(figure_dir=a.figures, summary_path=f"{a.figures}/digits_summary.json")
if a.report_only:
    g = grid_report(st, lams, a.out, extra_roots=[r for r in a.also.split(",") if r], **kw)
else:
    g = run_digits_grid(st, lams, a.out, baseline_position=2, **kw)
print(f"done in {time.time() - t0:.0f} s; files: {g['files']}")
for lam, t in g["last"].items():
    for arm, d in t.items():
        print(f"lambda {lam} {arm:12s} " + "  ".join(f"{m} {d[m]['last']:.4g} (gen0 {d[m]['gen0']:.4g})"
                                                    for m in ("fid", "accuracy", "diversity") if m in d))
