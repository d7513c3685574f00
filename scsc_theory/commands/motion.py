"""``scsc motion {data,correct,render}``: the motion world from the command line.

``scsc motion`` is a parser with nested sub-commands. To add one (e.g. ``loop``), write a function
``add_<name>(motion_sub)`` that adds its parser to ``motion_sub`` and sets ``func``, and append it
to :data:`SUBCOMMANDS`. JAX and MuJoCo are imported lazily inside the command functions.
"""
from __future__ import annotations

import time
from pathlib import Path

#: Clip files are .npz archives with at least a ``qpos`` array (n, T, 28); ``labels`` optional.


def _load_qpos(path: str):
    import numpy as np

    from .._validate import SCSCInputError

    p = Path(path)
    if not p.exists():
        raise SCSCInputError(f"clip file {path!r} does not exist")
    if p.suffix == ".npy":
        return np.load(p), None
    try:
        z = np.load(p)
    except Exception as err:
        raise SCSCInputError(f"cannot read clip file {path!r} as .npz/.npy: {err}") from None
    if "qpos" not in z:
        raise SCSCInputError(f"clip file {path!r} has no 'qpos' array (has {', '.join(z.files)})")
    return z["qpos"], (z["labels"] if "labels" in z else None)


# ----------------------------------------------------------------------------------------------
# data
# ----------------------------------------------------------------------------------------------

def add_data(msub) -> None:
    p = msub.add_parser("data", help="generate the labelled, physically valid motion dataset")
    p.add_argument("--n", type=int, default=64, help="number of clips (paper: 64, 128, 256, 2794; default 64)")
    p.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    p.add_argument("--split", default="train", choices=("train", "test"), help="train or held-out test stream")
    p.add_argument("--frames", type=int, default=60, help="frames per clip T (default 60)")
    p.add_argument("--fps", type=float, default=20.0, help="frame rate (default 20)")
    p.add_argument("--out", default="runs/motion/data", help="output folder (default runs/motion/data)")
    p.add_argument("--no-cache", action="store_true", help="regenerate even if cached")
    p.set_defaults(func=run_data)


def run_data(args) -> int:
    import numpy as np

    from ..io import write_json, write_npz
    from ..motion import data, metrics

    from .._validate import check_output_dir
    from ..io import provenance

    check_output_dir("--out", args.out)
    t0 = time.perf_counter()
    ds = data.generate(args.n, args.seed, split=args.split, T=args.frames, fps=args.fps, cache=not args.no_cache)
    dt = time.perf_counter() - t0
    out = Path(args.out)
    npz = write_npz(out / "motion_data.npz", qpos=ds.qpos, labels=ds.labels, features=ds.features,
                    feature_mean=ds.feature_mean, feature_std=ds.feature_std, fps=np.float32(ds.fps),
                    label_names=np.array(ds.label_names), tracking_error=ds.tracking_error)
    v = metrics.summarize(metrics.physics_violations(ds.qpos, fps=ds.fps))
    counts = {name: int((ds.labels == k).sum()) for k, name in enumerate(ds.label_names)}
    summ = write_json(out / "motion_data.json", {"n": len(ds), "seed": ds.seed, "split": ds.split, "T": int(ds.qpos.shape[1]),
                                                 "fps": ds.fps, "class_counts": counts, "mean_violations": v,
                                                 "seconds": dt, "provenance": provenance(["motion"])})
    print(f"{len(ds)} clips ({ds.split}, seed {ds.seed}) in {dt:.1f} s; mean violations: "
          + ", ".join(f"{k}={x:.4g}" for k, x in v.items()))
    print(f"wrote {npz}\nwrote {summ}")
    return 0


# ----------------------------------------------------------------------------------------------
# correct
# ----------------------------------------------------------------------------------------------

def add_correct(msub) -> None:
    p = msub.add_parser("correct", help="physics-correct clips: IN (.npz with qpos) -> OUT (.npz)")
    p.add_argument("input", metavar="IN", help=".npz with a qpos array (n, T, 28) (or a .npy of it)")
    p.add_argument("output", metavar="OUT", help="output .npz (qpos, tracking_error, joint_error, root_error)")
    p.add_argument("--backend", default=None, choices=("rollout", "mjx"), help="default: mjx on an accelerator, else rollout")
    p.add_argument("--strength", type=float, default=1.0, help="correction strength in [0, 1]: clips missing the validity thresholds by more than 1/strength are projected (default 1, the strictest; 0 corrects nothing)")
    p.add_argument("--fps", type=float, default=20.0, help="frame rate of the clips (default 20)")
    p.set_defaults(func=run_correct)


def run_correct(args) -> int:
    from ..io import write_json, write_npz
    from ..motion import metrics, physics

    from .._validate import check_output_file
    from ..io import provenance

    check_output_file("OUT", args.output)
    check_output_file("OUT", Path(args.output).with_suffix(".json"))
    qpos, labels = _load_qpos(args.input)
    physics.check_qpos(qpos)
    t0 = time.perf_counter()
    c = physics.correct(qpos, backend=args.backend, strength=args.strength, fps=args.fps)
    dt = time.perf_counter() - t0
    before = metrics.summarize(metrics.physics_violations(qpos, fps=args.fps))
    after = metrics.summarize(metrics.physics_violations(c.qpos, fps=args.fps))
    extra = {} if labels is None else {"labels": labels}
    out = write_npz(args.output, qpos=c.qpos.astype("float32"), tracking_error=c.tracking_error,
                    joint_error=c.joint_error, root_error=c.root_error, corrected=c.corrected,
                    fallback=c.fallback, **extra)
    js = write_json(Path(args.output).with_suffix(".json"), {"before": before, "after": after, "seconds": dt,
                                                             "mean_tracking_error_m": float(c.tracking_error.mean()),
                                                             "corrected": int(c.corrected.sum()), "fallback": int(c.fallback.sum()),
                                                             "provenance": provenance(["motion"])})
    print(f"{int(c.corrected.sum())} of {qpos.shape[0]} clips missed the validity thresholds and were projected "
          f"({int(c.fallback.sum())} fell back to the input) in {dt:.2f} s; mean tracking error {c.tracking_error.mean():.4f} m")
    for k in before:
        print(f"  {k:20s} {before[k]:10.4g} -> {after[k]:10.4g}")
    print(f"wrote {out}\nwrote {js}")
    return 0


# ----------------------------------------------------------------------------------------------
# render
# ----------------------------------------------------------------------------------------------

def add_render(msub) -> None:
    p = msub.add_parser("render", help="stick-figure strip (PNG) and GIF of a clip, optionally before/after correction")
    p.add_argument("clip", metavar="CLIP", help=".npz with a qpos array (n, T, 28)")
    p.add_argument("--index", type=int, default=0, help="which clip of the file (default 0)")
    p.add_argument("--corrected", action="store_true", help="also correct it and show input and corrected")
    p.add_argument("--corrupt", default=None, help="corrupt the clip first (foot_under_ground, forearm_through_torso, "
                   "joint_beyond_limit, teleport_root, joint_noise)")
    p.add_argument("--strength", type=float, default=1.0, help="correction strength (default 1)")
    p.add_argument("--fps", type=float, default=20.0, help="frame rate (default 20)")
    p.add_argument("--out", default="runs/motion/render", help="output folder (default runs/motion/render)")
    p.set_defaults(func=run_render)


def run_render(args) -> int:
    from .._validate import SCSCInputError, check_int, check_output_dir
    from ..motion import data, physics, render

    check_output_dir("--out", args.out)
    qpos, _ = _load_qpos(args.clip)
    q = physics.check_qpos(qpos, "qpos")
    i = check_int("--index", args.index, 0, q.shape[0] - 1)
    clip = q[i:i + 1]
    if args.corrupt is not None:
        if args.corrupt not in data.CORRUPTIONS:
            raise SCSCInputError(f"--corrupt must be one of {', '.join(data.CORRUPTIONS)} (got {args.corrupt!r})")
        clip = data.corrupt(clip, args.corrupt, seed=0)
    fixed = physics.correct(clip, strength=args.strength, fps=args.fps).qpos[0] if args.corrected else None
    name = Path(args.clip).stem + f"_{i}" + ("_corrected" if args.corrected else "")
    files = render.render_clip(clip[0], args.out, corrected=fixed, name=name, fps=args.fps)
    for f in files:
        print(f"wrote {f}")
    return 0


# ----------------------------------------------------------------------------------------------
# loop (the self-consuming diffusion loop; implementation in scsc_theory/motion/loop.py)
# ----------------------------------------------------------------------------------------------

def add_loop(msub) -> None:
    p = msub.add_parser("loop", help="the paper's motion diffusion self-consuming loop (arms x seeds x generations)")
    p.add_argument("--n", type=int, default=64, help="real training clips (paper: 64, 128, 256; default 64)")
    p.add_argument("--lam", type=float, default=1.0, help="synthetic augmentation ratio lambda (default 1.0)")
    p.add_argument("--arms", default="baseline,selfconsume,selfcorrect,ideal",
                   help="comma list of baseline, selfconsume, selfcorrect, ideal (default: all four)")
    p.add_argument("--generations", type=int, default=50, help="generations after generation 0 (paper 50)")
    p.add_argument("--seeds", type=int, default=3, help="number of seeds 0..S-1 (default 3)")
    p.add_argument("--preset", default="cpu", choices=("cpu", "paper", "tiny"),
                   help="cpu: laptop-size (reduced; stated on the figures), paper: MDM schedule (GPU), tiny: tests")
    p.add_argument("--gamma", type=float, default=1.0, help="idealized arm: replace a sample by a true clip w.p. gamma/(1+gamma)")
    p.add_argument("--backend", default="rollout", choices=("rollout", "mjx"), help="physics corrector backend")
    p.add_argument("--fused", action="store_true",
                   help="every generation one jit-compiled function: the corrector planned in jnp and simulated on "
                        "MJX (scsc_theory.motion.device; for an accelerator, where it needs --backend mjx)")
    p.add_argument("--strength", type=float, default=1.0, help="physics corrector strength in [0, 1]: clips missing the data's validity thresholds by more than 1/strength are projected (default 1; 0 corrects nothing)")
    p.add_argument("--steps-per-gen", type=int, default=None, help="override the preset's fine-tuning steps K")
    p.add_argument("--gen0-steps", type=int, default=None, help="override the preset's generation-0 steps")
    p.add_argument("--out", default="runs/motion_loop", help="output folder; re-running resumes (default runs/motion_loop)")
    p.add_argument("--figures", default=None, help="folder for the figures (default: --out)")
    p.add_argument("--no-progress", action="store_true", help="no tqdm progress bar")
    p.set_defaults(func=run_loop)


def run_loop(args) -> int:
    from .._validate import SCSCInputError, check_int, check_output_dir
    from ..motion.loop import MotionLoopSettings, format_table, run_motion_loop

    if args.fused and args.backend != "mjx":
        raise SCSCInputError("--fused corrects on MJX: give --backend mjx with it")
    check_output_dir("--out", args.out)
    if args.figures is not None:
        check_output_dir("--figures", args.figures)
    arms = tuple(a.strip() for a in args.arms.split(",") if a.strip())
    seeds = check_int("--seeds", args.seeds, 1)
    try:
        settings = MotionLoopSettings(n=args.n, lam=args.lam, arms=arms, generations=args.generations,
                                      seeds=tuple(range(seeds)), preset=args.preset, gamma=args.gamma,
                                      backend=args.backend, strength=args.strength, steps_per_gen=args.steps_per_gen,
                                      gen0_steps=args.gen0_steps).validate()
    except SCSCInputError as err:
        raise SCSCInputError(str(err).replace("lam ", "--lam ", 1)) from None
    if args.fused:
        from ..motion.device.generation import run_device_loop

        info = run_device_loop(settings, args.out, progress=not args.no_progress, figure_dir=args.figures)
    else:
        info = run_motion_loop(settings, args.out, progress=not args.no_progress, figure_dir=args.figures)
    print(info["reductions"])
    print(format_table(info["summary"]))
    for f in info["files"]:
        print(f"wrote {f}")
    return 0


def quick_loop(out_dir: Path) -> list[Path]:
    """Tiny motion diffusion loop: n = 32, lambda = 1, 3 generations, 1 seed, all four arms."""
    from ..motion.loop import MotionLoopSettings, run_motion_loop

    s = MotionLoopSettings(n=32, lam=1.0, generations=3, seeds=(0,), preset="tiny", n_eval_train=256, n_ref=256)
    info = run_motion_loop(s, Path(out_dir), progress=False)
    return [Path(f) for f in info["files"]]


#: Nested sub-commands of ``scsc motion``; append ``add_<name>`` functions to extend it.
SUBCOMMANDS = [add_data, add_correct, add_render, add_loop]


def register(sub) -> None:
    p = sub.add_parser("motion", help="the motion world: dataset, physics correction, rendering")
    msub = p.add_subparsers(dest="motion_command", metavar="SUBCOMMAND")
    msub.required = True
    for add in SUBCOMMANDS:
        add(msub)


def quick(out_dir: Path) -> list[Path]:
    """Small motion-world run: 18 clips, 5 corruptions corrected, violations before/after, one render."""
    import numpy as np

    from ..io import write_json, write_npz
    from ..motion import data, metrics, physics, render

    out_dir = Path(out_dir)
    ds = data.generate(18, seed=0)
    q = ds.qpos[:5].astype(np.float64)
    from ..io import provenance

    report = {"dataset": metrics.summarize(metrics.physics_violations(ds.qpos)), "provenance": provenance(["motion"])}
    corrupted = np.stack([data.corrupt(q[k:k + 1], kind, seed=k)[0] for k, kind in enumerate(data.CORRUPTIONS)])
    c = physics.correct(corrupted)
    vb = metrics.physics_violations(corrupted, reference=q)
    va = metrics.physics_violations(c.qpos, reference=q)
    for k, kind in enumerate(data.CORRUPTIONS):
        report[kind] = {"before": {m: float(vb[m][k]) for m in vb}, "after": {m: float(va[m][k]) for m in va},
                        "tracking_error_vs_input_m": float(c.tracking_error[k])}
    files = [write_json(out_dir / "motion_quick.json", report),
             write_npz(out_dir / "motion_quick_clips.npz", clean=q, corrupted=corrupted, corrected=c.qpos)]
    fig_files = render.render_clip(corrupted[4], out_dir, corrected=c.qpos[4], name="joint_noise_before_after")
    return files + fig_files + quick_loop(out_dir / "loop")
