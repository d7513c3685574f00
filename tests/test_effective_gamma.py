"""gamma_eff estimator (scsc_theory.effective_gamma): unbiased energy distance against its closed form,
recovery of a known gamma from the ideal corrector with bootstrap intervals covering the truth at
their stated rate, a large residual for a corrector that is not of pi_gamma form, exact zero for
the identity corrector, input validation."""
import json
import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from scsc_theory import SCSCInputError
from scsc_theory.correction import correct_ideal
from scsc_theory.effective_gamma import (effective_gamma, effective_gamma_jnp, energy_distance, gamma_of_w,
                                         summary, w_of_gamma)
from scsc_theory.families.gaussian import Gaussian, GaussianParams

FAM = Gaussian(2)
LEVEL = 0.9


def _params(mean, var):
    return GaussianParams(jnp.asarray(mean, jnp.float64), jnp.diag(jnp.asarray(var, jnp.float64)))


RAW_MEAN, RAW_VAR = (1.0, 0.0), (1.5, 0.7)


def _normal_energy(delta, sd):
    """Closed form E(N(0, sd^2), N(delta, sd^2)) in 1-D: 2 E|Z| (Z ~ N(delta, 2 sd^2)) - 2 * 2 sd / sqrt(pi)."""
    s = math.sqrt(2.0) * sd
    e_abs = s * math.sqrt(2 / math.pi) * math.exp(-delta ** 2 / (2 * s * s)) + delta * (1 - 2 * stats.norm.cdf(-delta / s))
    return 2 * e_abs - 2 * (2 * sd / math.sqrt(math.pi))


def test_energy_distance_unbiased_closed_form(x64):
    """Mean over 2000 pairs of samples of size 8 matches the closed form within 4 SE (a V-statistic,
    diagonal pairs kept, is biased by (D_XX + D_YY)/n ~ 0.28 here, > 20 SE)."""
    reps, n = 2000, 8

    def one(key, delta):
        kx, ky = jax.random.split(key)
        return energy_distance(jax.random.normal(kx, (n, 1)), delta + jax.random.normal(ky, (n, 1)))

    keys = jax.random.split(jax.random.PRNGKey(3), reps)
    for delta in (0.0, 1.0):
        vals = np.asarray(jax.vmap(lambda k: one(k, delta))(keys))
        se = vals.std(ddof=1) / math.sqrt(reps)
        assert abs(vals.mean() - _normal_energy(delta, 1.0)) < 4 * se, (delta, vals.mean(), se)


def test_identity_corrector_exact_zero(x64):
    """corrected = raw (paired): w = 0 and residual = 0 exactly (diagonal pairs left out of D_CR)."""
    k1, k2, k3 = jax.random.split(jax.random.PRNGKey(0), 3)
    raw = FAM.sample(k1, _params(RAW_MEAN, RAW_VAR), 60)
    tgt = FAM.sample(k2, _params((0, 0), (1, 1)), 60)
    r = effective_gamma(raw, raw, tgt, key=k3, n_boot=50)
    assert abs(float(r.w)) < 1e-12 and abs(float(r.residual)) < 1e-12
    assert float(r.gamma_eff) == pytest.approx(0.0, abs=1e-12)


@functools.partial(jax.jit, static_argnames=("n", "reps", "n_boot"))
def _ideal_replicates(gamma, key, *, n, reps, n_boot=100):
    """(w, w_lo, w_hi, residual, top-direction w) of ``reps`` independent ideal-corrector experiments."""
    ts = _params((0, 0), (1, 1))
    raw_p = _params(RAW_MEAN, RAW_VAR)

    def one(key):
        k1, k2, k3, k4 = jax.random.split(key, 4)
        raw = FAM.sample(k1, raw_p, n)
        c = correct_ideal(k3, raw, n, gamma, FAM, ts)
        r = effective_gamma_jnp(raw, c, FAM.sample(k2, ts, n), key=k4, n_boot=n_boot, level=LEVEL, n_directions=1)
        return r.w, r.w_lo, r.w_hi, r.residual, r.dir_w[0]

    return jax.lax.map(one, jax.random.split(key, reps), batch_size=min(reps, 16))  # bounded memory at large n


def _check_recovery(gammas, sizes, reps, seed):
    cover, total = 0, 0
    for i, g in enumerate(gammas):
        for j, n in enumerate(sizes):
            w, lo, hi, res, dw = [np.asarray(a) for a in _ideal_replicates(
                jnp.float64(g), jax.random.PRNGKey(seed + 10 * i + j), n=n, reps=reps)]
            truth = w_of_gamma(g)
            se = w.std(ddof=1) / math.sqrt(reps)
            # the ratio estimator's bias is O(1/n), far inside 4 SE of the mean at these sizes
            assert abs(w.mean() - truth) < 4 * se + 1e-3, (g, n, w.mean(), truth, se)
            assert abs(dw.mean() - truth) < 4 * dw.std(ddof=1) / math.sqrt(reps) + 1e-3, (g, n, dw.mean())
            assert abs(np.median(res)) < 4.0 / n, (g, n, np.median(res))  # O(1/n) noise bias of <a,b>^2/|b|^2
            cover += int(np.sum((lo <= truth) & (truth <= hi)))
            total += reps
    print(f"coverage {cover}/{total}")
    return cover / total, total


def test_ideal_corrector_recovered_with_coverage(x64):
    """Ideal corrector at gamma in {0.25, 1, 4}, n in {100, 200}, 32 replicates each: mean w within
    4 SE of gamma/(1+gamma), median residual ~ 0, and the 90% intervals cover the truth in 192 trials
    at a rate within 3.4 binomial sd of 0.9 ([0.83, 0.97]). Swapping w and 1 - w fails at gamma != 1."""
    rate, total = _check_recovery((0.25, 1.0, 4.0), (100, 200), 32, seed=11)
    sd = math.sqrt(LEVEL * (1 - LEVEL) / total)
    assert abs(rate - LEVEL) < 3.4 * sd, rate


@pytest.mark.slow
def test_ideal_coverage_sweep(x64):
    """Slow sweep: gamma in {0, 0.1, 0.5, 1, 2, 5}, n in {100, 400, 800}, 60 replicates each (1080 intervals)."""
    rate, total = _check_recovery((0.0, 0.1, 0.5, 1.0, 2.0, 5.0), (100, 400, 800), 60, seed=101)
    sd = math.sqrt(LEVEL * (1 - LEVEL) / total)
    assert abs(rate - LEVEL) < 3.5 * sd, rate


def test_orthogonal_move_large_residual(x64):
    """A corrector that shifts every point by (0, 1.5), orthogonal to the raw -> target mean shift
    (-1.5, 0), is no mixture of raw and target: relative residual > 0.5, interval above 0.3; the ideal
    corrector on the same samples has residual < 0.05."""
    ts, raw_p = _params((0, 0), (1, 1)), _params((1.5, 0.0), (1, 1))
    k1, k2, k3, k4 = jax.random.split(jax.random.PRNGKey(5), 4)
    raw, tgt = FAM.sample(k1, raw_p, 400), FAM.sample(k2, ts, 400)
    moved = effective_gamma(raw, raw + jnp.array([0.0, 1.5]), tgt, key=k3)
    ideal = effective_gamma(raw, correct_ideal(k4, raw, 400, 1.0, FAM, ts), tgt, key=k3)
    assert float(moved.residual) > 0.5 and float(moved.residual_lo) > 0.3, moved.residual
    assert abs(float(ideal.residual)) < 0.05, ideal.residual
    assert abs(float(moved.w)) < 0.15  # no component along raw -> target


def test_per_direction_split():
    """Ideal correction only along axis 0 (coordinate 0 replaced by a target draw w.p. 1/2, coordinate 1
    kept), raw differing from target in both coordinates' variance: gamma_eff ~ 1 along the axis-0
    direction, ~ 0 along axis 1."""
    with jax.enable_x64(True):
        k1, k2, k3, k4 = jax.random.split(jax.random.PRNGKey(8), 4)
        n = 600
        raw = jax.random.normal(k1, (n, 2)) * jnp.array([2.5, 0.4])
        tgt = jax.random.normal(k2, (n, 2))
        flip = jax.random.uniform(k3, (n,)) < 0.5
        fresh = jax.random.normal(k4, (n,))
        corr = raw.at[:, 0].set(jnp.where(flip, fresh, raw[:, 0]))
        r = effective_gamma(raw, corr, tgt, key=k1, n_directions=2)
        axis = np.argmax(np.abs(np.asarray(r.directions)), axis=1)
        g = dict(zip(axis.tolist(), np.asarray(r.dir_gamma).tolist()))
        assert set(g) == {0, 1}
        assert 0.6 < g[0] < 1.6 and abs(g[1]) < 0.15, g


def test_gamma_map_and_summary():
    w = jnp.array([-0.5, 0.0, 0.5, 0.8, 1.0, 1.3])
    np.testing.assert_allclose(np.asarray(gamma_of_w(w))[:4], [-1 / 3, 0.0, 1.0, 4.0], rtol=1e-6)
    assert np.all(np.isinf(np.asarray(gamma_of_w(w))[4:]))
    np.testing.assert_allclose(float(w_of_gamma(3.0)), 0.75)
    r = effective_gamma(np.random.default_rng(0).normal(size=(30, 2)), np.random.default_rng(1).normal(size=(30, 2)),
                        np.random.default_rng(2).normal(size=(30, 2)), key=jax.random.PRNGKey(0), n_boot=30)
    s = summary(r)
    assert isinstance(s["w"], float) and len(s["dir_w"]) == 2


@pytest.mark.parametrize("kwargs,match", [
    (dict(raw=np.zeros((5, 2)), corrected=np.zeros((4, 2)), target=np.zeros((5, 2))), "paired=True"),
    (dict(raw=np.zeros((5, 2)), corrected=np.zeros((5, 3)), target=np.zeros((5, 2))), "dimension"),
    (dict(raw=np.zeros((1, 2)), corrected=np.zeros((1, 2)), target=np.zeros((5, 2))), "raw must"),
    (dict(raw=np.zeros((5, 2)), corrected=np.full((5, 2), np.nan), target=np.zeros((5, 2))), "corrected must be finite"),
    (dict(raw=np.zeros((5, 2)), corrected=np.zeros((5, 2)), target=np.zeros((5, 2)), level=1.0), "level"),
    (dict(raw=np.zeros((5, 2)), corrected=np.zeros((5, 2)), target=np.zeros((5, 2)), n_directions=3), "n_directions"),
])
def test_bad_input(kwargs, match):
    with pytest.raises(SCSCInputError, match=match):
        effective_gamma(key=jax.random.PRNGKey(0), **kwargs)


def _pred_row(**kw):
    row = {"corrector": "ot", "mode": "fixed", "lam": 0.5, "gamma_nominal": 1.0, "gamma_eff": 1.2, "n": 50,
           "generations": 200, "seeds": 48, "practical_w2": 0.20, "ideal_at_gamma_eff_w2": 0.20,
           "ideal_band_w2": [0.19, 0.21], "diff_vs_gamma_eff": 0.0, "diff_vs_gamma_eff_se": 0.001,
           "diff_vs_nominal": 0.0, "diff_vs_nominal_se": 0.001}
    row.update(kw)
    return row


def test_prediction_check_verdict():
    """The check row: PASS when every row holds; FAIL on a row off by > 3 SE outside the interval band
    (and it names that row); a row inside the band holds even when > 3 SE off."""
    from scsc_theory.checks.effective_gamma import row_holds, verdict

    good = _pred_row()
    off = _pred_row(corrector="histogram", practical_w2=0.25, diff_vs_gamma_eff=0.05)
    in_band = _pred_row(practical_w2=0.205, diff_vs_gamma_eff=0.005, diff_vs_nominal=0.005)
    assert row_holds(good) and not row_holds(off) and row_holds(in_band)
    assert not row_holds(in_band, "nominal")
    assert verdict({"toy": {"predictions": [good, in_band]}})[1] == "PASS"
    text, status = verdict({"toy": {"predictions": [good, off]}})
    assert status == "FAIL" and "histogram fixed gamma=1" in text
    assert verdict({})[1] == "FAIL"


def _window(mean, half, n=3):
    return {"last_window_mean": mean, "ci95": [mean - half, mean + half], "n_seeds": n, "window": [41, 50]}


def _motion_docs(ge=0.6, lo=0.2, hi=1.5, gamma_run=None, correct=(3.0, 0.9), ideal=(3.1, 0.91), consume=(8.0, 0.5)):
    geff = {"rows": {"corrector + loop guard": {"gamma_eff": ge, "gamma_lo": lo, "gamma_hi": hi, "residual": 0.05}}}
    table = lambda fid, acc: {"fid": _window(fid, 0.5), "accuracy": _window(acc, 0.03)}  # noqa: E731
    loop = {"last10_generations_table": {"selfcorrect": table(*correct), "selfconsume": table(*consume)}}
    ideal_doc = {"settings": {"gamma": ge if gamma_run is None else gamma_run},
                 "last10_generations_table": {"ideal": table(*ideal)}}
    return geff, loop, ideal_doc


def _verdict_args(**kw):
    geff, loop, ideal = _motion_docs(**kw)
    return geff["rows"]["corrector + loop guard"], loop, ideal


def test_motion_prediction_check_verdict():
    """PASS only with a bounded gamma_eff and an ideal(gamma_eff) arm that differs from selfconsume;
    a resolved selfcorrect - ideal(gamma_eff) difference FAILs; an ideal run at another gamma FAILs."""
    from scsc_theory.checks.effective_gamma import loop_prediction_verdict

    assert loop_prediction_verdict(*_verdict_args())[1] == "PASS"
    text, status = loop_prediction_verdict(*_verdict_args(correct=(8.0, 0.5)))
    assert status == "FAIL" and "fails on fid, accuracy" in text
    assert loop_prediction_verdict(*_verdict_args(hi=float("inf")))[1] == "EXPLORED"
    assert loop_prediction_verdict(*_verdict_args(lo=-0.5))[1] == "EXPLORED"
    # ideal(gamma_eff) no better than selfconsume: the prediction has no content
    assert loop_prediction_verdict(*_verdict_args(correct=(8.1, 0.51), ideal=(8.0, 0.5)))[1] == "EXPLORED"
    text, status = loop_prediction_verdict(*_verdict_args(gamma_run=1.0))
    assert status == "FAIL" and "re-run" in text
    # a corrector far from pi_gamma form predicts nothing, even where the arms differ
    row, loop, ideal = _verdict_args(correct=(8.0, 0.5))
    text, status = loop_prediction_verdict(dict(row, residual=2.9), loop, ideal)
    assert status == "EXPLORED" and "not of pi_gamma form" in text
    assert loop_prediction_verdict(dict(row, residual=-9.5), loop, ideal)[1] == "EXPLORED"  # E(raw, target) at noise level


def test_motion_prediction_check_reads_its_files(tmp_path):
    from scsc_theory.checks.effective_gamma import gamma_eff_prediction_motion_from

    text, status = gamma_eff_prediction_motion_from(tmp_path / "a.json", tmp_path / "b.json", tmp_path / "c.json")
    assert status == "FAIL" and "no results file" in text
    paths = [tmp_path / f"{k}.json" for k in "abc"]
    for p, d in zip(paths, _motion_docs()):
        p.write_text(json.dumps(d))
    text, status = gamma_eff_prediction_motion_from(*paths)
    # no provenance records in these files: the verdict is kept but marked STALE
    assert status == "STALE" and "(verdict as measured: PASS)" in text


def test_motion_loop_prediction_reads_the_pooled_row(tmp_path):
    """The along-the-loop row judges the *pooled* gamma_eff of gamma_eff_loop.json (not a per-generation
    one), says where it was measured, and FAILs an ideal arm run at another gamma."""
    from scsc_theory.checks.effective_gamma import gamma_eff_prediction_motion_loop_from, loop_prediction_verdict

    geff, loop, ideal = _motion_docs()
    row = geff["rows"]["corrector + loop guard"]
    doc = {"pooled": dict(row, generations=[10, 20, 30], clips=576),
           "per_generation": [{"gamma_eff": 5.0, "gamma_lo": 4.0, "gamma_hi": 6.0, "generation": 10}]}
    paths = [tmp_path / f"{k}.json" for k in "abc"]
    for p, d in zip(paths, (doc, loop, ideal)):
        p.write_text(json.dumps(d))
    text, status = gamma_eff_prediction_motion_loop_from(*paths)
    assert "generations 10-30 pooled, 576 clips" in text and "(verdict as measured: PASS)" in text
    assert loop_prediction_verdict(row, loop, ideal, "x")[1] == "PASS"
    doc["pooled"]["gamma_eff"] = 5.0  # the ideal arm (run at 0.6) no longer matches the recorded gamma_eff
    paths[0].write_text(json.dumps(doc))
    text, status = gamma_eff_prediction_motion_loop_from(*paths)
    assert "re-run" in text and "(verdict as measured: FAIL)" in text


def test_digits_loop_prediction_row(tmp_path):
    """One results file: EXPLORED (with the reason) when no ideal arm was run; otherwise the shared
    verdict on the file's own arm table, FAIL on a resolved selfcorrect - ideal difference."""
    from scsc_theory.checks.effective_gamma import gamma_eff_prediction_digits_loop_from

    geff, loop, ideal = _motion_docs()
    row = geff["rows"]["corrector + loop guard"]
    table = dict(loop["last10_generations_table"], **ideal["last10_generations_table"])
    doc = {"pooled": dict(row, generations=[10, 50], clips=900), "last10_generations_table": table,
           "settings": {"lam": 1.5, "seeds": [0, 1, 2], "generations": 50, "ideal_gamma": row["gamma_eff"]}}
    p = tmp_path / "g.json"
    p.write_text(json.dumps(doc))
    text, _ = gamma_eff_prediction_digits_loop_from([p])
    assert "lambda = 1.5" in text and "(verdict as measured: PASS)" in text
    doc["last10_generations_table"]["selfcorrect"] = _motion_docs(correct=(8.0, 0.5))[1]["last10_generations_table"]["selfcorrect"]
    p.write_text(json.dumps(doc))
    assert "(verdict as measured: FAIL)" in gamma_eff_prediction_digits_loop_from([p])[0]
    del doc["last10_generations_table"]["ideal"]
    doc["ideal_note"] = "pooled gamma_eff inf is not a finite positive gamma"
    p.write_text(json.dumps(doc))
    text, _ = gamma_eff_prediction_digits_loop_from([p])
    assert "not a finite positive gamma" in text and "(verdict as measured: EXPLORED)" in text
    assert gamma_eff_prediction_digits_loop_from([tmp_path / "none.json"])[1] == "FAIL"
    assert gamma_eff_prediction_digits_loop_from([])[1] == "FAIL"
    # two lambdas: one FAIL makes the row FAIL, whatever the other says
    doc["last10_generations_table"]["ideal"] = doc["last10_generations_table"]["selfcorrect"]
    doc["settings"]["lam"] = 1.0
    q = tmp_path / "h.json"
    q.write_text(json.dumps(doc))
    good = _motion_docs()[2]["last10_generations_table"]["ideal"]  # ideal (3.1, 0.91) vs selfcorrect (8.0, 0.5)
    p.write_text(json.dumps(dict(doc, settings=dict(doc["settings"], lam=1.5),
                                 last10_generations_table=dict(doc["last10_generations_table"], ideal=good))))
    text, _ = gamma_eff_prediction_digits_loop_from([q, p])
    assert text.index("lambda = 1.5") < text.index("lambda = 1:") and "(verdict as measured: FAIL)" in text


def test_negative_gamma_eff_predicts_the_selfconsume_loop(tmp_path):
    """A pooled gamma_eff <= 0 is compared with the gamma = 0 loop, the selfconsume arm (no ideal-run file
    needed); a selfcorrect arm resolved better than selfconsume then FAILs the prediction."""
    from scsc_theory.checks.effective_gamma import gamma_eff_prediction_motion_loop_from

    geff, loop, _ = _motion_docs(correct=(8.0, 0.5))
    doc = {"pooled": {"gamma_eff": -0.04, "gamma_lo": -0.07, "gamma_hi": -0.01, "residual": 0.03, "generations": [10, 50],
                      "clips": 9}}
    paths = [tmp_path / f"{k}.json" for k in "ab"]
    for p, d in zip(paths, (doc, loop)):
        p.write_text(json.dumps(d))
    text, _ = gamma_eff_prediction_motion_loop_from(*paths, tmp_path / "absent.json")
    assert "predicted loop gamma = 0" in text and "(verdict as measured: EXPLORED)" in text
    loop["last10_generations_table"]["selfcorrect"] = _motion_docs(correct=(3.0, 0.9))[1]["last10_generations_table"]["selfcorrect"]
    paths[1].write_text(json.dumps(loop))
    text, _ = gamma_eff_prediction_motion_loop_from(*paths, tmp_path / "absent.json")
    assert "(verdict as measured: FAIL)" in text and "fails on fid, accuracy" in text
