"""A generic, resumable self-consuming training driver over arms and seeds.

The loop of Gillman et al. (ICML 2024), Algorithm 1 / section 5, with fixed augmentation ratio
``lambda`` and NO accumulation of synthetic data across generations:

* generation 0: a model trained from scratch on the n real examples (``gen0_steps`` steps), copied
  to every arm;
* generation g >= 1, for each arm: take ``m = floor(lambda n)`` samples of the previous
  generation's model, for labels drawn (with replacement) from the real training labels; then

  - ``baseline``:     no synthetic data; train on the real data only (same number of steps);
  - ``selfconsume``:  train on real + raw samples (iterative fine-tuning);
  - ``selfcorrect``:  train on real + ``correct_fn(arm, samples, labels, key)`` (self-correction);
  - ``ideal``:        each sample replaced by a fresh true-distribution example (``ideal_fn``) with
                      probability ``gamma / (1 + gamma)``: the idealised correction
                      ``pi_gamma = (p_theta + gamma p_data) / (1 + gamma)`` of the paper's theory;

  fine-tune warm-started (weights and optimizer state carried) for ``steps_per_gen`` steps, draw the
  next batch of samples from the new model and evaluate the model on them.

RNG: every key is ``fold_in(fold_in(PRNGKey(seed), generation), purpose)``, the same for every arm
(common random numbers, which sharpen the comparison between arms) and never drawn from a
stateful counter, so a run resumed from a checkpoint continues bit-identically.

Checkpoints: after each (generation, seed, arm) the state pytree, the model's next samples and the
metric rows so far are written atomically to ``out/ckpt/seed{s}_{arm}.npz``; ``metrics.csv`` is
rewritten atomically from the checkpoints. Re-running the same command resumes; a different
configuration in the same folder is refused.

Callables (all pure; the driver never looks inside the state):

* ``init_fn(key) -> state``                 fresh model + optimizer state;
* ``train_fn(state, x, y, steps, key) -> state``;
* ``sample_fn(state, labels, key) -> samples``;
* ``correct_fn(arm, samples, labels, key) -> samples``  (called for ``selfcorrect``);
* ``ideal_fn(labels, key) -> samples``       fresh true-distribution examples;
* ``eval_fn(samples, labels, key) -> dict[str, float]``.

If ``correct_fn`` (resp. ``ideal_fn``) has an attribute ``jittable = True``, the generation's
correct + train + sample pieces for that arm run as ONE ``eqx.filter_jit`` function; otherwise
(e.g. a MuJoCo C rollout corrector) they run as separately jitted pieces around the host call.
Arms that need no host call (baseline, selfconsume) are always fused.
"""
from __future__ import annotations

import csv
import hashlib
import io as _io
import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._validate import SCSCInputError, check_choice, check_int, check_nonneg
from ..io import write_json, write_text
from . import checkpoint
from .memo import Memo

ARMS = ("baseline", "selfconsume", "selfcorrect", "ideal")
#: compiled fused generation functions, shared by drivers built from the same callables (bounded)
_FUSED = Memo(maxsize=32)
# purposes for fold_in
K_TRAIN, K_SAMPLE, K_CORRECT, K_IDEAL, K_EVAL, K_LABELS, K_MIX = range(7)


@dataclass(frozen=True)
class LoopConfig:
    n: int
    lam: float
    generations: int
    gen0_steps: int
    steps_per_gen: int
    arms: tuple = ARMS
    seeds: tuple = (0,)
    gamma: float = 1.0
    n_eval: int | None = None  # samples drawn per generation for evaluation (default: max(n, m))
    extra: dict = field(default_factory=dict)  # anything else that defines the run (hashed)

    @property
    def m(self) -> int:
        """Synthetic examples per generation, floor(lambda * n)."""
        return int(math.floor(self.lam * self.n + 1e-9))

    @property
    def num_samples(self) -> int:
        return max(self.m, self.n_eval or self.n, 1)

    def validate(self) -> "LoopConfig":
        check_int("n", self.n, 2)
        check_nonneg("lam", self.lam)
        check_int("generations", self.generations, 0)
        check_int("gen0_steps", self.gen0_steps, 1)
        check_int("steps_per_gen", self.steps_per_gen, 1)
        check_nonneg("gamma", self.gamma)
        if len(self.arms) == 0:
            raise SCSCInputError("arms must name at least one of " + ", ".join(ARMS))
        for a in self.arms:
            check_choice("arms", a, ARMS)
        if len(set(self.arms)) != len(self.arms):
            raise SCSCInputError(f"arms must not repeat (got {list(self.arms)})")
        if len(self.seeds) == 0:
            raise SCSCInputError("seeds must contain at least one seed")
        if self.m == 0 and any(a != "baseline" for a in self.arms):
            raise SCSCInputError(f"lam * n must be >= 1 for arms other than baseline (got lam={self.lam}, n={self.n})")
        return self

    def digest(self) -> str:
        d = asdict(self)
        d.pop("generations")  # extending a run to more generations is allowed
        d.pop("seeds")
        d.pop("arms")
        return hashlib.sha256(json.dumps(d, sort_keys=True, default=str).encode()).hexdigest()[:16]


def check_arms_and_seeds(arms, seeds) -> None:
    """Validate a loop's arms (non-empty, each one of :data:`ARMS`) and seeds (non-empty, integers >= 0)."""
    from .._validate import SCSCInputError, check_choice, check_int

    if not arms:
        raise SCSCInputError("arms must name at least one of " + ", ".join(ARMS))
    for a in arms:
        check_choice("arms", a, ARMS)
    if not seeds:
        raise SCSCInputError("seeds must contain at least one seed")
    for i, sd in enumerate(seeds):
        check_int(f"seeds[{i}]", sd, 0)


def gen_key(seed: int, generation: int, purpose: int):
    return jax.random.fold_in(jax.random.fold_in(jax.random.PRNGKey(seed), generation), purpose)


def synthetic_labels(y_real, count: int, key):
    """Labels for the synthetic batch: drawn uniformly with replacement from the real labels."""
    idx = jax.random.randint(key, (count,), 0, np.asarray(y_real).shape[0])
    return np.asarray(y_real)[np.asarray(idx)]


def ideal_mix(samples, fresh, gamma: float, key):
    """Replace each sample by the fresh true one with probability gamma / (1 + gamma): pi_gamma on
    samples, :func:`scsc_theory.correction.mix_in_target` (the one implementation)."""
    from ..correction import mix_in_target

    return mix_in_target(key, samples, fresh, gamma)


def training_set(arm, cfg: LoopConfig, x_real, y_real, raw, labels, correct_fn, ideal_fn, g: int, seed: int):
    """The (x, y) an arm trains on at generation g >= 1 (real + this generation's synthetic)."""
    m = cfg.m
    if arm == "baseline" or m == 0:
        return jnp.asarray(x_real), jnp.asarray(y_real)
    syn, lab = jnp.asarray(raw[:m]), jnp.asarray(labels[:m])
    if arm == "selfcorrect":
        syn = jnp.asarray(correct_fn(arm, syn, lab, gen_key(seed, g, K_CORRECT)), jnp.float32)
    elif arm == "ideal":
        fresh = ideal_fn(lab, gen_key(seed, g, K_IDEAL))
        syn = ideal_mix(syn, fresh, cfg.gamma, gen_key(seed, g, K_MIX))
    return jnp.concatenate([jnp.asarray(x_real), syn]), jnp.concatenate([jnp.asarray(y_real), jnp.asarray(lab)])


class SelfConsumingLoop:
    """Holds the callables; :meth:`run` executes or resumes the experiment in ``out_dir``."""

    def __init__(self, cfg: LoopConfig, *, real_fn: Callable, init_fn: Callable, train_fn: Callable,
                 sample_fn: Callable, correct_fn: Callable, ideal_fn: Callable, eval_fn: Callable):
        self.cfg = cfg.validate()
        self.real_fn, self.init_fn, self.train_fn = real_fn, init_fn, train_fn
        self.sample_fn, self.correct_fn, self.ideal_fn, self.eval_fn = sample_fn, correct_fn, ideal_fn, eval_fn
        self.timings: dict[str, list[float]] = {}

    # ----- one generation -------------------------------------------------------------------
    def _jittable(self, arm: str) -> bool:
        if arm == "selfcorrect":
            return bool(getattr(self.correct_fn, "jittable", False))
        if arm == "ideal":
            return bool(getattr(self.ideal_fn, "jittable", False))
        return True

    def _core(self, arm, state, raw, labels, x_real, y_real, g, seed, next_labels):
        x, y = training_set(arm, self.cfg, x_real, y_real, raw, labels, self.correct_fn, self.ideal_fn, g, seed)
        state = self.train_fn(state, x, y, self.cfg.steps_per_gen, gen_key(seed, g, K_TRAIN))
        nxt = self.sample_fn(state, next_labels, gen_key(seed, g, K_SAMPLE))
        return state, nxt

    def generation(self, arm, state, raw, labels, x_real, y_real, g: int, seed: int, next_labels):
        """Correct + fine-tune + draw the next samples for one arm: ``(state, next_samples)``.

        One ``eqx.filter_jit`` function when the arm's host callables allow, else jitted pieces.
        """
        if self._jittable(arm):
            # compiled once per (arm, callables, configuration): a new driver object built from the
            # same callables (e.g. one that resumes a run in the same process) reuses the compilation
            ck = (arm, self.train_fn, self.sample_fn, self.correct_fn, self.ideal_fn, self.cfg.digest(), self.cfg.m)
            fn = _FUSED.get(ck, lambda: eqx.filter_jit(
                lambda st, r, lab, xr, yr, g_, s_, nl: self._core(arm, st, r, lab, xr, yr, g_, s_, nl)))
            # g and seed enter as traced int32 so one compilation serves every generation
            return fn(state, jnp.asarray(raw), jnp.asarray(labels), jnp.asarray(x_real), jnp.asarray(y_real),
                      jnp.int32(g), jnp.int32(seed), jnp.asarray(next_labels))
        return self._core(arm, state, raw, labels, x_real, y_real, g, seed, next_labels)

    def fresh(self) -> "SelfConsumingLoop":
        """A new driver with the same configuration and callables (shares compiled functions)."""
        return SelfConsumingLoop(self.cfg, real_fn=self.real_fn, init_fn=self.init_fn, train_fn=self.train_fn,
                                 sample_fn=self.sample_fn, correct_fn=self.correct_fn, ideal_fn=self.ideal_fn,
                                 eval_fn=self.eval_fn)

    # ----- driver ---------------------------------------------------------------------------
    def checkpoint_path(self, out: Path, seed: int, arm: str) -> Path:
        """Where the (seed, arm) checkpoint lives: ``out/ckpt/seed{seed}_{arm}.npz``."""
        return Path(out) / "ckpt" / f"seed{seed}_{arm}.npz"

    def labels_for(self, y_real, seed, g):
        """The labels of the samples drawn at generation g - 1 (the same for every arm)."""
        return synthetic_labels(y_real, self.cfg.num_samples, gen_key(seed, g, K_LABELS))

    def on_samples(self, out: Path, samples, labels, seed: int, g: int, arm) -> None:
        """Hook, called once per evaluated (generation, seed, arm) (``arm=None`` for the shared
        generation 0) with the samples just evaluated; the default does nothing. Subclasses override
        it to store snapshots (the digits loop keeps a few samples per class)."""

    def _eval(self, out, samples, labels, seed, g, arm):
        t0 = time.perf_counter()
        met = self.eval_fn(samples, labels, gen_key(seed, g, K_EVAL))
        self.timings.setdefault("eval", []).append(time.perf_counter() - t0)
        self.on_samples(out, samples, labels, seed, g, arm)
        return [dict(arm=arm, seed=seed, generation=g, metric=k, value=float(v)) for k, v in met.items()]

    def run(self, out_dir, progress: bool = True, stop_after: int | None = None) -> list[dict]:
        """Run (or resume) every generation; returns all metric rows. ``stop_after``: stop once
        that many (generation, seed, arm) units were computed in this call (used to test resume)."""
        cfg, out = self.cfg, Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        meta_path = out / "loop_config.json"
        digest = cfg.digest()
        if meta_path.exists():
            old = json.loads(meta_path.read_text())
            if old.get("digest") != digest:
                raise SCSCInputError(f"{out} holds a run with a different configuration; choose another --out")
        write_json(meta_path, {"digest": digest, "config": asdict(cfg)})

        states, raws, rows, done = {}, {}, {}, {}
        reals = {s: self.real_fn(s) for s in cfg.seeds}
        template = {"state": self.init_fn(jax.random.PRNGKey(0)),
                    "raw": jnp.zeros((cfg.num_samples,) + tuple(np.shape(reals[cfg.seeds[0]][0])[1:]), jnp.float32)}
        for s in cfg.seeds:
            for a in cfg.arms:
                p = self.checkpoint_path(out, s, a)
                if checkpoint.exists(p):
                    tree, meta = checkpoint.load(p, template)
                    states[s, a], raws[s, a] = tree["state"], tree["raw"]
                    rows[s, a], done[s, a] = meta["rows"], int(meta["generation"])

        total = len(cfg.seeds) * len(cfg.arms) * (cfg.generations + 1)
        already = sum(min(done.get((s, a), -1), cfg.generations) + 1 for s in cfg.seeds for a in cfg.arms)
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=total, initial=already, desc="motion loop" if "motion" in str(cfg.extra) else "loop",
                       dynamic_ncols=True)
        units = 0

        # generation 0: trained once per seed from scratch and copied to every arm
        for s in cfg.seeds:
            missing = [a for a in cfg.arms if (s, a) not in done]
            if not missing:
                continue
            x_real, y_real = reals[s]
            t0 = time.perf_counter()
            st = self.init_fn(gen_key(s, 0, K_SAMPLE + 100))
            st = self.train_fn(st, x_real, y_real, cfg.gen0_steps, gen_key(s, 0, K_TRAIN))
            lab = self.labels_for(y_real, s, 1)
            raw = jnp.asarray(self.sample_fn(st, lab, gen_key(s, 0, K_SAMPLE)), jnp.float32)
            self.timings.setdefault("gen0", []).append(time.perf_counter() - t0)
            r0 = self._eval(out, raw, lab, s, 0, None)
            for a in missing:
                states[s, a], raws[s, a], done[s, a] = st, raw, 0
                rows[s, a] = [dict(r, arm=a) for r in r0]
                checkpoint.save(self.checkpoint_path(out, s, a), {"state": st, "raw": raw}, {"generation": 0, "rows": rows[s, a]})
                if bar is not None:
                    bar.update(1)
            self._write_metrics(out, rows)

        for g in range(1, cfg.generations + 1):
            for s in cfg.seeds:
                x_real, y_real = reals[s]
                labels = self.labels_for(y_real, s, g)  # labels of the samples drawn at g - 1
                next_labels = self.labels_for(y_real, s, g + 1)
                for a in cfg.arms:
                    if done[s, a] >= g:
                        continue
                    if done[s, a] != g - 1:
                        raise RuntimeError(f"checkpoint for seed {s}, arm {a} is at generation {done[s, a]}, expected {g - 1}")
                    t0 = time.perf_counter()
                    st, nxt = self.generation(a, states[s, a], raws[s, a], labels, x_real, y_real, g, s, next_labels)
                    nxt = jnp.asarray(nxt, jnp.float32)
                    jax.block_until_ready(nxt)
                    self.timings.setdefault("generation", []).append(time.perf_counter() - t0)
                    new_rows = self._eval(out, nxt, next_labels, s, g, a)
                    states[s, a], raws[s, a], done[s, a] = st, nxt, g
                    rows[s, a] = rows[s, a] + new_rows
                    checkpoint.save(self.checkpoint_path(out, s, a), {"state": st, "raw": nxt}, {"generation": g, "rows": rows[s, a]})
                    units += 1
                    if bar is not None:
                        fid = next((r["value"] for r in new_rows if r["metric"] == "fid"), float("nan"))
                        bar.set_postfix_str(f"gen {g} seed {s} {a} FID {fid:.2f}")
                        bar.update(1)
                    if stop_after is not None and units >= stop_after:
                        self._write_metrics(out, rows)
                        if bar is not None:
                            bar.close()
                        return self.all_rows(rows)
            self._write_metrics(out, rows)
        if bar is not None:
            bar.close()
        self._write_metrics(out, rows)
        return self.all_rows(rows)

    def all_rows(self, rows) -> list[dict]:
        cfg = self.cfg
        out = []
        for s in cfg.seeds:
            for a in cfg.arms:
                out.extend(r for r in rows.get((s, a), []) if r["generation"] <= cfg.generations)
        return out

    def _write_metrics(self, out: Path, rows) -> Path:
        return write_metrics_csv(out / "metrics.csv", self.all_rows(rows))


def write_metrics_csv(path, rows: Sequence[dict]) -> Path:
    buf = _io.StringIO()
    w = csv.DictWriter(buf, fieldnames=["arm", "seed", "generation", "metric", "value"], lineterminator="\n")
    w.writeheader()
    for r in sorted(rows, key=lambda r: (r["arm"], r["seed"], r["generation"], r["metric"])):
        w.writerow({k: r[k] for k in ("arm", "seed", "generation", "metric")} | {"value": repr(float(r["value"]))})
    return write_text(path, buf.getvalue())


def read_metrics_csv(path) -> list[dict]:
    with open(path, newline="") as f:
        return [dict(arm=r["arm"], seed=int(r["seed"]), generation=int(r["generation"]), metric=r["metric"],
                     value=float(r["value"])) for r in csv.DictReader(f)]


def summarize(rows: Sequence[dict], level: float = 0.95) -> dict:
    """Per arm, metric and generation: mean and t-interval over seeds. Also the last generation."""
    from .fid import mean_ci

    table: dict = {}
    for r in rows:
        table.setdefault(r["arm"], {}).setdefault(r["metric"], {}).setdefault(r["generation"], []).append(r["value"])
    summary: dict = {}
    for arm, mets in table.items():
        summary[arm] = {}
        for met, by_g in mets.items():
            gens = sorted(by_g)
            stats = [mean_ci(by_g[g], level) for g in gens]
            summary[arm][met] = {
                "generations": gens,
                "mean": [s[0] for s in stats],
                "ci_lo": [s[1] for s in stats],
                "ci_hi": [s[2] for s in stats],
                "n_seeds": [len(by_g[g]) for g in gens],
                "last": {"generation": gens[-1], "mean": stats[-1][0], "ci": [stats[-1][1], stats[-1][2]]},
            }
    return summary
