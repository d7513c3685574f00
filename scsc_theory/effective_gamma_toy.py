"""gamma_eff of the Gaussian toy's correctors, and the loop prediction it makes (issue 17).

Measurement (:func:`toy_gamma_eff`): ``batches`` independent batches of m raw points from a stated
raw law p_theta (``RAW``: a loop-scale perturbation of theta* = N(0, I_2)), each corrected as the
loop corrects one generation (:func:`scsc_theory.correction.correct` on m active slots), pooled,
paired with their raw points, against fresh p_theta* draws:
:func:`scsc_theory.effective_gamma.effective_gamma` of the law of one corrected point at batch size m.

Prediction (:func:`toy_prediction`): the loop run with the practical corrector at nominal gamma
against the ideal loop (exact pi_gamma) at gamma_eff and at the ends of its interval; outcome = W2
to theta* averaged over the last half of the generations and over seeds (SE over seeds).
"""
from __future__ import annotations

import numpy as np

#: the raw law of the measurement: mean (0.3, 0), covariance diag(1.4, 0.7) (W2 to N(0, I) = 0.39,
#: the scale of the loop's own excursions at lambda = 0.5, n = 50)
RAW_MEAN = (0.3, 0.0)
RAW_VAR = (1.4, 0.7)


def _batches(corrector, gamma, raw_mean, raw_var, key, *, m, batches):
    """(raw, corrected, target) batches of the toy measurement, jitted with gamma traced."""
    import jax
    import jax.numpy as jnp

    from .correction import correct
    from .families.gaussian import Gaussian, GaussianParams

    @jax.jit
    def run(gamma, raw_mean, raw_var, key):
        fam = Gaussian(2)
        dt = raw_mean.dtype
        ts = GaussianParams(jnp.zeros(2, dt), jnp.eye(2, dtype=dt))
        raw_p = GaussianParams(raw_mean, jnp.diag(raw_var))
        k_raw, k_cor, k_tgt = jax.random.split(key, 3)
        raw = jax.vmap(lambda k: fam.sample(k, raw_p, m))(jax.random.split(k_raw, batches))
        cor = jax.vmap(lambda k, x: correct(corrector, k, x, m, gamma, fam, ts))(jax.random.split(k_cor, batches), raw)
        return raw.reshape(-1, 2), cor.reshape(-1, 2), fam.sample(k_tgt, ts, batches * m)

    return run(gamma, raw_mean, raw_var, key)


def toy_gamma_eff(corrector: str, gamma: float, *, m: int, batches: int, key, raw_mean=RAW_MEAN, raw_var=RAW_VAR,
                  n_boot: int = 200, level: float = 0.9) -> dict:
    """gamma_eff of toy ``corrector`` at nominal ``gamma`` for one corrected batch of m points (see module doc)."""
    import jax
    import jax.numpy as jnp

    from .correction import get_corrector
    from .effective_gamma import effective_gamma, summary

    get_corrector(corrector)  # validates the name
    raw, cor, tgt = _batches(corrector, jnp.asarray(gamma, float), jnp.asarray(raw_mean, float),
                             jnp.asarray(raw_var, float), key, m=int(m), batches=int(batches))
    k_boot = jax.random.fold_in(key, 7)
    res = effective_gamma(raw, cor, tgt, key=k_boot, n_boot=n_boot, level=level,
                          n_directions=2)
    out = summary(res)
    out.update(corrector=corrector, gamma_nominal=float(gamma), m=int(m), batches=int(batches))
    return out


def _level(res, generations: int):
    """Per-config mean W2 over generations T/2..T; non-finite (diverged) configs give NaN."""
    w2 = res.metrics["w2"][:, generations // 2:]
    ok = res.finite[:, -1]
    return np.where(ok, w2.mean(1), np.nan), ok


def loop_levels(corrector: str, gammas, *, lam: float, mode: str, n: int, generations: int, seeds: int,
                sampling: str = "finite"):
    """(G, S) array of the late-generation mean W2 of the toy loop for each gamma and seed, and divergences."""
    from .data import make_data_law
    from .families import Gaussian
    from .loop import grid, run_loop

    L, G, S = grid([lam], list(gammas), np.arange(seeds))
    res = run_loop(Gaussian(2), make_data_law("normal", 2), lam=L, gamma=G, seed=S, n=n, generations=generations,
                   mode=mode, sampling=sampling, corrector=corrector, record_thetas=False)
    lev, ok = _level(res, generations)
    return lev.reshape(len(gammas), seeds), int((~ok).sum())


def _mean_se(a):
    a = a[np.isfinite(a)]
    return float(a.mean()), float(a.std(ddof=1) / np.sqrt(max(a.size, 1)))


def toy_prediction(corrector: str, nominal, measured, *, lam: float, mode: str, n: int = 50, generations: int = 200,
                   seeds: int = 48) -> list:
    """Per nominal gamma: the practical loop's outcome vs the ideal loop at gamma_eff (and its interval ends).

    ``measured``: list of :func:`toy_gamma_eff` dicts, one per nominal gamma. The prediction HOLDS when the
    practical outcome differs from the ideal loop's at gamma_eff by at most 3 SE of the seed-paired
    difference, or lies between the ideal outcomes at the interval's ends; gamma_eff <= 0 or inf is clipped to [0, 1e6] for the ideal run.
    Common random numbers: the same seeds (real data) in every arm.
    """
    def clip(g):
        return float(np.clip(np.nan_to_num(g if g is not None else np.inf, posinf=1e6), 0.0, 1e6))

    g_eff = [[clip(r["gamma_lo"]), clip(r["gamma_eff"]), clip(r["gamma_hi"])] for r in measured]
    prac, div_p = loop_levels(corrector, nominal, lam=lam, mode=mode, n=n, generations=generations, seeds=seeds)
    ideal_sampling = "stats" if mode == "fixed" else "finite"
    flat = [g for tri in g_eff for g in tri] + [float(g) for g in nominal]
    ide, div_i = loop_levels("ideal", flat, lam=lam, mode=mode, n=n, generations=generations, seeds=seeds,
                             sampling=ideal_sampling)
    rows = []
    for i, g in enumerate(nominal):
        p_m, p_se = _mean_se(prac[i])
        e_m, e_se = _mean_se(ide[3 * i + 1])
        d_m, d_se = _mean_se(prac[i] - ide[3 * i + 1])  # paired over seeds (same real data)
        lo_m, hi_m = _mean_se(ide[3 * i])[0], _mean_se(ide[3 * i + 2])[0]
        nd_m, nd_se = _mean_se(prac[i] - ide[3 * len(nominal) + i])
        band = (min(lo_m, hi_m), max(lo_m, hi_m))
        holds = bool(abs(d_m) <= 3.0 * d_se or band[0] <= p_m <= band[1])
        rows.append({"corrector": corrector, "mode": mode, "lam": float(lam), "gamma_nominal": float(g),
                     "gamma_eff": g_eff[i][1], "gamma_eff_interval": [g_eff[i][0], g_eff[i][2]],
                     "practical_w2": p_m, "practical_se": p_se, "ideal_at_gamma_eff_w2": e_m, "ideal_se": e_se,
                     "ideal_band_w2": list(band), "diff_vs_gamma_eff": d_m, "diff_vs_gamma_eff_se": d_se,
                     "diff_vs_nominal": nd_m, "diff_vs_nominal_se": nd_se,
                     "holds": holds, "diverged_practical": div_p, "diverged_ideal": div_i,
                     "n": n, "generations": generations, "seeds": seeds,
                     "outcome": "mean W2 to theta* over generations T/2..T; differences paired over seeds"})
    return rows
