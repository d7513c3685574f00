"""Wiring of the generic self-consuming driver (scsc_theory.diffusion.loop) with a real (small)
diffusion model: synthetic counts, which data each arm trains on, warm starts, resume."""
import dataclasses
import math
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from scsc_theory._validate import SCSCInputError
from scsc_theory.diffusion import (ARMS, LoopConfig, SelfConsumingLoop, TrainConfig, checkpoint, cosine_schedule,
                                   fit, init_opt_state, read_metrics_csv, sample)
from scsc_theory.diffusion.loop import ideal_mix, training_set
from scsc_theory.diffusion.nets import MLPDenoiser

MARK = 1000.0  # the test corrector shifts samples by this, so corrected data is recognisable
FRESH = -1000.0  # the test "true distribution" for the ideal arm


def make_loop(n=10, lam=0.75, generations=2, arms=ARMS, seeds=(0,), gamma=1.0, record=None):
    sch = cosine_schedule(20)
    tcfg = TrainConfig(lr=1e-3, batch_size=8)

    def real_fn(seed):
        rng = np.random.default_rng(seed)
        y = np.arange(n) % 2
        return (rng.normal(size=(n, 2)) + y[:, None]).astype(np.float32), y

    def init_fn(key):
        m = MLPDenoiser((2,), 2, 16, 1, key=key)
        return (m, init_opt_state(m, tcfg))

    def train_fn(state, x, y, steps, key):
        if record is not None:
            jax.debug.callback(lambda xx, yy: record.append((np.asarray(xx).copy(), np.asarray(yy).copy())), x, y)
        m, o, _ = fit(state[0], state[1], x, y, steps, key, sch, tcfg)
        return (m, o)

    def sample_fn(state, labels, key):
        return sample(state[0], sch, labels, key, (2,), 4)

    def correct_fn(arm, samples, labels, key):
        assert arm == "selfcorrect"
        return np.asarray(samples) + MARK

    def ideal_fn(labels, key):
        return np.full((len(labels), 2), FRESH, np.float32)

    def eval_fn(samples, labels, key):
        s = np.asarray(samples)
        return {"mean": float(s.mean()), "spread": float(s.std())}

    cfg = LoopConfig(n=n, lam=lam, generations=generations, gen0_steps=6, steps_per_gen=3, arms=tuple(arms),
                     seeds=tuple(seeds), gamma=gamma)
    return SelfConsumingLoop(cfg, real_fn=real_fn, init_fn=init_fn, train_fn=train_fn, sample_fn=sample_fn,
                             correct_fn=correct_fn, ideal_fn=ideal_fn, eval_fn=eval_fn)


@pytest.mark.parametrize("n,lam", [(10, 0.75), (10, 1.0), (7, 0.5), (64, 1.0)])
def test_synthetic_count_is_floor_lambda_n(n, lam):
    cfg = LoopConfig(n=n, lam=lam, generations=1, gen0_steps=1, steps_per_gen=1)
    assert cfg.m == math.floor(lam * n)
    x, y = np.zeros((n, 2), np.float32), np.zeros(n, np.int32)
    raw = np.ones((cfg.num_samples, 2), np.float32)
    lab = np.ones(cfg.num_samples, np.int32)
    for arm in ("selfconsume", "selfcorrect", "ideal"):
        xx, yy = training_set(arm, cfg, x, y, raw, lab, lambda a, s, l, k: s, lambda l, k: np.zeros((len(l), 2)), 1, 0)
        assert xx.shape[0] == yy.shape[0] == n + math.floor(lam * n)
    xx, _ = training_set("baseline", cfg, x, y, raw, lab, None, None, 1, 0)
    assert xx.shape[0] == n


RECORD: list = []


@pytest.fixture(scope="module")
def shared():
    """One driver (4 arms, 2 seeds, 3 generations) run once; tests share its compilations and output."""
    import tempfile

    loop = make_loop(generations=3, seeds=(0, 1), record=RECORD)
    d = tempfile.mkdtemp()
    RECORD.clear()
    rows = loop.run(d, progress=False)
    return loop, Path(d), rows, list(RECORD)


def test_each_arm_trains_on_the_right_data(shared):
    _, _, _, record = shared
    # per seed: gen 0 (one call, real only), then per generation one call per arm in ARMS order;
    # the driver loops generation -> seed -> arm
    assert len(record) == 2 * (1 + 3 * len(ARMS))
    x0, _ = record[0]
    assert x0.shape == (10, 2)
    seen = dict(zip(ARMS, record[2:2 + len(ARMS)]))  # generation 1, seed 0
    real = x0
    bx, _ = seen["baseline"]
    np.testing.assert_array_equal(bx, real)  # baseline: real data only
    for arm in ("selfconsume", "selfcorrect", "ideal"):
        x, y = seen[arm]
        assert x.shape == (10 + 7, 2)
        np.testing.assert_array_equal(x[:10], real)
    syn_raw = seen["selfconsume"][0][10:]
    syn_cor = seen["selfcorrect"][0][10:]
    assert np.all(np.abs(syn_raw) < 100)  # raw samples, never corrected
    np.testing.assert_allclose(syn_cor, syn_raw + MARK, rtol=1e-6)  # the same samples, corrected
    ideal = seen["ideal"][0][10:]
    fresh = (ideal == FRESH).all(1)
    assert np.all(fresh | (ideal == syn_raw).all(1))  # each clip either kept or replaced
    # labels of the synthetic part come from the real label set
    assert set(np.unique(seen["selfconsume"][1][10:])) <= {0, 1}
    # every later generation of selfconsume trains on raw (uncorrected) samples only
    for x, _ in record[2:]:
        assert x.shape[0] in (10, 17)


def test_ideal_mix_rate():
    s = jnp.zeros((20000, 1))
    out = ideal_mix(s, jnp.ones((20000, 1)), 3.0, jax.random.PRNGKey(0))
    assert float(out.mean()) == pytest.approx(0.75, abs=0.015)
    assert float(ideal_mix(s, jnp.ones((20000, 1)), 0.0, jax.random.PRNGKey(0)).mean()) == 0.0


def test_warm_start_carries_weights_and_optimizer_state(shared):
    loop, d, _, _ = shared
    tmpl = {"state": loop.init_fn(jax.random.PRNGKey(0)), "raw": jnp.zeros((10, 2))}
    for arm in ARMS:
        tree, meta = checkpoint.load(d / "ckpt" / f"seed0_{arm}.npz", tmpl)
        assert meta["generation"] == 3
        counts = [int(l) for l in jax.tree_util.tree_leaves(tree["state"][1])
                  if jnp.ndim(l) == 0 and jnp.issubdtype(l.dtype, jnp.integer)]
        # Adam's step counter: 6 from-scratch steps + 3 generations x 3 fine-tuning steps
        assert counts and all(c == 6 + 3 * 3 for c in counts)


def test_generation0_shared_and_metrics_rows(shared):
    _, d, rows, _ = shared
    assert len(rows) == 2 * len(ARMS) * 4 * 2  # seeds x arms x (G+1) x metrics
    g0 = {(r["seed"], r["metric"], r["value"]) for r in rows if r["generation"] == 0}
    assert len(g0) == 2 * 2  # identical across arms
    disk = read_metrics_csv(d / "metrics.csv")
    assert sorted((r["arm"], r["seed"], r["generation"], r["metric"], r["value"]) for r in disk) == \
        sorted((r["arm"], r["seed"], r["generation"], r["metric"], r["value"]) for r in rows)


def test_resume_is_identical(tmp_path, shared):
    loop, d, full, _ = shared
    loop.fresh().run(tmp_path / "b", progress=False, stop_after=5)
    partial = read_metrics_csv(tmp_path / "b" / "metrics.csv")
    assert 0 < len(partial) < len(full)
    resumed = loop.fresh().run(tmp_path / "b", progress=False)
    key = lambda r: (r["arm"], r["seed"], r["generation"], r["metric"])
    assert sorted((key(r), r["value"]) for r in resumed) == sorted((key(r), r["value"]) for r in full)
    assert (d / "metrics.csv").read_text() == (tmp_path / "b" / "metrics.csv").read_text()


def test_refuses_other_config_in_same_folder(shared):
    _, d, _, _ = shared
    with pytest.raises(SCSCInputError, match="different configuration"):
        make_loop(generations=3, seeds=(0, 1), lam=0.5).run(d, progress=False)


def test_bad_config_raises_before_work():
    with pytest.raises(SCSCInputError, match="arms"):
        LoopConfig(n=10, lam=1, generations=1, gen0_steps=1, steps_per_gen=1, arms=("bogus",)).validate()
    with pytest.raises(SCSCInputError, match="lam"):
        LoopConfig(n=10, lam=0.01, generations=1, gen0_steps=1, steps_per_gen=1).validate()
    with pytest.raises(SCSCInputError, match="n must"):
        LoopConfig(n=1, lam=1, generations=1, gen0_steps=1, steps_per_gen=1).validate()


def test_on_samples_hook_sees_every_evaluated_batch(tmp_path):
    """The driver's public hook: called once per evaluated (generation, seed, arm), arm None at generation 0,
    with the batch just evaluated (what the digits loop's snapshots rely on)."""
    seen = []

    class Recording(SelfConsumingLoop):
        def on_samples(self, out, samples, labels, seed, g, arm):
            seen.append((Path(out), seed, g, arm, np.asarray(samples).shape[0], len(labels)))

    base = make_loop(generations=2, arms=("selfconsume", "ideal"))
    loop = Recording(base.cfg, real_fn=base.real_fn, init_fn=base.init_fn, train_fn=base.train_fn,
                     sample_fn=base.sample_fn, correct_fn=base.correct_fn, ideal_fn=base.ideal_fn, eval_fn=base.eval_fn)
    loop.run(tmp_path / "r", progress=False)
    keys = sorted((g, arm or "") for _, _, g, arm, _, _ in seen)
    assert keys == [(0, ""), (1, "ideal"), (1, "selfconsume"), (2, "ideal"), (2, "selfconsume")]
    assert all(o == tmp_path / "r" and k == nl == loop.cfg.num_samples for o, _, _, _, k, nl in seen)
    assert loop.checkpoint_path(tmp_path, 3, "ideal") == tmp_path / "ckpt" / "seed3_ideal.npz"


def test_ideal_mix_is_the_one_pi_gamma_on_samples():
    """diffusion's ideal arm and the toy corrector share correction.mix_in_target, bit for bit."""
    from scsc_theory.correction import mix_in_target

    x, fresh = jnp.zeros((500, 3, 2)), jnp.ones((500, 3, 2))
    for g in (0.0, 0.5, 3.0):
        k = jax.random.PRNGKey(int(10 * g))
        np.testing.assert_array_equal(ideal_mix(x, fresh, g, k), mix_in_target(k, x, fresh, g))


def test_ideal_arm_at_gamma_zero_is_the_selfconsume_arm():
    """gamma = 0: the ideal arm's training set is the selfconsume arm's, bit for bit (the gamma_eff
    prediction rows use the selfconsume arm as the ideal loop at gamma = 0)."""
    cfg = LoopConfig(n=6, lam=1.0, generations=1, gen0_steps=1, steps_per_gen=1, arms=("selfconsume", "ideal"),
                     seeds=(0,), gamma=0.0, n_eval=6)
    x_real, y_real = jnp.arange(12.0).reshape(6, 2), jnp.arange(6) % 2
    raw, labels = jax.random.normal(jax.random.PRNGKey(1), (6, 2)), jnp.arange(6) % 2
    fresh = lambda lab, key: jnp.full((lab.shape[0], 2), 99.0)  # noqa: E731
    a = training_set("selfconsume", cfg, x_real, y_real, raw, labels, None, fresh, 1, 0)
    b = training_set("ideal", cfg, x_real, y_real, raw, labels, None, fresh, 1, 0)
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)
    c = training_set("ideal", dataclasses.replace(cfg, gamma=1.0), x_real, y_real, raw, labels, None, fresh, 1, 0)
    assert np.any(np.asarray(c[0]) == 99.0)  # the same call at gamma = 1 does replace samples


def test_memo_is_bounded_and_least_recently_used():
    from scsc_theory.diffusion.memo import Memo

    built = []
    memo = Memo(maxsize=2)
    get = lambda k: memo.get(k, lambda: built.append(k) or f"v{k}")  # noqa: E731
    assert get(1) == "v1" and get(2) == "v2" and get(1) == "v1"  # hit: 1 becomes most recent
    assert get(3) == "v3"  # evicts 2, the least recently used
    assert len(memo) == 2 and 1 in memo and 2 not in memo
    assert get(2) == "v2" and built == [1, 2, 3, 2]
    with pytest.raises(ValueError, match="maxsize"):
        Memo(0)
