"""The human-motion self-consuming loop of Gillman et al. (ICML 2024, section 5), executable.

An MDM-style denoiser (:mod:`scsc_theory.motion.model`) is trained on n real clips of the motion
world (:mod:`scsc_theory.motion.data`), then fine-tuned for ``steps_per_gen`` steps per generation
on the real clips plus ``floor(lambda n)`` of its own samples, in four arms (see
:mod:`scsc_theory.diffusion.loop`): ``baseline``, ``selfconsume`` (raw samples), ``selfcorrect``
(samples tracked by the physics corrector :func:`scsc_theory.motion.physics.correct`, the paper's
UHC-style self-correction) and ``ideal`` (each sample replaced by a fresh true clip with
probability gamma / (1 + gamma)).

Each generation is evaluated on the model's samples: FID, Diversity, Multimodality and recognition
accuracy on a learned embedding (:mod:`scsc_theory.motion.evaluator`) plus the physics violations
of :func:`scsc_theory.motion.metrics.physics_violations` (means over clips).

Jit structure: for baseline and selfconsume one generation (fine-tuning + sampling the next batch)
is ONE ``eqx.filter_jit`` function. The physics corrector (both its MuJoCo C ``rollout`` backend and
its ``mjx`` backend, which plans controls in NumPy on the host) and the ideal arm's fresh-clip
draw are host calls, so for selfcorrect / ideal the generation is split into jitted pieces
(sampling, the K-step ``lax.scan`` fine-tuning) around the host call. Evaluation = one jitted
encoder pass + float64 NumPy reductions.

Normalisation: the denoiser and the encoder see features standardised by the per-feature mean and
standard deviation of the evaluator's held-out true clips (a fixed map shared by all arms/seeds).
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from .._validate import SCSCInputError, check_choice, check_int, check_nonneg, check_finite_number
from ..diffusion import LoopConfig, SelfConsumingLoop, TrainConfig, cosine_schedule, fit, init_opt_state, sample, summarize
from ..diffusion.loop import ARMS, check_arms_and_seeds
from ..diffusion.report import arm_curves, by_arm_metric
from ..io import provenance, save_figure, write_json
from .evaluator import EvaluatorConfig, MotionEvaluator
from .model import GeometricLoss, get_preset, make_denoiser, num_params

PHYSICS_KEYS = ("ground_penetration", "floating", "foot_skating", "self_penetration", "joint_limit")
#: the scalar plotted in the physics panel: the three height/overlap violations (all in metres)
PHYS_SCORE = "physics_violation"
DATA_SEED_OFFSET = 1000  # real training subset of seed s is data.generate(n, DATA_SEED_OFFSET + s)
EVAL_TRAIN_SEED = 777_001
EVAL_REF_SEED = 777_002


@dataclass(frozen=True)
class MotionLoopSettings:
    n: int = 64
    lam: float = 1.0
    arms: tuple = ARMS
    generations: int = 50
    seeds: tuple = (0, 1, 2)
    preset: str = "cpu"
    gamma: float = 1.0
    backend: str = "rollout"  # physics corrector backend
    strength: float = 1.0  # physics corrector strength (1: correct every clip that misses the data's thresholds)
    n_eval_train: int = 512  # held-out true clips the evaluator is trained on
    n_ref: int = 512  # held-out true clips whose features are FID's reference
    steps_per_gen: int | None = None  # override the preset's K
    gen0_steps: int | None = None
    sample_mode: str | None = None  # "scan" | "loop" (default: preset's)

    def validate(self) -> "MotionLoopSettings":
        check_int("n", self.n, 2)
        check_nonneg("lam", self.lam)
        check_int("generations", self.generations, 0)
        get_preset(self.preset)
        check_nonneg("gamma", self.gamma)
        check_choice("backend", self.backend, ("rollout", "mjx"))
        s = check_finite_number("strength", self.strength)
        if not 0.0 <= s <= 1.0:
            raise SCSCInputError(f"strength must lie in [0, 1] (got {s})")
        check_int("n_eval_train", self.n_eval_train, 16)
        check_int("n_ref", self.n_ref, 16)
        if self.steps_per_gen is not None:
            check_int("steps_per_gen", self.steps_per_gen, 1)
        if self.gen0_steps is not None:
            check_int("gen0_steps", self.gen0_steps, 1)
        if self.sample_mode is not None:
            check_choice("sample_mode", self.sample_mode, ("scan", "loop"))
        check_arms_and_seeds(self.arms, self.seeds)
        if math.floor(self.lam * self.n + 1e-9) < 1 and any(a != "baseline" for a in self.arms):
            raise SCSCInputError(f"lam * n must be >= 1 when an arm other than baseline runs (got lam={self.lam}, n={self.n})")
        return self

    @property
    def preset_obj(self):
        p = get_preset(self.preset)
        if self.steps_per_gen is not None:
            p = replace(p, steps_per_gen=self.steps_per_gen)
        if self.gen0_steps is not None:
            p = replace(p, gen0_steps=self.gen0_steps)
        if self.sample_mode is not None:
            p = replace(p, sample_mode=self.sample_mode)
        return p


# --------------------------------------------------------------------------------------------
# the motion world, through its public API
# --------------------------------------------------------------------------------------------
def _data():
    from . import data

    return data


def world_clips(n: int, seed: int, split: str):
    """(features (n,T,F) float32, labels (n,), dataset) from ``motion.data.generate``."""
    ds = _data().generate(n, seed=seed, split=split)
    return np.asarray(ds.features, np.float32), np.asarray(ds.labels, np.int32), ds


class Normalizer:
    """Per-feature standardisation ``z = (x - mu) / sd`` fitted on held-out true clips; standard
    deviations are floored at ``motion.data.FEATURE_STD_FLOOR``, as the dataset's own are."""

    def __init__(self, x):
        x = np.asarray(x, np.float64).reshape(-1, np.shape(x)[-1])
        self.mu = x.mean(0).astype(np.float32)
        self.sd = np.maximum(x.std(0), _data().FEATURE_STD_FLOOR).astype(np.float32)

    def fwd(self, x):
        return (np.asarray(x, np.float32) - self.mu) / self.sd

    def inv(self, z):
        return np.asarray(z, np.float32) * self.sd + self.mu


@dataclass
class MotionContext:
    settings: MotionLoopSettings
    preset: object
    norm: Normalizer
    evaluator: MotionEvaluator
    num_classes: int
    label_names: tuple
    n_frames: int
    n_feats: int
    fps: float
    ref_ds: object
    #: the data's feature range in z units: the largest |z| of the evaluator's held-out training
    #: clips (the loop's guard, :func:`guard_correction`, keeps raw features beyond it)
    z_max: float
    timings: dict = field(default_factory=dict)
    corrector_log: list = field(default_factory=list)   # per selfcorrect call: fractions corrected / kept raw

    def to_qpos(self, z):
        return np.asarray(self.ref_ds.features_to_qpos(self.norm.inv(z)), np.float64)

    def from_qpos(self, q):
        return self.norm.fwd(np.asarray(self.ref_ds.qpos_to_features(q), np.float32))


def build(settings: MotionLoopSettings, cache_dir=None):
    """Build the motion context and the generic loop with the motion callables."""
    settings = settings.validate()
    preset = settings.preset_obj
    ev_x, ev_y, ev_ds = world_clips(settings.n_eval_train, EVAL_TRAIN_SEED, "test")
    ref_x, ref_y, ref_ds = world_clips(settings.n_ref, EVAL_REF_SEED, "test")
    norm = Normalizer(ev_x)
    num_classes = len(ev_ds.label_names)
    _, T, F = ev_x.shape
    evaluator = MotionEvaluator.train_or_load(norm.fwd(ev_x), ev_y, num_classes, norm.fwd(ref_x), ref_y,
                                              EvaluatorConfig(), cache_dir=cache_dir)
    fps = float(getattr(ev_ds, "fps", 20.0))
    ctx = MotionContext(settings, preset, norm, evaluator, num_classes, tuple(ev_ds.label_names), T, F, fps, ref_ds,
                        z_max=float(np.abs(norm.fwd(ev_x)).max()))

    sched = cosine_schedule(preset.diffusion_steps)
    tcfg = TrainConfig(lr=preset.lr, batch_size=preset.batch_size).validate()
    aux = GeometricLoss(w_vel=preset.w_vel) if preset.w_vel > 0 else None

    def real_fn(seed):
        x, y, _ = world_clips(settings.n, DATA_SEED_OFFSET + seed, "train")
        return norm.fwd(x), y

    def init_fn(key):
        model = make_denoiser(preset, T, F, num_classes, key)
        return (model, init_opt_state(model, tcfg))

    def train_fn(state, x, y, steps, key):
        model, opt_state = state
        model, opt_state, _ = fit(model, opt_state, x, y, steps, key, sched, tcfg, aux)
        return (model, opt_state)

    def sample_fn(state, labels, key):
        return sample(state[0], sched, labels, key, (T, F), preset.sample_steps, preset.guidance,
                      preset.sampler_eta, preset.sample_mode)

    def correct_fn(arm, samples, labels, key):
        t0 = time.perf_counter()
        raw = np.asarray(samples, np.float32)
        corr = _physics().correct(ctx.to_qpos(raw), backend=settings.backend, strength=settings.strength, fps=fps)
        out, keep = guard_correction(raw, ctx.from_qpos(corr.qpos), corr, ctx.z_max)
        ctx.timings.setdefault("correct", []).append(time.perf_counter() - t0)
        ctx.corrector_log.append({"simulated": float(np.mean(corr.corrected)), "fallback": float(np.mean(corr.fallback)),
                                  "applied": float(np.mean(~keep))})
        return out

    def ideal_fn(labels, key):
        seed = int(jax.random.randint(key, (), 0, 2**31 - 1))
        fresh_qpos = ref_ds.sample_clips(np.asarray(labels), seed)  # (m, T, 28) fresh true clips
        return ctx.from_qpos(fresh_qpos)

    def eval_fn(samples, labels, key):
        seed = int(jax.random.randint(key, (), 0, 2**31 - 1))
        met = evaluator.metrics(samples, labels, seed=seed)
        viol = _metrics().physics_violations(ctx.to_qpos(samples), fps=fps)
        for k in PHYSICS_KEYS:
            if k in viol:
                met[k] = float(np.mean(viol[k]))
        met[PHYS_SCORE] = float(sum(met.get(k, 0.0) for k in ("ground_penetration", "floating", "self_penetration")))
        return met

    cfg = LoopConfig(n=settings.n, lam=settings.lam, generations=settings.generations, gen0_steps=preset.gen0_steps,
                     steps_per_gen=preset.steps_per_gen, arms=tuple(settings.arms), seeds=tuple(settings.seeds),
                     gamma=settings.gamma, n_eval=settings.n,
                     extra={"what": "motion", "preset": asdict(preset), "backend": settings.backend,
                            "strength": settings.strength, "n_eval_train": settings.n_eval_train, "n_ref": settings.n_ref})
    loop = SelfConsumingLoop(cfg, real_fn=real_fn, init_fn=init_fn, train_fn=train_fn, sample_fn=sample_fn,
                             correct_fn=correct_fn, ideal_fn=ideal_fn, eval_fn=eval_fn)
    return ctx, loop


def guard_correction(raw, corrected, corr, z_max: float):
    """The corrector's output in the loop's feature space, with the stated guard rule.

    A sample keeps its raw features where the corrector left the clip unchanged (valid, or every
    rollout fell: ``corr.fallback``) and where the corrected clip leaves the data's feature range
    (largest |z| above both the raw sample's and ``z_max``, the largest |z| of the held-out true
    clips). Returns (features, keep mask (m,)).
    """
    raw = np.asarray(raw, np.float32)
    corrected = np.asarray(corrected, np.float32)
    zc = np.abs(corrected).reshape(len(corrected), -1).max(1)
    zr = np.abs(raw).reshape(len(raw), -1).max(1)
    keep = ~np.asarray(corr.corrected) | np.asarray(corr.fallback) | (zc > np.maximum(zr, z_max))
    return np.where(keep[:, None, None], raw, corrected), keep


def _physics():
    from . import physics

    return physics


def _metrics():
    from . import metrics

    return metrics


def run_motion_loop(settings: MotionLoopSettings, out_dir, *, progress: bool = True, figures: bool = True,
                    stop_after: int | None = None, cache_dir=None, figure_dir=None, built=None) -> dict:
    """Run or resume the experiment in ``out_dir``; write metrics.csv, summary.json and figures.

    ``built``: an earlier ``build(settings)`` result to reuse (same process; a fresh driver is made
    from its callables, so compiled functions are shared)."""
    settings = settings.validate()
    out = Path(out_dir)
    # the code that produces these numbers, hashed before any work (STALE marking in checks); a run
    # resumes only with the code it started with (else its generations would mix code versions)
    code = provenance(["motion"])
    check_resume_code(out, code)
    t0 = time.perf_counter()
    if built is None:
        ctx, loop = build(settings, cache_dir=cache_dir)
    else:
        ctx, loop = built[0], built[1].fresh()
        if ctx.settings != settings:
            raise SCSCInputError("built was made for other settings")
    t_build = time.perf_counter() - t0
    rows = loop.run(out, progress=progress, stop_after=stop_after)
    summary = summarize(rows)
    model = loop.init_fn(jax.random.PRNGKey(0))[0]
    timing = {k: {"count": len(v), "median_s": float(np.median(v)), "total_s": float(np.sum(v))}
              for k, v in (loop.timings | ctx.timings).items() if v}
    info = {
        "settings": asdict(settings),
        "preset": asdict(ctx.preset),
        "reductions": ctx.preset.reductions(),
        "denoiser_params": num_params(model),
        "synthetic_per_generation": loop.cfg.m,
        "label_names": list(ctx.label_names),
        "build_s": t_build,
        "timings_this_call": timing,
        "jit_structure": ("baseline/selfconsume: one jitted function per generation (fine-tune K steps + sample); "
                          "selfcorrect/ideal: jitted pieces around the host-side physics corrector / fresh-clip draw"),
        "corrector_this_call": ({k: float(np.mean([r[k] for r in ctx.corrector_log])) for k in ctx.corrector_log[0]}
                                | {"calls": len(ctx.corrector_log)} if ctx.corrector_log else None),
        "summary": summary,
        "last_generation_table": last_generation_table(summary),
    }
    history = []
    if (out / "summary.json").exists():
        try:
            history = json.loads((out / "summary.json").read_text()).get("timings_history", [])
        except ValueError:
            history = []
    if timing:
        history = history + [timing]
    info["timings_history"] = history  # one entry per call that computed something (resumes add entries)
    info["provenance"] = code
    write_json(out / "summary.json", info)
    files = [out / "metrics.csv", out / "summary.json"]
    complete = stop_after is None
    if figures and complete:
        fdir = Path(figure_dir) if figure_dir is not None else out
        files += plot_metrics(rows, fdir / "motion_loop_metrics.png", ctx.preset.reductions(), settings)
        files += plot_clip_strip(loop, ctx, out, fdir / "motion_loop_clips.png")
    info["files"] = [str(f) for f in files]
    return info


def check_resume_code(out: Path, code: dict) -> None:
    """Record ``code`` (a :func:`scsc_theory.io.provenance` record) in ``out/code.json`` when the run
    starts; refuse to resume a run that another source (a different ``source_hash``) started."""
    path = Path(out) / "code.json"
    if path.exists():
        old = json.loads(path.read_text()).get("source_hash")
        if old != code["source_hash"]:
            raise SCSCInputError(f"out_dir {out} holds a run started by other code (source hash {old}, now "
                                 f"{code['source_hash']}): resuming would mix code versions; use another out_dir")
        return
    write_json(path, code)


def last_generation_table(summary: dict) -> dict:
    """{arm: {metric: [mean, ci_lo, ci_hi]}} at each arm's last generation, plus generation 0."""
    table = {}
    for arm, mets in summary.items():
        table[arm] = {}
        for met, d in mets.items():
            table[arm][met] = {"gen0": d["mean"][0], "last": d["last"]["mean"], "last_ci": d["last"]["ci"],
                               "last_generation": d["last"]["generation"]}
    return table


def format_table(summary: dict, metrics: Sequence[str] = ("fid", "diversity", "accuracy", PHYS_SCORE)) -> str:
    arms = list(summary)
    lines = ["| arm | " + " | ".join(f"{m} (gen 0 -> last, 95% CI)" for m in metrics) + " |",
             "|---|" + "---|" * len(metrics)]
    for a in arms:
        cells = []
        for m in metrics:
            d = summary[a].get(m)
            if d is None:
                cells.append("-")
                continue
            lo, hi = d["last"]["ci"]
            cells.append(f"{d['mean'][0]:.3g} -> {d['last']['mean']:.3g} [{lo:.3g}, {hi:.3g}]")
        lines.append(f"| {a} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def window_table(rows, window: int = 10, metrics: Sequence[str] = ("fid", "diversity", "multimodality", "accuracy",
                                                                        PHYS_SCORE, "foot_skating")) -> dict:
    """Per arm and metric: the mean over the last ``window`` generations of each seed, then the mean
    and 95% t-interval of those per-seed means across seeds (less noisy than one generation)."""
    from ..diffusion.fid import mean_ci

    by: dict = {}
    gmax = max(r["generation"] for r in rows)
    for r in rows:
        if r["metric"] in metrics and r["generation"] > gmax - window:
            by.setdefault(r["arm"], {}).setdefault(r["metric"], {}).setdefault(r["seed"], []).append(r["value"])
    g0: dict = {}
    for r in rows:
        if r["metric"] in metrics and r["generation"] == 0:
            g0.setdefault(r["arm"], {}).setdefault(r["metric"], []).append(r["value"])
    out = {}
    for arm in [a for a in ARMS if a in by]:
        out[arm] = {}
        for met in metrics:
            if met not in by[arm]:
                continue
            m, lo, hi = mean_ci([float(np.mean(v)) for v in by[arm][met].values()])
            out[arm][met] = {"gen0_mean": float(np.mean(g0[arm][met])), "last_window_mean": m, "ci95": [lo, hi],
                             "window": [gmax - window + 1, gmax], "n_seeds": len(by[arm][met])}
    return out


def format_window_table(wt: dict) -> str:
    mets = list(next(iter(wt.values())).keys())
    w = next(iter(next(iter(wt.values())).values()))["window"]
    lines = ["| arm | " + " | ".join(f"{m}: gen 0 -> mean of gens {w[0]}-{w[1]} [95% CI over seeds]" for m in mets) + " |",
             "|---|" + "---|" * len(mets)]
    for arm, d in wt.items():
        lines.append(f"| {arm} | " + " | ".join(
            f"{d[m]['gen0_mean']:.3g} -> {d[m]['last_window_mean']:.3g} [{d[m]['ci95'][0]:.3g}, {d[m]['ci95'][1]:.3g}]"
            for m in mets) + " |")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# figures
# --------------------------------------------------------------------------------------------
PANELS = (("fid", "FID (lower is better)"), ("diversity", "Diversity"), ("accuracy", "Recognition accuracy"),
          (PHYS_SCORE, "Physics violation (m): penetration + floating + self-overlap"))


def plot_metrics(rows, path, reductions: str, settings: MotionLoopSettings) -> list[Path]:
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(PANELS), figsize=(5 * len(PANELS), 4.2))
    by = by_arm_metric(rows)
    arms = [a for a in ARMS if any(k[0] == a for k in by)]
    for ax, (met, title) in zip(axes, PANELS):
        arm_curves(ax, by, met, arms)
        ax.set_title(title, fontsize=10)
        if met == "fid":
            ax.set_yscale("log")
            ax.set_title(title + ", log scale", fontsize=10)
        ax.set_xlabel("generation")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=9)
    fig.suptitle(f"Motion self-consuming loop: n = {settings.n}, lambda = {settings.lam:g}, gamma(ideal) = "
                 f"{settings.gamma:g}, physics corrector {settings.backend} strength {settings.strength:g}, "
                 f"{len(settings.seeds)} seed(s) (band: min-max over seeds; faint: raw mean over seeds, "
                 f"bold: 5-generation moving average)\n{reductions}", fontsize=8.5)
    fig.tight_layout()
    p = save_figure(fig, path)
    return [p]


def plot_clip_strip(loop: SelfConsumingLoop, ctx: MotionContext, out: Path, path, per_arm: int = 2) -> list[Path]:
    """Stick-figure strip (:func:`scsc_theory.motion.render.strip`): ``per_arm`` sampled clips of
    each arm's model at its last generation (first seed), below true clips of the same actions."""
    from ..diffusion import checkpoint
    from . import render

    cfg = loop.cfg
    s = cfg.seeds[0]
    template = {"state": loop.init_fn(jax.random.PRNGKey(0)),
                "raw": jnp.zeros((cfg.num_samples, ctx.n_frames, ctx.n_feats), jnp.float32)}
    _, y_real = loop.real_fn(s)
    clips, names = [], []
    for a in cfg.arms:
        p = loop.checkpoint_path(out, s, a)
        if not checkpoint.exists(p):
            continue
        tree, meta = checkpoint.load(p, template)
        g = int(meta["generation"])
        labels = loop.labels_for(y_real, s, g + 1)  # the labels these samples were drawn for
        q = ctx.to_qpos(np.asarray(tree["raw"][:per_arm]))
        if not clips:
            true_q = ctx.ref_ds.sample_clips(np.asarray(labels[:per_arm]), 12345)
            for k in range(per_arm):
                clips.append(true_q[k])
                names.append(f"true\n{ctx.label_names[labels[k]]}")
        for k in range(per_arm):
            clips.append(q[k])
            names.append(f"{a} g{g}\n{ctx.label_names[labels[k]]}")
    fig = render.strip(clips, names, n_frames=8,
                       title=f"Samples at the last generation, seed {s} (top: true clips of the same actions)")
    p = save_figure(fig, path)
    return [p]
