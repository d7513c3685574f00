"""benchmarks/world_residual.py measures the help the world's clips get from the residual root
wrench: its nominal row is the world itself, its counterfactual rows change only what they say."""
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("mujoco")

_PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "world_residual.py"
_spec = importlib.util.spec_from_file_location("world_residual_bench", _PATH)
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)


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
                                  ["--leg-gain", "a,b"], ["--per-class", "0"]])
def test_bad_input_is_refused_before_any_work(argv, tmp_path, capsys):
    out = tmp_path / "never"
    assert bench.main(argv + ["--out", str(out)]) == 2
    assert capsys.readouterr().err.startswith("error: ")
    assert not out.exists()



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
