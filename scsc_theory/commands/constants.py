"""``scsc constants``: Theorem 4.3's constants for a family, a data law and a parametrization.

    scsc constants --family gaussian --dim 2 --data laplace --lam 0.1 --gamma 1 [--json]

Prints alpha, L (with its domain), epsilon, C, rho(lambda), lambda_max(gamma), the Jacobian of the
population map at theta* (spectral norm and radius) beside the bound rho/(1+gamma). With ``--n``
it also estimates the finite-sample constant c and Theorem 4.3's bound (which needs an admissible
lambda).
"""
from __future__ import annotations

import json
import math

from pathlib import Path

FAMILIES = ("gaussian",)


def register(sub) -> None:
    p = sub.add_parser("constants", help="Theorem 4.3's constants (alpha, L, eps, C, rho, lambda_max, Jacobian) for a setting")
    p.add_argument("--family", default="gaussian", help="model family (default: gaussian)")
    p.add_argument("--dim", type=int, default=2, help="dimension of the data (default: 2)")
    p.add_argument("--data", default="normal", help="data law: normal | laplace | student-t | mixture")
    p.add_argument("--lam", type=float, default=0.1, help="augmentation percentage lambda >= 0")
    p.add_argument("--gamma", type=float, default=1.0, help="correction strength gamma >= 0")
    p.add_argument("--parametrization", default=None, help="chart (gaussian: mean-svec | mean-chol | natural)")
    p.add_argument("--tail", type=float, default=1e-3, help="L's x-domain: the ball holding 1 - tail of p_data's mass")
    p.add_argument("--theta-radius", type=float, default=0.05, help="L's theta-neighbourhood radius in the chart")
    p.add_argument("--n", type=int, default=None, help="also estimate c and the bound for n real points")
    p.add_argument("--delta", type=float, default=0.05, help="c is the (1 - delta) quantile (with --n)")
    p.add_argument("--t", type=int, default=50, help="horizon of the bound curve (with --n)")
    p.add_argument("--d0", type=float, default=0.1, help="|theta_0 - theta*| for the bound curve (with --n)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    p.set_defaults(func=run)


def compute(family_name, dim, data, lam, gamma, *, parametrization=None, tail=1e-3, theta_radius=0.05, n=None,
            delta=0.05, t=50, d0=0.1, seed=0) -> dict:
    """All constants as a JSON-ready dict (validates every input first)."""
    from .._validate import SCSCInputError, check_choice, check_int, check_nonneg, check_open_unit

    check_choice("family", family_name, FAMILIES)
    dim = check_int("dim", dim, 1, 6)
    lam = check_nonneg("lam", lam)
    gamma = check_nonneg("gamma", gamma)
    check_open_unit("tail", tail)
    check_nonneg("theta_radius", theta_radius)
    seed = check_int("seed", seed, 0, 2**32 - 1)
    if n is not None:
        n = check_int("n", n, 2)
        delta = check_open_unit("delta", delta)
        t = check_int("t", t, 0)
        d0 = check_nonneg("d0", d0)
    from ..data import make_data_law
    from ..families import Gaussian
    from .. import theory as T

    law = make_data_law(data, dim)
    fam = Gaussian(dim)
    k = T.constants(fam, law, lam=lam, gamma=gamma, parametrization=parametrization, tail=tail,
                    theta_radius=theta_radius, seed=seed)
    out = k.to_dict()
    if n is not None:
        if not k.admissible:
            raise SCSCInputError(
                f"a bound was requested (--n) but lam={lam:g} is outside the admissible region for gamma={gamma:g}: "
                f"need lam < lambda_max = {k.lambda_max:.6g} (C = {k.C:.6g})")
        ce = T.estimate_c(fam, law, lam=lam, gamma=gamma, n=n, delta=delta, radius=max(d0, 0.05),
                          parametrization=parametrization)
        curve = T.bound_for(lam, gamma, k.C, ce.c, t, d0)
        out.update({"n": n, "delta": delta, "c": ce.c, "c_ci95": list(ce.ci), "d0": d0, "t": t,
                    "bound_curve": curve.tolist(), "bound_limit": T.bound_limit(ce.c, k.rho, gamma)})
    return out


def _fmt(v):
    if isinstance(v, float):
        return "inf" if math.isinf(v) else f"{v:.6g}"
    return str(v)


def table(d: dict) -> str:
    lines = [
        f"family {d['family']}, data {d['data']} (dim {d['dim']}), lambda = {_fmt(d['lam'])}, gamma = {_fmt(d['gamma'])}",
        f"parametrization {d['parametrization']}: {d['parametrization_description']}",
        "",
        f"  alpha            {_fmt(d['alpha'])}  (+- {_fmt(d['alpha_se'])}; {d['alpha_method']})",
        f"  L                {_fmt(d['L'])}  on x in {d['L_domain']['x']},",
        f"                   theta in {d['L_domain']['theta']}",
        f"  eps = W1         {_fmt(d['eps'])}  (+- {_fmt(d['eps_se'])}; {d['eps_method']})",
        f"  C = 1+eps L/alpha {_fmt(d['C'])}",
        f"  rho(lambda)      {_fmt(d['rho'])}",
        f"  lambda_max(gamma) {_fmt(d['lambda_max'])}   -> lambda {'admissible' if d['admissible'] else 'NOT admissible'}",
        f"  |J| at theta*    {_fmt(d['jacobian_norm'])}  (spectral radius {_fmt(d['jacobian_spectral_radius'])}; {d['jacobian_method']})",
        f"  q = rho/(1+gamma) {_fmt(d['q'])}",
        f"  |J_gamma - J_0/(1+gamma)|  {d['jacobian_factor_error']:.2e}",
    ]
    if "c" in d:
        lines += [
            f"  c (n={d['n']}, delta={d['delta']})  {_fmt(d['c'])}  (95% CI {_fmt(d['c_ci95'][0])}..{_fmt(d['c_ci95'][1])})",
            f"  Theorem 4.3 bound at t={d['t']} from d0={_fmt(d['d0'])}: {_fmt(d['bound_curve'][-1])}; limit {_fmt(d['bound_limit'])}",
        ]
    return "\n".join(lines)


def run(args) -> int:
    import jax

    from ..io import to_jsonable

    with jax.enable_x64(True):  # float64 for this computation only, not for the rest of the process
        d = compute(args.family, args.dim, args.data, args.lam, args.gamma, parametrization=args.parametrization,
                    tail=args.tail, theta_radius=args.theta_radius, n=args.n, delta=args.delta, t=args.t,
                    d0=args.d0, seed=args.seed)
    if args.json:
        print(json.dumps(to_jsonable(d)))
    else:
        print(table(d))
    return 0


def quick(out_dir) -> list:
    """Constants for a well-specified 2-D and a misspecified 1-D law (JSON files)."""
    import jax

    from ..io import provenance, to_jsonable, write_json

    out = Path(out_dir)
    files = []
    for data, dim in (("normal", 2), ("laplace", 1)):
        with jax.enable_x64(True):
            d = compute("gaussian", dim, data, 0.1, 1.0)
        files.append(write_json(out / f"constants_gaussian_{data}_{dim}d.json",
                                dict(to_jsonable(d), provenance=provenance(["theory"]))))
    return files
