"""The MNIST grid figure is read from the per-lambda reports, in lambda order, and refuses an empty grid."""
import json

import numpy as np
import pytest

from scsc_theory.checks.digits import mnist_summary_path
from scsc_theory.mnist_grid import _mean_se, plot_grid, read_grid


def _series(mean, lo, hi, n=3, gens=3):
    return {"generations": list(range(gens)), "mean": [mean] * gens, "ci_lo": [lo] * gens, "ci_hi": [hi] * gens,
            "n_seeds": [n] * gens}


def _write(folder, lam, key=None):
    doc = {"summary": {key or lam: {"selfconsume": {"fid": _series(3.0, 2.0, 4.0), "accuracy": _series(0.9, 0.8, 1.0)}}},
           "provenance": {"git_commit": "abc"}}
    p = mnist_summary_path(lam, folder)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps(doc))


def test_standard_error_is_recovered_from_the_95_percent_interval():
    from scipy import stats

    v = np.array([1.0, 2.0, 4.5])
    se = v.std(ddof=1) / np.sqrt(3)
    h = stats.t.ppf(0.975, 2) * se
    m, lo, hi = _mean_se(_series(v.mean(), v.mean() - h, v.mean() + h, gens=1))
    np.testing.assert_allclose([lo[0], hi[0]], [v.mean() - se, v.mean() + se], rtol=1e-12)
    m, lo, hi = _mean_se(_series(2.0, 2.0, 2.0, n=1, gens=1))  # one seed: no band
    assert lo[0] == hi[0] == 2.0


def test_grid_reads_only_reports_of_their_own_lambda(tmp_path):
    _write(tmp_path, "1.5")
    _write(tmp_path, "1")
    _write(tmp_path, "0.5", key="1")  # a misplaced report is not read as lambda 0.5
    g = read_grid(tmp_path, ["1", "1.5", "0.5", "0.2"])
    assert sorted(g) == ["1", "1.5"]
    out = plot_grid(g, tmp_path / "grid.png")
    assert out.exists() and out.stat().st_size > 1000
    with pytest.raises(ValueError, match="nothing to plot"):
        plot_grid({}, tmp_path / "empty.png")
