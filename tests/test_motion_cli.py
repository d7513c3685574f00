"""``scsc motion data | correct | render`` end to end on tiny inputs."""
import json

import numpy as np
import pytest

pytest.importorskip("mujoco")

from scsc_theory.cli import main  # noqa: E402


def test_motion_cli(tmp_path, monkeypatch, capsys):
    from scsc_theory.motion import controller

    controller.planner(20.0)   # the corrector's planner from the package cache (fitting it is not this test's subject)
    monkeypatch.setenv("SCSC_CACHE", str(tmp_path / "cache"))
    assert main(["motion", "data", "--n", "9", "--seed", "1", "--frames", "20", "--out", str(tmp_path / "d")]) == 0
    z = np.load(tmp_path / "d" / "motion_data.npz")
    assert z["qpos"].shape == (9, 20, 28) and z["features"].shape == (9, 20, 33)
    summary = json.loads((tmp_path / "d" / "motion_data.json").read_text())
    assert summary["n"] == 9 and sum(summary["class_counts"].values()) == 9

    bad = z["qpos"].astype(np.float64).copy()
    bad[..., 2] -= 0.05
    np.savez(tmp_path / "bad.npz", qpos=bad)
    assert main(["motion", "correct", str(tmp_path / "bad.npz"), str(tmp_path / "fixed.npz")]) == 0
    fixed = np.load(tmp_path / "fixed.npz")
    assert fixed["qpos"].shape == bad.shape and fixed["tracking_error"].shape == (9,)
    rep = json.loads((tmp_path / "fixed.json").read_text())
    assert rep["after"]["ground_penetration"] < 0.2 * rep["before"]["ground_penetration"]

    assert main(["motion", "render", str(tmp_path / "bad.npz"), "--index", "2", "--corrected",
                 "--out", str(tmp_path / "r")]) == 0
    pngs, gifs = list((tmp_path / "r").glob("*.png")), list((tmp_path / "r").glob("*.gif"))
    assert len(pngs) == 1 and len(gifs) == 1 and pngs[0].stat().st_size > 1000

    np.savez(tmp_path / "nan.npz", qpos=np.full((2, 5, 28), np.nan))
    assert main(["motion", "correct", str(tmp_path / "nan.npz"), str(tmp_path / "o.npz")]) == 2
    assert "NaN" in capsys.readouterr().err
    assert main(["motion", "correct", str(tmp_path / "missing.npz"), str(tmp_path / "o.npz")]) == 2
