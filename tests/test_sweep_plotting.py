"""The phase-diagram figure (scsc_theory.sweep.plotting)."""
import numpy as np
import pytest

from scsc_theory.sweep import edges, plot_phase


def test_phase_figure_and_summary(gaussian_sweep, tmp_path):
    res, _ = gaussian_sweep
    summ = plot_phase(res, tmp_path / "p.png", C=1.0)
    assert (tmp_path / "p.png").stat().st_size > 10_000
    assert summ["all_below_bound"] and summ["min_margin"] > 0
    assert all(np.isnan(r["lambda_contraction_boundary"]) for r in summ["rows"])  # "none in range"
    assert summ["rows"][0]["lambda_max_theory"] == pytest.approx(0.5)


def test_edges_of_a_grid():
    np.testing.assert_allclose(edges([0.0, 1.0, 3.0]), [-0.5, 0.5, 2.0, 4.0])
    np.testing.assert_allclose(edges([2.0]), [1.5, 2.5])
