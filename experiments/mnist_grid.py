"""The 28x28 MNIST grid behind figures/mnist/ and the paper_checks.md MNIST row.

    python experiments/mnist_grid.py --out runs/mnist_grid            # run (resumable), report, figure
    python experiments/mnist_grid.py --out runs/mnist_grid --report-only --overwrite

For each lambda (default 1, 1.5, 0.5, 0.2; the claim is tested at 1 and 1.5, so they run first):
``scsc digits loop --source mnist --preset cpu --lams <lambda> --seeds 0,1,2 --generations 50
--arms selfconsume,selfcorrect,ideal --out <out> --figures <figures>/lam<lambda>`` (one folder of
records for the whole grid; re-running the command resumes it from its checkpoints), then the
one-figure view of every lambda reported so far, ``<figures>/mnist_grid.png``
(:mod:`scsc_theory.mnist_grid`). Files that exist are not overwritten without ``--overwrite``.
"""
import argparse
import sys
from pathlib import Path

from scsc_theory import cli
from scsc_theory._validate import SCSCInputError, check_output_dir, parse_float_list
from scsc_theory.checks.digits import MNIST_LAMS, mnist_summary_path
from scsc_theory.mnist_grid import plot_grid, read_grid

ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
ap.add_argument("--out", default="runs/mnist_grid", help="folder of the grid's records (checkpoints, metrics)")
ap.add_argument("--figures", default="figures/mnist", help="folder of the per-lambda reports and the grid figure")
ap.add_argument("--lams", default=",".join(MNIST_LAMS))
ap.add_argument("--seeds", default="0,1,2")
ap.add_argument("--generations", default="50")
ap.add_argument("--arms", default="selfconsume,selfcorrect,ideal")
ap.add_argument("--preset", default="cpu")
ap.add_argument("--report-only", action="store_true", help="only report what --out holds")
ap.add_argument("--overwrite", action="store_true", help="replace existing reports and figure")
a = ap.parse_args()

try:
    lams = [f"{x:g}" for x in parse_float_list("--lams", a.lams)]
    figures = check_output_dir("--figures", a.figures)
    grid_png = figures / "mnist_grid.png"
    existing = [p for p in [mnist_summary_path(lam, figures) for lam in lams] + [grid_png] if p.exists()]
    if existing and not a.overwrite:
        raise SCSCInputError(f"--figures: {existing[0]} exists (pass --overwrite to replace the reports)")
except SCSCInputError as err:
    sys.exit(f"mnist_grid: {err}")

for lam in lams:
    rc = cli.main(["digits", "loop", "--source", "mnist", "--preset", a.preset, "--lams", lam, "--seeds", a.seeds,
                   "--generations", a.generations, "--arms", a.arms, "--out", a.out,
                   "--figures", str(mnist_summary_path(lam, figures).parent), "--no-progress"]
                  + (["--report-only"] if a.report_only else []))
    if rc:
        sys.exit(rc)
print(f"wrote {plot_grid(read_grid(Path(figures), lams), grid_png)}")
