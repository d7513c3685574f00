"""Before/after equivalence of a restructuring: the same seeds must give the same numbers.

    python benchmarks/equivalence.py record OUT.json [--commit HASH] [--parts toy,sweep,constants,checks]
    python benchmarks/equivalence.py compare BEFORE.json AFTER.json [--report REPORT.md]

``record`` runs, in this process, on whatever ``scsc_theory`` is importable (run it from an exported
tree with ``PYTHONPATH=TREE`` to pin the code):

* ``scsc toy`` in both modes (4 seeds x 3 gammas x 30 generations): summary numbers and every curve;
* a small ``scsc sweep`` (Gaussian on N(0, I), 3 x 2 grid, 2 seeds, 8 generations, ``--C 1``): every
  array of results.npz and the phase summary; plus the sweep's theory constants (``constants_for``,
  i.e. the C drawn as the boundary) for the Gaussian on 2-D Laplace data and for a small GMM on the
  2-mixture (the OT eps estimate with its bias);
* ``scsc constants --json`` for four data laws (2-D; lambda 0.1, gamma 1);
* the theory rows of ``scsc checks`` (each check function of :mod:`scsc_theory.checks.theory` called
  with ``quick=True``): the measured text and the verdict.

``compare`` reports, per recorded number, whether it is bit-identical (floats compared by their
exact binary64 value; text exactly) and the largest absolute/relative difference otherwise.
Keys renamed by the restructuring are mapped through :data:`RENAMED` (old name -> new name).
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

#: JSON keys renamed by the restructuring (one name per quantity): old -> new
RENAMED = {"bound": "q"}

PARTS = ("toy", "sweep", "constants", "checks")


def _arr(a):
    a = np.asarray(a)
    if a.dtype.kind == "b":
        return {"dtype": "bool", "shape": list(a.shape), "values": a.astype(int).reshape(-1).tolist()}
    if a.dtype.kind in "iu":
        return {"dtype": str(a.dtype), "shape": list(a.shape), "values": a.reshape(-1).tolist()}
    # float: exact binary64 values as hex strings (bit-for-bit comparable, NaN/inf safe)
    v = a.astype(np.float64).reshape(-1)
    return {"dtype": str(a.dtype), "shape": list(a.shape), "values": [float(x).hex() for x in v]}


def _jsonable(o):
    if isinstance(o, dict):
        return {str(k): _jsonable(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_jsonable(v) for v in o]
    if isinstance(o, np.ndarray):
        return _arr(o)
    if isinstance(o, (np.floating, float)):
        return {"float": float(o).hex()}
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.bool_,)):
        return bool(o)
    return o


def _main(argv):
    from scsc_theory.cli import main

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rc = main(argv)
    if rc != 0:
        raise RuntimeError(f"scsc {' '.join(argv)} exited {rc}")
    return buf.getvalue()


def record_toy(tmp: Path) -> dict:
    out = {}
    for mode in ("accumulate", "fixed"):
        d = tmp / f"toy_{mode}"
        _main(["toy", "--mode", mode, "--seeds", "4", "--generations", "30", "--gamma", "0,0.5,2", "--out", str(d)])
        s = json.loads((d / "summary.json").read_text())
        for k in ("elapsed_s", "provenance", "compile_s", "run_s"):
            s.pop(k, None)
        with np.load(d / "curves.npz") as z:
            curves = {k: z[k] for k in z.files}
        out[mode] = {"summary": _jsonable(s), "curves": _jsonable(curves)}
    return out


def record_sweep(tmp: Path) -> dict:
    from scsc_theory.commands.sweep import constants_for
    from scsc_theory.data import make_data_law
    from scsc_theory.families import GMM, Gaussian

    d = tmp / "sweep"
    _main(["sweep", "--family", "gaussian", "--data", "normal", "--lam", "0.2:1.2:3", "--gamma", "0:2:2",
           "--seeds", "2", "--generations", "8", "--chunk", "4", "--n", "40", "--C", "1", "--out", str(d)])
    with np.load(d / "results.npz") as z:
        arrays = {k: z[k] for k in z.files}
    summ = json.loads((d / "summary.json").read_text())
    for k in ("provenance", "figure"):
        summ.pop(k, None)
    attrs = json.loads((d / "index.json").read_text())["attrs"]
    consts = {}
    for name, fam, law in (("gaussian-laplace", Gaussian(2), make_data_law("laplace", 2)),
                           ("gmm-mixture", GMM(2, k=2, em_steps=5, star_n=4000, star_steps=100),
                            make_data_law("mixture", 2))):
        c = dict(constants_for(fam, law, tmp / f"consts_{name}"))
        c.pop("key", None)
        consts[name] = _jsonable(c)
    return {"results": _jsonable(arrays), "summary": _jsonable(summ), "attrs": _jsonable(attrs), "constants": consts}


def record_constants(tmp: Path) -> dict:
    out = {}
    for law in ("normal", "laplace", "student-t", "mixture"):
        text = _main(["constants", "--json", "--data", law, "--dim", "2", "--lam", "0.1", "--gamma", "1"])
        out[law] = _jsonable(json.loads(text))
    return out


def record_checks(tmp: Path) -> dict:
    from scsc_theory.checks import theory as TC

    out = {}
    for chk in TC.CHECKS:
        r = chk.run(quick=True)
        out[chk.id] = {"measured": r.measured, "status": r.status, "seconds": round(r.seconds, 1)}
        print(f"[equivalence] check {chk.id}: {r.status} ({out[chk.id]['seconds']} s)", file=sys.stderr, flush=True)
    return out


def record(path, commit, parts) -> None:
    import scsc_theory

    from scsc_theory.io import provenance, write_json

    rec = {"commit": commit, "package_file": scsc_theory.__file__, "provenance": provenance(["theory", "sweep"]),
           "parts": {}, "seconds": {}}
    fns = {"toy": record_toy, "sweep": record_sweep, "constants": record_constants, "checks": record_checks}
    with tempfile.TemporaryDirectory() as tmp:
        for p in parts:
            t0 = time.perf_counter()
            rec["parts"][p] = fns[p](Path(tmp))
            rec["seconds"][p] = round(time.perf_counter() - t0, 1)
            print(f"[equivalence] {p}: {rec['seconds'][p]} s", file=sys.stderr, flush=True)
            write_json(path, rec)


# ---------------------------------------------------------------------------------------------
# comparison
# ---------------------------------------------------------------------------------------------


def _leaves(o, prefix=""):
    """(path, kind, value) for every recorded number or string."""
    if isinstance(o, dict) and set(o) == {"float"}:
        yield prefix, "float", float.fromhex(o["float"])
    elif isinstance(o, dict) and set(o) == {"dtype", "shape", "values"}:
        vals = o["values"]
        if o["dtype"] not in ("bool",) and not o["dtype"].startswith(("int", "uint")):
            vals = [float.fromhex(v) for v in vals]
        yield prefix, "array", (tuple(o["shape"]), np.asarray(vals))
    elif isinstance(o, dict):
        for k, v in o.items():
            yield from _leaves(v, f"{prefix}/{RENAMED.get(k, k)}")
    elif isinstance(o, list):
        for i, v in enumerate(o):
            yield from _leaves(v, f"{prefix}[{i}]")
    else:
        yield prefix, "value", o


def _same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    return a == b


def compare(before, after, skip=("/seconds", "/provenance", "/package_file", "/commit")) -> dict:
    b = {p: (k, v) for p, k, v in _leaves(before) if not p.startswith(skip) and not p.endswith("/seconds")}
    a = {p: (k, v) for p, k, v in _leaves(after) if not p.startswith(skip) and not p.endswith("/seconds")}
    rows = {"identical": 0, "different": [], "only_before": sorted(set(b) - set(a)), "only_after": sorted(set(a) - set(b))}
    for p in sorted(set(a) & set(b)):
        (kb, vb), (ka, va) = b[p], a[p]
        if kb == "array" and ka == "array":
            (sb, xb), (sa, xa) = vb, va
            if sb == sa and xb.dtype.kind == "f" and np.array_equal(xb, xa, equal_nan=True):
                rows["identical"] += 1
            elif sb == sa and xb.dtype.kind != "f" and np.array_equal(xb, xa):
                rows["identical"] += 1
            else:
                diff = float(np.nanmax(np.abs(xa - xb))) if sb == sa and xb.size else float("nan")
                rows["different"].append({"path": p, "max_abs_diff": diff})
        elif _same(vb, va):
            rows["identical"] += 1
        else:
            d = {"path": p, "before": vb, "after": va}
            if isinstance(vb, float) and isinstance(va, float):
                d["abs_diff"] = abs(va - vb)
            rows["different"].append(d)
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("record")
    r.add_argument("out")
    r.add_argument("--commit", default=None, help="the commit whose code is importable (recorded)")
    r.add_argument("--parts", default=",".join(PARTS))
    c = sub.add_parser("compare")
    c.add_argument("before")
    c.add_argument("after")
    c.add_argument("--report", default=None, help="write the comparison as JSON here")
    args = ap.parse_args(argv)
    if args.cmd == "record":
        parts = [p for p in args.parts.split(",") if p]
        bad = [p for p in parts if p not in PARTS]
        if bad:
            ap.error(f"--parts must be a comma list of {', '.join(PARTS)} (got {', '.join(bad)})")
        record(args.out, args.commit, parts)
        return 0
    before = json.loads(Path(args.before).read_text())
    after = json.loads(Path(args.after).read_text())
    rows = compare(before["parts"], after["parts"])
    rows["before_commit"], rows["after_commit"] = before.get("commit"), after.get("commit")
    if args.report:
        from scsc_theory.io import write_json

        write_json(args.report, rows)
    print(f"identical: {rows['identical']}, different: {len(rows['different'])}, "
          f"only before: {len(rows['only_before'])}, only after: {len(rows['only_after'])}")
    for d in rows["different"][:50]:
        print("  DIFF", d)
    for p in rows["only_before"][:20]:
        print("  only before:", p)
    for p in rows["only_after"][:20]:
        print("  only after:", p)
    return 0 if not rows["different"] and not rows["only_before"] and not rows["only_after"] else 1


if __name__ == "__main__":
    sys.exit(main())
