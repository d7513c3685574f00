"""The motion checks load, read the committed measured summary and return a valid status (fast)."""
from pathlib import Path

from scsc_theory import checks as K
from scsc_theory.checks import motion as M


def test_motion_checks_registered_and_valid():
    ids = [c.id for c in M.CHECKS]
    assert len(ids) == len(set(ids))
    assert set(ids) <= {c.id for c in K.registered_checks()}
    assert (K.repo_root() / M.SUMMARY).exists(), "committed figures/motion_loop_summary.json missing"
    for c in M.CHECKS:
        r = c.run()
        assert r.status in K.STATUSES, r
        assert not r.measured.startswith("error:"), r.measured
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
    assert M._holds_row(tmp_path / "nope.json", "selfcorrect@0", "selfcorrect@0", M.STRENGTH)[1] == "FAIL"
