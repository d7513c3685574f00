"""benchmarks/mpc_tracking.py: the predictive-sampling tracker plans nothing with one sample, picks the
cheapest candidate, and pulls a drifting replay back toward its reference."""
import json

import numpy as np
import pytest

pytest.importorskip("mujoco")

from _benchmarks import assert_refused, load  # noqa: E402

bench = load("mpc_tracking")


@pytest.fixture(scope="module")
def weak_world():
    """Walk, jump, kick and squat clips (those that did not fall) of the package's generator on the world's model with 4x leg stiffness
    and half the residual bounds, their set points, and starts 0.01 rad off."""
    from scsc_theory.motion import data, physics

    labels = np.array([data.ACTION_CLASSES.index(c) for c in ("walk", "jump", "kick", "squat")] * 2)
    model = bench.counterfactual_model(4.0, 0.5)
    params = [data._clip_params(data._clip_rng(0, data.SPLITS["train"], i), int(lab)) for i, lab in enumerate(labels)]
    tgt = data.targets(labels, params, 60, 20.0)
    with bench.world(model):
        raw, _ = physics.simulate_tracking(tgt, fps=20.0, backend="rollout")
    stood = ~physics.fallen(raw)   # a fallen clip is no reference to track
    assert stood.sum() >= 6
    tgt, raw = tgt[stood], raw[stood]
    return model, tgt, raw, bench.offset_start(tgt, 0.01, 0)


def test_tracking_cost_is_zero_on_the_reference_and_weighs_position():
    rng = np.random.default_rng(0)
    q = rng.normal(size=(3, 5, 28))
    q[..., 3:7] /= np.linalg.norm(q[..., 3:7], axis=-1, keepdims=True)
    np.testing.assert_allclose(bench.tracking_cost(q, q), 0.0, atol=1e-12)
    moved = q.copy()
    moved[..., 0] += 0.1   # 10 cm along x in every frame: 10 x 0.01 per frame
    np.testing.assert_allclose(bench.tracking_cost(moved, q), 5 * 10.0 * 0.01, rtol=1e-12)


def test_feedback_features_are_errors_in_the_reference_heading_frame():
    """A body 10 cm behind a reference that faces +y (yaw 90 degrees): the position error is +10 cm along the
    heading's forward axis, nothing else; the same state as the reference gives zero errors."""
    from scsc_theory.motion import humanoid

    ref = humanoid.stand_qpos()[None].copy()
    ref[0, 3:7] = [np.cos(np.pi / 4), 0.0, 0.0, np.sin(np.pi / 4)]
    qv = np.zeros((1, 27))
    f = bench.feedback_features(ref, qv, ref, ref, 20.0)
    assert f.shape == (1, 28) and f[0, -1] == 1.0
    np.testing.assert_allclose(f[0, :-1], 0.0, atol=1e-12)
    behind = ref.copy()
    behind[0, 1] -= 0.1            # 10 cm behind along world -y = the heading's backward direction
    f = bench.feedback_features(behind, qv, ref, ref, 20.0)
    np.testing.assert_allclose(f[0, :3], [0.1, 0.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(f[0, 3:-1], 0.0, atol=1e-12)


def test_one_sample_is_the_open_loop_rollout(weak_world):
    """samples = 1: the nominal set points, simulated in chunks; for the arm-free classes' first frames it
    agrees with the batched rollout to numerical precision (only the solver warm start differs)."""
    from scsc_theory.motion import physics

    model, tgt, raw, _ = weak_world
    q = bench.track(model, tgt, tgt, samples=1, horizon=3, replan=3)
    # identical until the first chunk boundary (frames 0..3), then the warm start differs slightly
    np.testing.assert_allclose(q[:, :4], raw[:, :4], atol=1e-9)
    assert physics.tracking_errors(q[:, :20], raw[:, :20])[0].max() < 0.01


def test_mpc_pulls_a_drifting_replay_back(weak_world, monkeypatch):
    """From a start 0.01 rad off, open-loop replay drifts; with 16 candidates it stays closer, and choosing the
    most expensive candidate instead does worse than either."""
    from scsc_theory.motion import physics

    model, tgt, raw, start = weak_world
    with bench.world(model):
        open_loop, _ = physics._simulate(tgt, 20.0, "rollout", None, start=start)
    d_open = physics.tracking_errors(open_loop, raw)[0].mean()
    q = bench.track(model, tgt, raw, start=start, samples=16, horizon=10, replan=2)
    d_mpc = physics.tracking_errors(q, raw)[0].mean()
    assert d_mpc < 0.5 * d_open
    cost = bench.tracking_cost
    monkeypatch.setattr(bench, "tracking_cost", lambda qs, ref, weights=bench.COST_WEIGHTS: -cost(qs, ref, weights))
    q_bad = bench.track(model, tgt, raw, start=start, samples=16, horizon=10, replan=2)
    assert physics.tracking_errors(q_bad, raw)[0].mean() > d_open


def test_zero_feedback_is_the_open_loop_and_distill_recovers_a_linear_map(weak_world):
    model, tgt, raw, start = weak_world
    zero = bench.track(model, tgt, raw, start=start, policy=np.zeros((28, 15)), replan=1)
    np.testing.assert_array_equal(zero, bench.track(model, tgt, raw, start=start, samples=1, horizon=1, replan=1))
    rng = np.random.default_rng(1)
    W = rng.normal(size=(28, 15))
    X = np.concatenate([rng.normal(size=(500, 27)) * rng.uniform(0.01, 3, 27), np.ones((500, 1))], 1)
    records = [(X[:250], X[:250] @ W), (X[250:], X[250:] @ W)]
    np.testing.assert_allclose(bench.distill(records, ridge=1e-10), W, atol=1e-6)
    # the penalty trades fit for size: a larger ridge fits the records worse
    fit = [np.abs(X @ bench.distill(records, ridge=r) - X @ W).mean() for r in (1e-10, 0.1, 10.0)]
    assert fit[0] < 1e-6 < fit[1] < fit[2]


def test_report(tmp_path):
    out = tmp_path / "m"
    assert bench.main(["--per-class", "1", "--scales", "0.5", "--samples", "3", "--horizon", "3", "--replan", "3",
                       "--out", str(out)]) == 0
    doc = json.loads((out / "mpc.json").read_text())
    assert doc["provenance"]["source_groups"] == ["motion"]
    assert [(r["leg_gain"], r["residual_scale"]) for r in doc["rows"]] == [(1.0, 1.0), (4.0, 0.5)]
    for r in doc["rows"]:
        assert len(r["per_class"]) == 9 and r["seconds_mpc"] > 0 and r["seconds_policy"] > 0 and r["distilled_from"] > 0
        for c in r["per_class"].values():
            assert 0 <= c["generation_open_fell"] <= 1 and c["generation_mpc_to_target"] >= 0
            assert c["replayed"] == 0 or (c["replay_mpc_drift"] >= 0 and c["replay_policy_drift"] >= 0)
    assert "| walk |" in (out / "table.md").read_text()


@pytest.mark.parametrize("argv", [["--leg-gain", "-1"], ["--scales", "0,1"], ["--scales", "a"], ["--per-class", "0"],
                                  ["--samples", "0"], ["--horizon", "0"], ["--replan", "11"], ["--sigma", "0"],
                                  ["--seed", "-2"]])
def test_bad_input_is_refused_before_work(argv, tmp_path, capsys):
    assert_refused(bench.main, argv, tmp_path, capsys)
