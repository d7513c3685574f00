"""The checks registry, paper_checks.md and the `scsc checks` command."""
import json
import re
from pathlib import Path

import numpy as np
import pytest

from scsc_theory import checks as K
from scsc_theory.checks import Check


def test_registry_ids_unique_and_theory_rows_present():
    ids = [c.id for c in K.registered_checks()]
    assert len(ids) == len(set(ids))
    for required in ("def-4.1-correction", "def-4.2-update", "thm-4.3-hypothesis", "thm-4.3-bound",
                     "jacobian-factor", "cor-4.5", "conj-4.7", "toy-trend"):
        assert required in ids


def test_paper_checks_md_is_up_to_date():
    """paper_checks.md (written only by `scsc checks`) must list exactly the registry's checks, none failing."""
    path = K.repo_root() / K.FILENAME
    assert path.exists(), "paper_checks.md missing: run `scsc checks`"
    text = path.read_text()
    assert K.parse_ids(text) == [c.id for c in K.registered_checks()], "paper_checks.md is out of date: run `scsc checks`"
    statuses = K.parse_statuses(text)
    from scsc_theory.checks import theory as theory_checks, toy as toy_checks

    mine = [c.id for c in theory_checks.CHECKS + toy_checks.CHECKS]
    assert all(statuses[i] in ("PASS", "EXPLORED") for i in mine), {i: statuses[i] for i in mine}


def test_render_parse_roundtrip_and_failures():
    def boom(quick):
        raise RuntimeError("exploded")

    cks = [Check("a-pass", "claim | with pipe", "ran", lambda q: ("1.0", "PASS")),
           Check("b-fail", "claim", "ran", lambda q: ("2.0", "FAIL")),
           Check("c-crash", "claim", "ran", boom),
           Check("d-bad", "claim", "ran", lambda q: ("x", "MAYBE"))]
    res = K.run_checks(cks)
    assert [r.status for r in res] == ["PASS", "FAIL", "FAIL", "FAIL"]
    assert "exploded" in res[2].measured
    md = K.render_markdown(res)
    assert K.parse_ids(md) == ["a-pass", "b-fail", "c-crash", "d-bad"]
    assert K.parse_statuses(md)["a-pass"] == "PASS"
    assert "claim \\| with pipe" in md


def test_cli_exits_nonzero_on_failure(tmp_path, monkeypatch):
    from scsc_theory.cli import main

    fake = [Check("ok", "c", "w", lambda q: ("m", "PASS")), Check("no", "c", "w", lambda q: ("m", "FAIL"))]
    monkeypatch.setattr(K, "registered_checks", lambda areas=K.AREAS: fake)
    out = tmp_path / "pc.md"
    assert main(["checks", "--out", str(out)]) == 1
    assert K.parse_ids(out.read_text()) == ["ok", "no"]
    fake.pop()
    assert main(["checks", "--out", str(out)]) == 0


@pytest.mark.slow
def test_all_checks_pass_quick(tmp_path):
    from scsc_theory.cli import main

    out = tmp_path / "paper_checks.md"
    assert main(["checks", "--quick", "--out", str(out)]) == 0
    assert K.parse_ids(out.read_text()) == [c.id for c in K.registered_checks()]


def test_check_precision_flag():
    import jax.numpy as jnp

    def dtype(quick):
        return str(jnp.zeros(()).dtype), "PASS"

    assert Check("p64", "c", "w", dtype, x64=True).run().measured == "float64"
    assert Check("p32", "c", "w", dtype, x64=False).run().measured == "float32"


# ---------------------------------------------------------------------------------------------
# the cheap theory/toy checks run in the default suite; their figures must match the committed rows
# ---------------------------------------------------------------------------------------------

_NUM = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"


def _after(label: str, text: str) -> float:
    m = re.search(re.escape(label) + r"\s*(" + _NUM + ")", text)
    assert m, (label, text)
    return float(m.group(1))


def _compare_def41(old: str, new: str):
    for text in (old, new):  # stated tolerance: |z| < 5 for the moments and for pi_gamma p* = p*
        assert _after("draws):", text) < 5 and _after("p*: |z| =", text) < 5, text


def _compare_jacobian(old: str, new: str):
    for text in (old, new):  # stated tolerance: every error < 1e-8
        for label in ("max |J_gamma - J_0/(1+gamma)| =", "(A+lambda B)^-1 B| =", "implicit vs autodiff:"):
            assert _after(label, text) < 1e-8, (label, text)


def _compare_toy(old: str, new: str):
    """The means over seeds agree within 4 combined standard errors (quick and full runs share seeds 0..15)."""
    pairs = lambda t: [(float(a), float(b)) for a, b in re.findall(r"(" + _NUM + r")\+-(" + _NUM + ")", t)]  # noqa: E731
    po, pn = pairs(old), pairs(new)
    assert len(po) == len(pn) == 4, (old, new)
    for (mo, so), (mn, sn) in zip(po, pn):
        assert abs(mo - mn) <= 4 * (so ** 2 + sn ** 2) ** 0.5, (po, pn)


COMPARE = {"def-4.1-correction": _compare_def41, "jacobian-factor": _compare_jacobian, "toy-trend": _compare_toy}
CHEAP = [c for c in K.registered_checks() if c.cheap]


def test_cheap_checks_have_comparators():
    assert {c.id for c in CHEAP} == set(COMPARE)


@pytest.mark.parametrize("check", CHEAP, ids=[c.id for c in CHEAP])
def test_cheap_check_passes_and_matches_committed_row(check):
    """Re-run the check (quick sizes): it must PASS, and its measured figure must agree with the row of
    the committed paper_checks.md within the check's stated tolerance (the file is not just parsed)."""
    rows = K.parse_rows((K.repo_root() / K.FILENAME).read_text())
    assert check.id in rows, "paper_checks.md is out of date: run `scsc checks`"
    assert rows[check.id]["status"] == "PASS"
    r = check.run(quick=True)
    assert r.status == "PASS", r.measured
    COMPARE[check.id](rows[check.id]["measured"], r.measured)


def test_jacobian_factor_check_fails_on_a_wrong_population_map(monkeypatch):
    """Negative control: a population map that applies only half the correction must make the check FAIL."""
    from scsc_theory.checks import theory as TC
    from scsc_theory.families.gaussian import Gaussian

    orig = Gaussian.population_update

    def half_corrected(self, data_law, theta_star, thetas, weights, gamma):
        return orig(self, data_law, theta_star, thetas, weights, gamma / 2)

    monkeypatch.setattr(Gaussian, "population_update", half_corrected)
    check = next(c for c in TC.CHECKS if c.id == "jacobian-factor")
    r = check.run(quick=True)
    assert r.status == "FAIL", r.measured
    assert _after("max |J_gamma - J_0/(1+gamma)| =", r.measured) > 1e-3


def test_stale_status_roundtrip_and_digits_row(tmp_path):
    """STALE rows render and parse; the digits row is STALE for a file without (or with old) provenance."""
    from scsc_theory.checks import digits as D
    from scsc_theory.io import provenance

    res = K.run_checks([Check("s", "c", "w", lambda q: K.with_provenance("m", "PASS", [("f.json", {})]))])
    assert res[0].status == "STALE" and "verdict as measured: PASS" in res[0].measured
    md = K.render_markdown(res)
    assert K.parse_statuses(md) == {"s": "STALE"} and "1 STALE" in md
    committed = json.loads((K.repo_root() / D.SUMMARY).read_text())
    f = tmp_path / "d.json"
    for prov, want in ((provenance(["digits"]), None), (dict(provenance(["digits"]), source_hash="f" * 16), "STALE"),
                       (None, "STALE")):
        doc = dict(committed)
        doc.pop("provenance", None)
        if prov is not None:
            doc["provenance"] = prov
        f.write_text(json.dumps(doc))
        text, status = D.digits_claim_from(f)
        raw_text, raw_status = D._digits_claim_raw(f)
        assert status == (want or raw_status) and text.startswith(raw_text)


def _fake_sweep(per_seed):
    from scsc_theory.sweep import SweepResult

    per_seed = np.asarray(per_seed, np.float64)
    L, G, S = per_seed.shape
    data = {"contraction": per_seed, "contraction_median": np.median(per_seed, axis=2),
            "final_dist": np.full((L, G), 0.1), "finite": np.ones((L, G, S, 2), bool)}
    return SweepResult(data=data, dims={}, coords={"lam": np.linspace(0.1, 0.4, L), "gamma": np.linspace(0, 1, G),
                                                   "seed": np.arange(S)}, attrs={})


@pytest.mark.parametrize("kind, want", [("below", "PASS"), ("resolved-above", "FAIL"), ("diverged", "FAIL")])
def test_sweep_sufficiency_verdict_follows_the_violations(kind, want, monkeypatch):
    """The check's verdict from its sweep's numbers (the sweep itself is replaced by fixed per-seed factors)."""
    import scsc_theory.sweep as SW
    from scsc_theory import theory
    from scsc_theory.checks import sweep as SC

    LL, GG = np.meshgrid(np.linspace(0.1, 0.4, 3), np.linspace(0, 1, 2), indexing="ij")
    bound = theory.q(LL, GG, 1.0)[..., None]
    per_seed = bound * 0.5 + 1e-3 * np.linspace(-1, 1, 8)
    if kind == "resolved-above":
        per_seed[0, 0] = bound[0, 0] * 1.5 + 1e-4 * np.linspace(-1, 1, 8)
    if kind == "diverged":
        per_seed[1, 1] = np.inf
    monkeypatch.setattr(SW, "run_sweep", lambda *a, **k: _fake_sweep(per_seed))
    measured, status = SC.gaussian_sufficiency(True)
    assert status == want, measured
    if kind == "diverged":
        assert "counted as violations): 1" in measured


@pytest.mark.parametrize("means, want", [([0.3, 0.2, 0.05, 0.03], "PASS"), ([0.3, 0.2, 0.05, 0.06], "FAIL"),
                                         ([0.3, 0.3, 0.3, 0.3], "FAIL"), ([0.3, None, 0.05, 0.03], "FAIL")])
def test_toy_trend_verdict_follows_the_means(means, want, monkeypatch):
    """toy-trend PASSes only for a strictly falling, finite curve (the toy run is replaced by fixed means)."""
    import types

    import scsc_theory.toy as T
    from scsc_theory.checks import toy as TC

    summ = {"final_w2_mean": means, "final_w2_sem": [0.01] * 4}
    monkeypatch.setattr(T, "run_toy", lambda **k: types.SimpleNamespace(summary=summ))
    assert TC.toy_trend(True)[1] == want


def test_def41_check_fails_when_the_corrector_ignores_gamma(monkeypatch):
    """Negative control: an 'ideal' corrector that returns the model's samples unchanged must FAIL def-4.1."""
    import scsc_theory.correction as C
    from scsc_theory.checks import theory as TC

    monkeypatch.setattr(C, "correct", lambda name, key, x, m, gamma, family, ts: x)
    measured, status = TC.def_correction(True)
    assert status == "FAIL", measured
