"""One jit-compiled self-consuming generation with the physics corrector: sampling, correction on
MJX and fine-tuning in one ``eqx.filter_jit`` function (issue: the corrector's controls planned in jnp).

The host loop (:func:`scsc_theory.motion.loop.build`) corrects samples with a host call
(:func:`scsc_theory.motion.physics.correct`: NumPy planning, MuJoCo C rollouts on a CPU), so its
selfcorrect generation is split into jitted pieces around that call. :func:`device_corrector` is the
same corrector as a pure function of the samples (:func:`.project.correct` with the feature maps
in jnp), marked jit-able, so :class:`scsc_theory.diffusion.loop.SelfConsumingLoop` fuses the whole
selfcorrect generation, as it does for the other arms. It is meant for an accelerator, where MJX
simulates every clip of the batch in parallel; on a CPU the host loop with the C rollout is faster.

:func:`run_device_loop` runs the motion experiment with it; its records carry the ``motion_device``
source group (the host loop's code plus this package).
"""
from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from ...diffusion import SelfConsumingLoop, summarize
from ..._validate import SCSCInputError, check_int
from ...io import provenance, write_json
from .. import controller
from ..data import root_features
from ..data import features_to_qpos as _features_to_qpos
from ..loop import MotionLoopSettings, build, check_resume_code, last_generation_table, plot_metrics
from ..physics import ILC_ITERATIONS
from . import kinematics as kin
from .project import correct

#: the provenance of results of the fused loop: the host loop's files and this package
SOURCE_GROUP = "motion_device"


def qpos_to_features(qpos, fps: float, mx=None):
    """Twin of :func:`scsc_theory.motion.data.qpos_to_features`: clips (n, T, 28) -> features (n, T, 33)
    float32 (root features of the float32 clip, then the foot contacts by MJX kinematics)."""
    q = jnp.asarray(qpos)
    contacts = kin.foot_contacts(q, mx)
    return jnp.concatenate([root_features(q.astype(jnp.float32), fps), contacts.astype(jnp.float32)], -1)


def guard(raw, corrected, corr, z_max: float):
    """Twin of :func:`scsc_theory.motion.loop.guard_correction` (the loop's stated guard): a sample
    keeps its raw features where the corrector left it (valid or fallen back) or where the corrected
    clip leaves the data's feature range (largest |z| above both the raw sample's and ``z_max``).
    Returns (features, keep (m,))."""
    zc = jnp.abs(corrected).reshape(corrected.shape[0], -1).max(1)
    zr = jnp.abs(raw).reshape(raw.shape[0], -1).max(1)
    keep = ~corr.corrected | corr.fallback | (zc > jnp.maximum(zr, z_max))
    return jnp.where(keep[:, None, None], raw, corrected), keep


def device_corrector(ctx, *, strength: float, iterations: int = ILC_ITERATIONS, log: list | None = None):
    """The loop's ``correct_fn`` (arm, samples, labels, key) -> corrected samples, in jnp: normalized
    features -> clips -> :func:`.project.correct` -> features, then :func:`guard`. Marked
    ``jittable`` so the loop fuses the generation around it. ``log``, when given, receives per call
    the fractions simulated / fallen back / applied (a ``jax.debug.callback``).

    Precision: the loop runs without ``jax_enable_x64``, so planning, kinematics, the validity gate
    and the rollout ranking run in float32 here, where the host corrector computes them in float64
    and only simulates in float32; the two agree to float32 rounding, and a clip at a threshold or
    two rollouts at equal error can go either way (the float64 twin agrees with the host to rounding:
    ``tests/test_motion_device_project.py``)."""
    iterations = check_int("iterations", iterations, 0)
    planner = jax.tree_util.tree_map(jnp.asarray, controller.planner(ctx.fps))
    mx = kin.device_model()
    mu, sd, fps, z_max = jnp.asarray(ctx.norm.mu), jnp.asarray(ctx.norm.sd), ctx.fps, ctx.z_max

    def correct_fn(arm, samples, labels, key):
        raw = jnp.asarray(samples, jnp.float32)
        q = _features_to_qpos(raw * sd + mu, fps)
        corr = correct(q, strength=strength, fps=fps, iterations=iterations, planner=planner, mx=mx)
        out, keep = guard(raw, (qpos_to_features(corr.qpos, fps, mx) - mu) / sd, corr, z_max)
        if log is not None:
            jax.debug.callback(lambda s, f, a: log.append({"simulated": float(s), "fallback": float(f),
                                                           "applied": float(a)}),
                               corr.corrected.mean(), corr.fallback.mean(), (~keep).mean())
        return out

    correct_fn.jittable = True
    return correct_fn


def build_device_loop(settings: MotionLoopSettings, cache_dir=None, iterations: int = ILC_ITERATIONS):
    """The host loop's context and callables (:func:`scsc_theory.motion.loop.build`) with the
    selfcorrect arm's corrector replaced by :func:`device_corrector`: (ctx, loop)."""
    ctx, host = build(settings, cache_dir=cache_dir)
    fn = device_corrector(ctx, strength=settings.strength, iterations=iterations, log=ctx.corrector_log)
    loop = SelfConsumingLoop(host.cfg, real_fn=host.real_fn, init_fn=host.init_fn, train_fn=host.train_fn,
                             sample_fn=host.sample_fn, correct_fn=fn, ideal_fn=host.ideal_fn, eval_fn=host.eval_fn)
    return ctx, loop


def run_device_loop(settings: MotionLoopSettings, out_dir, *, progress: bool = True, figures: bool = True,
                    stop_after: int | None = None, cache_dir=None, figure_dir=None) -> dict:
    """Run or resume the motion experiment in ``out_dir`` with every selfcorrect generation fused into
    one jit-compiled function (:func:`build_device_loop`); writes metrics.csv, summary.json (with the
    ``motion_device`` provenance and the device JAX ran on) and, when complete, the metrics figure
    (into ``figure_dir``, default ``out_dir``). ``settings.backend`` must be "mjx" (the corrector it runs)."""
    if settings.backend != "mjx":
        raise SCSCInputError(f"backend must be 'mjx' for the fused loop (got {settings.backend!r})")
    settings = settings.validate()
    out = Path(out_dir)
    code = provenance([SOURCE_GROUP])
    check_resume_code(out, code)
    t0 = time.perf_counter()
    ctx, loop = build_device_loop(settings, cache_dir=cache_dir)
    t_build = time.perf_counter() - t0
    t0 = time.perf_counter()
    rows = loop.run(out, progress=progress, stop_after=stop_after)
    summary = summarize(rows)
    info = {
        "settings": asdict(settings),
        "preset": asdict(ctx.preset),
        "reductions": ctx.preset.reductions(),
        "device": str(jax.devices()[0]),
        "build_s": t_build,
        "run_s": time.perf_counter() - t0,
        "timings_this_call": {k: {"count": len(v), "median_s": float(np.median(v))}
                              for k, v in loop.timings.items() if v},
        "jit_structure": {arm: ("one jitted function per generation (correction on MJX + fine-tune + sample)"
                                if arm == "selfcorrect" else "one jitted function per generation (fine-tune + sample)")
                          if loop._jittable(arm) else "jitted pieces around a host call (fresh true clips)"
                          for arm in settings.arms},
        "corrector_this_call": ({k: float(np.mean([r[k] for r in ctx.corrector_log])) for k in ctx.corrector_log[0]}
                                | {"calls": len(ctx.corrector_log)} if ctx.corrector_log else None),
        "summary": summary,
        "last_generation_table": last_generation_table(summary),
        "provenance": code,
    }
    write_json(out / "summary.json", info)
    files = [out / "metrics.csv", out / "summary.json"]
    if figures and stop_after is None:
        fdir = Path(figure_dir) if figure_dir is not None else out
        files += plot_metrics(rows, fdir / "motion_loop_metrics.png", ctx.preset.reductions(), settings)
    info["files"] = [str(f) for f in files]
    return info
