"""Physics correction: corruptions are fixed, valid motion is kept, backends agree, bad input named."""
import numpy as np
import pytest

pytest.importorskip("mujoco")

from scsc_theory._validate import SCSCInputError  # noqa: E402
from scsc_theory.motion import data, metrics, physics  # noqa: E402

BROKEN = data.CORRUPTION_METRIC



@pytest.fixture(scope="module")
def clean():
    return data.generate(9, seed=11, cache=False).qpos.astype(np.float64)   # one clip per class


@pytest.fixture(scope="module")
def runs(clean):
    kinds = list(data.CORRUPTIONS)
    bad = np.concatenate([data.corrupt(clean, k, seed=1) for k in kinds])
    c = physics.correct(np.concatenate([clean, bad]))
    n = len(clean)
    out = {"clean": (clean, c.qpos[:n], c)}
    for i, k in enumerate(kinds):
        out[k] = (bad[n * i:n * (i + 1)], c.qpos[n * (i + 1):n * (i + 2)], c)
    return out, c


def test_correction_is_stable_and_reports_errors(runs):
    _, c = runs
    assert not c.unstable.any()
    for arr in (c.tracking_error, c.joint_error, c.root_error):
        assert arr.shape == (54,) and np.isfinite(arr).all() and (arr >= 0).all()
    assert c.corrected.shape == c.fallback.shape == c.iteration.shape == (54,)


def test_valid_clips_are_fixed_points(runs):
    """A self-correction function must leave valid data unchanged (pi_gamma's projection property)."""
    out, c = runs
    q, fixed, _ = out["clean"]
    assert not c.corrected[:9].any()
    np.testing.assert_array_equal(fixed, q)
    assert c.tracking_error[:9].max() == 0.0


def test_exactly_the_invalid_clips_are_simulated(runs, clean):
    out, c = runs
    bad = np.concatenate([out[k][0] for k in data.CORRUPTIONS])
    np.testing.assert_array_equal(c.corrected[9:], metrics.validity_score(bad) > 0)
    assert c.corrected[9:].mean() > 0.9
    sim = c.corrected & ~c.fallback
    assert (c.iteration[sim] >= 0).all() and (c.iteration[~c.corrected] == -1).all()
    # the stated rule: a clip whose every rollout fell or leaned is returned unchanged (measured:
    # 6 of 54 since the lean rule, 0 to 3 of 54 before it)
    assert c.fallback.mean() <= 0.15
    all_in = np.concatenate([clean] + [out[k][0] for k in data.CORRUPTIONS])
    np.testing.assert_array_equal(c.qpos[c.fallback], all_in[c.fallback])


@pytest.mark.parametrize("kind", data.CORRUPTIONS)
def test_corruption_scores_high_then_low(runs, clean, kind):
    out, _ = runs
    bad, fixed, _ = out[kind]
    m = BROKEN[kind]
    v_clean = metrics.physics_violations(clean)[m].mean()
    v_bad = metrics.physics_violations(bad)[m].mean()
    v_fixed = metrics.physics_violations(fixed)[m].mean()
    assert v_bad > 3 * v_clean + 0.01, (m, v_bad, v_clean)
    assert v_fixed < 0.4 * v_bad, (m, v_fixed, v_bad)
    assert not physics.fallen(fixed).any()
    # the corrected clip stays close to the clean clip it came from (where the input was valid)
    err = physics.tracking_errors(fixed, clean)[0].mean()
    assert err < 0.25, err


def _tilted(angles_deg):
    """Clips (len(angles), T, 28) standing at 1.2 m whose torso is pitched by angles_deg[i][t]."""
    a = np.radians(np.asarray(angles_deg, dtype=np.float64))
    q = np.zeros(a.shape + (28,))
    q[..., 2] = 1.2
    q[..., 3], q[..., 5] = np.cos(a / 2), np.sin(a / 2)
    return q


def test_limit_root_speed_takes_out_a_teleport_only(clean):
    same, limited = physics.limit_root_speed(clean)
    assert (same == clean).all() and not limited.any()   # within the bound: bit for bit
    bad = data.corrupt(clean, "teleport_root", seed=1)
    lim, limited = physics.limit_root_speed(bad)
    assert limited.all()
    v_max = metrics.VALIDITY_THRESHOLDS["root_speed"]
    speed = np.linalg.norm(np.diff(lim[..., :2], axis=1), axis=-1) * physics.DEFAULT_FPS
    assert speed.max() == pytest.approx(v_max, rel=1e-9)
    T = clean.shape[1]
    # the jump pair becomes a step of v_max / fps; the path around it keeps its shape
    np.testing.assert_allclose(np.diff(lim[..., :2], axis=1)[:, T // 2:], np.diff(bad[..., :2], axis=1)[:, T // 2:],
                               atol=1e-12)
    np.testing.assert_allclose(lim[:, :T // 2], bad[:, :T // 2], atol=1e-12)
    np.testing.assert_array_equal(lim[..., 2:], bad[..., 2:])


def test_a_teleport_is_projected_onto_the_path_without_the_jump(runs):
    out, c = runs
    i = 1 + list(data.CORRUPTIONS).index("teleport_root")
    sl = slice(9 * i, 9 * (i + 1))
    _, fixed, _ = out["teleport_root"]
    assert c.corrected[sl].all() and not c.fallback[sl].any()
    assert (metrics.physics_violations(fixed)["root_speed"] <= metrics.VALIDITY_THRESHOLDS["root_speed"]).all()
    # rollouts towards the path without the jump (iterations after the first set) are kept for some
    assert (c.iteration[sl] > physics.ILC_ITERATIONS).any()


def test_the_rollouts_without_the_jump_are_judged_against_the_input(monkeypatch, clean):
    """The second set of rollouts competes by the same rule: closest to the *input*, valid first."""
    bad = data.corrupt(clean, "teleport_root", seed=1)
    both = physics.project(bad)
    monkeypatch.setattr(physics, "limit_root_speed", lambda q, **kw: (q, np.zeros(len(q), bool)))   # first set only
    first = physics.project(bad)

    def score(q):
        return physics.tracking_errors(q, bad)[0] + physics.INVALID_PENALTY_M * (metrics.validity_score(q) > 0)

    ok = ~first.fell_all
    assert ok.sum() >= 3
    assert (score(both.qpos)[ok] <= score(first.qpos)[ok] + 1e-9).all()
    assert (both.iteration > physics.ILC_ITERATIONS).any() and not both.fell_all.any()


def test_leans_is_a_sustained_signed_lean():
    T = 40
    upright = _tilted(np.zeros((1, T)))
    step = lambda deg: _tilted(np.where(np.arange(T) >= 10, deg, 0.0)[None])  # noqa: E731
    np.testing.assert_allclose(physics.torso_tilt(step(6.0))[0, 20], 6.0, atol=1e-9)
    assert physics.leans(step(physics.LEAN_DEG + 1), upright).all()
    assert not physics.leans(step(physics.LEAN_DEG - 1), upright).any()
    # leaning less than the input is not losing balance
    assert not physics.leans(upright, step(physics.LEAN_DEG + 5)).any()
    # frame-to-frame jitter (0 / 8 degrees, mean 4; the ends at the input's tilt) is averaged over LEAN_WINDOW_S
    jitter = np.resize([0.0, 8.0], T)
    jitter[-1] = 0.0
    assert not physics.leans(_tilted(jitter[None]), upright).any()
    # a short spike (2 frames of 12 degrees) inside the clip is not a sustained lean; 1 s of it is
    spike = np.zeros(T)
    spike[20:22] = 12.0
    assert not physics.leans(_tilted(spike[None]), upright).any()
    spike[20:40] = 12.0
    assert physics.leans(_tilted(spike[None]), upright).all()
    # at the clip's end a lean is taken to persist: 3 last frames of 12 degrees count
    end = np.zeros(T)
    end[-3:] = 12.0
    assert physics.leans(_tilted(end[None]), upright).all()


def test_projection_never_keeps_a_leaning_rollout(runs, clean):
    """The stated rule: a rollout that leans beyond the input (physics.leans) counts as a fall."""
    out, c = runs
    all_in = np.concatenate([clean] + [out[k][0] for k in data.CORRUPTIONS])
    kept = c.corrected & ~c.fallback
    assert kept.sum() > 30
    assert not physics.leans(c.qpos[kept], all_in[kept]).any()


def test_correcting_twice_is_correcting_once(runs):
    """Idempotence: the outputs that meet the thresholds are fixed points of a second pass."""
    _, c = runs
    again = physics.correct(c.qpos[9:])
    valid = ~physics.needs_correction(c.qpos[9:])
    assert valid.mean() >= 0.7, valid.mean()
    np.testing.assert_array_equal(again.qpos[valid], c.qpos[9:][valid])


@pytest.mark.parametrize("lift, ratio", [(0.10, 0.2), (0.30, 0.2)])
def test_floating_clip_is_brought_down(clean, lift, ratio):
    """The residual root force is bounded below body weight, so it cannot hold a lifted clip up."""
    up = clean[:3].copy()
    up[..., 2] += lift
    before = metrics.physics_violations(up)["floating"].mean()
    c = physics.correct(up)
    after = metrics.physics_violations(c.qpos)["floating"].mean()
    assert before > 0.05 and after < ratio * before, (before, after)
    assert c.corrected.all() and not physics.fallen(c.qpos).any()


def test_residual_root_bound_is_below_body_weight():
    from scsc_theory.motion import humanoid

    m = humanoid.load_model()
    inf = humanoid.info()
    weight = inf.total_mass * 9.81
    fz = m.actuator_forcerange[inf.root_act[2]]
    fxy = m.actuator_forcerange[inf.root_act[:2]]
    assert fz[1] < 0.5 * weight and np.abs(fxy).max() < 0.2 * weight
    assert fz[1] == humanoid.ROOT_FORCE_BOUND and fxy.max() == humanoid.ROOT_FORCE_BOUND_XY


def test_strength_sets_how_strict_valid_is(clean):
    bad = np.concatenate([data.corrupt(clean[:3], "joint_noise", seed=2), clean[3:5]])
    none = physics.correct(bad, strength=0.0)
    np.testing.assert_array_equal(none.qpos, bad)
    assert not none.corrected.any()
    scores = metrics.validity_score(bad)
    for s in (0.3, 1.0):
        c = physics.correct(bad, strength=s)
        np.testing.assert_array_equal(c.corrected, metrics.validity_score(bad, scale=1 / s) > 0)
    assert physics.correct(bad, strength=0.3).corrected.sum() <= physics.correct(bad, strength=1.0).corrected.sum()
    assert (scores[:3] > 0).all() and (scores[3:] == 0).all()


def test_learning_control_does_not_track_worse_than_plain(clean):
    """The kept rollout is the closest non-falling one, valid rollouts first: more iterations never
    raise the ranking key (MPJPE + INVALID_PENALTY_M where a threshold is missed)."""
    q = data.corrupt(clean[:4], "joint_noise", seed=3)

    def key(c):
        return c.tracking_error + physics.INVALID_PENALTY_M * (metrics.validity_score(c.qpos) > 0)

    c0, c2 = physics.correct(q, iterations=0), physics.correct(q, iterations=2)
    k0, k2 = key(c0), key(c2)
    # (a clip that falls back to its input with one rollout may find a non-leaning one with more)
    both = ~c0.fallback & ~c2.fallback
    assert both.sum() >= 2 and not (c2.fallback & ~c0.fallback).any()
    assert (k2[both] <= k0[both] + 1e-12).all() and k2[both].mean() < k0[both].mean()


@pytest.mark.parametrize("bad, msg", [
    (np.zeros((2, 10, 27)), "nq = 28"),
    (np.zeros((10, 28)), "shape"),
    (np.zeros((0, 10, 28)), "at least one clip"),
    (np.zeros((2, 1, 28)), "T = 2"),
    (np.zeros((2, 10, 28), dtype=np.int32), "floating dtype"),
])
def test_bad_input_is_named_before_any_work(monkeypatch, bad, msg):
    def boom(*a, **k):
        raise AssertionError("work started before validation")

    monkeypatch.setattr(physics, "plan_controls", boom)
    with pytest.raises(SCSCInputError, match=msg):
        physics.correct(bad)
    with pytest.raises(SCSCInputError, match=msg):
        physics.correct(bad, backend="mjx")


def test_bad_values_and_options(monkeypatch, clean):
    monkeypatch.setattr(physics, "plan_controls", lambda *a, **k: (_ for _ in ()).throw(AssertionError("work")))
    q = clean[:1].copy()
    q[0, 5, 2] = np.nan
    with pytest.raises(SCSCInputError, match="NaN or infinite.*frame 5"):
        physics.correct(q)
    q[0, 5, 2] = -np.inf
    with pytest.raises(SCSCInputError, match="NaN or infinite"):
        physics.correct(q)
    with pytest.raises(SCSCInputError, match="strength"):
        physics.correct(clean[:1], strength=1.5)
    with pytest.raises(SCSCInputError, match="iterations"):
        physics.correct(clean[:1], iterations=-1)
    with pytest.raises(SCSCInputError, match="backend"):
        physics.correct(clean[:1], backend="cuda")
    with pytest.raises(SCSCInputError, match="fps"):
        physics.correct(clean[:1], fps=30)
    with pytest.raises(SCSCInputError, match="kind"):
        data.corrupt(clean[:1], "melt")


@pytest.mark.slow
def test_backends_agree():
    """MJX (float32, jit + vmap) vs MuJoCo C rollout (float64) on the same model and inputs, in the
    style of MJX's own tests against the C engine: a short horizon, valid and corrupted clips.
    Marked slow: compiling the MJX step with all contact pairs takes 30-70 s on 2 CPU cores."""
    ds = data.generate(9, seed=11, cache=False)
    q = np.concatenate([ds.qpos[:3, :8], data.corrupt(ds.qpos[3:6, :8], "joint_noise", 0),
                        data.corrupt(ds.qpos[6:9, :8], "foot_under_ground", 0)]).astype(np.float64)
    # the simulator itself (one tracking rollout): the corrector's choice among its learning-control
    # rollouts is a discrete argmin that can pick different rollouts for nearly equal errors
    a, ua = physics.simulate_tracking(q, backend="rollout")
    b, ub = physics.simulate_tracking(q, backend="mjx")
    assert not ua.any() and not ub.any()
    tol = physics.BACKEND_TOLERANCE
    assert np.abs(a[..., 7:] - b[..., 7:]).max() < tol["joint_rad"]
    assert np.linalg.norm(a[..., :3] - b[..., :3], axis=-1).max() < tol["root_m"]
    # and the corrector keeps valid clips bit-identical on both backends
    np.testing.assert_array_equal(physics.correct(q[:3], backend="mjx").qpos, q[:3])


def test_learning_control_reduces_joint_error_on_true_clips(clean):
    """Forced through the projection, true clips are followed much more closely after 3 updates."""
    q = clean[:4]
    j0 = physics.tracking_errors(physics.project(q, iterations=0).qpos, q)[1]
    j3 = physics.tracking_errors(physics.project(q, iterations=3).qpos, q)[1]
    assert j3.mean() < 0.8 * j0.mean(), (j0.mean(), j3.mean())


def test_lower_strength_tolerates_mild_violations(clean):
    """A clip missing a threshold by less than 1/s is left alone at strength s, corrected at strength 1."""
    q = clean[:1].copy()
    q[..., 2] -= physics.lowest_point(q) + 0.008     # 8 mm deep every frame: penetration 3 mm, 1.5x its threshold
    score1 = metrics.validity_score(q)
    assert score1[0] > 0 and metrics.validity_score(q, scale=1 / 0.3)[0] == 0
    assert physics.needs_correction(q, strength=1.0)[0] and not physics.needs_correction(q, strength=0.3)[0]


def test_a_fallen_input_whose_rollouts_all_fall_gets_the_plain_rollout(clean):
    """Stated rule: the input comes back (flagged) only when it did not fall itself; a clip lying on the
    floor (torso 90 degrees from upright) is replaced by rollout 0 (the planned set points)."""
    q = clean[:2].copy()
    q[..., 3:7] = [np.cos(np.pi / 4), np.sin(np.pi / 4), 0.0, 0.0]     # lying on its side
    q[..., 2] = 0.2
    assert physics.fallen(q).all()
    c = physics.correct(q)
    assert c.corrected.all() and not c.fallback.any()
    lying = physics.fallen(c.qpos) & (c.iteration == 0)
    assert lying.any()
    plain = physics.project(q[lying], iterations=0).plain     # rollout 0: the planned set points
    np.testing.assert_allclose(c.qpos[lying], plain, atol=1e-9)
    assert not np.allclose(c.qpos[lying], q[lying])
