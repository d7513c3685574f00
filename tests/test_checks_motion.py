"""The motion checks load, read the committed measured summary and return a valid status (fast)."""
import json
from pathlib import Path

from scsc_theory import checks as K
from scsc_theory.checks import motion as M


def test_motion_checks_registered_and_valid():
    ids = [c.id for c in M.CHECKS]
    assert len(ids) == len(set(ids))
    assert set(ids) <= {c.id for c in K.registered_checks()}
    assert (K.repo_root() / M.SUMMARY).exists(), "committed figures/motion_loop_summary.json missing"
    from scsc_theory.io import provenance_status

    raw = {"motion-collapse-uncorrected": lambda: M._collapse_from(K.repo_root() / M.SUMMARY),
           "motion-ideal-holds": lambda: M._holds_row_raw(K.repo_root() / M.SUMMARY, "ideal", "ideal", M.SUMMARY),
           "motion-selfcorrect-holds-strength0.5": lambda: M._holds_row_raw(K.repo_root() / M.STRENGTH, "selfcorrect@0.5",
                                                                            "selfcorrect@0.5", M.STRENGTH)}
    for c in M.CHECKS:
        r = c.run()
        assert not r.measured.startswith("error:"), r.measured
        if c.id in raw:
            text, verdict = raw[c.id]()
            assert verdict in ("PASS", "FAIL") and r.measured.startswith(text)
            path = M.STRENGTH if "strength0" in c.id else M.SUMMARY
            if not (K.repo_root() / path).exists():      # a run not made: the row says so and FAILs
                assert r.status == "FAIL" and "no results file" in r.measured
                continue
            stale, _ = provenance_status(json.loads((K.repo_root() / path).read_text()).get("provenance"))
            # STALE exactly when the file's recorded code differs from the current code, else the verdict
            assert r.status == ("STALE" if stale else verdict), (c.id, r.status, verdict, stale)
            if stale:
                assert f"(verdict as measured: {verdict})" in r.measured
    # the rows that read the committed summary report measured numbers, not a missing file
    for c in M.CHECKS:
        if c.id in ("motion-collapse-uncorrected", "motion-selfcorrect-holds", "motion-ideal-holds"):
            assert str(M.SUMMARY) in c.run().measured


def _entry(mean, half, n=3):
    return {"last_window_mean": mean, "ci95": [mean - half, mean + half], "n_seeds": n, "window": [41, 50]}


def test_compare_direction_and_resolution():
    assert M.compare(_entry(0.5, 0.05), _entry(1.0, 0.01), "accuracy")[0] == "worse"
    assert M.compare(_entry(1.0, 0.01), _entry(0.5, 0.05), "accuracy")[0] == "better"
    assert M.compare(_entry(10.0, 1.0), _entry(2.0, 1.0), "fid")[0] == "worse"
    assert M.compare(_entry(2.0, 30.0), _entry(3.0, 30.0), "fid")[0] == "tie"


def test_missing_file_cannot_pass(tmp_path: Path):
    assert M.collapse_from(tmp_path / "nope.json")[1] == "FAIL"
    assert M._holds_row(tmp_path / "nope.json", "selfcorrect@0.5", "selfcorrect@0.5", M.STRENGTH)[1] == "FAIL"


def _table(base_acc, sc_acc, arm_acc, half=0.01):
    t = {}
    for arm, acc in (("baseline", base_acc), ("selfconsume", sc_acc), ("ideal", arm_acc)):
        t[arm] = {"accuracy": _entry(acc, half), "fid": _entry(1.0 if arm != "selfconsume" else 1.0, 0.5)}
    return t


def test_verdicts_and_stale_marking_from_a_results_file(tmp_path: Path):
    """collapse / holds verdicts on synthetic results files with current, altered and missing provenance."""
    from scsc_theory.io import provenance

    def write(name, table, prov):
        doc = {"last10_generations_table": table, "settings": {}}
        if prov is not None:
            doc["provenance"] = prov
        f = tmp_path / name
        f.write_text(json.dumps(doc))
        return f

    now = provenance(["motion"])
    collapsed = write("a.json", _table(0.99, 0.5, 0.99), now)
    assert M.collapse_from(collapsed)[1] == "PASS"
    assert M._holds_row(collapsed, "ideal", "ideal", M.SUMMARY)[1] == "PASS"
    assert "source hash " + now["source_hash"] in M.collapse_from(collapsed)[0]
    same = write("b.json", _table(0.99, 0.99, 0.5), now)
    assert M.collapse_from(same)[1] == "FAIL"                       # no collapse without correction
    assert M._holds_row(same, "ideal", "ideal", M.SUMMARY)[1] == "FAIL"  # resolved worse than baseline
    old = write("c.json", _table(0.99, 0.5, 0.99), dict(now, source_hash="0" * 16))
    text, status = M.collapse_from(old)
    assert status == "STALE" and "verdict as measured: PASS" in text and "0" * 16 in text
    none = write("d.json", _table(0.99, 0.5, 0.99), None)
    assert M.collapse_from(none)[1] == "STALE"


def _operator_doc(**over):
    """A synthetic operator.json that meets every projection bound, with overrides."""
    ok = {"mpjpe_cm": 0.0, "joint_rms_rad": 0.0, "lag_frames": 0.0, "root_height_change_mm": 0.0,
          "torso_tilt_change_deg": 0.0, "falls": 0, "fid": 0.05}
    gen0 = dict(ok, fid=0.5, input_fid=0.6, max_abs_z=9.0, input_max_abs_z=10.0, simulated_fraction=0.9)
    rows = {"true x1": dict(ok), "true x3": dict(ok), "true x10": dict(ok), "gen0 x1": gen0}
    for key, (row, field, value) in over.items():
        rows[row] = dict(rows[row], **{field: value})
    rep = {"foot_under_ground": {"metric": "ground_penetration", "ratio": 0.1},
           "float_10cm": {"metric": "floating", "ratio": 0.1}}
    return {"rows": rows, "repair": rep, "fid_floor_true_vs_true": 0.05}


def test_projection_check_passes_only_when_every_bound_holds():
    assert M._projection_raw(_operator_doc())[1] == "PASS"
    for name, change in {"mpjpe": ("true x1", "mpjpe_cm", 1.5), "lag": ("true x1", "lag_frames", -0.2),
                         "root": ("true x1", "root_height_change_mm", -2.0), "falls": ("true x10", "falls", 1),
                         "fid3": ("true x3", "fid", 0.2), "gen0 fid": ("gen0 x1", "fid", 0.7),
                         "gen0 z": ("gen0 x1", "max_abs_z", 11.0)}.items():
        text, status = M._projection_raw(_operator_doc(x=change))
        assert status == "FAIL" and "unmet" in text, name
    doc = _operator_doc()
    doc["repair"]["float_10cm"]["ratio"] = 0.3          # above 0.2 for the float, though below 0.4
    assert M._projection_raw(doc)[1] == "FAIL"
