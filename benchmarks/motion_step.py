"""Training steps per second and sampled clips per second of the motion denoiser, JAX vs PyTorch.

    python benchmarks/motion_step.py [--preset cpu|tiny|paper] [--threads N] [--steps S] [--repeats R]
                                     [--clips K] [--sample-steps S] [--xla-flags "..."] [--json PATH]

JAX: the MDM-style denoiser of :mod:`scsc_theory.motion.model` trained by
:func:`scsc_theory.diffusion.fit` (clip-by-global-norm 1.0 + AdamW inside one ``lax.scan``) and
sampled by :func:`scsc_theory.diffusion.sample` (``lax.scan`` and Python-loop-of-jitted-step drivers).
PyTorch (optional, ``pip install -e ".[bench]"``): a twin of the same module built by
:func:`torch_twin`, which copies the JAX weights, so both start from identical parameters and the
benchmark checks that the two forward passes agree (printed max difference) before timing: pre-LN
encoder, attention without projection biases (equinox's default), tanh-GELU (``jax.nn.gelu``),
LayerNorm eps 1e-5, float32, the same minibatch / loss / label dropout, ``clip_grad_norm_(1.0)`` +
AdamW(betas 0.9/0.999, eps 1e-8, weight decay = the JAX ``TrainConfig``'s), and the same strided
sampler with classifier-free guidance.

Fairness: both frameworks run in one process restricted (``sched_setaffinity``) to the same
``--threads`` cores (default: all), with ``torch.set_num_threads`` equal to it. JAX and PyTorch
repeats alternate (J, P, J, P, ...) so a shared machine's load hits both alike; the ratio is the
median of the per-repeat ratios, with the spread. Compilation / warm-up is excluded and reported.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time

import numpy as np

#: Per-preset defaults (steps per timed repeat, clips sampled, sampling steps; None = the preset's own).
#: A JAX training step at the paper size takes seconds on a CPU, so the paper preset times few steps
#: and samples few clips with 10 strided steps (stated in the output).
DEFAULTS = {"tiny": (20, 64, None), "cpu": (20, 64, None), "paper": (2, 8, 10)}


def restrict_threads(n: int) -> list:
    """Pin this process to the first ``n`` CPUs it may use (XLA's and PyTorch's pools then use ``n`` cores)."""
    avail = sorted(os.sched_getaffinity(0))
    if not 1 <= n <= len(avail):
        raise ValueError(f"--threads must be in [1, {len(avail)}] (got {n})")
    os.sched_setaffinity(0, avail[:n])
    return avail[:n]


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _summary(ts) -> dict:
    return {"median": statistics.median(ts), "min": min(ts), "max": max(ts), "all": list(ts)}


def interleaved(fns: dict, repeats: int) -> dict:
    """Time each callable ``repeats`` times, alternating between them; one warm-up call each first."""
    warm = {}
    for name, fn in fns.items():
        t0 = time.perf_counter()
        fn()
        warm[name] = time.perf_counter() - t0
    ts, cpu = {name: [] for name in fns}, {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            t0, c0 = time.perf_counter(), time.process_time()
            fn()
            ts[name].append(time.perf_counter() - t0)
            cpu[name].append(time.process_time() - c0)
    return {name: dict(_summary(v), first_call=warm[name], cpu=_summary(cpu[name])) for name, v in ts.items()}


def torch_twin(model):
    """A PyTorch module computing the same function as the JAX :class:`MotionDenoiser` ``model``,
    batched over a leading axis, with ``model``'s weights copied in."""
    import math

    import torch
    from torch import nn

    d, p, F, T, C = model.d_model, model.patch, model.n_feats, model.n_frames, model.num_classes
    n_tok, heads = T // p, model.block(0).attn.num_heads
    ff = model.block(0).ff1.out_features

    def sinus(t):
        half = d // 2
        freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32) / half)
        a = t.float()[:, None] * freqs[None]
        return torch.cat([torch.cos(a), torch.sin(a)], dim=1)

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
            self.attn = nn.MultiheadAttention(d, heads, bias=False, batch_first=True)
            self.ff1, self.ff2 = nn.Linear(d, ff), nn.Linear(ff, d)

        def forward(self, h):
            z = self.ln1(h)
            h = h + self.attn(z, z, z, need_weights=False)[0]
            return h + self.ff2(nn.functional.gelu(self.ff1(self.ln2(h)), approximate="tanh"))

    class Denoiser(nn.Module):
        def __init__(self):
            super().__init__()
            self.inp = nn.Linear(p * F, d)
            self.t1, self.t2 = nn.Linear(d, d), nn.Linear(d, d)
            self.lab = nn.Embedding(C + 1, d)
            self.blocks = nn.ModuleList([Block() for _ in range(model.layers)])
            self.ln = nn.LayerNorm(d)
            self.out = nn.Linear(d, p * F)
            pos = torch.arange(n_tok + 1, dtype=torch.float32)[:, None]
            half = d // 2
            fr = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32) / half)
            self.register_buffer("pe", torch.cat([torch.sin(pos * fr), torch.cos(pos * fr)], dim=1))

        def forward(self, x, t, y):
            b = x.shape[0]
            tok = self.inp(x.reshape(b, n_tok, p * F))
            cond = self.t2(nn.functional.silu(self.t1(sinus(t)))) + self.lab(y)
            h = torch.cat([cond[:, None], tok], dim=1) + self.pe
            for blk in self.blocks:
                h = blk(h)
            return self.out(self.ln(h[:, 1:])).reshape(b, T, F)

    if d % 2:
        raise ValueError("torch_twin needs an even d_model")
    net = Denoiser()

    def cp(dst, src):
        with torch.no_grad():
            dst.copy_(torch.from_numpy(np.array(src, dtype=np.float32)))

    def lin(dst, src):  # Linear or LayerNorm: weight and bias
        cp(dst.weight, src.weight)
        cp(dst.bias, src.bias)

    lin(net.inp, model.in_proj)
    lin(net.t1, model.t_mlp.layers[0])
    lin(net.t2, model.t_mlp.layers[1])
    cp(net.lab.weight, model.label_emb.weight)
    for tb, jb in zip(net.blocks, (model.block(i) for i in range(model.layers))):
        lin(tb.ln1, jb.ln1)
        lin(tb.ln2, jb.ln2)
        a = jb.attn
        cp(tb.attn.in_proj_weight, np.concatenate([a.query_proj.weight, a.key_proj.weight, a.value_proj.weight]))
        cp(tb.attn.out_proj.weight, a.output_proj.weight)
        lin(tb.ff1, jb.ff1)
        lin(tb.ff2, jb.ff2)
    lin(net.ln, model.ln_out)
    lin(net.out, model.out_proj)
    return net


def twin_max_diff(model, net, x, t, y) -> float:
    """max |JAX(x, t, y) - torch twin(x, t, y)| over a batch (float32 rounding is ~1e-5 of the output scale)."""
    import jax
    import torch

    j = np.asarray(jax.vmap(model)(x, t, y))
    x, t, y = (np.array(a) for a in (x, t, y))  # writable copies for torch.from_numpy
    with torch.no_grad():
        p = net(torch.from_numpy(x), torch.from_numpy(t), torch.from_numpy(y)).numpy()
    return float(np.max(np.abs(j - p)))


def jax_callables(model, sched, cfg, x, y, labels, steps, key, sample_args):
    from scsc_theory.diffusion import fit, init_opt_state, sample

    opt = init_opt_state(model, cfg)
    fns = {"jax_train": lambda: fit(model, opt, x, y, steps, key, sched, cfg)[2].block_until_ready()}
    for mode in ("scan", "loop"):
        fns[f"jax_sample_{mode}"] = (lambda mode=mode: sample(model, sched, labels, key, *sample_args, mode=mode)
                                     .block_until_ready())
    return fns


def torch_callables(net, abar_np, cfg, x, y, labels, steps, sample_args, num_classes):
    import torch

    torch.manual_seed(0)
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=cfg.weight_decay)
    abar = torch.from_numpy(np.array(abar_np, np.float32))
    xt_, yt_ = torch.from_numpy(np.asarray(x)), torch.from_numpy(np.asarray(y)).long()
    n, B, Tn = xt_.shape[0], cfg.batch_size, abar.shape[0]

    def train():
        for _ in range(steps):
            idx = torch.randint(0, n, (B,))
            x0, yy = xt_[idx], yt_[idx]
            t = torch.randint(0, Tn, (B,))
            a = abar[t][:, None, None]
            xt = a.sqrt() * x0 + (1 - a).sqrt() * torch.randn_like(x0)
            yy = torch.where(torch.rand(B) < cfg.p_uncond, torch.full_like(yy, num_classes), yy)
            loss = ((net(xt, t, yy) - x0) ** 2).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(net.parameters(), cfg.grad_clip)
            opt.step()

    from scsc_theory.diffusion import strided_timesteps

    event_shape, sample_steps, guidance, eta = sample_args
    tseq = strided_timesteps(Tn, sample_steps)
    lab = torch.from_numpy(np.asarray(labels)).long()

    @torch.no_grad()
    def smp():
        xs = torch.randn((lab.shape[0],) + tuple(event_shape))
        null = torch.full_like(lab, num_classes)
        for i, t in enumerate(tseq):
            tn = int(tseq[i + 1]) if i + 1 < len(tseq) else -1
            tb = torch.full((lab.shape[0],), int(t))
            x0 = net(xs, tb, lab)
            if guidance != 1.0:
                x0u = net(xs, tb, null)
                x0 = x0u + guidance * (x0 - x0u)
            if tn < 0:
                return x0
            at, an = abar[int(t)], abar[tn]
            eps = (xs - at.sqrt() * x0) / (1 - at).sqrt()
            sig = eta * ((1 - an) / (1 - at)).sqrt() * (1 - at / an).clamp(min=0).sqrt()
            xs = an.sqrt() * x0 + (1 - an - sig ** 2).clamp(min=0).sqrt() * eps + sig * torch.randn_like(xs)
        return xs

    return {"torch_train": train, "torch_sample": smp}


def _ratios(num, den) -> dict:
    """Per-repeat speed ratios num/den (times den/num) of two interleaved series."""
    return _summary([b / a for a, b in zip(num["all"], den["all"])])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="cpu", choices=("tiny", "cpu", "paper"))
    ap.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)),
                    help="cores (and torch threads) for both frameworks (default: all this process may use)")
    ap.add_argument("--steps", type=int, default=None, help="training steps per timed repeat (cpu 20, paper 2)")
    ap.add_argument("--clips", type=int, default=None, help="clips sampled per timed repeat (cpu 64, paper 8)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--sample-steps", type=int, default=None, help="sampling steps (default: preset's; paper 10)")
    ap.add_argument("--xla-flags", default="", help="extra XLA flags for this run (appended to XLA_FLAGS)")
    ap.add_argument("--no-torch", action="store_true", help="time JAX only")
    ap.add_argument("--compare-unroll", action="store_true",
                    help="also time JAX training with the encoder's layer scan unrolled the other way from the "
                         "preset's choice (same weights), interleaved with the others")
    ap.add_argument("--json", default=None, help="also write the results (with code provenance) to this file")
    args = ap.parse_args(argv)

    d_steps, d_clips, d_sample = DEFAULTS[args.preset]
    steps = d_steps if args.steps is None else args.steps
    clips = d_clips if args.clips is None else args.clips
    for name, v in (("--steps", steps), ("--clips", clips), ("--repeats", args.repeats),
                    ("--sample-steps", 1 if args.sample_steps is None else args.sample_steps)):
        if v < 1:
            print(f"error: {name} must be >= 1 (got {v})", file=sys.stderr)
            return 2
    if args.json and not os.access(os.path.dirname(os.path.abspath(args.json)), os.W_OK):
        print(f"error: --json must name a file in an existing writable folder (got {args.json!r})", file=sys.stderr)
        return 2
    try:
        cores = restrict_threads(args.threads)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.xla_flags:  # set before jax initialises its backend (benchmark-only; the library sets no flags)
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " " + args.xla_flags).strip()
    load_before = os.getloadavg()

    from dataclasses import replace

    import jax
    import jax.numpy as jnp
    import jaxlib

    from scsc_theory.diffusion import TrainConfig, cosine_schedule
    from scsc_theory.io import provenance, write_json
    from scsc_theory.motion.data import ACTION_CLASSES, N_FEATURES
    from scsc_theory.motion.model import get_preset, make_denoiser, num_params

    try:
        import torch
    except ImportError:
        torch = None
    if args.no_torch:
        torch = None
    if torch is not None:
        torch.set_num_threads(args.threads)

    preset = get_preset(args.preset)
    sample_steps = args.sample_steps if args.sample_steps is not None else (d_sample or preset.sample_steps)
    preset = replace(preset, sample_steps=min(sample_steps, preset.diffusion_steps))
    T, F, C = 60, N_FEATURES, len(ACTION_CLASSES)
    dev = jax.devices()[0]
    env = {"jax": jax.__version__, "jaxlib": jaxlib.__version__, "torch": getattr(torch, "__version__", None),
           "threads": args.threads, "cores": cores, "torch_threads": torch.get_num_threads() if torch else None,
           "device": f"{dev.platform} ({getattr(dev, 'device_kind', '?')}), {_cpu_name()}",
           "xla_flags": os.environ.get("XLA_FLAGS", ""), "python": platform.python_version()}
    print(f"jax {env['jax']} / jaxlib {env['jaxlib']}, torch {env['torch'] or 'not installed'}; device {env['device']}")
    print(f"threads: both frameworks pinned to cores {cores} ({args.threads} of {os.cpu_count()}); torch "
          f"intra-op threads {env['torch_threads']}; XLA_FLAGS '{env['xla_flags']}'; load average before "
          f"{load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}")
    print(f"preset {preset.name}: d {preset.d_model}, {preset.layers} layers, {preset.heads} heads, ff {preset.ff}, "
          f"patch {preset.patch}, batch {preset.batch_size}, float32; clips {T} x {F}; {steps} train steps per repeat; "
          f"sampling {clips} clips x {preset.sample_steps} steps (of {preset.diffusion_steps}), guidance "
          f"{preset.guidance}; median over {args.repeats} interleaved repeats [min, max]")

    key = jax.random.PRNGKey(0)
    model = make_denoiser(preset, T, F, C, key)
    sched = cosine_schedule(preset.diffusion_steps)
    cfg = TrainConfig(lr=preset.lr, batch_size=preset.batch_size)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(128, T, F)).astype(np.float32)
    y = (np.arange(128) % C).astype(np.int32)
    labels = (np.arange(clips) % C).astype(np.int32)
    sample_args = ((T, F), preset.sample_steps, preset.guidance, preset.sampler_eta)
    fns = jax_callables(model, sched, cfg, x, y, jnp.asarray(labels), steps, key, sample_args)
    if args.compare_unroll:   # the same weights (same key), the layer scan unrolled the other way
        other = make_denoiser(replace(preset, unroll_layers=not preset.unroll_layers), T, F, C, key)
        fns["jax_train_other_unroll"] = jax_callables(other, sched, cfg, x, y, jnp.asarray(labels), steps, key,
                                                      sample_args)["jax_train"]
    prov = provenance(["motion"])  # of the code imported now, not of the files when the run ends
    res = {"preset": preset.name, "steps": steps, "clips": clips, "sample_steps": preset.sample_steps,
           "repeats": args.repeats, "batch_size": preset.batch_size, "env": env, "jax_params": num_params(model)}
    if torch is not None:
        net = torch_twin(model)
        res["torch_params"] = sum(q.numel() for q in net.parameters())
        k = min(8, len(y))
        res["twin_max_abs_diff"] = twin_max_diff(model, net, jnp.asarray(x[:k]), jnp.arange(k) * 7 % preset.diffusion_steps,
                                                 jnp.asarray(y[:k]))
        print(f"params: JAX {res['jax_params']}, PyTorch twin {res['torch_params']}; forward max |JAX - PyTorch| "
              f"= {res['twin_max_abs_diff']:.1e} on 8 clips")
        fns.update(torch_callables(net, sched.alphas_cumprod, cfg, x, y, labels, steps, sample_args, C))
    order = ["jax_train", "torch_train", "jax_train_other_unroll", "jax_sample_scan", "jax_sample_loop", "torch_sample"]
    train = interleaved({k: fns[k] for k in order[:3] if k in fns}, args.repeats)
    smp = interleaved({k: fns[k] for k in order[3:] if k in fns}, args.repeats)
    res["timings_s"] = {**train, **smp}
    res["load_average_after"] = list(os.getloadavg())

    def fmt(s, per):
        return f"{per / s['median']:.3g} [{per / s['max']:.3g}, {per / s['min']:.3g}]"

    tr = res["timings_s"]
    print(f"JAX     train: {fmt(tr['jax_train'], steps)} steps/s ({tr['jax_train']['median'] / steps:.3f} s/step; "
          f"first call incl. compile {tr['jax_train']['first_call']:.1f} s)")
    print(f"JAX     sampling: lax.scan {fmt(tr['jax_sample_scan'], clips)} clips/s, "
          f"python loop of jitted step {fmt(tr['jax_sample_loop'], clips)} clips/s")
    if "jax_train_other_unroll" in tr:
        res["ratio_train_vs_other_unroll"] = _ratios(tr["jax_train"], tr["jax_train_other_unroll"])
        r = res["ratio_train_vs_other_unroll"]
        mine = "unrolled" if preset.unroll_layers else "rolled"
        theirs = "rolled" if preset.unroll_layers else "unrolled"
        print(f"JAX     train with the layer scan {theirs}: {fmt(tr['jax_train_other_unroll'], steps)} steps/s; the "
              f"preset's {mine} scan is {r['median']:.2f}x [{r['min']:.2f}, {r['max']:.2f}] as fast")
    if torch is not None:
        print(f"PyTorch train: {fmt(tr['torch_train'], steps)} steps/s ({tr['torch_train']['median'] / steps:.3f} s/step)")
        print(f"PyTorch sampling: {fmt(tr['torch_sample'], clips)} clips/s")
        res["ratio_train"] = _ratios(tr["jax_train"], tr["torch_train"])
        best = min(("jax_sample_scan", "jax_sample_loop"), key=lambda k: tr[k]["median"])
        res["ratio_sample"] = dict(_ratios(tr[best], tr["torch_sample"]), jax_driver=best)
        rt, rs = res["ratio_train"], res["ratio_sample"]
        print(f"ratio JAX/PyTorch (speed, median of per-repeat ratios [min, max]): training {rt['median']:.2f}x "
              f"[{rt['min']:.2f}, {rt['max']:.2f}], sampling {rs['median']:.2f}x [{rs['min']:.2f}, {rs['max']:.2f}] "
              f"({best[4:]})")
        res["ratio_train_cpu_time"] = _ratios(tr["jax_train"]["cpu"], tr["torch_train"]["cpu"])
        rc = res["ratio_train_cpu_time"]
        print(f"process CPU time per training repeat: JAX {tr['jax_train']['cpu']['median']:.2f} s, PyTorch "
              f"{tr['torch_train']['cpu']['median']:.2f} s, ratio {rc['median']:.2f}x [{rc['min']:.2f}, {rc['max']:.2f}] "
              "(load-robust at --threads 1; at more threads it counts spin-waiting too)")
    la = res["load_average_after"]
    print(f"load average after {la[0]:.2f} {la[1]:.2f} {la[2]:.2f} (a shared machine: read ratios, not absolutes)")
    if args.json:
        res["provenance"] = prov
        write_json(args.json, res)
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
