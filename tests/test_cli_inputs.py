"""Bad input on the command line: a one-line message naming the parameter, a non-zero exit, before any
work; output paths checked first; results files readable and stamped with the code's provenance."""
import json
import os

import numpy as np
import pytest

from scsc_theory.cli import main


@pytest.fixture
def no_compile(monkeypatch):
    """Fail loudly if anything reaches the loop compiler (validation must come first)."""
    import scsc_theory.loop as loop

    def boom(*a, **k):
        raise AssertionError("compiled before validating")

    monkeypatch.setattr(loop, "compiled_runner", boom)


def _one_line_error(capsys, *words):
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    for w in words:
        assert w in err, (w, err)
    return err


@pytest.mark.parametrize("argv, words", [
    (["toy", "--lam", "1e9"], ["lam * n", "2147483647"]),
    (["toy", "--n", "2000000000"], ["too large", "GiB"]),
    (["toy", "--n", "2000000000", "--mode", "fixed"], ["too large", "the limit is 6 GiB"]),
    (["toy", "--gamma", "-1,1"], ["gamma[0]", ">= 0"]),
    (["sweep", "--family", "gaussian", "--lam", "0.1:1:2", "--gamma", "-1:1:3", "--out", "{tmp}/s"], ["gamma[0]", ">= 0"]),
    (["sweep", "--family", "gaussian", "--lam", "-0.5,1", "--gamma", "0", "--out", "{tmp}/s"], ["lam[0]", ">= 0"]),
    (["sweep", "--family", "gaussian", "--lam", "0.1:1:2", "--gamma", "0", "--C", "-1", "--out", "{tmp}/s"], ["--C", ">= 1"]),
    (["sweep", "--family", "gaussian", "--lam", "0.1:1:2", "--gamma", "0", "--C", "nan", "--out", "{tmp}/s"], ["--C", "finite"]),
    (["sweep", "--family", "gaussian", "--lam", "1e9", "--gamma", "0", "--C", "1", "--out", "{tmp}/s"], ["2147483647"]),
    (["sweep", "--family", "gaussian", "--lam", "1", "--gamma", "0", "--mode", "collapse", "--out", "{tmp}/s"], ["mode must be one of"]),
    (["sweep", "--family", "gaussian", "--lam", "1", "--gamma", "0", "--subsample", "5", "--out", "{tmp}/s"],
     ["subsample", "accumulate-subsample"]),
    (["sweep", "--family", "gaussian", "--lam", "1", "--gamma", "0", "--mode", "accumulate-subsample", "--subsample", "0",
      "--out", "{tmp}/s"], ["subsample", ">= 1"]),
    (["conjecture", "--family", "gaussian", "--C", "0.5", "--out", "{tmp}/c"], ["--C", ">= 1"]),
    (["constants", "--seed", "-1"], ["seed"]),
])
def test_bad_values_are_named_before_compiling(argv, words, tmp_path, capsys, no_compile):
    rc = main([a.format(tmp=tmp_path) for a in argv])
    assert rc == 2
    _one_line_error(capsys, *words)


@pytest.mark.parametrize("argv, name", [
    (["toy", "--out", "{file}"], "--out"),
    (["toy", "--out", "{file}/sub"], "--out"),
    (["toy", "--figures", "{file}"], "--figures"),
    (["sweep", "--family", "gaussian", "--lam", "0.5", "--gamma", "0", "--C", "1", "--out", "{file}"], "--out"),
    (["sweep", "--family", "gaussian", "--lam", "0.5", "--gamma", "0", "--C", "1", "--out", "{tmp}/o", "--figure", "{tmp}"], "--figure"),
    (["conjecture", "--family", "gaussian", "--C", "1", "--out", "{file}"], "--out"),
    (["checks", "--out", "{tmp}"], "--out"),
    (["checks", "--out", "{file}/x.md"], "--out"),
    (["motion", "loop", "--out", "{file}"], "--out"),
    (["motion", "data", "--out", "{file}"], "--out"),
    (["digits", "loop", "--out", "{file}"], "--out"),
    (["reproduce", "--quick", "--out", "{file}"], "--out"),
    (["toy", "--out", "/proc/scsc-not-writable"], "--out"),
])
def test_output_paths_are_checked_before_any_work(argv, name, tmp_path, capsys, no_compile, monkeypatch):
    f = tmp_path / "a_file"
    f.write_text("x")
    import scsc_theory.checks as K

    monkeypatch.setattr(K, "run_checks", lambda *a, **k: pytest.fail("checks ran before --out was validated"))
    rc = main([a.format(tmp=tmp_path, file=f) for a in argv])
    assert rc == 2
    _one_line_error(capsys, name)


def test_write_errors_are_one_line_not_a_traceback(tmp_path, capsys, monkeypatch):
    import errno

    import scsc_theory.io as io_mod

    def full(path, data):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(io_mod, "_atomic_write_bytes", full)
    rc = main(["toy", "--seeds", "1", "--generations", "2", "--gamma", "0", "--out", str(tmp_path / "o")])
    assert rc == 1
    _one_line_error(capsys, "No space left on device", "summary.json")


def test_sweep_refuses_to_overwrite_a_different_grid(tmp_path, capsys, monkeypatch):
    out = tmp_path / "s"
    base = ["sweep", "--family", "gaussian", "--lam", "0.5", "--gamma", "0", "--seeds", "1", "--generations", "2",
            "--C", "1", "--out", str(out)]
    assert main(base) == 0
    first = (out / "results.npz").read_bytes()
    capsys.readouterr()
    import scsc_theory.loop as loop

    real = loop.compiled_runner
    monkeypatch.setattr(loop, "compiled_runner", lambda *a, **k: pytest.fail("compiled before refusing"))
    other = [a if a != "0.5" else "0.25" for a in base]
    assert main(other) == 2
    _one_line_error(capsys, "different sweep", "--overwrite")
    assert (out / "results.npz").read_bytes() == first  # untouched
    monkeypatch.setattr(loop, "compiled_runner", real)
    assert main(other + ["--overwrite"]) == 0
    assert json.loads((out / "index.json").read_text())["coords"]["lam"] == [0.25]
    assert json.loads((out / "summary.json").read_text())["provenance"]["version"]


def test_toy_writes_its_figure_into_out_not_the_working_directory(tmp_path, monkeypatch):
    from scsc_theory.io import provenance, source_hash

    monkeypatch.chdir(tmp_path)
    out = tmp_path / "o"
    assert main(["toy", "--seeds", "2", "--generations", "3", "--gamma", "0,1", "--out", str(out)]) == 0
    assert (out / "toy_w2_accumulate.png").exists()
    assert not (tmp_path / "figures").exists()
    summ = json.loads((out / "summary.json").read_text())
    prov = summ["provenance"]
    assert prov == provenance(["toy"]) and prov["source_hash"] == source_hash(["core", "toy"])
    # asked for explicitly, the figure goes where it is asked
    assert main(["toy", "--seeds", "2", "--generations", "3", "--gamma", "0,1", "--out", str(out),
                 "--figures", str(tmp_path / "figs")]) == 0
    assert (tmp_path / "figs" / "toy_w2_accumulate.png").exists()


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_results_files_follow_the_umask(tmp_path, umask, mode):
    from scsc_theory.io import write_json, write_npz

    old = os.umask(umask)
    try:
        a = write_json(tmp_path / "a.json", {"x": 1})
        b = write_npz(tmp_path / "b.npz", x=np.zeros(2))
    finally:
        os.umask(old)
    assert (a.stat().st_mode & 0o777) == mode and (b.stat().st_mode & 0o777) == mode


def test_provenance_detects_changed_sources(tmp_path, monkeypatch):
    import scsc_theory.io as io_mod

    prov = io_mod.provenance(["motion"])
    assert prov["version"] == __import__("scsc_theory").__version__
    assert prov["git_commit"] is None or len(prov["git_commit"]) == 40
    assert "motion/loop.py" in io_mod.source_files(["motion"]) and "toy.py" not in io_mod.source_files(["motion"])
    assert io_mod.provenance_status(prov)[0] is False
    # a copy of the package with one motion file edited hashes differently
    import shutil

    pkg = tmp_path / "scsc_theory"
    shutil.copytree(io_mod._package_dir(), pkg, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(io_mod, "_package_dir", lambda: pkg)
    assert io_mod.provenance_status(prov)[0] is False
    (pkg / "motion" / "metrics.py").write_text((pkg / "motion" / "metrics.py").read_text() + "\n# edited\n")
    stale, text = io_mod.provenance_status(prov)
    assert stale and "STALE" in text
    # a toy-only edit does not make motion results stale
    assert io_mod.source_hash(["core", "toy"]) != io_mod.source_hash(["core", "motion"])


def test_an_edit_of_the_toy_engine_leaves_motion_results_current(tmp_path, monkeypatch):
    """Each source group lists what its results depend on: the motion world never calls loop.py."""
    import shutil

    import scsc_theory.io as io_mod

    motion, toy = io_mod.provenance(["motion"]), io_mod.provenance(["toy"])
    assert "loop.py" not in io_mod.source_files(["motion"]) and "io.py" not in io_mod.source_files(["motion"])
    pkg = tmp_path / "scsc_theory"
    shutil.copytree(io_mod._package_dir(), pkg, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(io_mod, "_package_dir", lambda: pkg)
    (pkg / "loop.py").write_text((pkg / "loop.py").read_text() + "\n# edited\n")
    assert io_mod.provenance_status(motion)[0] is False
    assert io_mod.provenance_status(toy)[0] is True
    (pkg / "io.py").write_text((pkg / "io.py").read_text() + "\n# edited\n")   # file writing, no numbers
    assert io_mod.provenance_status(motion)[0] is False
    (pkg / "_validate.py").write_text((pkg / "_validate.py").read_text() + "\n# edited\n")
    assert io_mod.provenance_status(motion)[0] is True


def test_source_groups_cover_the_packages_they_name(tmp_path, monkeypatch):
    """Every entry of every group exists; the theory and sweep groups hash their packages' modules."""
    import shutil

    import scsc_theory.io as io_mod

    for g in io_mod.SOURCE_GROUPS:
        assert io_mod.source_files([g])
    assert "theory/bound.py" in io_mod.source_files(["theory"])
    assert "sweep/analysis.py" in io_mod.source_files(["sweep"]) and "theory/bound.py" in io_mod.source_files(["sweep"])
    pkg = tmp_path / "scsc_theory"
    shutil.copytree(io_mod._package_dir(), pkg, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(io_mod, "_package_dir", lambda: pkg)
    (pkg / "toy.py").unlink()
    with pytest.raises(ValueError, match="toy.py"):
        io_mod.source_files(["toy"])
    assert io_mod.provenance_status(None)[0] is True
