"""A small 2-D normalizing flow (RealNVP affine couplings), fitted by optax with warm-started steps.

Model
-----
x = T_theta(z), z ~ N(0, I_2), with T = A o c_L o ... o c_1: each coupling c_l keeps one
coordinate a and moves the other, h_b <- h_b exp(s_l(h_a)) + t_l(h_a), alternating a = 0, 1, 0, ...
(s_l = s_max tanh(raw / s_max), a bounded log-scale); (s_l, t_l) is an MLP 1 -> H -> H -> 2 (tanh)
whose last layer starts at zero (identity flow); A x = exp(log_scale) * x + shift. The density is

    log p_theta(x) = log N(T^{-1} x; 0, I) - sum_l s_l(h_a^{(l)}) - sum_i log_scale_i.

With H = 20 and L = 4 layers theta has 2 012 parameters (``n_params``).

The local argmax (Definition 4.2 of Gillman et al.)
---------------------------------------------------
    pi_gamma G_lambda(theta_t) ~= theta_t after ``steps`` full-batch Adam steps on
    - sum_i w_i log p_theta(x_i) / sum_i w_i,

started from theta_t *and its optimizer state* (the state carried across generations is
(theta, adam state); :meth:`Flow.params` reads theta back). This is the paper's fine-tuning.

theta* and the distance
-----------------------
Flow parameters are not identifiable (many theta give one density), so ||theta - theta*|| is
replaced by a sample-based sliced 2-Wasserstein distance between the *densities*:

    SW2(p_a, p_b)^2 = E_u W2^2(u . X_a, u . X_b),  X_a = T_a(Z), X_b = T_b(Z),

over P fixed directions u, with the same ``dist_n`` base draws Z (fixed key) pushed through both
flows, so the distance is a deterministic, smooth function of the two parameter sets and is 0 at
theta = theta*. Its error bar ``dist_se`` is the standard error over 4 independent batches of Z.
theta* is the long-run fit on p_data: ``star_steps`` Adam steps on fresh minibatches of p_data
(stochastic gradient on the population objective), cached per (family, law);
:meth:`Flow.theta_star_report` gives SW2(p_theta*, p_data) and the KL estimate
E_{p_data}[log p_data - log p_theta*] (the misspecification).
"""
from __future__ import annotations

import dataclasses
import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import optax

from .._validate import SCSCInputError, check_int, check_positive
from .base import Family, FitMemory


def _mlp_init(key, hidden: int):
    k1, k2 = jax.random.split(key)
    return {
        "w1": jax.random.normal(k1, (1, hidden)) * 1.0,
        "b1": jnp.zeros((hidden,)),
        "w2": jax.random.normal(k2, (hidden, hidden)) / math.sqrt(hidden),
        "b2": jnp.zeros((hidden,)),
        "w3": jnp.zeros((hidden, 2)),
        "b3": jnp.zeros((2,)),
    }


def _mlp(p, h):
    a = jnp.tanh(h @ p["w1"] + p["b1"])
    a = jnp.tanh(a @ p["w2"] + p["b2"])
    return a @ p["w3"] + p["b3"]


@dataclasses.dataclass(frozen=True)
class Flow(Family):
    """RealNVP flow on R^2 with ``layers`` affine couplings of an MLP with ``hidden`` units."""

    dim: int = 2
    layers: int = 4
    hidden: int = 20
    steps: int = 10
    lr: float = 3e-3
    s_max: float = 2.0
    star_steps: int = 2000
    star_batch: int = 512
    star_lr: float = 3e-3
    dist_n: int = 256
    dist_proj: int = 32
    init_seed: int = 0
    name: str = "flow"
    has_population_map: bool = False
    identifiable = False  # class constants, not fields (repr and sweep keys unchanged)
    sweep_perturbation = 0.3
    parametrization: str = ("theta = all coupling-MLP weights and the final affine layer (not identifiable); "
                            "||.|| replaced by the sliced W2 between p_theta and p_theta* with common base draws")

    def __post_init__(self):
        if self.dim != 2:
            raise SCSCInputError(f"the flow family is 2-D only (got dim={self.dim})")
        check_int("layers", self.layers, 1)
        check_int("hidden", self.hidden, 2)
        check_int("steps", self.steps, 1)
        check_positive("lr", self.lr)
        check_int("star_steps", self.star_steps, 1)

    def validate(self, data_law) -> None:
        if data_law.dim != 2:
            raise SCSCInputError(f"the flow family needs a 2-D data law (got dim={data_law.dim})")

    # ------------------------------------------------------------------ parameters
    def init_params(self, key=None, loc=(0.0, 0.0), scale=(1.0, 1.0)):
        key = jax.random.PRNGKey(self.init_seed) if key is None else key
        keys = jax.random.split(key, self.layers)
        return {
            "couplings": [_mlp_init(k, self.hidden) for k in keys],
            "shift": jnp.asarray(loc, jnp.float32),
            "log_scale": jnp.log(jnp.asarray(scale, jnp.float32)),
        }

    @property
    def n_params(self) -> int:
        return int(sum(np.size(a) for a in jax.tree_util.tree_leaves(jax.eval_shape(self.init_params))))

    def param_count(self) -> int:
        return self.n_params

    def fit_memory(self) -> FitMemory:
        """Adam carries two moments beside theta; the coupling MLPs' activations per point."""
        return FitMemory(3, 3 * self.hidden)

    def _opt(self, lr=None):
        return optax.adam(self.lr if lr is None else lr)

    def init_state(self, params):
        return (params, self._opt().init(params))

    def params(self, state):
        return state[0]

    def with_params(self, state, params):
        """Replace theta in a carried state, keeping the optimizer state."""
        return (params, state[1])

    # ------------------------------------------------------------------ transform
    def _st(self, p, h_a):
        out = _mlp(p, h_a[:, None])
        s = self.s_max * jnp.tanh(out[:, 0] / self.s_max)
        return s, out[:, 1]

    def forward(self, params, z):
        h = z
        for l, p in enumerate(params["couplings"]):
            a = l % 2
            s, t = self._st(p, h[:, a])
            h = h.at[:, 1 - a].set(h[:, 1 - a] * jnp.exp(s) + t)
        return h * jnp.exp(params["log_scale"]) + params["shift"]

    def log_prob(self, params, x):
        h = (x - params["shift"]) * jnp.exp(-params["log_scale"])
        logdet = -jnp.sum(params["log_scale"]) * jnp.ones(x.shape[0], x.dtype)
        for l in reversed(range(self.layers)):
            p = params["couplings"][l]
            a = l % 2
            s, t = self._st(p, h[:, a])
            h = h.at[:, 1 - a].set((h[:, 1 - a] - t) * jnp.exp(-s))
            logdet = logdet - s
        return -0.5 * jnp.sum(h**2, -1) - jnp.log(2 * jnp.pi) + logdet

    def sample(self, key, params, m: int):
        z = jax.random.normal(key, (m, 2), dtype=params["shift"].dtype)
        return self.forward(params, z)

    # ------------------------------------------------------------------ fit
    def fit(self, state, x, w, key=None):
        """``steps`` full-batch Adam steps on the weighted NLL, warm-started from (theta_t, adam state)."""
        opt = self._opt()
        wn = w / jnp.sum(w)

        def loss(p):
            return -jnp.sum(wn * self.log_prob(p, x))

        def body(_, st):
            p, o = st
            g = jax.grad(loss)(p)
            g = jax.tree_util.tree_map(lambda a: jnp.where(jnp.isfinite(a), a, 0.0), g)
            upd, o = opt.update(g, o, p)
            return optax.apply_updates(p, upd), o

        return jax.lax.fori_loop(0, self.steps, body, state)

    # ------------------------------------------------------------------ theta*, distance
    def theta_star(self, data_law):
        self.validate(data_law)
        flat, treedef = _theta_star_cached(self._star_family(), data_law)[0]
        return jax.tree_util.tree_unflatten(treedef, [jnp.asarray(a) for a in flat])

    def theta_star_report(self, data_law) -> dict:
        self.validate(data_law)
        return dict(_theta_star_cached(self._star_family(), data_law)[1])

    def _star_family(self):
        """theta* does not depend on the per-generation steps/lr: share one cached long-run fit."""
        return dataclasses.replace(self, steps=1, lr=1e-3)

    def _dist_z(self, dtype=jnp.float32):
        return jax.random.normal(jax.random.PRNGKey(7919), (4, self.dist_n, 2), dtype)

    def _proj(self, dtype=jnp.float32):
        ang = (jnp.arange(self.dist_proj) + 0.5) * jnp.pi / self.dist_proj
        return jnp.stack([jnp.cos(ang), jnp.sin(ang)], 0).astype(dtype)  # (2, P)

    def sliced_w2_samples(self, xa, xb):
        """Sliced W2 between two equal-size point sets (sorted projections on ``dist_proj`` fixed directions)."""
        u = self._proj(xa.dtype)
        pa, pb = jnp.sort(xa @ u, axis=0), jnp.sort(xb @ u, axis=0)
        return jnp.sqrt(jnp.mean((pa - pb) ** 2))

    def distance_with_error(self, params, other):
        """(SW2 with common base draws pooled over 4 batches, its standard error over the batches)."""
        z = self._dist_z()
        xa = jax.vmap(lambda zz: self.forward(params, zz))(z)
        xb = jax.vmap(lambda zz: self.forward(other, zz))(z)
        per = jax.vmap(self.sliced_w2_samples)(xa, xb)
        pooled = self.sliced_w2_samples(xa.reshape(-1, 2), xb.reshape(-1, 2))
        return pooled, jnp.std(per) / jnp.sqrt(per.shape[0] - 1.0)

    def distance(self, params, theta_star):
        return self.distance_with_error(params, theta_star)[0]

    def metrics(self, params, theta_star, key=None):
        d, se = self.distance_with_error(params, theta_star)
        return {"dist": d, "dist_se": se}


def _star_fit(family: Flow, data_law):
    x0 = data_law.sample(jax.random.PRNGKey(1), 4096)
    params = family.init_params(loc=jnp.mean(x0, 0), scale=jnp.std(x0, 0))
    sched = optax.cosine_decay_schedule(family.star_lr, family.star_steps, alpha=0.02)
    opt = optax.adam(sched)

    def loss(p, x):
        return -jnp.mean(family.log_prob(p, x))

    @jax.jit
    def run(params):
        def body(st, i):
            p, o = st
            x = data_law.sample(jax.random.fold_in(jax.random.PRNGKey(2), i), family.star_batch)
            l, g = jax.value_and_grad(loss)(p, x)
            upd, o = opt.update(g, o, p)
            return (optax.apply_updates(p, upd), o), l

        (p, _), ls = jax.lax.scan(body, (params, opt.init(params)), jnp.arange(family.star_steps))
        return p, ls

    return run(params)


@functools.lru_cache(maxsize=32)
def _theta_star_cached(family: Flow, data_law):
    # always float32 (the loop's precision), whatever the caller's x64 setting, so theta* is one value
    with jax.ensure_compile_time_eval(), jax.enable_x64(False):
        star, losses = _star_fit(family, data_law)
        xt = data_law.sample(jax.random.PRNGKey(3), 20_000)
        kl = float(jnp.mean(data_law.log_prob(xt) - family.log_prob(star, xt)))
        xs = family.sample(jax.random.PRNGKey(4), star, 20_000)
        sw_data = float(family.sliced_w2_samples(xs, xt))
        # noise floor of that estimate: SW2 between two independent p_data samples of the same size
        sw_floor = float(family.sliced_w2_samples(data_law.sample(jax.random.PRNGKey(5), 20_000), xt))
        report = {
            "star_steps": family.star_steps,
            "final_train_nll": float(jnp.mean(losses[-100:])),
            "kl_data_to_star": kl,
            "sw2_star_to_data": sw_data,
            "sw2_noise_floor": sw_floor,
            "n_params": family.n_params,
        }
        flat, treedef = jax.tree_util.tree_flatten(star)
        flat = [np.asarray(a) for a in flat]
    return (flat, treedef), report
