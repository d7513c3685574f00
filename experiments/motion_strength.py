"""Motion loop: the self-correcting arm at several physics-corrector strengths, side by side.

Reads the ``metrics.csv`` of two finished ``scsc motion loop`` runs at the same setting (n = 64,
lambda = 1, cpu preset, same seeds, so the same generation-0 model per seed):

* ``--full``: the four-arm run at the default strength 1
  (``python experiments/motion_loop.py --generations 50 --seeds 3 --out runs/motion_g50``);
* ``--extra``: one or more selfcorrect-only runs at another strength, e.g.
  ``python experiments/motion_loop.py --arms selfcorrect --generations 50 --seeds 3 --strength 0.5
  --out runs/motion_g50_s0.5 --figures runs/motion_g50_s0.5``.

The strength s sets how strict "valid" is (``physics.correct``): a clip is projected only where it
misses the validity thresholds by more than a factor 1/s; 1 corrects every clip that misses the
dataset's own thresholds, 0 corrects nothing.

Each run's selfcorrect arm is relabelled ``selfcorrect@<strength>`` (strength read from the run's
``loop_config.json``). Writes

* ``figures/motion_loop_strength.png``: FID (log), accuracy and physics violation vs generation,
  mean over seeds (5-generation moving average, faint raw mean) with a min-max band over seeds;
* ``figures/motion_loop_strength.json``: per arm and metric, the mean over the last 10 generations
  (41-50) of each seed, then the mean and 95% Student-t interval across seeds
  (:func:`scsc_theory.motion.loop.window_table`, the format of ``last10_generations_table`` in
  ``figures/motion_loop_summary.json``), the per-generation seed means, and how closely the
  generation-0 metrics of the runs agree (same seeds and settings should give the same model);
* ``figures/motion_loop_strength.md``: the same table as text.

Nothing is trained here: ``python experiments/motion_strength.py`` after the runs.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scsc_theory.diffusion.loop import read_metrics_csv, summarize  # noqa: E402
from scsc_theory.io import combined_provenance, save_figure, write_json, write_text  # noqa: E402
from scsc_theory.diffusion.report import ARM_COLORS, smooth as _smooth  # noqa: E402
from scsc_theory.motion.loop import PHYS_SCORE, format_window_table, window_table  # noqa: E402

WINDOW = 10
METRICS = ("fid", "accuracy", PHYS_SCORE, "diversity")
PANELS = (("fid", "FID (lower is better), log scale"), ("accuracy", "Recognition accuracy"),
          (PHYS_SCORE, "Physics violation (m)"))
STRENGTH_COLORS = {0.5: ARM_COLORS["selfcorrect"], 0.0: "#9467bd", 1.0: "#17becf"}


def _config(run: Path) -> dict:
    return json.loads((run / "loop_config.json").read_text())["config"]


def load_runs(full: Path, extras) -> tuple[dict, dict]:
    """{label: rows (arm renamed to label)} in plotting order, and {label: provenance}."""
    runs = [full] + list(extras)
    by_label: dict = {}
    prov: dict = {}
    for run in runs:
        cfg = _config(run)
        strength = float(cfg["extra"]["strength"])
        rows = read_metrics_csv(run / "metrics.csv")
        for arm in cfg["arms"]:
            label = f"selfcorrect@{strength:g}" if arm == "selfcorrect" else arm
            if label in by_label:
                continue  # an arm already taken from an earlier run
            by_label[label] = [r for r in rows if r["arm"] == arm]
            prov[label] = {"run": str(run), "arm": arm, "run_corrector_strength": strength,
                           "seeds": sorted({r["seed"] for r in by_label[label]}),
                           "last_generation": max(r["generation"] for r in by_label[label])}
    order = ["baseline", "selfconsume"] + sorted((k for k in by_label if k.startswith("selfcorrect@")),
                                                 key=lambda k: -prov[k]["run_corrector_strength"]) + ["ideal"]
    return {k: by_label[k] for k in order if k in by_label}, {k: prov[k] for k in order if k in prov}


def gen0_agreement(arms: dict) -> dict:
    """Largest relative difference of each generation-0 metric between the arms (same seed)."""
    g0: dict = {}
    for rows in arms.values():
        for r in rows:
            if r["generation"] == 0:
                g0.setdefault((r["seed"], r["metric"]), []).append(r["value"])
    out: dict = {}
    for (seed, met), v in g0.items():
        v = np.asarray(v, float)
        rel = float((v.max() - v.min()) / max(abs(v.mean()), 1e-12))
        out[met] = max(out.get(met, 0.0), rel)
    return {"max_relative_difference_by_metric": out,
            "note": "0 would be bit-identical; small values are float32 CPU non-determinism between processes"}


def plot(arms: dict, path: Path, title: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(PANELS), figsize=(5 * len(PANELS), 4.2))
    for ax, (met, ttl) in zip(axes, PANELS):
        for label, rows in arms.items():
            seeds: dict = {}
            for r in rows:
                if r["metric"] == met:
                    seeds.setdefault(r["seed"], {})[r["generation"]] = r["value"]
            if not seeds:
                continue
            gens = sorted(set.intersection(*[set(v) for v in seeds.values()]))
            mat = np.array([[seeds[s][g] for g in gens] for s in sorted(seeds)])
            if label.startswith("selfcorrect@"):
                c = STRENGTH_COLORS.get(float(label.split("@")[1]), "#8c564b")
            else:
                c = ARM_COLORS[label]
            mean = mat.mean(0)
            ax.plot(gens, mean, color=c, alpha=0.3, lw=0.8)
            ax.plot(gens, _smooth(mean), color=c, lw=2.2, label=label)
            if mat.shape[0] > 1:
                ax.fill_between(gens, _smooth(mat.min(0)), _smooth(mat.max(0)), color=c, alpha=0.12, lw=0)
        if met == "fid":
            ax.set_yscale("log")
        ax.set_title(ttl, fontsize=10)
        ax.set_xlabel("generation")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=9)
    fig.suptitle(title, fontsize=8.5)
    fig.tight_layout()
    p = save_figure(fig, path)
    return p


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--full", default="runs/motion_g50", help="four-arm run (default strength 1)")
    ap.add_argument("--extra", nargs="+", default=["runs/motion_g50_s0.5", "runs/motion_g50_s0.25"],
                    help="selfcorrect-only runs at other strengths")
    ap.add_argument("--figures", default="figures")
    args = ap.parse_args(argv)
    full = Path(args.full)
    arms, prov = load_runs(full, [Path(e) for e in args.extra])
    cfg = _config(full)
    table = {}
    for label, rows in arms.items():
        # window_table keys by the original arm name; call it per arm, then relabel
        wt = window_table([dict(r, arm=prov[label]["arm"]) for r in rows], window=WINDOW, metrics=METRICS)
        table[label] = wt[prov[label]["arm"]]
    summ = summarize([dict(r, arm=label) for label, rows in arms.items() for r in rows])
    curves = {label: {m: {"generations": summ[label][m]["generations"], "mean": summ[label][m]["mean"]}
                      for m in METRICS if m in summ[label]} for label in arms}
    seeds = sorted({s for p in prov.values() for s in p["seeds"]})
    reductions = json.loads((full / "summary.json").read_text()).get("reductions", "") \
        if (full / "summary.json").exists() else ""
    title = (f"Motion self-consuming loop, physics-corrector strength: n = {cfg['n']}, lambda = {cfg['lam']:g}, "
             f"gamma(ideal) = {cfg['gamma']:g}, seeds {seeds} (band: min-max over seeds; faint: raw mean over seeds, "
             f"bold: 5-generation moving average)\nstrength s: a sample is projected onto realizable motion where it "
             f"misses the validity thresholds by more than 1/s\n{reductions}")
    fig = Path(args.figures)
    files = [plot(arms, fig / "motion_loop_strength.png", title)]
    md = format_window_table(table)
    windows = {label: tuple(d["fid"]["window"]) for label, d in table.items()}
    if len(set(windows.values())) > 1:  # a run still in progress: say which generations each row averages
        md += "\n\nWindows differ (unfinished run): " + ", ".join(f"{k} gens {w[0]}-{w[1]}" for k, w in windows.items())
    files.append(write_json(fig / "motion_loop_strength.json", {
        "settings": {k: cfg[k] for k in ("n", "lam", "generations", "gamma", "seeds")} | {"preset": cfg["extra"]["preset"]["name"]},
        "reductions": reductions,
        "runs": prov,
        "gen0_agreement": gen0_agreement(arms),
        "provenance": combined_provenance(json.loads((Path(r) / "summary.json").read_text()).get("provenance")
                                          if (Path(r) / "summary.json").exists() else None
                                          for r in [full] + [Path(e) for e in args.extra]),
        "last10_generations_table": table,
        "curves": curves,
    }))
    files.append(write_text(fig / "motion_loop_strength.md", reductions + "\n\n" + md + "\n"))
    print(md)
    for f in files:
        print(f"wrote {f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
