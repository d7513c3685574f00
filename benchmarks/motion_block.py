"""Where a paper-size denoiser layer's training time goes, JAX vs PyTorch, one piece at a time.

    python benchmarks/motion_block.py [--threads 1] [--repeats 5] [--batch 64] [--tokens 61] [--d 512] [--ff 1024]

Times the gradient (with respect to the weights; loss mean(out^2)) of three pieces of one encoder
layer of :class:`scsc_theory.motion.model.MotionDenoiser` at the paper size, in JAX (jitted) and in
the PyTorch twin of ``benchmarks/motion_step.py`` (the same weights copied in):

* ``block``: the whole pre-LN layer (attention + feed-forward);
* ``feed-forward``: its second half alone, h + ff2(gelu(ff1(ln2(h)))) (no attention);
* ``matmul``: one dense layer's matmul, (batch x tokens, d) @ (d, ff), forward plus weight gradient.

Process CPU time per call, best of ``--repeats`` (JAX and PyTorch calls alternate), both pinned to
the same ``--threads`` cores (default 1: the per-op cost without threading effects). The ratio is
PyTorch time / JAX time (above 1: JAX faster).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def best_cpu(fns: dict, repeats: int) -> dict:
    """Best process CPU time per call of each callable, calls alternating; one warm-up call each."""
    for fn in fns.values():
        fn()
    best = {k: float("inf") for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            c0 = time.process_time()
            fn()
            best[k] = min(best[k], time.process_time() - c0)
    return best


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--tokens", type=int, default=61, help="tokens per clip (paper: 60 frames + the condition token)")
    ap.add_argument("--d", type=int, default=512)
    ap.add_argument("--ff", type=int, default=1024)
    ap.add_argument("--heads", type=int, default=4)
    args = ap.parse_args(argv)
    for name in ("threads", "repeats", "batch", "tokens", "d", "ff", "heads"):
        if getattr(args, name) < 1:
            print(f"error: --{name} must be >= 1 (got {getattr(args, name)})", file=sys.stderr)
            return 2
    sys.path.insert(0, str(HERE))
    from motion_step import restrict_threads, torch_twin

    try:
        cores = restrict_threads(args.threads)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    try:
        import torch
    except ImportError:
        print("error: PyTorch is not installed (pip install -e \".[bench]\")", file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads)
    import equinox as eqx
    import jax
    import jax.numpy as jnp
    import numpy as np

    from scsc_theory.motion.model import MotionDenoiser, _dense, _layer_norm

    B, n, d = args.batch, args.tokens, args.d
    model = MotionDenoiser(n - 1, 5, 3, d, 1, args.heads, args.ff, 1, key=jax.random.PRNGKey(0))
    jblk, tblk = model.block(0), torch_twin(model).blocks[0]
    h = np.random.default_rng(0).normal(size=(B, n, d)).astype(np.float32)
    hj, ht = jnp.asarray(h), torch.from_numpy(h)

    def ff_half_jax(b, x):
        return x + _dense(b.ff2, jax.nn.gelu(_dense(b.ff1, _layer_norm(b.ln2, x))))

    def ff_half_torch(b, x):
        return x + b.ff2(torch.nn.functional.gelu(b.ff1(b.ln2(x)), approximate="tanh"))

    def jax_grad(loss, params):
        g = eqx.filter_jit(eqx.filter_grad(loss))
        return lambda: jax.block_until_ready(g(params))

    def torch_grad(loss, params):
        def run():
            for p in params:
                p.grad = None
            loss().backward()
        return run

    w = tblk.ff1.weight.detach().T.contiguous().requires_grad_(True)   # (d, ff)
    hflat = ht.reshape(-1, d)
    fns = {
        "jax block": jax_grad(lambda b: jnp.mean(jax.vmap(b)(hj) ** 2), jblk),
        "torch block": torch_grad(lambda: (tblk(ht) ** 2).mean(), list(tblk.parameters())),
        "jax feed-forward": jax_grad(lambda b: jnp.mean(jax.vmap(lambda x: ff_half_jax(b, x))(hj) ** 2), jblk),
        "torch feed-forward": torch_grad(lambda: (ff_half_torch(tblk, ht) ** 2).mean(), list(tblk.parameters())),
        "jax matmul": jax_grad(lambda W: jnp.mean((hj.reshape(-1, d) @ W) ** 2), jnp.asarray(w.detach().numpy())),
        "torch matmul": torch_grad(lambda: ((hflat @ w) ** 2).mean(), [w]),
    }
    t = best_cpu(fns, args.repeats)
    import jaxlib

    print(f"jax {jax.__version__} / jaxlib {jaxlib.__version__}, torch {torch.__version__}; cores {cores} "
          f"({args.threads} thread(s) each); batch {B} x {n} tokens, d {d}, ff {args.ff}, {args.heads} heads, float32; "
          f"weight gradient of mean(out^2), process CPU time per call, best of {args.repeats}")
    flops = 2 * 2 * B * n * d * args.ff   # forward + weight gradient
    for piece in ("block", "feed-forward", "matmul"):
        tj, tt = t[f"jax {piece}"], t[f"torch {piece}"]
        extra = f"; {flops / tj / 1e9:.0f} vs {flops / tt / 1e9:.0f} GFLOP/s" if piece == "matmul" else ""
        print(f"{piece:13s} JAX {tj:.4f} s, PyTorch {tt:.4f} s: PyTorch/JAX {tt / tj:.2f}x{extra}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
