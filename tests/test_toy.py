"""The toy experiment and its CLI: files, their data, the figure, and CLI errors."""
import json

import numpy as np
import pytest

from scsc_theory.cli import main


def test_toy_cli_writes_consistent_files(tmp_path, capsys):
    rc = main(["toy", "--mode", "accumulate", "--seeds", "4", "--generations", "40", "--gamma", "0,1,5",
               "--out", str(tmp_path / "run"), "--figures", str(tmp_path / "fig"), "--json"])
    assert rc == 0
    printed = json.loads(capsys.readouterr().out)
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert printed == summary
    for key in ["mode", "lam", "n", "dim", "generations", "seeds", "gamma", "final_w2_mean", "final_w2_std"]:
        assert key in summary
    assert summary["gamma"] == [0.0, 1.0, 5.0] and summary["seeds"] == 4
    curves = np.load(tmp_path / "run" / "curves.npz")
    assert curves["w2"].shape == (3, 4, 41)
    np.testing.assert_allclose(curves["w2"][:, :, -1].mean(1), summary["final_w2_mean"], rtol=1e-6)
    fig = tmp_path / "fig" / "toy_w2_accumulate.png"
    assert fig.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and fig.stat().st_size > 10_000


def test_toy_trend_accumulate():
    """The paper's reported trend: final W2 falls as gamma grows (accumulate mode, 500 generations)."""
    from scsc_theory.toy import run_toy

    r = run_toy(mode="accumulate", seeds=16, gammas=(0.0, 0.3, 5.0))
    m = r.summary["final_w2_mean"]
    assert m[0] > m[1] > m[2]
    assert m[0] > 5 * m[2]


@pytest.mark.parametrize("argv,word", [
    (["toy", "--lam", "-1"], "lam"),
    (["toy", "--gamma", "0,-2"], "gamma[1]"),
    (["toy", "--gamma", "a,b"], "gamma"),
    (["toy", "--n", "1"], "n must"),
    (["toy", "--generations", "0"], "generations"),
    (["toy", "--mode", "sideways"], "mode"),
    (["toy", "--corrector", "magic"], "corrector"),
    (["toy", "--data", "cauchy"], "data"),
    (["toy", "--corrector", "histogram", "--dim", "3"], "dim=2"),
])
def test_toy_cli_bad_input(argv, word, capsys, tmp_path):
    rc = main(argv + ["--out", str(tmp_path), "--figures", str(tmp_path)])
    assert rc == 2
    assert word in capsys.readouterr().err
