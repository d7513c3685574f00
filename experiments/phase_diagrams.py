"""Make the committed phase diagrams and Conjecture 4.7 figures (figures/phase_*.png, figures/conjecture_*.png).

    python experiments/phase_diagrams.py [--only NAME,...] [--list]

Each entry is one ``scsc`` command (printed before it runs), so any figure can be remade by hand.
Results go to runs/phase/<name>/ (results.npz + index.json + summary.json).
"""
from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
import time

COMMANDS = {
    "gaussian": "scsc sweep --family gaussian --data normal --lam 0.2:2:19 --gamma 0:6:7 --seeds 16 --generations 40 "
                "--n 1000 --out runs/phase/gaussian --figure figures/phase_gaussian.png",
    "gaussian_laplace": "scsc sweep --family gaussian --data laplace --lam 0.05:2:14 --gamma 0:6:7 --seeds 8 "
                        "--generations 40 --n 200 --out runs/phase/gaussian_laplace --figure figures/phase_gaussian_laplace.png",
    "gmm": "scsc sweep --family gmm --data mixture --lam 0.1:3:9 --gamma 0:4:5 --seeds 4 --generations 40 --n 100 "
           "--out runs/phase/gmm --figure figures/phase_gmm.png",
    "gmm_laplace": "scsc sweep --family gmm --data laplace --lam 0.1:3:9 --gamma 0:4:5 --seeds 4 --generations 40 "
                   "--n 200 --out runs/phase/gmm_laplace --figure figures/phase_gmm_laplace.png",
    "flow": "scsc sweep --family flow --data mixture --lam 0.2:2:5 --gamma 0:4:3 --seeds 2 --generations 30 --n 100 "
            "--out runs/phase/flow --figure figures/phase_flow.png",
    "flow_laplace": "scsc sweep --family flow --data laplace --lam 0.2:2:5 --gamma 0:4:3 --seeds 2 --generations 30 "
                    "--n 100 --out runs/phase/flow_laplace --figure figures/phase_flow_laplace.png",
    "conjecture_gmm": "scsc conjecture --family gmm --data mixture --gamma 0:4:5 --lam 0.25:6:8 --radii 0:2.4:7 "
                      "--basin-lam 1.0 --directions 4 --seeds 2 --generations 60 --n 100 --out runs/conjecture/gmm "
                      "--figure figures/conjecture_gmm.png",
    "conjecture_gaussian_laplace": "scsc conjecture --family gaussian --data laplace --gamma 0:4:5 --lam 0.25:6:8 "
                                   "--radii 0:8:5 --basin-lam 1.0 --directions 4 --seeds 2 --generations 60 --n 100 "
                                   "--out runs/conjecture/gaussian_laplace --figure figures/conjecture_gaussian_laplace.png",
    "conjecture_flow": "scsc conjecture --family flow --data mixture --gamma 0:4:3 --lam 0.5:3:3 --radii 0:6:4 "
                       "--basin-lam 1.0 --directions 2 --seeds 1 --generations 30 --n 100 --out runs/conjecture/flow "
                       "--figure figures/conjecture_flow.png",
}


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", default=None)
    ap.add_argument("--list", action="store_true")
    a = ap.parse_args(argv)
    names = list(COMMANDS) if a.only is None else [s.strip() for s in a.only.split(",")]
    for name in names:
        cmd = COMMANDS[name]
        if a.list:
            print(cmd)
            continue
        print(f"$ {cmd}", flush=True)
        t0 = time.perf_counter()
        argv_ = shlex.split(cmd)
        rc = subprocess.call([sys.executable, "-m", "scsc_theory.cli", *argv_[1:]])
        print(f"[{name}] rc={rc} in {time.perf_counter() - t0:.0f} s", flush=True)
        if rc != 0:
            return rc
    return 0


if __name__ == "__main__":
    sys.exit(main())
