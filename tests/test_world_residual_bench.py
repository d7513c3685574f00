"""benchmarks/world_residual.py measures the help the world's clips get from the residual root
wrench: its nominal row is the world itself, its counterfactual rows change only what they say."""
import json

import numpy as np
import pytest

pytest.importorskip("mujoco")

from _benchmarks import assert_refused, load  # noqa: E402

bench = load("world_residual")


@pytest.fixture(scope="module")
def scan(tmp_path_factory):
    out = tmp_path_factory.mktemp("wr")
    assert bench.main(["--per-class", "1", "--leg-gain", "1,4", "--residual-scale", "1,0.5", "--out", str(out)]) == 0
    return json.loads((out / "residual.json").read_text())


def test_the_nominal_row_is_the_world_and_bounds_hold(scan):
    from scsc_theory.motion import humanoid

    rows = scan["counterfactuals"]
    assert [(r["leg_gain"], r["residual_scale"]) for r in rows] == [(1, 1), (1, 0.5), (4, 1), (4, 0.5)]
    assert scan["per_class"] == rows[0]["per_class"]
    w = scan["body_weight_N"]
    for r in rows:
        for c in r["per_class"].values():
            # a force never exceeds its (scaled) bound, and the mean never exceeds the peak
            assert c["fz_peak"] <= r["residual_scale"] * humanoid.ROOT_FORCE_BOUND / w + 1e-9
            assert c["fxy_peak"] <= r["residual_scale"] * humanoid.ROOT_FORCE_BOUND_XY / w + 1e-9
            assert c["fz_mean"] <= c["fz_peak"] + 1e-12 and abs(c["fz_signed_mean"]) <= c["fz_mean"] + 1e-12
            assert 0.0 <= c["at_bound_fraction"] <= 1.0 and 0.0 <= c["fell"] <= 1.0


def test_halving_the_residual_bound_halves_the_largest_force(scan):
    by = {(r["leg_gain"], r["residual_scale"]): r["per_class"] for r in scan["counterfactuals"]}
    walk_full, walk_half = by[(1, 1)]["walk"], by[(1, 0.5)]["walk"]
    assert walk_half["fz_peak"] == pytest.approx(walk_full["fz_peak"] / 2, rel=1e-6)
    # the halved bound is hit more often (the fraction counts steps at the bound in force)
    assert walk_half["at_bound_fraction"] > walk_full["at_bound_fraction"] > 0.3
    # the counterfactual changes the dynamics (a weaker residual lets the walk sag further)
    assert walk_half["lag_z_cm"] > walk_full["lag_z_cm"]
    # stiffer leg servos hold the walking body up with less help and less sag (a servo whose stiffness
    # is scaled without its bias term would drive the joints to 4x their set points instead)
    walk_stiff = by[(4, 1)]["walk"]
    assert walk_stiff["fz_mean"] < walk_full["fz_mean"] and walk_stiff["lag_z_cm"] < walk_full["lag_z_cm"] / 2
    assert walk_stiff["fell"] == 0
    # the world's walk leans on the residual: it is pulled forward and held upright
    assert walk_full["fx_signed_mean"] > 0.02 and walk_full["pitch_torque_mean_Nm"] < -10


@pytest.mark.parametrize("argv", [["--leg-gain", "0"], ["--residual-scale", "-1"], ["--height-offset", "0.5"],
                                  ["--leg-gain", "a,b"], ["--per-class", "0"], ["--support", "-1"],
                                  ["--support", "0,x"], ["--support-pose", "mocap"], ["--xy-scale", "-1"], ["--xy-scale", "1,x"],
                                  ["--classes", "walk,moonwalk"]])
def test_bad_input_is_refused_before_any_work(argv, tmp_path, capsys):
    assert_refused(bench.main, argv, tmp_path, capsys)



def test_counterfactual_model_scales_stiffness_damping_and_bounds_consistently():
    """A position servo stays a servo (gain kp, bias -kp q - kv qdot) with kp and kv scaled together;
    nothing else changes."""
    from scsc_theory.motion import humanoid

    base, m = humanoid.load_model(), bench.counterfactual_model(4.0, 0.5)
    legs, root = bench.leg_actuators(), humanoid.info().root_act
    assert len(legs) == 15
    np.testing.assert_allclose(m.actuator_gainprm[legs, 0], 4 * base.actuator_gainprm[legs, 0])
    np.testing.assert_allclose(m.actuator_biasprm[legs, 1], -m.actuator_gainprm[legs, 0])
    np.testing.assert_allclose(m.actuator_biasprm[legs, 2], 4 * base.actuator_biasprm[legs, 2])
    np.testing.assert_allclose(m.actuator_forcerange[legs], 2 * base.actuator_forcerange[legs])
    np.testing.assert_allclose(m.actuator_forcerange[root], 0.5 * base.actuator_forcerange[root])
    others = [a for a in range(base.nu) if a not in legs and a not in set(root.tolist())]
    np.testing.assert_array_equal(m.actuator_gainprm[others], base.actuator_gainprm[others])
    np.testing.assert_array_equal(m.actuator_biasprm[others], base.actuator_biasprm[others])


def test_horizontal_help_alone_is_removed_and_the_walk_then_falls_short(tmp_path):
    """--xy-scale 0 zeroes F_x and F_y and nothing else; without them the world's walk covers only part of
    its target's path (its simulated stride is shorter than the target's), with 1 the residual drags it
    along; --classes runs the same clips as a run of every class."""
    from scsc_theory.motion import humanoid

    base, m = humanoid.load_model(), bench.counterfactual_model(1.0, 1.0, 0.0)
    root = humanoid.info().root_act
    np.testing.assert_array_equal(m.actuator_forcerange[root[:2]], 0.0)
    np.testing.assert_array_equal(m.actuator_forcerange[root[2:]], base.actuator_forcerange[root[2:]])
    assert bench.main(["--per-class", "2", "--classes", "walk", "--xy-scale", "1,0", "--out", str(tmp_path)]) == 0
    doc = json.loads((tmp_path / "residual.json").read_text())
    rows = {r["xy_scale"]: r["per_class"] for r in doc["counterfactuals"]}
    assert set(rows[1.0]) == {"walk"} and doc["per_class"] == rows[1.0]
    dragged, free = rows[1.0]["walk"], rows[0.0]["walk"]
    assert free["fxy_peak"] == 0.0 and dragged["fxy_peak"] > 0.1
    assert dragged["travel_ratio"] > 0.9 and free["travel_ratio"] < 0.75
    assert free["fz_peak"] <= humanoid.ROOT_FORCE_BOUND / doc["body_weight_N"] + 1e-9


def _grounded(q):
    from scsc_theory.motion.kinematics import lowest_point

    q = np.array(q, dtype=np.float64)
    q[2] += 0.0005 - lowest_point(q[None])[0]
    return q


def test_support_torques_put_the_body_weight_on_the_stance_feet():
    """On the (left-right symmetric) standing pose, the J^T F part of the support torques is a vertical force
    of f x body weight shared equally by the feet; f = 0 and a pose without stance feet get nothing."""
    import mujoco

    from scsc_theory.motion import humanoid, metrics

    m, J = humanoid.load_model(), humanoid.JOINT_INDEX
    d = mujoco.MjData(m)
    q = _grounded(humanoid.stand_qpos())
    assert metrics.foot_contacts(q[None])[0].all()
    gravity = np.zeros(m.nv)
    d.qpos[:] = q
    mujoco.mj_kinematics(m, d)
    mujoco.mj_comPos(m, d)
    mujoco.mj_rne(m, d, 0, gravity)
    w = humanoid.info().total_mass * 9.81
    assert gravity[2] == pytest.approx(w, rel=1e-9)   # the free joint's z row of the gravity term: the weight
    for f in (0.5, 1.0):
        tau = bench.support_torques(m, d, q, [True, True], f)
        jtf = gravity - tau
        # the feet push up with f x weight, no horizontal force; the root is left (1 - f) x weight
        np.testing.assert_allclose(jtf[:3], [0.0, 0.0, f * w], atol=1e-9 * w)
        assert tau[2] == pytest.approx((1 - f) * w, rel=1e-9)
        # equal shares on the symmetric pose: mirrored sagittal joints get equal torques, and loading a
        # foot changes its leg's torques (the feed-forward reaches the legs)
        for j in ("hip_y", "knee", "ankle_y"):
            dof_r, dof_l = 6 + J[f"{j}_right"], 6 + J[f"{j}_left"]
            assert tau[dof_r] == pytest.approx(tau[dof_l], rel=1e-6, abs=1e-9)
            assert abs(jtf[dof_r]) > 0.1
        off = bench.support_offsets(m, tau, bench.leg_actuators())
        for a in range(m.nu):
            dof = m.jnt_dofadr[m.actuator_trnid[a, 0]] if a in bench.leg_actuators() else None
            expect = tau[dof] if dof is not None else 0.0
            assert off[a] * m.actuator_gainprm[a, 0] == pytest.approx(expect, abs=1e-9)
    np.testing.assert_array_equal(bench.support_torques(m, d, q, [True, True], 0.0), 0.0)
    np.testing.assert_array_equal(bench.support_torques(m, d, q, [False, False], 1.0), 0.0)
    # one stance foot carries everything
    tau = bench.support_torques(m, d, q, [True, False], 1.0)
    assert (gravity - tau)[2] == pytest.approx(w, rel=1e-9)


def test_support_holds_a_squat_up_without_the_residual():
    """A held squat (bent knees, both feet down) sags into the servos and leans on the residual; the
    support feed-forward at f = 1 carries the weight through the legs: the vertical help vanishes."""
    from scsc_theory.motion import humanoid, metrics, physics

    J = humanoid.JOINT_INDEX
    q = humanoid.stand_qpos()
    for side in ("right", "left"):
        q[7 + J[f"hip_y_{side}"]], q[7 + J[f"knee_{side}"]], q[7 + J[f"ankle_y_{side}"]] = -0.6, -1.2, -0.6
    plan = physics.plan_controls(np.repeat(_grounded(q)[None, None], 21, axis=1), 20.0)
    inf = humanoid.info()
    step_q = np.concatenate([plan.mocap_pos, plan.mocap_quat, plan.ctrl[..., inf.hinge_act]], -1)
    stance = metrics.foot_contacts(step_q)
    assert stance.all()
    model, w = bench.counterfactual_model(1.0, 1.0), inf.total_mass * 9.81
    fz, lag = {}, {}
    for f in (0.0, 1.0):
        force, e, _, active, clipped, _, unstable = bench.simulate_clip(model, plan, 0, 21, f, stance[0], step_q[0])
        assert not unstable and active.all() == (f > 0) and clipped.max() == 0
        fz[f], lag[f] = force[100:, 2].mean() / w, e[100:, 2].mean()   # the last 0.5 s
    assert fz[0.0] > 0.08 and lag[0.0] > 0.005           # the world: held up by the residual, 1 cm low
    assert abs(fz[1.0]) < 0.02 and abs(lag[1.0]) < 0.002  # supported: no vertical help, on target
