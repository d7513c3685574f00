"""The 2-D RealNVP flow family: density, warm-started optax fit with carried state, SW2 distance."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from scsc_theory import SCSCInputError, make_data_law, run_loop
from scsc_theory.families import Flow

LAW = make_data_law("mixture", 2)
FAM = Flow(star_steps=150, steps=3)


def _rand_params(seed=0, scale=0.3):
    p = FAM.init_params()
    leaves, tdef = jax.tree_util.tree_flatten(p)
    ks = jax.random.split(jax.random.PRNGKey(seed), len(leaves))
    return jax.tree_util.tree_unflatten(tdef, [a + scale * jax.random.normal(k, a.shape) for k, a in zip(ks, leaves)])


def test_bad_input():
    with pytest.raises(SCSCInputError):
        Flow(dim=3)
    with pytest.raises(SCSCInputError):
        FAM.validate(make_data_law("normal", 3))


def test_size_and_density_normalised():
    assert 1000 <= FAM.n_params <= 5000
    p = _rand_params()
    g = jnp.linspace(-8, 8, 321)
    X, Y = jnp.meshgrid(g, g)
    pts = jnp.stack([X.ravel(), Y.ravel()], -1)
    mass = float(jnp.sum(jnp.exp(FAM.log_prob(p, pts))) * (g[1] - g[0]) ** 2)
    assert abs(mass - 1) < 2e-2


def test_change_of_variables_matches_jacobian():
    p = _rand_params(1)
    z = jax.random.normal(jax.random.PRNGKey(0), (5, 2))
    x = FAM.forward(p, z)
    jac = jax.vmap(jax.jacfwd(lambda zz: FAM.forward(p, zz[None])[0]))(z)
    logq = -0.5 * jnp.sum(z**2, -1) - jnp.log(2 * jnp.pi) - jnp.log(jnp.abs(jnp.linalg.det(jac)))
    np.testing.assert_allclose(FAM.log_prob(p, x), logq, atol=1e-4)


def test_fit_is_warm_started_and_carries_optimizer_state():
    x = LAW.sample(jax.random.PRNGKey(2), 200)
    w = jnp.full(200, 1 / 200)
    st = FAM.init_state(FAM.init_params())
    nll0 = -float(jnp.mean(FAM.log_prob(FAM.params(st), x)))
    st1 = FAM.fit(st, x, w)
    st2 = FAM.fit(st1, x, w)
    assert int(st2[1][0].count) == 2 * FAM.steps  # adam state carried across fits
    assert -float(jnp.mean(FAM.log_prob(FAM.params(st2), x))) < nll0


def test_distance_zero_at_same_params_positive_otherwise():
    p, q = _rand_params(3), _rand_params(4)
    d0, se0 = FAM.distance_with_error(p, p)
    assert float(d0) == 0.0 and float(se0) == 0.0
    d1, se1 = FAM.distance_with_error(p, q)
    assert float(d1) > 3 * float(se1) > 0


def test_theta_star_long_run_fit_and_loop():
    rep = FAM.theta_star_report(LAW)
    assert np.isfinite(rep["kl_data_to_star"]) and rep["sw2_star_to_data"] < 0.5
    res = run_loop(FAM, LAW, lam=[0.5, 1.0], gamma=[0.0, 2.0], seed=0, n=50, generations=4, record_thetas=False)
    assert np.isfinite(res.metrics["dist"]).all()
    assert "dist_se" in res.metrics


def test_fit_moves_from_the_given_parameters_not_from_the_initial_ones():
    """A warm-started fit of `steps` Adam steps stays within steps * lr (Adam's per-coordinate step
    bound, with slack) of the parameters it was given; a cold start (from init_params) would land
    near the initial parameters instead, far from a perturbed start."""
    x = LAW.sample(jax.random.PRNGKey(5), 200)
    w = jnp.full(200, 1 / 200)
    start = _rand_params(7, scale=0.3)
    out = FAM.params(FAM.fit(FAM.init_state(start), x, w))
    bound = 1.5 * FAM.steps * FAM.lr
    moved = max(float(jnp.max(jnp.abs(a - b))) for a, b in zip(jax.tree_util.tree_leaves(out), jax.tree_util.tree_leaves(start)))
    assert 0 < moved <= bound
    init = FAM.init_params()
    away = max(float(jnp.max(jnp.abs(a - b))) for a, b in zip(jax.tree_util.tree_leaves(out), jax.tree_util.tree_leaves(init)))
    assert away > 10 * bound
    # the carried Adam state continues: a second fit from the first one's state differs from a fresh-state fit
    st1 = FAM.fit(FAM.init_state(start), x, w)
    a = FAM.params(FAM.fit(st1, x, w))
    b = FAM.params(FAM.fit(FAM.init_state(FAM.params(st1)), x, w))
    assert max(float(jnp.max(jnp.abs(u - v))) for u, v in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b))) > 0
