"""benchmarks/target_balance.py: distance of the centre of mass / zero-moment point outside the support
polygon, against hand-computed cases."""
import json

import numpy as np
import pytest

pytest.importorskip("mujoco")

from _benchmarks import assert_refused, load  # noqa: E402

bench = load("target_balance")


def test_support_distance_of_a_square():
    """Two capsules along the sides of a 0.2 m square (radius 0.02): inside 0, beyond an edge the
    distance minus the radius, no stance NaN, one stance capsule a segment."""
    pts = np.array([[[0.0, 0.0], [0.2, 0.0]], [[0.0, 0.2], [0.2, 0.2]]])
    r = np.array([0.02, 0.02])
    both = np.array([True, True])
    assert bench.support_distance(pts, both, r, np.array([0.1, 0.1])) == 0.0
    assert bench.support_distance(pts, both, r, np.array([0.5, 0.1])) == pytest.approx(0.3 - 0.02, abs=1e-6)
    assert bench.support_distance(pts, both, r, np.array([0.1, -0.1])) == pytest.approx(0.1 - 0.02, abs=1e-6)
    assert np.isnan(bench.support_distance(pts, np.array([False, False]), r, np.array([0.1, 0.1])))
    one = np.array([True, False])
    assert bench.support_distance(pts, one, r, np.array([0.1, 0.01])) == 0.0
    assert bench.support_distance(pts, one, r, np.array([0.1, 0.1])) == pytest.approx(0.1 - 0.02, abs=1e-6)


def test_zero_moment_point_lies_behind_a_forward_accelerating_body():
    """Constant acceleration a along x at height z: the ZMP is (z / g) a behind the centre of mass."""
    t = np.arange(20) / 20.0
    com = np.stack([0.5 * 3.0 * t ** 2, np.zeros(20), np.full(20, 0.9)], -1)
    p = bench.zero_moment_point(com, 20.0)
    np.testing.assert_allclose(p[2:-2, 0], com[2:-2, 0] - 0.9 / 9.81 * 3.0, atol=1e-9)
    np.testing.assert_allclose(p[:, 1], 0.0)


def test_standing_is_balanced_and_an_accelerating_body_is_not():
    """The grounded standing pose, held: COM and ZMP inside. The same pose carried along x with a constant
    acceleration of 5 m/s^2: the COM stays over the feet (they move with it) but the ZMP lies (z_c / g) a
    behind them (the cart-table model), about 0.45 m: outside by more than 0.2 m."""
    from scsc_theory.motion import humanoid
    from scsc_theory.motion.kinematics import lowest_point

    q = humanoid.stand_qpos()
    q[2] += 0.0005 - lowest_point(q[None])[0]
    held = np.repeat(q[None, None], 20, axis=1)
    d_com, d_zmp = bench.balance(held, 20.0)
    assert np.all(d_com == 0.0) and np.all(d_zmp == 0.0)
    moving = held.copy()
    t = np.arange(20) / 20.0
    moving[0, :, 0] += 0.5 * 5.0 * t ** 2
    d_com, d_zmp = bench.balance(moving, 20.0)
    assert np.all(d_com == 0.0)
    assert np.all(d_zmp[0, 2:-2] > 0.2)


def test_run_writes_the_table_and_refuses_bad_input(tmp_path, capsys):
    assert_refused(bench.main, ["--per-class", "0"], tmp_path, capsys)
    assert bench.main(["--per-class", "1", "--out", str(tmp_path / "b")]) == 0
    doc = json.loads((tmp_path / "b" / "balance.json").read_text())
    wave = doc["per_class"]["target"]["wave_right_hand"]
    assert wave["zmp"]["outside"] < 0.1 and doc["provenance"]["source_groups"] == ["motion"]
