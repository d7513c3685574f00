"""Reproduce the paper's toy figure in both modes (Gillman et al., Section 5.1).

    python experiments/toy.py            # = scsc toy --mode accumulate && scsc toy --mode fixed

Writes runs/toy_<mode>/{summary.json,curves.npz} and figures/toy_w2_<mode>.png, and prints
the final W2 per gamma for each mode side by side.
"""
from pathlib import Path

from scsc_theory.toy import run_toy, write_toy


def main():
    rows = {}
    for mode in ("accumulate", "fixed"):
        run = run_toy(mode=mode, seeds=32, generations=500)
        for f in write_toy(run, Path("runs") / f"toy_{mode}", Path("figures") / f"toy_w2_{mode}.png"):
            print("wrote", f)
        rows[mode] = run.summary
    print(f"{'gamma':>6} {'accumulate W2':>14} {'fixed W2':>10}")
    for i, g in enumerate(rows["fixed"]["gamma"]):
        print(f"{g:>6g} {rows['accumulate']['final_w2_mean'][i]:>14.4f} {rows['fixed']['final_w2_mean'][i]:>10.4f}")


if __name__ == "__main__":
    main()
