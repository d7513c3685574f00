"""gamma_eff of the physics corrector, in the motion evaluator's feature space (issue 17).

Raw: ``n`` held-out true clips (test split, seed 31, as ``benchmarks/corrector_operator.py``) degraded by
the package's five corruptions (:func:`scsc_theory.motion.data.corrupt`, one fifth of the clips each).
Corrected: :func:`scsc_theory.motion.physics.correct` at each ``strength``. Target: ``n`` other true
clips (test split, seed 32). Features: the loop's evaluator (``ctx.evaluator.features`` of the
normalised clips; 16-D, unit mean variance on the reference clips). Generation-0 samples are not
measured here (their denoiser training is the expensive part of the motion world).
"""
from __future__ import annotations

import time

import numpy as np


def motion_gamma_eff(*, key, n: int = 120, strengths=(0.3, 1.0), n_boot: int = 200, level: float = 0.9) -> dict:
    """{"settings", "degraded": [gamma_eff dict per strength]}; see the module docstring."""
    import jax

    from .effective_gamma import effective_gamma, summary
    from .motion import data, physics
    from .motion.loop import MotionLoopSettings, build

    ctx, _ = build(MotionLoopSettings(n=64, arms=("selfcorrect",), seeds=(0,), generations=1))
    true = data.generate(n, seed=31, split="test").qpos.astype(np.float64)
    target = data.generate(n, seed=32, split="test").qpos.astype(np.float64)
    per = -(-n // len(data.CORRUPTIONS))
    raw = np.concatenate([data.corrupt(true[i * per:(i + 1) * per], kind, seed=1)
                          for i, kind in enumerate(data.CORRUPTIONS)])[:n]

    def feats(q):
        return ctx.evaluator.features(ctx.from_qpos(q))

    f_raw, f_tgt = feats(raw), feats(target)
    rows = []
    for i, s in enumerate(strengths):
        t0 = time.perf_counter()
        c = physics.correct(raw, strength=float(s))
        dt = time.perf_counter() - t0
        r = summary(effective_gamma(f_raw, feats(c.qpos), f_tgt, key=jax.random.fold_in(key, i), n_boot=n_boot,
                                    level=level))
        r.update(corrector="physics", strength=float(s), gamma_nominal=None, corrected_fraction=float(np.mean(c.corrected)),
                 fallback_fraction=float(np.mean(c.fallback)), correct_s=dt)
        rows.append(r)
    return {"settings": {"n": int(n), "raw": "test clips (seed 31), five corruptions", "target": "test clips (seed 32)",
                         "features": "motion evaluator features (16-D)", "strengths": [float(s) for s in strengths]},
            "degraded": rows}
