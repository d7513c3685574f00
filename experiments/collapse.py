"""The workflow comparison of issue 15 for both families (= `scsc collapse --family F --figures figures`).

    python experiments/collapse.py

Writes runs/collapse_<family>/{summary.json,curves.npz} and figures/collapse_<family>.png.
"""
from pathlib import Path

from scsc_theory.collapse import run_collapse, write_collapse


def main():
    for family in ("linreg", "gaussian"):
        res = run_collapse(family)
        for f in write_collapse(res, Path("runs") / f"collapse_{family}", Path("figures") / f"collapse_{family}.png"):
            print("wrote", f)


if __name__ == "__main__":
    main()
