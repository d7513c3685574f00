"""``scsc conjecture``: explore Conjecture 4.7 (larger lambda, theta_0 farther away) for one family.

    scsc conjecture --family gmm --data mixture --gamma 0:4:5 --lam 0.2:3:8 --radii 0:3:7 --out DIR

writes DIR/conjecture.json, DIR/conjecture.md (the table) and the figure (default DIR/conjecture.png).
"""
from __future__ import annotations

from pathlib import Path

from .sweep import add_common, build, check_outputs, constants_for

DEFAULT_RADII = {"gaussian": "0:8:5", "gmm": "0:2.4:7", "flow": "0:6:5"}


def register(sub) -> None:
    p = sub.add_parser("conjecture", help="Conjecture 4.7 explorer: largest contracting lambda and basin of attraction per gamma")
    add_common(p)
    p.add_argument("--gamma", default="0:4:5", help="gamma grid A:B:N (default 0:4:5)")
    p.add_argument("--lam", default="0.25:3:6", help="lambda grid for (a) (default 0.25:3:6)")
    p.add_argument("--radii", default=None, help="perturbation sizes R for (b) (default per family)")
    p.add_argument("--basin-lam", type=float, default=0.5, help="lambda of the basin runs (default 0.5)")
    p.add_argument("--directions", type=int, default=4, help="perturbation directions (default 4)")
    p.add_argument("--seeds", default="2", help="seeds (count or comma list), default 2")
    p.add_argument("--generations", type=int, default=60, help="generations of the basin runs (default 60)")
    p.add_argument("--tol-factor", type=float, default=2.0,
                   help="a run returns if its final distance <= this x the largest at R = 0 (default 2)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--figure", default=None, help="figure path (default OUT/conjecture.png)")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..conjecture import explore, format_table, plot
    from ..io import provenance, write_json, write_text
    from ..sweep import parse_range, parse_seeds

    fam, law = build(args)
    parse_range("gamma", args.gamma)
    parse_range("lam", args.lam)
    radii = args.radii or DEFAULT_RADII[args.family]
    parse_range("radii", radii)
    seeds = parse_seeds(args.seeds)
    check_outputs(args)
    out = Path(args.out)
    consts = constants_for(fam, law, out, args.C)
    res = explore(fam, law, lams=args.lam, gammas=args.gamma, radii=radii, seeds=seeds, basin_lam=args.basin_lam,
                  directions=args.directions, n=args.n, generations=args.generations, tol_factor=args.tol_factor,
                  C=consts.get("C"), sweep_dir=out / "sweep", overwrite=args.overwrite)
    fig = Path(args.figure) if args.figure else out / "conjecture.png"
    plot(res, fig)
    d = res.to_dict()
    d["constants"] = consts
    d["figure"] = str(fig)
    d["provenance"] = provenance(["sweep"])
    write_json(out / "conjecture.json", d)
    table = format_table(res)
    write_text(out / "conjecture.md", table + "\n")
    print(table)
    print(f"figure: {fig}")
    return 0


def quick(out_dir):
    from ..cli import main

    out_dir = Path(out_dir)
    argv = ["conjecture", "--family", "gaussian", "--gamma", "0:2:2", "--lam", "0.5:2:2", "--radii", "0:4:2",
            "--directions", "2", "--seeds", "1", "--generations", "20", "--C", "1", "--out", str(out_dir)]
    if main(argv) != 0:
        raise RuntimeError("quick conjecture run failed")
    return [out_dir / "conjecture.json", out_dir / "conjecture.md", out_dir / "conjecture.png"]
