"""Conjecture 4.7 explorer: contraction threshold and basin of attraction per gamma."""
import numpy as np
import pytest

from scsc_theory import make_data_law
from scsc_theory.conjecture import basin_directions, explore, format_table
from scsc_theory.families import GMM, Gaussian


def test_gaussian_explorer(tmp_path):
    res = explore(Gaussian(2), make_data_law("normal", 2), lams="0.5:2:2", gammas="0:2:2", radii="0:6:3",
                  seeds=[0], basin_lam=0.5, directions=2, n=50, generations=25, C=1.0, sweep_dir=tmp_path / "s")
    assert len(res.rows) == 2
    for r in res.rows:
        # the Gaussian loop is affine in the mean: it returns from any distance and contracts for all lambda
        assert "none in range" in r["basin_note"] and r["basin_init_dist"] == pytest.approx(6.0, rel=1e-5)
        assert "none in range" in r["lam_contract_note"]
    assert res.returned.shape == (2, 3) and np.all(res.returned == 1)
    assert "| gamma |" in format_table(res)


def test_gmm_merge_direction_is_capped_at_coincident_means():
    fam = GMM(2)
    law = make_data_law("mixture", 2)
    ts = fam.theta_star(law)
    merge = basin_directions(fam, ts, 2)[0]
    far = merge(100.0)
    assert float(np.linalg.norm(np.asarray(far.means[0] - far.means[1]))) < 1e-5
