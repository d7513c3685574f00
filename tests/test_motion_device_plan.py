"""The corrector's planning in jnp (scsc_theory.motion.device.plan / .quat) against its NumPy host code.

Inputs are real clips of the motion world (``data.generate(4, seed=0, split="test")``) and perturbed
variants: joint noise, the body lowered into the floor (plan_controls must lift it), a 0.5 m root
teleport (limit_root_speed) and flipped quaternion signs (continuous_quats). Under float64 every twin
matches its host function to TOL; ``set_points`` runs the planner's MLP in float32 like the host and
is held to SET_POINT_TOL: float32 rounding of the planner output in general, TOL on CPU. Every
function gives the same result under ``jax.jit`` (and ``jit(vmap)`` over clips) as eagerly.
"""
import functools

import numpy as np
import pytest

pytest.importorskip("mujoco")

import jax  # noqa: E402

from scsc_theory.motion import controller, data, physics  # noqa: E402
from scsc_theory.motion.device import kinematics as dkin  # noqa: E402
from scsc_theory.motion.device import plan as P  # noqa: E402
from scsc_theory.motion.device import quat as Q  # noqa: E402

FPS = 20.0
#: float64 agreement with the host (relative and absolute).
TOL = {"rtol": 1e-9, "atol": 1e-9}
#: set_points: float32 rounding of the planner output (rad, m), see plan.set_points; on CPU the float32
#: planner output is bit-identical to the host's (the same jitted function computes it), so float64 TOL.
SET_POINT_TOL = TOL if jax.default_backend() == "cpu" else {"rtol": 0.0, "atol": 1e-6}
#: jit / jit(vmap) against eager: the same float64 arithmetic, fused differently.
JIT_TOL = {"rtol": 1e-12, "atol": 1e-12}


@pytest.fixture(scope="module")
def clips():
    """Float64 clips (4, 60, 28) and their perturbed variants, plus the host set points."""
    q = np.asarray(data.generate(4, seed=0, split="test").qpos, dtype=np.float64)
    rng = np.random.default_rng(0)
    noisy = q.copy()
    noisy[..., 7:] += rng.normal(0.0, 0.1, noisy[..., 7:].shape)
    lowered = q.copy()
    lowered[..., 2] -= 0.05                       # feet 5 cm in the floor: plan_controls lifts the body
    teleport = q.copy()
    teleport[1:, 30:, :2] += np.array([[0.5, 0.0], [0.0, -0.5], [0.3, 0.4]])[:, None]   # clip 0 untouched
    flipped = q[..., 3:7].copy()
    flipped[rng.random(flipped.shape[:2]) < 0.3] *= -1.0
    sim = noisy.copy()                           # a stand-in for a rollout: root drifted and turned
    sim[..., :3] += 0.02 * np.sin(np.arange(60) / 7.0)[None, :, None]
    sim[..., 3:7] = physics._qnorm(physics._qmul(physics._quat_exp(0.05 * rng.normal(size=(4, 60, 3))),
                                                 q[..., 3:7]))
    return {"q": q, "noisy": noisy, "lowered": lowered, "teleport": teleport, "flipped": flipped, "sim": sim,
            "setpoint": controller.set_points(controller.planner(FPS), q, FPS)}


@pytest.fixture(scope="module")
def planner():
    return controller.planner(FPS)


def _plan_fields(p):
    return [p.init_qpos, p.init_qvel, p.ctrl, p.mocap_pos, p.mocap_quat]


def _cases(c, planner):
    """name -> (device fn, host fn, args (arrays with clip axis 0, or the planner), static kwargs,
    host output -> list of arrays, tolerance)."""
    rng = np.random.default_rng(1)
    flipped = c["flipped"]
    rv = 0.7 * rng.normal(size=(4, 60, 3))
    d = controller.offsets(c["q"], c["setpoint"])
    one = lambda x: [x]  # noqa: E731
    return {
        "qnorm": (Q.qnorm, physics._qnorm, (2.0 * flipped,), {}, one, TOL),
        "qmul": (Q.qmul, physics._qmul, (flipped, c["sim"][..., 3:7]), {}, one, TOL),
        "qconj": (Q.qconj, physics._qconj, (flipped,), {}, one, TOL),
        "qrotate": (Q.qrotate, physics._qrotate, (flipped, rv), {}, one, TOL),
        "qlog_angvel": (Q.qlog_angvel, physics._qlog_angvel, (flipped[:, :-1], flipped[:, 1:]),
                        {"dt": 1.0 / FPS}, one, TOL),
        "continuous_quats": (Q.continuous_quats, physics._continuous_quats, (flipped,), {}, one, TOL),
        "rotvec": (Q.rotvec, physics._rotvec, (physics._qnorm(flipped),), {}, one, TOL),
        "quat_exp": (Q.quat_exp, physics._quat_exp, (rv,), {}, one, TOL),
        "plan_controls": (lambda ref, start, fps: P.plan_controls(ref, fps, start),
                          lambda ref, start, fps: physics.plan_controls(ref, fps, start),
                          (c["noisy"], c["lowered"]), {"fps": FPS}, _plan_fields, TOL),
        "window_features": (P.window_features, controller.window_features, (c["noisy"],), {"fps": FPS}, one, TOL),
        "offsets": (P.offsets, controller.offsets, (c["q"], c["setpoint"]), {}, one, TOL),
        "apply_offsets": (P.apply_offsets, controller.apply_offsets, (c["q"], d), {}, one, TOL),
        "set_points": (P.set_points, controller.set_points, (planner, c["noisy"]), {"fps": FPS}, one,
                       SET_POINT_TOL),
        "lowpass": (P.lowpass, physics._lowpass, (c["noisy"],), {"fps": FPS, "cutoff_hz": physics.ILC_CUTOFF_HZ},
                    one, TOL),
        "ilc_update": (P.ilc_update, physics._ilc_update, (c["setpoint"], c["q"], c["sim"]), {"fps": FPS}, one, TOL),
        "limit_root_speed": (P.limit_root_speed, physics.limit_root_speed, (c["teleport"],), {"fps": FPS},
                             lambda r: list(r), TOL),
    }


NAMES = ["qnorm", "qmul", "qconj", "qrotate", "qlog_angvel", "continuous_quats", "rotvec", "quat_exp",
         "plan_controls", "window_features", "offsets", "apply_offsets", "set_points", "lowpass", "ilc_update",
         "limit_root_speed"]


def _leaves(out):
    return [np.asarray(x) for x in jax.tree_util.tree_leaves(out)]


@pytest.fixture(scope="module")
def eager():
    """Eager device results, computed once per case (under x64; the arrays keep their float64)."""
    return {}


def _eager(eager_cache, name, case, monkeypatch):
    if name not in eager_cache:
        fn, _, args, kw, _, _ = case
        if name == "plan_controls":   # MJX forward kinematics op by op takes ~25 s: jit just that part
            monkeypatch.setattr(dkin, "lowest_point", jax.jit(dkin.lowest_point))
        eager_cache[name] = _leaves(fn(*args, **kw))
    return eager_cache[name]


@pytest.mark.parametrize("name", NAMES)
def test_twin_matches_host(name, clips, planner, eager, x64, monkeypatch):
    case = _cases(clips, planner)[name]
    _, host, args, kw, unpack, tol = case
    got = _eager(eager, name, case, monkeypatch)
    want = [np.asarray(x) for x in unpack(host(*args, **kw))]
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.shape == w.shape
        if g.dtype == bool:
            np.testing.assert_array_equal(g, w)
        else:
            assert g.dtype == np.float64
            np.testing.assert_allclose(g, w, **tol)


@pytest.mark.parametrize("name", NAMES)
def test_jit_and_vmap_match_eager(name, clips, planner, eager, x64, monkeypatch):
    """jit(f) (static options) and jit(vmap(f)) over the clip axis give the eager result (plan_controls:
    only jit(vmap), as each compile of MJX forward kinematics takes ~7 s on 2 cores)."""
    case = _cases(clips, planner)[name]
    fn, _, args, kw, _, _ = case
    want = _eager(eager, name, case, monkeypatch)
    monkeypatch.undo()
    outs = [] if name == "plan_controls" else [jax.jit(fn, static_argnames=tuple(kw))(*args, **kw)]
    in_axes = tuple(None if isinstance(a, controller.Planner) else 0 for a in args)   # the planner is shared
    outs.append(jax.jit(jax.vmap(functools.partial(fn, **kw), in_axes=in_axes))(*args))
    for got in outs:
        for g, w in zip(_leaves(got), want, strict=True):
            assert g.shape == w.shape and g.dtype == w.dtype
            np.testing.assert_allclose(g, w, **JIT_TOL)


def test_plan_controls_without_start_lifts_the_body(clips, x64, monkeypatch):
    """start=None: the initial state is ref's first frame, lifted by MJX forward kinematics (equal to the
    host's C kinematics to rounding) out of the floor."""
    low = clips["lowered"]
    monkeypatch.setattr(dkin, "lowest_point", jax.jit(dkin.lowest_point))   # compiled once (see _eager)
    got = _plan_fields(P.plan_controls(low, FPS))
    want = _plan_fields(physics.plan_controls(low, FPS))
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(np.asarray(g), w, **TOL)
    assert (np.asarray(got[0])[:, 2] - low[:, 0, 2] > 0.04).all()        # lifted out of the floor
    assert got[2].shape[1] == physics.substeps(FPS) * (low.shape[1] - 1)
    lift = np.asarray(got[0])[:, 2] - low[:, 0, 2]
    assert (lift > 0.04).all()
    assert physics.substeps(FPS) * (low.shape[1] - 1) == got[2].shape[1]


def test_continuous_quats_is_sequential_and_keeps_a_zero_dot(x64):
    """A frame is compared with the already flipped previous frame, and a dot of exactly 0 is no flip."""
    s = np.sqrt(0.5)
    q = np.array([[[1, 0, 0, 0], [0, 1, 0, 0], [-1, 0, 0, 0], [-s, -s, 0, 0], [s, s, 0, 0]]], dtype=np.float64)
    want = physics._continuous_quats(q)
    got = np.asarray(Q.continuous_quats(q))
    np.testing.assert_array_equal(got[0, 1], [0, 1, 0, 0])            # dot 0 with frame 0: kept
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-15)
    np.testing.assert_allclose(np.asarray(Q.continuous_quats(q[0])), want[0], rtol=0, atol=1e-15)   # no batch


@pytest.mark.parametrize("T", [2, 3, 9, 10])
def test_lowpass_short_clips_use_the_shortened_padding(T, clips, x64):
    """padlen = min(9, T - 1): clips of at most 9 frames pad less than scipy's default (9) would."""
    x = clips["noisy"][:, :T]
    got = np.asarray(P.lowpass(x, FPS, physics.ILC_CUTOFF_HZ))
    np.testing.assert_allclose(got, physics._lowpass(x, FPS, physics.ILC_CUTOFF_HZ), **TOL)


def test_limit_root_speed_keeps_clips_within_the_bound_bit_for_bit(clips, x64):
    tel = clips["teleport"]
    out, limited = P.limit_root_speed(tel, fps=FPS)
    out = np.asarray(out)
    np.testing.assert_array_equal(np.asarray(limited), [False, True, True, True])
    np.testing.assert_array_equal(out[0], tel[0])
    step = np.linalg.norm(np.diff(out[..., :2], axis=1), axis=-1) * FPS
    assert step.max() <= physics.VALIDITY_THRESHOLDS["root_speed"] * (1 + 1e-12)
    np.testing.assert_array_equal(out[..., 2:], tel[..., 2:])
    out_v, lim_v = P.limit_root_speed(tel, FPS, v_max=100.0)        # nothing to limit
    assert not np.asarray(lim_v).any()
    np.testing.assert_array_equal(np.asarray(out_v), tel)
