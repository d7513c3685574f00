"""gamma_eff of the digits k-means correction, in the digits evaluator's feature space (issue 17).

Raw laws (both stated in the results):

* ``gen0``: samples of a generation-0 model, trained from scratch on the real training digits exactly
  as the digits loop trains it (:func:`scsc_theory.digits.loop.build`: same denoiser, ``gen0_steps``,
  sampler), conditioned on the target's labels (twice over);
* ``degraded``: real training digits (two per target label, of that class) with i.i.d. N(0, ``noise_sd``^2) pixel noise, clipped to [-1, 1]
  (noise_sd = 1 drops the classifier's accuracy to about 0.65: a law the distance can tell from the data).

Target: the held-out ``ref`` split (real digits the correction and the evaluator's classifier never saw).
Correctors:
:func:`scsc_theory.digits.correction.correct_jnp` (nearest k-means centre of the class; ``None`` =
replacement as in the paper's code, finite gamma = move gamma/(1+gamma) of the way) and, as a control,
:func:`scsc_theory.digits.correction.ideal_correct` at gamma = 1 drawing held-out ``pool`` digits of the
class (disjoint from the target; drawing TRAINING digits instead biased the control's gamma_eff up, 1.5-1.7
at gamma = 1: the classifier was trained on them, so their features lie beyond the held-out ones). Features: :meth:`scsc_theory.digits.evaluator.DigitsEvaluator.features` (32-D).
"""
from __future__ import annotations

import numpy as np

#: nominal gammas of the interpolated k-means correction (None = replacement)
KMEANS_GAMMAS = (0.5, 1.0, 2.0, None)


def digits_gamma_eff(*, key, noise_sd: float = 1.0, n_boot: int = 200, level: float = 0.9,
                     gen0_steps: int | None = None) -> dict:
    """{raw law: [gamma_eff dict per corrector]} plus the settings; see the module docstring."""
    import jax
    import jax.numpy as jnp

    from .digits.correction import correct_jnp, ideal_correct
    from .digits.loop import DigitsLoopSettings, build
    from .effective_gamma import effective_gamma, summary

    st = DigitsLoopSettings(lam=1.0, arms=("selfcorrect",), generations=0)
    if gen0_steps is not None:
        from dataclasses import replace

        st = replace(st, gen0_steps=int(gen0_steps))
    ctx, loop = build(st)
    sp, ev = ctx.split, ctx.evaluator
    k_init, k_train, k_sample, k_noise, k_ideal, k_boot = jax.random.split(key, 6)
    x_tgt, labels = sp.x_ref, np.concatenate([sp.y_ref, sp.y_ref])
    state = loop.train_fn(loop.init_fn(k_init), sp.x_train, sp.y_train, st.gen0_steps, k_train)
    gen0 = np.asarray(loop.sample_fn(state, jnp.asarray(labels), k_sample), np.float32)
    # one training digit per target label, of that class (cycled within the class): same class composition
    by_class = [np.flatnonzero(sp.y_train == c) for c in range(int(labels.max()) + 1)]
    idx = np.array([by_class[c][i % by_class[c].size] for i, c in enumerate(labels)])
    x_deg = sp.x_train[idx] + noise_sd * np.asarray(jax.random.normal(k_noise, (labels.shape[0],) + sp.x_train.shape[1:]))
    raws = {"gen0": (gen0, labels), "degraded": (np.clip(x_deg, -1.0, 1.0).astype(np.float32), sp.y_train[idx])}
    f_tgt = ev.features(x_tgt)
    out = {"settings": {"k": st.k, "gen0_steps": st.gen0_steps, "sample_steps": st.sample_steps, "width": st.width,
                        "depth": st.depth, "noise_sd": noise_sd, "n_raw": int(labels.shape[0]),
                        "n_target": int(x_tgt.shape[0]), "target": "held-out ref split",
                        "features": "DigitsEvaluator.features (32-D)"}}
    for name, (x, y) in raws.items():
        f_raw = ev.features(x)
        rows = []
        for i, g in enumerate(KMEANS_GAMMAS):
            f_cor = ev.features(np.asarray(correct_jnp(jnp.asarray(x), jnp.asarray(y), jnp.asarray(ctx.centres), g)))
            r = summary(effective_gamma(f_raw, f_cor, f_tgt, key=jax.random.fold_in(k_boot, i), n_boot=n_boot,
                                        level=level))
            r.update(corrector="kmeans", gamma_nominal=None if g is None else float(g))
            rows.append(r)
        f_ide = ev.features(np.asarray(ideal_correct(x, y, ctx.pool, 1.0, k_ideal)))
        r = summary(effective_gamma(f_raw, f_ide, f_tgt, key=jax.random.fold_in(k_boot, 99), n_boot=n_boot, level=level))
        r.update(corrector="ideal", gamma_nominal=1.0)
        rows.append(r)
        out[name] = rows
    out["gen0_fid"] = float(ev.fid(gen0))
    return out
