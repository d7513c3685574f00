"""The JAX-vs-PyTorch motion benchmark compares like with like: the PyTorch twin computes the same
function, the same gradients and the same clipped-AdamW update as the JAX denoiser + optimizer."""
import importlib.util
import os
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from scsc_theory.diffusion import TrainConfig, make_optimizer
from scsc_theory.motion.model import MotionDenoiser

_PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "motion_step.py"
_spec = importlib.util.spec_from_file_location("motion_step_bench", _PATH)
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)


def _setup(layers=2):
    model = MotionDenoiser(12, 5, 3, d_model=16, layers=layers, heads=2, ff=24, patch=3, key=jax.random.PRNGKey(1))
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 12, 5)).astype(np.float32)
    t = np.array([0, 7, 33, 99], np.int32)
    y = np.array([0, 1, 2, 3], np.int32)  # 3 = the null label
    return model, x, t, y


def test_twin_forward_matches_jax():
    pytest.importorskip("torch")
    model, x, t, y = _setup()
    net = bench.torch_twin(model)
    assert sum(p.numel() for p in net.parameters()) == sum(
        a.size for a in jax.tree_util.tree_leaves(eqx.filter(model, eqx.is_inexact_array)))
    out = np.asarray(jax.vmap(model)(jnp.asarray(x), jnp.asarray(t), jnp.asarray(y)))
    assert np.std(out) > 0.1
    assert bench.twin_max_diff(model, net, jnp.asarray(x), jnp.asarray(t), jnp.asarray(y)) < 1e-5


@pytest.mark.parametrize("clip", [1.0, 0.05])
def test_twin_gradient_and_clipped_adamw_steps_match_jax(clip):
    """Two steps (Adam's first step is ~ lr sign(g) whatever the clip; the second mixes two clip scales)."""
    torch = pytest.importorskip("torch")
    model, x, t, y = _setup(layers=1)
    net = bench.torch_twin(model)
    cfg = TrainConfig(lr=1e-2, grad_clip=clip)

    def loss(m):
        return jnp.mean((jax.vmap(m)(jnp.asarray(x), jnp.asarray(t), jnp.asarray(y)) - jnp.asarray(x)) ** 2)

    opt = make_optimizer(cfg)
    state = opt.init(eqx.filter(model, eqx.is_inexact_array))
    topt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=cfg.weight_decay)
    xt, tt, yt = torch.from_numpy(x), torch.from_numpy(t), torch.from_numpy(y).long()
    m = model
    for step in range(2):
        grads = eqx.filter_grad(loss)(m)
        topt.zero_grad()
        tl = ((net(xt, tt, yt) - xt) ** 2).mean()
        tl.backward()
        np.testing.assert_allclose(float(tl.detach()), float(loss(m)), rtol=1e-5)
        gj = bench.torch_twin(grads)  # the gradient pytree has the model's structure: same parameter order
        for p, g in zip(net.parameters(), gj.parameters()):
            np.testing.assert_allclose(p.grad.numpy(), g.detach().numpy(), rtol=1e-3, atol=1e-6)
        updates, state = opt.update(grads, state, eqx.filter(m, eqx.is_inexact_array))
        m = eqx.apply_updates(m, updates)
        torch.nn.utils.clip_grad_norm_(net.parameters(), cfg.grad_clip)
        topt.step()
    for p, q in zip(net.parameters(), bench.torch_twin(m).parameters()):
        np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(), rtol=1e-4, atol=2e-6)


def test_interleaved_alternates_and_summarises():
    calls = []
    res = bench.interleaved({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}, 3)
    assert calls == ["a", "b"] + ["a", "b"] * 3  # one warm-up each, then alternating repeats
    assert set(res) == {"a", "b"} and len(res["a"]["all"]) == 3
    assert res["a"]["min"] <= res["a"]["median"] <= res["a"]["max"]
    r = bench._ratios({"all": [1.0, 2.0]}, {"all": [3.0, 2.0]})
    assert r["all"] == [3.0, 1.0] and r["median"] == 2.0


def test_bad_arguments_are_rejected_before_work(tmp_path):
    n = len(os.sched_getaffinity(0))
    with pytest.raises(ValueError, match="--threads"):
        bench.restrict_threads(n + 1)
    assert bench.main(["--threads", "0"]) == 2
    assert bench.main(["--steps", "0"]) == 2
    assert bench.main(["--sample-steps", "0"]) == 2
    assert bench.main(["--json", str(tmp_path / "missing" / "r.json")]) == 2


def test_block_benchmark_runs_and_reports_each_piece(capsys):
    """benchmarks/motion_block.py at a tiny size: every piece timed in both frameworks, bad input refused."""
    pytest.importorskip("torch")
    spec = importlib.util.spec_from_file_location("motion_block_bench", _PATH.parent / "motion_block.py")
    blk = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(blk)
    affinity = os.sched_getaffinity(0)
    try:
        assert blk.main(["--batch", "2", "--tokens", "5", "--d", "16", "--ff", "24", "--heads", "2", "--repeats", "1"]) == 0
    finally:
        os.sched_setaffinity(0, affinity)   # the benchmark pins this process to one core
    out = capsys.readouterr().out
    for piece in ("block", "feed-forward", "matmul"):
        assert f"{piece}" in out and "PyTorch/JAX" in out
    assert blk.main(["--d", "0"]) == 2
