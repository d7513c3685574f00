"""Linear-regression family: exact refit, and the literature's closed forms as Monte Carlo tests.

Tolerance: each generation's seed mean within 4.5 standard errors of the exact curve (a false alarm
has probability ~1e-5 per point)."""
import jax
import numpy as np
import pytest

from scsc_theory import closed_form as cf
from scsc_theory._validate import SCSCInputError
from scsc_theory.families.linreg import LinReg, design_matrix
from scsc_theory.loop import run_loop

D, T, SIGMA, DSEED = 4, 12, 1.0, 3
FAM = LinReg(d=D, T=T, sigma=SIGMA, design_seed=DSEED)
S, G = 3000, 6


def _err(mode, **kw):
    r = run_loop(FAM, FAM.law(), lam=1.0, gamma=0.0, seed=np.arange(S), n=T, generations=G, mode=mode, **kw)
    assert not r.diverged.any()
    return r.metrics["err"]


@pytest.mark.parametrize("mode", ["replace", "accumulate-all"])
def test_error_curve_matches_closed_form(x64, mode):
    """replace: E err_t = (t+1) c; accumulate-all: c sum_{k<=t+1} 1/k^2 (c = sigma^2 tr (X^T X)^-1, this design)."""
    e = _err(mode)
    c = cf.linreg_c_design(design_matrix(T, D, DSEED), SIGMA)
    exact = cf.linreg_error(mode, np.arange(G + 1), c)
    se = e.std(0) / np.sqrt(S)
    assert np.all(np.abs(e.mean(0) - exact) <= 4.5 * se), (e.mean(0), exact)
    other = cf.linreg_error("accumulate-all" if mode == "replace" else "replace", np.arange(G + 1), c)
    assert np.abs(e.mean(0)[-1] - other[-1]) > 10 * se[-1]  # the two workflows are told apart


def test_design_average_gives_c_with_T_minus_d_minus_1(x64):
    """E tr (X^T X)^-1 = d/(T-d-1) over i.i.d. N(0,1) designs (inverse Wishart): 20000 designs, 4.5 SE."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((20000, T, D))
    tr = np.trace(np.linalg.inv(np.einsum("bti,btj->bij", X, X)), axis1=1, axis2=2)
    assert abs(tr.mean() - cf.linreg_c(1.0, D, T)) <= 4.5 * tr.std() / np.sqrt(tr.size)
    assert abs(cf.linreg_c(2.0, D, T) - 4.0 * D / (T - D - 1)) < 1e-15


def test_fit_is_weighted_least_squares(x64):
    key = jax.random.PRNGKey(0)
    law = FAM.law()
    x = np.asarray(law.sample(key, 30))
    w = np.random.default_rng(1).uniform(0.1, 2.0, 30)
    got = np.asarray(FAM.fit(None, x, w).theta)
    sw = np.sqrt(w)
    ref = np.linalg.lstsq(x[:, :-1] * sw[:, None], x[:, -1] * sw, rcond=None)[0]
    np.testing.assert_allclose(got, ref, rtol=1e-10, atol=1e-12)


def test_linreg_needs_its_own_law():
    with pytest.raises(SCSCInputError, match="linreg"):
        FAM.validate(LinReg(d=D, T=T, design_seed=DSEED + 1).law())
    with pytest.raises(SCSCInputError, match="T > d"):
        LinReg(d=5, T=5).validate(LinReg(d=5, T=5).law())
