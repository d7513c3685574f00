"""benchmarks/world_margin.py: its generator is the package's generator run on another model, its
counterfactual world changes only the model, and its report holds what it measured."""
import json

import numpy as np
import pytest

pytest.importorskip("mujoco")

from _benchmarks import assert_refused, load  # noqa: E402

bench = load("world_margin")


def test_generation_on_the_world_model_is_the_package_generator():
    """On the world's own model the benchmark's generator returns the dataset's clips bit for bit
    (train stream, same draws), wherever no draw fell (the package redraws invalid draws only)."""
    from scsc_theory.motion import data, humanoid

    labels = np.arange(len(data.ACTION_CLASSES))
    gen = bench.generate(humanoid.load_model(), labels, seed=3)
    ref, tgt = data._simulate(labels, 3, data.SPLITS["train"], 60, 20.0)
    assert not gen.failing.any()
    same = gen.redraws == 0
    assert same.sum() >= 6
    np.testing.assert_array_equal(gen.clips[same], ref[same])
    np.testing.assert_array_equal(data.canonicalize(gen.targets[same]), tgt[same])
    np.testing.assert_array_equal(data.canonicalize(gen.raw), gen.clips)


def test_redrawn_clips_keep_their_own_simulation_and_set_points():
    """In the weak world walks and kicks are redrawn; every kept clip is its kept draw's canonical simulation,
    and that draw's set points, replayed, give that simulation again (nothing mixed between draws)."""
    from scsc_theory.motion import data

    model = bench.counterfactual_model(4.0, 0.5)
    labels = np.array([data.ACTION_CLASSES.index(c) for c in ("walk", "kick")] * 3)
    gen = bench.generate(model, labels, seed=0)
    assert gen.redraws.max() > 0 and gen.first_failed.any()
    np.testing.assert_array_equal(data.canonicalize(gen.raw), gen.clips)
    assert (bench.replay_drift(model, gen, 0.0) < 1e-9).all()


def test_replay_is_exact_without_offset_and_drifts_with_one():
    from scsc_theory.motion import data

    model = bench.counterfactual_model(1.0, 1.0)
    gen = bench.generate(model, np.array([data.ACTION_CLASSES.index(c) for c in ("walk", "wave_left_hand")]), seed=0)
    assert (bench.replay_drift(model, gen, 0.0) < 1e-9).all()
    drift = bench.replay_drift(model, gen, 0.05)
    assert (drift > 1e-4).all() and (drift < 0.5).all()


def test_the_world_context_swaps_the_model_and_restores_it():
    from scsc_theory.motion import controller, humanoid

    weak = bench.counterfactual_model(4.0, 0.5)
    fz = humanoid.info().root_act[2]
    planner, load, plan = object(), humanoid.load_model, controller.planner
    with bench.world(weak, planner):
        assert humanoid.load_model().actuator_forcerange[fz, 1] == pytest.approx(humanoid.ROOT_FORCE_BOUND / 2)
        assert controller.planner(20.0) is planner
        assert humanoid.load_model() is not humanoid.load_model()   # a copy each call, as the package's
    assert humanoid.load_model().actuator_forcerange[fz, 1] == pytest.approx(humanoid.ROOT_FORCE_BOUND)
    assert humanoid.load_model is load and controller.planner is plan


def test_a_weaker_residual_is_less_reproducible():
    """Clips generated on the world's model with the corrector's bound halved: the projection at the
    halved bound reproduces them less closely than at the full bound (same planner, same clips)."""
    from scsc_theory.motion import controller, data

    labels = np.array([data.ACTION_CLASSES.index(c) for c in ("walk", "squat", "jump", "kick")])
    clips = bench.generate(bench.counterfactual_model(1.0, 1.0), labels, seed=0).clips
    p = controller.planner(20.0)
    full = bench.reproduce(bench.counterfactual_model(1.0, 1.0), p, clips)
    half = bench.reproduce(bench.counterfactual_model(1.0, 0.5), p, clips)
    assert full["mpjpe"].mean() < half["mpjpe"].mean()
    assert (full["mpjpe"] <= full["plain"] + 1e-12).all()   # the kept rollout is never worse than rollout 0


@pytest.mark.slow   # end to end (two planner fits, 12 s); generate, reproduce and replay_drift are tested above
def test_report(tmp_path):
    out = tmp_path / "m"
    assert bench.main(["--per-class", "1", "--pairs", "18", "--fit-steps", "3", "--corrector-scale", "1",
                       "--mpc-samples", "2", "--out", str(out)]) == 0
    doc = json.loads((out / "margin.json").read_text())
    assert doc["provenance"]["source_groups"] == ["motion"]
    nominal, cf = doc["rows"]
    assert nominal["world"].startswith("the package's world") and cf["world"].startswith("counterfactual: G = 4")
    assert list(next(iter(nominal["per_class"].values()))["reproduction"]) == ["1"]
    assert list(next(iter(cf["per_class"].values()))["reproduction"]) == ["1"]
    for r in doc["rows"]:
        assert len(r["per_class"]) == 9
        for c in r["per_class"].values():
            assert 0 <= c["still_failing"] <= c["first_draw_failed"] <= 1
            assert 0 <= c["replay_drift_cm"] <= c["replay_drift_max_cm"]
            for p in c["reproduction"].values():
                assert 0 <= p["mpjpe_cm"] <= p["mpjpe_max_cm"] and 0 <= p["fell_all"] <= 1
                assert p["mpc_mpjpe_cm"] >= 0 and 0 <= p["mpc_lost"] <= 1
    assert "| walk |" in (out / "table.md").read_text()


@pytest.mark.parametrize("argv", [["--leg-gain", "0"], ["--generation-scale", "-1"], ["--corrector-scale", "1,x"],
                                  ["--corrector-scale", "0"], ["--per-class", "0"], ["--seed", "-1"], ["--pairs", "3"],
                                  ["--fit-steps", "0"], ["--replay-delta", "-0.1"],
                                  ["--mpc-samples", "-1"]])
def test_bad_input_is_refused_before_work(argv, tmp_path, capsys):
    assert_refused(bench.main, argv, tmp_path, capsys)
