"""Training steps per second and sampled clips per second of the motion denoiser, JAX vs PyTorch.

    python benchmarks/motion_step.py [--preset cpu|tiny|paper] [--steps 20] [--repeats 3]

JAX: the MDM-style denoiser of :mod:`scsc_theory.motion.model` trained by
:func:`scsc_theory.diffusion.fit` (AdamW steps inside one ``lax.scan``) and sampled by
:func:`scsc_theory.diffusion.sample` (both the ``lax.scan`` and the Python-loop-of-jitted-step
drivers). PyTorch (optional, CPU): the same architecture (pre-LN transformer encoder, condition
token = MLP(sinusoid(t)) + label embedding, ``patch`` frames per token, x0 prediction), the same
loss, AdamW and the same strided sampler with classifier-free guidance, measured in the same run.
``pip install torch==2.13.0`` (a local CPU wheel); without torch that half is skipped.

Timings are medians over ``--repeats`` after a warm-up (compilation excluded); clips are 60 frames
x 33 features, batch = the preset's batch size, sampling ``--clips`` clips.
"""
from __future__ import annotations

import argparse
import math
import os
import statistics
import time

import numpy as np


def _median_time(fn, repeats):
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


def bench_jax(preset, T, F, C, steps, clips, repeats):
    import jax
    import jax.numpy as jnp

    from scsc_theory.diffusion import TrainConfig, cosine_schedule, fit, init_opt_state, sample
    from scsc_theory.motion.model import make_denoiser, num_params

    key = jax.random.PRNGKey(0)
    model = make_denoiser(preset, T, F, C, key)
    sched = cosine_schedule(preset.diffusion_steps)
    cfg = TrainConfig(lr=preset.lr, batch_size=preset.batch_size)
    opt = init_opt_state(model, cfg)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(128, T, F)).astype(np.float32)
    y = (np.arange(128) % C).astype(np.int32)

    def train():
        m, o, losses = fit(model, opt, x, y, steps, key, sched, cfg)
        losses.block_until_ready()

    t0 = time.perf_counter()
    train()
    compile_train = time.perf_counter() - t0
    dt = _median_time(train, repeats)
    out = {"params": num_params(model), "train_steps_per_s": steps / dt, "train_step_s": dt / steps,
           "train_first_call_s": compile_train}
    labels = jnp.asarray(y[:clips] if clips <= 128 else np.arange(clips) % C)
    for mode in ("scan", "loop"):
        def smp():
            sample(model, sched, labels, key, (T, F), preset.sample_steps, preset.guidance, preset.sampler_eta, mode).block_until_ready()
        smp()
        ds = _median_time(smp, repeats)
        out[f"sample_{mode}_clips_per_s"] = clips / ds
        out[f"sample_{mode}_s"] = ds
    return out


def bench_torch(preset, T, F, C, steps, clips, repeats, threads):
    try:
        import torch
        from torch import nn
    except ImportError:
        return None
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    p = preset.patch
    while T % p:
        p -= 1
    d = preset.d_model
    n_tok = T // p

    def sinus(t, dim):
        half = dim // 2
        freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32) / half)
        a = t.float()[:, None] * freqs[None]
        return torch.cat([torch.cos(a), torch.sin(a)], dim=1)

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
            self.attn = nn.MultiheadAttention(d, preset.heads, batch_first=True)
            self.ff = nn.Sequential(nn.Linear(d, preset.ff), nn.GELU(), nn.Linear(preset.ff, d))

        def forward(self, h):
            z = self.ln1(h)
            h = h + self.attn(z, z, z, need_weights=False)[0]
            return h + self.ff(self.ln2(h))

    class Denoiser(nn.Module):
        def __init__(self):
            super().__init__()
            self.inp = nn.Linear(p * F, d)
            self.t_mlp = nn.Sequential(nn.Linear(d, d), nn.SiLU(), nn.Linear(d, d))
            self.lab = nn.Embedding(C + 1, d)
            self.blocks = nn.ModuleList([Block() for _ in range(preset.layers)])
            self.ln = nn.LayerNorm(d)
            self.out = nn.Linear(d, p * F)
            pos = torch.arange(n_tok + 1, dtype=torch.float32)[:, None]
            half = d // 2
            fr = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32) / half)
            self.register_buffer("pe", torch.cat([torch.sin(pos * fr), torch.cos(pos * fr)], dim=1))

        def forward(self, x, t, y):
            b = x.shape[0]
            tok = self.inp(x.reshape(b, n_tok, p * F))
            cond = self.t_mlp(sinus(t, d)) + self.lab(y)
            h = torch.cat([cond[:, None], tok], dim=1) + self.pe
            for blk in self.blocks:
                h = blk(h)
            return self.out(self.ln(h[:, 1:])).reshape(b, T, F)

    net = Denoiser()
    n_params = sum(q.numel() for q in net.parameters())
    opt = torch.optim.AdamW(net.parameters(), lr=preset.lr, weight_decay=0.0)
    Tn = preset.diffusion_steps
    s = 0.008
    ts = np.arange(Tn + 1) / Tn
    f = np.cos((ts + s) / (1 + s) * np.pi / 2) ** 2
    betas = np.minimum(1 - f[1:] / f[:-1], 0.999)
    abar = torch.tensor(np.cumprod(1 - betas), dtype=torch.float32)
    x = torch.randn(128, T, F)
    y = torch.arange(128) % C
    B = preset.batch_size

    def train():
        for _ in range(steps):
            idx = torch.randint(0, 128, (B,))
            x0, yy = x[idx], y[idx]
            t = torch.randint(0, Tn, (B,))
            a = abar[t][:, None, None]
            xt = a.sqrt() * x0 + (1 - a).sqrt() * torch.randn_like(x0)
            yy = torch.where(torch.rand(B) < 0.1, torch.full_like(yy, C), yy)
            loss = ((net(xt, t, yy) - x0) ** 2).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            opt.step()

    train()
    dt = _median_time(train, repeats)
    labels = torch.arange(clips) % C
    tseq = np.round(np.linspace(Tn - 1, 0, preset.sample_steps)).astype(int)

    @torch.no_grad()
    def smp():
        xs = torch.randn(clips, T, F)
        null = torch.full_like(labels, C)
        for i, t in enumerate(tseq):
            tn = tseq[i + 1] if i + 1 < len(tseq) else -1
            tb = torch.full((clips,), int(t))
            x0c = net(xs, tb, labels)
            x0 = x0c
            if preset.guidance != 1.0:
                x0u = net(xs, tb, null)
                x0 = x0u + preset.guidance * (x0c - x0u)
            if tn < 0:
                xs = x0
                break
            at, an = abar[t], abar[tn]
            eps = (xs - at.sqrt() * x0) / (1 - at).sqrt()
            sig = preset.sampler_eta * ((1 - an) / (1 - at)).sqrt() * (1 - at / an).clamp(min=0).sqrt()
            xs = an.sqrt() * x0 + (1 - an - sig ** 2).clamp(min=0).sqrt() * eps + sig * torch.randn_like(xs)
        return xs

    smp()
    ds = _median_time(smp, repeats)
    return {"params": n_params, "train_steps_per_s": steps / dt, "train_step_s": dt / steps,
            "sample_clips_per_s": clips / ds, "sample_s": ds, "threads": threads, "version": torch.__version__}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="cpu", choices=("tiny", "cpu", "paper"))
    ap.add_argument("--steps", type=int, default=20, help="training steps per timed repeat")
    ap.add_argument("--clips", type=int, default=64, help="clips sampled per timed repeat")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="torch intra-op threads")
    ap.add_argument("--sample-steps", type=int, default=None, help="override the preset's sampling steps")
    args = ap.parse_args(argv)

    from dataclasses import replace

    from scsc_theory.motion.data import ACTION_CLASSES, N_FEATURES
    from scsc_theory.motion.model import get_preset

    preset = get_preset(args.preset)
    if args.sample_steps is not None:
        preset = replace(preset, sample_steps=args.sample_steps)
    T, F, C = 60, N_FEATURES, len(ACTION_CLASSES)
    print(f"preset {preset.name}: d {preset.d_model}, {preset.layers} layers, patch {preset.patch}, batch "
          f"{preset.batch_size}, {preset.sample_steps} sampling steps (of {preset.diffusion_steps}), guidance "
          f"{preset.guidance}; clips {T} x {F}; {os.cpu_count()} CPU cores")
    j = bench_jax(preset, T, F, C, args.steps, args.clips, args.repeats)
    print(f"JAX     ({j['params']} params): {j['train_steps_per_s']:.2f} train steps/s ({1e3 * j['train_step_s']:.1f} ms/step; "
          f"first call incl. compile {j['train_first_call_s']:.1f} s)")
    print(f"JAX     sampling {args.clips} clips: lax.scan {j['sample_scan_clips_per_s']:.1f} clips/s ({j['sample_scan_s']:.2f} s), "
          f"python loop of jitted step {j['sample_loop_clips_per_s']:.1f} clips/s ({j['sample_loop_s']:.2f} s)")
    t = bench_torch(preset, T, F, C, args.steps, args.clips, args.repeats, args.threads)
    if t is None:
        print("PyTorch not installed: skipped (pip install torch==2.13.0 for the CPU wheel)")
        return 0
    best = max(j["sample_scan_clips_per_s"], j["sample_loop_clips_per_s"])
    print(f"PyTorch {t['version']} ({t['params']} params, {t['threads']} threads): {t['train_steps_per_s']:.2f} train steps/s "
          f"({1e3 * t['train_step_s']:.1f} ms/step); sampling {t['sample_clips_per_s']:.1f} clips/s ({t['sample_s']:.2f} s)")
    print(f"ratio JAX/PyTorch: training {j['train_steps_per_s'] / t['train_steps_per_s']:.2f}x, "
          f"sampling {best / t['sample_clips_per_s']:.2f}x (JAX's faster driver)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
