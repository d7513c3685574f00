"""The jnp (MJX) twins of the world's kinematics, validity gate and fall / lean rules against the host
functions (MuJoCo C forward kinematics, NumPy, SciPy), in float64, with explicit tolerances."""
import jax
import numpy as np
import pytest
from scipy.ndimage import uniform_filter1d

from scsc_theory.motion import data, kinematics, metrics, physics
from scsc_theory.motion.device import kinematics as dk

#: MJX forward kinematics vs MuJoCo C in float64 (MJX's quaternion arithmetic differs in rounding)
FK_TOL = 1e-7


@pytest.fixture(scope="module")
def clips():
    """Two true clips, one with joint noise and one floating 10 cm, one sunk 8 mm (float64)."""
    q = np.asarray(data.generate(4, seed=0, split="test").qpos, np.float64)
    bad = q.copy()
    bad[1, :, 7:] += 0.05 * np.random.default_rng(0).standard_normal(bad[1, :, 7:].shape)
    bad[2, :, 2] += 0.10
    bad[3, :, 2] -= kinematics.lowest_point(bad[3]) + 0.008
    return np.concatenate([q[:2], bad[1:]])  # (5, T, 28)


@pytest.fixture(scope="module")
def device_out(clips):
    """Every twin evaluated once, under one jit, in float64."""
    with jax.enable_x64(True):
        mx = dk.device_model()
        ref = clips[[1, 0, 3, 2, 4]]

        @jax.jit
        def f(q, ref):
            return dict(fk=dk.forward_kinematics(q, mx), low=dk.lowest_point(q, mx),
                        track=dk.tracking_errors(q, ref, mx), viol=dk.physics_violations(q, mx=mx),
                        score=dk.validity_score(q, mx=mx), gate=[dk.needs_correction(q, strength=s, mx=mx)
                                                               for s in (1.0, 0.3, 0.0)],
                        contacts=dk.foot_contacts(q, mx), tilt=dk.torso_tilt(q), fallen=dk.fallen(q),
                        leans=dk.leans(q, ref))

        out = jax.tree_util.tree_map(np.asarray, f(clips, ref))
    return out, ref


def test_forward_kinematics_matches_mujoco_c(clips, device_out):
    out, _ = device_out
    for a, b in zip(out["fk"], kinematics.forward_kinematics(clips)):
        np.testing.assert_allclose(a, b, atol=FK_TOL, rtol=0)
    np.testing.assert_allclose(out["low"], kinematics.lowest_point(clips), atol=FK_TOL, rtol=0)
    np.testing.assert_array_equal(out["contacts"], metrics.foot_contacts(clips))


def test_tracking_errors_match(clips, device_out):
    out, ref = device_out
    for a, b in zip(out["track"], kinematics.tracking_errors(clips, ref)):
        np.testing.assert_allclose(a, b, atol=FK_TOL, rtol=0)


def test_validity_gate_matches_the_host(clips, device_out):
    out, _ = device_out
    host = metrics.physics_violations(clips)
    for k, v in out["viol"].items():
        np.testing.assert_allclose(v, host[k], atol=1e-6, rtol=1e-5, err_msg=k)
    np.testing.assert_allclose(out["score"], metrics.validity_score(clips), atol=1e-5, rtol=1e-5)
    for gate, s in zip(out["gate"], (1.0, 0.3, 0.0)):
        np.testing.assert_array_equal(gate, physics.needs_correction(clips, strength=s))
    # the fixture holds both kinds: valid true clips and clips the gate sends to the projection
    assert out["gate"][0][:2].tolist() == [False, False] and out["gate"][0][2:].all()
    assert not out["gate"][2].any()


def test_fall_and_lean_rules_match(clips, device_out):
    out, ref = device_out
    np.testing.assert_allclose(out["tilt"], physics.torso_tilt(clips), atol=1e-6, rtol=0)
    np.testing.assert_array_equal(out["fallen"], physics.fallen(clips))
    np.testing.assert_array_equal(out["leans"], physics.leans(clips, ref))


def test_fall_and_lean_rules_fire(clips):
    """A torso rolled 70 degrees has fallen; a roll of 8 degrees beyond the input leans."""
    q = clips[:1].copy()
    for deg, is_fallen, is_leaning in ((70.0, True, True), (8.0, False, True), (2.0, False, False)):
        r = q.copy()
        h = np.radians(deg) / 2
        r[..., 3:7] = physics._qmul(np.array([np.cos(h), np.sin(h), 0.0, 0.0]), q[..., 3:7])
        with jax.enable_x64(True):
            assert bool(dk.fallen(r)[0]) == is_fallen == bool(physics.fallen(r)[0])
            assert bool(dk.leans(r, q)[0]) == is_leaning == bool(physics.leans(r, q)[0])


@pytest.mark.parametrize("size", [1, 2, 3, 10, 11])
def test_moving_average_is_scipys_nearest_uniform_filter(size):
    x = np.random.default_rng(size).standard_normal((3, 40))
    with jax.enable_x64(True):
        got = np.asarray(dk.moving_average_nearest(x, size))
    np.testing.assert_allclose(got, uniform_filter1d(x, size, axis=-1, mode="nearest"), atol=1e-12, rtol=0)


def test_fused_loop_without_the_mjx_backend_is_a_clear_error(tmp_path, capsys):
    from scsc_theory.cli import main

    assert main(["motion", "loop", "--fused", "--out", str(tmp_path / "o")]) == 2
    assert "--fused corrects on MJX: give --backend mjx" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
