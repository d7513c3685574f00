"""The checks registry, paper_checks.md and the `scsc checks` command."""
from pathlib import Path

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
