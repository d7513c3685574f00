"""(lambda, gamma) phase diagrams: the whole grid as one sharded, resumable, jit-compiled loop.

What is run
-----------
For every grid point (lambda_i, gamma_j, seed_s) two chains of the SCSC loop (Definition 4.2 of
Gillman et al.) run side by side with *common random numbers* (the engine's RNG depends only on
the seed and the generation):

* chain 0 (``base``) starts at theta_0 = the fit on the seed's n real points (the theory's start);
* chain 1 (``pert``) starts at theta_0 + delta, a fixed perturbation of size ``perturb``.

Both see the same real data, the same synthetic draws and the same corrections, so
D_t = ||theta_t^pert - theta_t^base|| evolves by the Jacobian of the finite-sample map
pi_gamma G^n_lambda. The *measured contraction factor* is

    r = exp(slope of the least-squares line through log D_t, t = 0..t_fit),

stopping early once D_t falls below ``floor`` (float32 resolution); a config with r < 1 contracts.
Theorem 4.3 guarantees r <= rho(lambda)/(1+gamma) = lambda C / ((1 - lambda C)(1 + gamma)) inside
the admissible region lambda C < (1+gamma)/(2+gamma), i.e. lambda < lambda_max(gamma) =
(1+gamma)/((2+gamma) C).

How it is run
-------------
The config axis (lam x gamma x seed x 2 chains) is padded to a multiple of the number of devices
(padded configs repeat config 0 and are dropped), laid out with a ``NamedSharding`` over a 1-D
mesh of all devices (all processes' devices under ``jax.distributed``: each process owns its
shard) and run through the engine's jitted ``init`` / ``chunk`` functions
(:func:`scsc_theory.loop._compiled_runner`). After every chunk of generations the state and the
records so far are written atomically to ``DIR/checkpoint.npz``; rerunning the same command
continues from it, and the results equal an uninterrupted run (the RNG is a function of (seed, t)).

Output: ``DIR/results.npz`` (deterministic bytes) + ``DIR/index.json`` (dims, coords, variables,
attrs), dims (lam, gamma, seed, generation).
"""
from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import math
import os
import signal
import time
import warnings
import zipfile
from pathlib import Path
from typing import Any, Dict, Optional, Sequence

import numpy as np

from ._validate import SCSCInputError, check_choice, check_finite_number, check_int, check_nonneg, check_positive

FAMILIES = ("gaussian", "gmm", "flow")
#: default perturbation size (Euclidean norm in the family's flat parameter vector)
DEFAULT_PERTURB = {"gaussian": 0.05, "gmm": 0.05, "flow": 0.3}
#: refuse sweeps whose estimated peak memory exceeds this fraction of physical RAM
MEMORY_FRACTION = 0.5
RESULTS = "results.npz"
INDEX = "index.json"
CHECKPOINT = "checkpoint.npz"


# ---------------------------------------------------------------------------------------------
# input parsing
# ---------------------------------------------------------------------------------------------


def parse_range(name: str, text) -> np.ndarray:
    """``"A:B:N"`` -> N points linspace(A, B, N) (N >= 1; N = 1 needs A == B); ``"A"`` -> [A]; a comma list is kept as is."""
    if isinstance(text, (list, tuple, np.ndarray)):
        vals = np.asarray(text, dtype=np.float64).reshape(-1)
    else:
        s = str(text).strip()
        if s == "":
            raise SCSCInputError(f"{name} is empty: give A:B:N (N points from A to B) or a comma list")
        if ":" in s:
            parts = s.split(":")
            if len(parts) != 3:
                raise SCSCInputError(f"{name} must look like A:B:N (got {text!r})")
            a = check_finite_number(f"{name} start", parts[0])
            b = check_finite_number(f"{name} stop", parts[1])
            try:
                nn = int(parts[2])
            except ValueError:
                raise SCSCInputError(f"{name}: N in A:B:N must be an integer (got {parts[2]!r})") from None
            if nn < 1:
                raise SCSCInputError(f"{name} is an empty range: N must be >= 1 in A:B:N (got {nn})")
            if nn == 1 and a != b:
                raise SCSCInputError(f"{name}: N = 1 needs A == B (got {text!r})")
            if b < a:
                raise SCSCInputError(f"{name}: the range A:B:N needs A <= B (got {text!r})")
            vals = np.linspace(a, b, nn)
        else:
            try:
                vals = np.asarray([float(t) for t in s.split(",") if t.strip()], np.float64)
            except ValueError:
                raise SCSCInputError(f"{name} must be A:B:N or a comma list of numbers (got {text!r})") from None
    if vals.size == 0:
        raise SCSCInputError(f"{name} is empty")
    for i, v in enumerate(vals):
        check_nonneg(f"{name}[{i}]", float(v))
    if np.unique(vals).size != vals.size:
        raise SCSCInputError(f"{name} has repeated values")
    return vals


def parse_seeds(text) -> np.ndarray:
    """``S`` -> seeds 0..S-1; ``"a,b,c"`` -> those seeds."""
    if isinstance(text, (int, np.integer)):
        return np.arange(check_int("seeds", int(text), 1))
    s = str(text).strip()
    try:
        if "," in s:
            vals = [int(t) for t in s.split(",") if t.strip()]
            if not vals or min(vals) < 0 or len(set(vals)) != len(vals):
                raise ValueError
            return np.asarray(vals, np.int64)
        return np.arange(check_int("seeds", int(s), 1))
    except ValueError:
        raise SCSCInputError(f"seeds must be a count S >= 1 or a comma list of distinct seeds >= 0 (got {text!r})") from None


def make_family(name: str, dim: int = 2, *, k: int = 2, covariance: str = "full", em_steps: int = 10,
                flow_steps: int = 10, flow_hidden: int = 20, flow_layers: int = 4, flow_star_steps: int = 2000):
    """Build a family by name: gaussian | gmm | flow (the flow is 2-D)."""
    check_choice("family", name, FAMILIES)
    dim = check_int("dim", dim, 1)
    if name == "gaussian":
        from .families import Gaussian

        return Gaussian(dim)
    if name == "gmm":
        from .families import GMM

        k = check_int("K (number of mixture components)", k, 1)
        return GMM(dim, k=k, covariance=covariance, em_steps=check_int("em_steps", em_steps, 1))
    from .families import Flow

    if dim != 2:
        raise SCSCInputError(f"the flow family is 2-D only (got dim={dim})")
    return Flow(steps=check_int("flow_steps", flow_steps, 1), hidden=check_int("flow_hidden", flow_hidden, 2),
                layers=check_int("flow_layers", flow_layers, 1), star_steps=check_int("flow_star_steps", flow_star_steps, 1))


# ---------------------------------------------------------------------------------------------
# perturbation direction
# ---------------------------------------------------------------------------------------------


def _gmm_chart(family):
    """A chart of the GMM in which every point is a valid parameter: log-weights (softmax),
    means, and the log-Cholesky factor of each covariance (log of the diagonal, strictly lower
    part; the diagonal only for ``covariance="diag"``). A step of any size keeps the weights
    positive and the covariances positive definite, also for components on the variance floor."""
    import jax
    import jax.numpy as jnp

    K, d = family.k, family.dim
    il = np.tril_indices(d, -1)
    full = family.covariance != "diag"

    def to_chart(p):
        L = jnp.linalg.cholesky(p.covs)
        parts = [jnp.log(p.weights), p.means.reshape(-1), jnp.log(jnp.diagonal(L, axis1=-2, axis2=-1)).reshape(-1)]
        if full and il[0].size:
            parts.append(L[:, il[0], il[1]].reshape(-1))
        return jnp.concatenate(parts)

    def from_chart(v):
        from .families import GMMParams

        w = jax.nn.softmax(v[:K])
        mu = v[K: K + K * d].reshape(K, d)
        diag = jnp.exp(v[K + K * d: K + 2 * K * d].reshape(K, d))
        L = diag[..., :, None] * jnp.eye(d, dtype=v.dtype)
        if full and il[0].size:
            L = L.at[:, il[0], il[1]].set(v[K + 2 * K * d:].reshape(K, -1))
        return GMMParams(w, mu, L @ jnp.swapaxes(L, -1, -2))

    return to_chart, from_chart


def _direction(family, params, key):
    """A unit-norm perturbation of ``params`` that stays a valid parameter (symmetric covariances,
    mixture weights summing to one; for the GMM positive weights and positive-definite covariances,
    via :func:`_gmm_chart`); returns a function p -> p + eps * direction."""
    import jax
    import jax.numpy as jnp

    if family.name == "gmm":
        to_chart, from_chart = _gmm_chart(family)
        v = to_chart(params)
        u = jax.random.normal(key, v.shape, v.dtype)
        u = u / jnp.linalg.norm(u)
        return lambda p, eps: from_chart(to_chart(p) + eps * u)
    if hasattr(family, "to_vector") and hasattr(family, "from_vector"):
        v = family.to_vector(params)
        u = jax.random.normal(key, v.shape, v.dtype)
        u = u / jnp.linalg.norm(u)
        return lambda p, eps: family.from_vector(family.to_vector(p) + eps * u)
    leaves, treedef = jax.tree_util.tree_flatten(params)
    keys = jax.random.split(key, len(leaves))
    us = []
    for kk, a in zip(keys, leaves):
        u = jax.random.normal(kk, a.shape, a.dtype)
        if a.ndim >= 2 and a.shape[-1] == a.shape[-2] and family.name == "gaussian":
            u = 0.5 * (u + jnp.swapaxes(u, -1, -2))
        us.append(u)
    norm = jnp.sqrt(sum(jnp.sum(u**2) for u in us))
    us = [u / norm for u in us]
    return lambda p, eps: jax.tree_util.tree_unflatten(
        treedef, [a + eps * u for a, u in zip(jax.tree_util.tree_leaves(p), us)])


def _with_params(family, state, params):
    if hasattr(family, "with_params"):
        return family.with_params(state, params)
    return family.init_state(params)


# ---------------------------------------------------------------------------------------------
# deterministic npz (so a resumed run writes the same bytes as an uninterrupted one)
# ---------------------------------------------------------------------------------------------


def npz_bytes(arrays: Dict[str, np.ndarray]) -> bytes:
    """An .npz archive with fixed timestamps and sorted names: same arrays -> same bytes."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as zf:
        for name in sorted(arrays):
            b = io.BytesIO()
            np.lib.format.write_array(b, np.ascontiguousarray(arrays[name]), allow_pickle=False)
            info = zipfile.ZipInfo(name + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
            zf.writestr(info, b.getvalue())
    return buf.getvalue()


def _write_atomic(path: Path, data: bytes) -> Path:
    from .io import _atomic_write_bytes

    return _atomic_write_bytes(Path(path), data)


# ---------------------------------------------------------------------------------------------
# contraction factor
# ---------------------------------------------------------------------------------------------


def contraction_factor(diff, t_fit: int = 8, floor: float = 1e-5) -> np.ndarray:
    """Measured contraction factor from the decay of a perturbation, over the last axis (t = 0..T).

    r = exp(slope of log D_t on t) using t = 0..min(t_fit, T) while D_t > floor and finite
    (at least t = 0, 1). If D_1 is already below ``floor``, r = (floor / D_0) (an upper bound).
    NaN where D_0 is not positive or not finite.
    """
    d = np.asarray(diff, np.float64)
    lead = d.shape[:-1]
    d2 = d.reshape(-1, d.shape[-1])
    out = np.full(d2.shape[0], np.nan)
    tmax = min(t_fit, d2.shape[1] - 1)
    for i, row in enumerate(d2):
        if not (np.isfinite(row[0]) and row[0] > 0):
            continue
        ok = np.isfinite(row[: tmax + 1]) & (row[: tmax + 1] > floor)
        stop = np.argmin(ok) if not ok.all() else tmax + 1  # first invalid index
        if stop < 2:
            out[i] = floor / row[0] if np.isfinite(row[1]) else np.inf
            continue
        t = np.arange(stop)
        slope = np.polyfit(t, np.log(row[:stop]), 1)[0]
        out[i] = math.exp(slope)
    return out.reshape(lead)


def empirical_boundary(lams, values, threshold: float) -> float:
    """Smallest lambda at which ``values`` (over lams, increasing) reaches ``threshold`` (linear
    interpolation between grid points); NaN if never reached ("none in range"); lams[0] if already at the start."""
    lams, values = np.asarray(lams, float), np.asarray(values, float)
    bad = ~np.isfinite(values) | (values >= threshold)
    if not bad.any():
        return float("nan")
    i = int(np.argmax(bad))
    if i == 0:
        return float(lams[0])
    v0, v1 = values[i - 1], values[i]
    if not np.isfinite(v1):
        return float(lams[i])
    frac = (threshold - v0) / (v1 - v0) if v1 != v0 else 1.0
    return float(lams[i - 1] + frac * (lams[i] - lams[i - 1]))


# ---------------------------------------------------------------------------------------------
# the sweep
# ---------------------------------------------------------------------------------------------


@dataclasses.dataclass
class SweepResult:
    """Labelled arrays: ``data[name]`` with ``dims[name]``, coords lam/gamma/seed/generation, attrs."""

    data: Dict[str, np.ndarray]
    dims: Dict[str, tuple]
    coords: Dict[str, np.ndarray]
    attrs: Dict[str, Any]

    def __getitem__(self, k):
        return self.data[k]


def _param_count(family, dim: int) -> int:
    """Number of parameters, from shapes only (nothing is fitted or compiled)."""
    if family.name == "flow":
        return int(family.n_params)
    if family.name == "gmm":
        return int(family.k * (1 + dim + dim * dim))
    return int(dim + dim * dim)


def _estimate_bytes(family, dim: int, C: int, n: int, m_max: int, chunk: int, T: int) -> int:
    """Rough peak bytes: carried state (x3 for an optimizer), per-generation point buffers and
    their work arrays, one chunk of recorded parameters, and the host records."""
    p_bytes = 4 * _param_count(family, dim)
    st_bytes = p_bytes * (3 if family.name == "flow" else 1)
    pts = (n + max(m_max, 1)) * dim * 4
    work = pts * (8 + (3 * getattr(family, "hidden", 1) if family.name == "flow" else 4 * getattr(family, "k", 1) * dim))
    per_cfg = st_bytes * 3 + work + chunk * (p_bytes + 64) + (T + 1) * 64
    return int(C * per_cfg)


def _physical_memory() -> int:
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):  # pragma: no cover
        return 16 * 2**30


def _to_host(tree):
    import jax

    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        return jax.tree_util.tree_map(np.asarray, multihost_utils.process_allgather(tree, tiled=True))
    return jax.tree_util.tree_map(np.asarray, jax.device_get(tree))


def _global_array(x: np.ndarray, sharding):
    import jax

    x = np.asarray(x)
    return jax.make_array_from_callback(x.shape, sharding, lambda idx: x[idx])


def sweep_key(attrs: Dict[str, Any]) -> str:
    """Hash of everything that determines the numbers (checkpoint compatibility)."""
    return hashlib.sha256(json.dumps(attrs, sort_keys=True, default=str).encode()).hexdigest()[:16]


def run_sweep(
    family,
    data_law,
    lams: Sequence[float],
    gammas: Sequence[float],
    seeds: Sequence[int],
    *,
    n: int = 50,
    generations: int = 100,
    chunk: Optional[int] = None,
    corrector: str = "ideal",
    perturb: Optional[float] = None,
    t_fit: int = 8,
    out_dir=None,
    resume: bool = True,
    devices=None,
    progress: bool = False,
    overwrite: bool = False,
    _kill_after_chunks: Optional[int] = None,
) -> SweepResult:
    """Run the (lam x gamma x seed) grid, two chains per point, sharded over ``devices`` (default:
    all devices of all processes). With ``out_dir``: checkpoint after every chunk (resumed when
    ``resume``) and write ``results.npz`` + ``index.json``; finished results of a different grid in
    ``out_dir`` are refused (SCSCInputError) unless ``overwrite``. Returns a :class:`SweepResult`."""
    import jax
    import jax.numpy as jnp
    from jax.sharding import Mesh, NamedSharding, PartitionSpec

    from .loop import _compiled_runner, LoopSpec, synthetic_count, validate_loop_args

    lams = parse_range("lam", lams)
    gammas = parse_range("gamma", gammas)
    seeds = np.asarray(seeds, np.int64).reshape(-1)
    if seeds.size == 0:
        raise SCSCInputError("seeds is empty")
    generations = check_int("generations", generations, 1)
    n = check_int("n", n, 2)
    chunk = generations if chunk is None else min(check_int("chunk", chunk, 1), generations)
    t_fit = check_int("t_fit", t_fit, 1)
    if _kill_after_chunks is None and os.environ.get("SCSC_SWEEP_KILL_AFTER_CHUNKS"):
        # test hook: SIGKILL this process right after the k-th checkpoint is written
        _kill_after_chunks = int(os.environ["SCSC_SWEEP_KILL_AFTER_CHUNKS"])
    perturb = DEFAULT_PERTURB.get(family.name, 0.05) if perturb is None else check_positive("perturb", perturb)
    L, G, S = lams.size, gammas.size, seeds.size
    family.validate(data_law)
    devices = list(jax.devices()) if devices is None else list(devices)
    nd = len(devices)
    C0 = 2 * L * G * S
    C = int(math.ceil(C0 / nd) * nd)
    if float(np.max(lams)) * n > 2**31 - 1:
        raise SCSCInputError(f"lam * n = {float(np.max(lams)) * n:.4g} synthetic points per generation exceeds the "
                             f"limit {2**31 - 1} (int32); use a smaller lambda or n")
    m_max = int(synthetic_count(np.max(lams), n))
    need = _estimate_bytes(family, data_law.dim, C, n, m_max, chunk, generations)
    have = _physical_memory()
    if need > MEMORY_FRACTION * have:
        raise SCSCInputError(
            f"grid too large: about {need / 2**30:.1f} GiB needed for {C0} chains x {generations} generations "
            f"(limit {MEMORY_FRACTION:.0%} of {have / 2**30:.1f} GiB); use fewer lam/gamma/seed points, a smaller "
            f"--chunk or fewer generations")
    # flat configs: ((l * G + g) * S + s) * 2 + chain
    lam_c = np.repeat(lams, G * S * 2)
    gam_c = np.tile(np.repeat(gammas, S * 2), L)
    seed_c = np.tile(np.repeat(seeds, 2), L * G)
    chain = np.tile(np.array([0, 1]), L * G * S)
    lam_c, gam_c, seed_c, n, generations = validate_loop_args(
        family, data_law, lam=lam_c, gamma=gam_c, seed=seed_c, n=n, generations=generations,
        mode="fixed", sampling="finite", corrector=corrector)
    m = synthetic_count(lam_c, n)
    assert int(m.max()) == m_max
    pad = np.arange(C) % C0  # padded configs repeat the first ones and are dropped
    lam_p, gam_p, seed_p, m_p, chain_p = lam_c[pad], gam_c[pad], seed_c[pad], m[pad], chain[pad]

    attrs = {
        "family": family.name, "family_repr": repr(family), "data": getattr(data_law, "name", type(data_law).__name__),
        "data_repr": repr(data_law), "dim": int(data_law.dim), "n": n, "generations": generations, "chunk": chunk,
        "corrector": corrector, "perturb": float(perturb), "t_fit": t_fit, "mode": "fixed", "sampling": "finite",
        "parametrization": str(family.parametrization),
        "lams": lams.tolist(), "gammas": gammas.tolist(), "seeds": seeds.tolist(),
    }
    key = sweep_key(attrs)
    attrs["sweep_key"] = key
    out = None if out_dir is None else Path(out_dir)
    is_writer = jax.process_index() == 0
    if out is not None and (out / INDEX).exists() and not overwrite:
        try:
            old_key = json.loads((out / INDEX).read_text()).get("attrs", {}).get("sweep_key")
        except ValueError:
            old_key = None
        if old_key != key:
            raise SCSCInputError(f"{out} holds finished results of a different sweep (sweep key {old_key}, this grid "
                                 f"{key}); use another --out, or --overwrite to replace them")

    spec = LoopSpec(n=n, generations=generations, m_max=m_max, corrector=corrector)
    runner = _compiled_runner(family, data_law, spec, chunk)
    mesh = Mesh(np.asarray(devices), ("c",))
    shard = NamedSharding(mesh, PartitionSpec("c"))
    dt = jnp.zeros(()).dtype
    ga = lambda x: _global_array(x, shard)  # noqa: E731
    lam_j, gam_j = ga(lam_p.astype(dt)), ga(gam_p.astype(dt))
    seed_j, m_j = ga(seed_p.astype(np.uint32)), ga(m_p.astype(np.int32))
    ts = family.theta_star(data_law)
    theta0 = jax.tree_util.tree_map(lambda a: ga(np.broadcast_to(np.asarray(a), (C,) + a.shape)), ts)
    use0 = ga(np.zeros(C, bool))

    move = _direction(family, ts, jax.random.PRNGKey(12345))

    @jax.jit
    def perturb_state(state, is_pert):
        p = family.params(state["fit"])
        q = jax.vmap(lambda pp: move(pp, perturb))(p)
        q = jax.tree_util.tree_map(lambda a, b: jnp.where(is_pert.reshape((-1,) + (1,) * (a.ndim - 1)), a, b), q, p)
        new = dict(state)
        new["fit"] = jax.vmap(lambda s, pp: _with_params(family, s, pp))(state["fit"], q)
        return new

    # ---- start or resume
    t_done, records = 0, []
    state = None
    ck = None if out is None else out / CHECKPOINT
    if out is not None and resume and (out / RESULTS).exists() and (out / INDEX).exists():
        old = load_results(out)
        if old.attrs.get("sweep_key") == key:
            return old
    state0, rec0 = runner["init"](lam_j, gam_j, seed_j, theta0, use0)
    state0 = perturb_state(state0, ga(chain_p == 1))
    rec0 = runner_record0(family, data_law, runner, state0, seed_j)
    if ck is not None and resume and ck.exists():
        with np.load(ck) as z:
            meta = json.loads(bytes(z["meta"]).decode())
            if meta["sweep_key"] != key or meta["C"] != C:
                raise SCSCInputError(
                    f"{ck} belongs to a different sweep (or device layout); delete it or use a new --out")
            leaves, treedef = jax.tree_util.tree_flatten(state0)
            state = jax.tree_util.tree_unflatten(treedef, [ga(z[f"state_{i}"]) for i in range(len(leaves))])
            t_done = int(meta["t"])
            nrec = int(meta["nrec"])
            rflat, rdef = jax.tree_util.tree_flatten(_reduce_record(family, _to_host(rec0), C0))
            records = [jax.tree_util.tree_unflatten(rdef, [z[f"rec{j}_{i}"] for i in range(len(rflat))])
                       for j in range(nrec)]
    if state is None:
        state = state0
        records = [_reduce_record(family, _to_host(rec0), C0)]

    n_chunks = math.ceil(generations / chunk)
    done_chunks = t_done // chunk
    t_j = jnp.asarray(t_done, jnp.int32)
    timings = []
    for ci in range(done_chunks, n_chunks):
        t0 = time.perf_counter()
        t_j, state, rec = runner["chunk"](t_j, state, lam_j, gam_j, seed_j, m_j)
        rec_h = _to_host(rec)
        records.append(_reduce_record(family, rec_h, C0))
        timings.append(time.perf_counter() - t0)
        if progress and is_writer:
            print(f"[sweep] chunk {ci + 1}/{n_chunks} ({timings[-1]:.2f} s)", flush=True)
        if ck is not None and ci + 1 < n_chunks:
            st_h = _to_host(state)
            if is_writer:
                arrays = {f"state_{i}": a for i, a in enumerate(jax.tree_util.tree_leaves(st_h))}
                for j, r in enumerate(records):
                    for i, a in enumerate(jax.tree_util.tree_leaves(r)):
                        arrays[f"rec{j}_{i}"] = a
                meta = {"sweep_key": key, "C": C, "t": (ci + 1) * chunk, "nrec": len(records)}
                arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
                _write_atomic(ck, npz_bytes(arrays))
            if _kill_after_chunks is not None and ci + 1 >= _kill_after_chunks:
                os.kill(os.getpid(), signal.SIGKILL)
    res = _assemble(family, records, lams, gammas, seeds, generations, t_fit, attrs)
    if out is not None and is_writer:
        save_results(res, out)
        _write_atomic(out / "run_log.json", (json.dumps({
            "devices": nd, "processes": jax.process_count(), "platform": devices[0].platform,
            "chunk_seconds": timings, "resumed_from_generation": t_done}, indent=2) + "\n").encode())
        if ck is not None and ck.exists():
            ck.unlink()
    return res


def runner_record0(family, data_law, runner, state, seed_j):
    """Record generation 0 of a (perturbed) state with the engine's record0 key (fold_in(key(seed), 3))."""
    import jax

    from .loop import _tree_finite

    ts = family.theta_star(data_law)

    @jax.jit
    def rec(state, seed):
        def one(st, s):
            k = jax.random.fold_in(jax.random.PRNGKey(s), 3)
            p = family.params(st["fit"])
            return {"metrics": family.metrics(p, ts, k), "theta": p, "finite": _tree_finite(p)}

        return jax.vmap(one)(state, seed)

    out = rec(state, seed_j)
    return jax.tree_util.tree_map(lambda a: a[:, None], out)


_PAIR_CACHE: Dict[Any, Any] = {}


def _pair_distance(family):
    import jax

    if family not in _PAIR_CACHE:
        _PAIR_CACHE[family] = jax.jit(jax.vmap(jax.vmap(family.distance)))
    return _PAIR_CACHE[family]


def _reduce_record(family, rec, C0):
    """Host record of one chunk (C, len, ...) -> small arrays: base metrics, pert dist, pair distance D_t."""
    import jax

    rec = jax.tree_util.tree_map(lambda a: a[:C0], rec)
    base = jax.tree_util.tree_map(lambda a: a[0::2], rec)
    pert = jax.tree_util.tree_map(lambda a: a[1::2], rec)
    diff = np.asarray(_pair_distance(family)(pert["theta"], base["theta"]))
    out = {f"m_{k}": np.asarray(v) for k, v in base["metrics"].items()}
    out["dist_pert"] = np.asarray(pert["metrics"]["dist"])
    out["diff"] = diff
    out["finite"] = np.asarray(base["finite"]) & np.asarray(pert["finite"])
    return out


def _assemble(family, records, lams, gammas, seeds, T, t_fit, attrs) -> SweepResult:
    L, G, S = lams.size, gammas.size, seeds.size
    cat = {k: np.concatenate([r[k] for r in records], axis=1)[:, : T + 1] for k in records[0]}
    shape = (L, G, S, T + 1)
    data, dims = {}, {}
    for k, v in cat.items():
        name = k[2:] if k.startswith("m_") else k
        if k == "finite":
            v = np.logical_and.accumulate(v, axis=1)
        data[name] = v.reshape(shape)
        dims[name] = ("lam", "gamma", "seed", "generation")
    contr = contraction_factor(data["diff"], t_fit=t_fit)
    data["contraction"] = contr
    dims["contraction"] = ("lam", "gamma", "seed")
    with np.errstate(all="ignore"):
        data["contraction_median"] = np.nanmedian(np.where(np.isfinite(contr), contr, np.inf), axis=2)
        fin = data["dist"][..., -1]
        data["final_dist"] = np.mean(fin, axis=2)
        data["final_dist_se"] = np.std(fin, axis=2, ddof=1) / np.sqrt(S) if S > 1 else np.full((L, G), np.nan)
    for k in ("contraction_median", "final_dist", "final_dist_se"):
        dims[k] = ("lam", "gamma")
    coords = {"lam": np.asarray(lams, np.float64), "gamma": np.asarray(gammas, np.float64),
              "seed": np.asarray(seeds, np.int64), "generation": np.arange(T + 1)}
    return SweepResult(data, dims, coords, dict(attrs))


def save_results(res: SweepResult, out_dir) -> Path:
    """Write ``results.npz`` (arrays + coords) and ``index.json`` (dims, coords, attrs) atomically."""
    out = Path(out_dir)
    arrays = dict(res.data)
    arrays.update({f"coord_{k}": v for k, v in res.coords.items()})
    _write_atomic(out / RESULTS, npz_bytes(arrays))
    index = {
        "format": "scsc sweep results v1: results.npz holds each variable and coord_<dim> arrays",
        "dims": ["lam", "gamma", "seed", "generation"],
        "coords": {k: v.tolist() for k, v in res.coords.items()},
        "variables": {k: {"dims": list(res.dims[k]), "shape": list(np.shape(res.data[k])),
                          "dtype": str(np.asarray(res.data[k]).dtype)} for k in sorted(res.data)},
        "attrs": res.attrs,
    }
    _write_atomic(out / INDEX, (json.dumps(index, indent=2, sort_keys=True, default=_json_default) + "\n").encode())
    return out / RESULTS


def _json_default(o):
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


def load_results(out_dir) -> SweepResult:
    out = Path(out_dir)
    index = json.loads((out / INDEX).read_text())
    with np.load(out / RESULTS) as z:
        arrays = {k: z[k] for k in z.files}
    coords = {k[6:]: arrays.pop(k) for k in list(arrays) if k.startswith("coord_")}
    dims = {k: tuple(v["dims"]) for k, v in index["variables"].items()}
    return SweepResult(arrays, dims, coords, index["attrs"])


def update_attrs(out_dir, **extra) -> None:
    """Add attrs (e.g. theory constants) to a saved index.json."""
    res = load_results(out_dir)
    res.attrs.update(extra)
    save_results(res, out_dir)


# ---------------------------------------------------------------------------------------------
# theory constants for the boundary line
# ---------------------------------------------------------------------------------------------


def theory_C(family, data_law, *, n_mc: int = 4_000) -> Dict[str, Any]:
    """C = 1 + eps L / alpha from :func:`scsc_theory.theory.constants` (in the family's chart:
    the Gaussian's default chart; the GMM's (w_1..w_{K-1}, mu_k, vech Sigma_k)).

    For the flow the theorem's C is undefined: the parameters are not identifiable, so
    E_p_data[Hessian] is singular (alpha = 0); then ``C`` is None and the figure draws the
    boundary for C = 1, which is an upper bound on the theoretical boundary (C >= 1 always).
    """
    from . import theory as th

    if family.name == "flow":
        # Not attempted: flow parameters are not identifiable, so E_p_data[Hessian] is singular
        # (alpha = 0, C undefined), and theory's per-point P x P Hessians (P ~ 2000) would not fit in memory.
        return {"C": None, "note": "theorem's C undefined for the flow (alpha = 0: parameters not identifiable); "
                                   "boundary drawn for C = 1, an upper bound on the theoretical boundary since C >= 1"}
    par = None
    if hasattr(family, "to_vector") and hasattr(family, "from_vector"):
        par = th.Parametrization(f"{family.name}-vector", str(family.parametrization), family.to_vector, family.from_vector)
    try:
        c = th.constants(family, data_law, lam=0.5, gamma=0.0, parametrization=par, n_mc=n_mc)
    except SCSCInputError as err:
        return {"C": None, "note": f"theorem's C undefined: {err}; boundary drawn for C = 1 (an upper bound)"}
    except Exception as err:  # theory.constants failed for this family: assemble C from its parts
        return _constants_from_parts(family, data_law, par, n_mc, err)
    d = c.to_dict() if hasattr(c, "to_dict") else dataclasses.asdict(c)
    keep = ("alpha", "L", "L_domain", "eps", "eps_se", "eps_method", "C", "parametrization", "parametrization_description")
    out = {k: d[k] for k in keep if k in d}
    out["C_plugin"] = out.get("C")
    # The sample estimate of eps = W1(p_theta*, p_data) is biased upwards by the sampling distance;
    # theory.constants reports that bias level (same estimator between two p_theta* samples). We
    # draw the boundary with the debiased eps = max(eps - bias, 0): C = 1 + eps_debiased L / alpha.
    import re

    mt = re.search(r"bias level\)?:\s*([0-9.eE+-]+)", str(d.get("eps_method", "")))
    if mt and d.get("eps", 0) > 0:
        bias = float(mt.group(1))
        eps_db = _debias(float(d["eps"]), bias, float(d.get("eps_se") or 0.0) * math.sqrt(2.0))
        out["eps_bias"] = bias
        out["eps_debiased"] = eps_db
        out["C"] = 1.0 + eps_db * float(d["L"]) / float(d["alpha"])
        out["note"] = ("C = 1 + eps L / alpha with eps debiased by the estimator's bias level (0 unless > 2 se) (theory.constants; "
                       "alpha from autodiff Hessians, L by ascent on its stated domain); C_plugin uses the raw eps")
    else:
        out["note"] = "theory.constants (alpha from autodiff Hessians, L by ascent on its stated domain, eps exact)"
    return out


def _debias(eps: float, bias: float, se: float) -> float:
    """eps - bias if it is significant (> 2 standard errors), else 0: a plug-in W1 indistinguishable
    from its own sampling bias is read as eps = 0 (p_theta* = p_data up to the estimator's resolution)."""
    diff = eps - bias
    return float(diff) if diff > 2.0 * se else 0.0


def _w1_plugin(xa, xb):
    import ot

    M = ot.dist(xa, xb, metric="euclidean")
    return float(ot.emd2(np.full(len(xa), 1 / len(xa)), np.full(len(xb), 1 / len(xb)), M, numItermax=1_000_000))


def _constants_from_parts(family, data_law, par, n_mc, err, n_ot: int = 1000, repeats: int = 6) -> Dict[str, Any]:
    """C = 1 + eps L / alpha from theory.alpha_constant and theory.lipschitz_constant, with
    eps = W1(p_theta*, p_data) as the mean of ``repeats`` exact OT costs between ``n_ot`` draws
    (POT), debiased by the same estimator between two p_theta* samples (used when
    theory.constants itself fails for this family)."""
    import jax

    from . import theory as th

    with jax.enable_x64(True):
        a = th.alpha_constant(family, data_law, par, n_mc=n_mc)
        lip = th.lipschitz_constant(family, data_law, par)
    ts = family.theta_star(data_law)
    est, null = [], []
    for r in range(repeats):
        k = jax.random.fold_in(jax.random.PRNGKey(777), r)
        k1, k2, k3 = jax.random.split(k, 3)
        xs = np.asarray(family.sample(k1, ts, n_ot), np.float64)
        xd = np.asarray(data_law.sample(k2, n_ot), np.float64)
        xs2 = np.asarray(family.sample(k3, ts, n_ot), np.float64)
        est.append(_w1_plugin(xs, xd))
        null.append(_w1_plugin(xs, xs2))
    eps, bias = float(np.mean(est)), float(np.mean(null))
    se_diff = float(np.std(np.asarray(est) - np.asarray(null), ddof=1) / np.sqrt(repeats))
    eps_db = _debias(eps, bias, se_diff)
    return {"alpha": a.value, "L": lip.L, "L_domain": lip.domain, "eps": eps, "eps_se": float(np.std(est, ddof=1) / np.sqrt(repeats)),
            "eps_bias": bias, "eps_debiased": eps_db, "C_plugin": 1.0 + eps * lip.L / a.value,
            "C": 1.0 + eps_db * lip.L / a.value, "parametrization": par.name if par is not None else "raw",
            "note": (f"theory.constants failed ({type(err).__name__}: {err}); C assembled from theory.alpha_constant, "
                     "theory.lipschitz_constant and a debiased POT estimate of eps")}


def theory_bound(lam, gamma, C):
    """rho(lam)/(1+gamma) = lam C / ((1 - lam C)(1 + gamma)); +inf outside lam C < 1 (Theorem 4.3)."""
    lam, gamma = np.asarray(lam, float), np.asarray(gamma, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(lam * C < 1, lam * C / (1 - lam * C), np.inf)
    return r / (1 + gamma)


def lambda_max(C, gamma):
    """(1+gamma)/((2+gamma) C): Theorem 4.3's sufficient condition on lambda."""
    return (1.0 + np.asarray(gamma, float)) / ((2.0 + np.asarray(gamma, float)) * C)


# ---------------------------------------------------------------------------------------------
# figures
# ---------------------------------------------------------------------------------------------


def _edges(v):
    v = np.asarray(v, float)
    if v.size == 1:
        return np.array([v[0] - 0.5, v[0] + 0.5])
    mid = 0.5 * (v[1:] + v[:-1])
    return np.concatenate([[v[0] - (mid[0] - v[0])], mid, [v[-1] + (v[-1] - mid[-1])]])


def phase_summary(res: SweepResult, C: Optional[float], err_threshold: Optional[float] = None) -> Dict[str, Any]:
    """Per gamma: theoretical lambda_max, empirical boundary (contraction >= 1; final dist >= threshold),
    and over the admissible region the margin rho/(1+gamma) - measured contraction."""
    lams, gammas = res.coords["lam"], res.coords["gamma"]
    contr = res["contraction_median"]
    fd = res["final_dist"]
    if err_threshold is None:
        err_threshold = float(2.0 * np.nanmean(fd[0]))
    else:
        err_threshold = check_positive("err_threshold", err_threshold)
    C_line = 1.0 if C is None else float(C)
    rows = []
    for j, g in enumerate(gammas):
        rows.append({
            "gamma": float(g),
            "lambda_max_theory": float(lambda_max(C_line, g)),
            "lambda_contraction_boundary": empirical_boundary(lams, contr[:, j], 1.0),
            "lambda_error_boundary": empirical_boundary(lams, fd[:, j], err_threshold),
        })
    LL, GG = np.meshgrid(lams, gammas, indexing="ij")
    bound = theory_bound(LL, GG, C_line)
    adm = LL < lambda_max(C_line, GG)
    with np.errstate(divide="ignore", invalid="ignore"):  # bound = 0 at lambda = 0
        margin = np.where(adm, bound - contr, np.nan)
        ratio = np.where(adm, contr / bound, np.nan)
    summ = {"C": C, "C_line": C_line, "err_threshold": err_threshold, "rows": rows,
            "admissible_points": int(adm.sum())}
    # non-finite configurations (diverged chains: non-finite parameters or contraction factor)
    per_seed = np.asarray(res["contraction"], np.float64)
    bad_seed = ~np.isfinite(per_seed)
    fin = res.data.get("finite")
    if fin is not None:
        bad_seed = bad_seed | ~np.asarray(fin, bool)[..., -1]
    summ["nonfinite_configs"] = int(bad_seed.sum())
    summ["total_configs"] = int(bad_seed.size)
    if adm.any():
        # standard error of the median over seeds (asymptotic: 1.2533 sd / sqrt(S)); 0 with a single
        # finite seed (the point estimate is then compared as it is)
        finite = np.isfinite(per_seed)
        S = np.maximum(finite.sum(axis=2), 1)
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # slices with < 2 finite seeds: se 0 below
            sd = np.nanstd(np.where(finite, per_seed, np.nan), axis=2, ddof=1)
        se = np.where(finite.sum(axis=2) >= 2, 1.2533 * sd / np.sqrt(S), 0.0)
        resolved_above = adm & (contr - 2.0 * se > bound)
        # a diverged admissible point (any seed with a non-finite chain or contraction factor) violates
        # the theorem's bound outright: it is counted as a violation, never skipped as NaN
        diverged = adm & (bad_seed.any(axis=2) | ~np.isfinite(contr))
        violating = resolved_above | diverged
        summ.update({
            "min_margin": float(np.nanmin(np.where(diverged, -np.inf, margin))),
            "max_ratio_measured_over_bound": float(np.nanmax(np.where(diverged, np.inf, ratio))),
            "all_below_bound": bool(np.all(contr[adm] < bound[adm]) and not diverged.any()),
            "points_above_bound": int(np.sum(~(contr[adm] < bound[adm]))),
            "points_resolved_above_bound": int(resolved_above.sum()),
            "points_diverged": int(diverged.sum()),
            "points_violating": int(violating.sum()),
            "max_contraction_se": float(np.nanmax(np.where(adm, se, np.nan))),
        })
    return summ


def plot_phase(res: SweepResult, path, C: Optional[float], err_threshold: Optional[float] = None,
               title: Optional[str] = None, C_alt: Optional[float] = None) -> Dict[str, Any]:
    """Three heatmaps over (lambda, gamma): final distance to theta*, measured contraction factor,
    and bound minus measured in the admissible region; theoretical boundary lambda = (1+gamma)/((2+gamma) C)
    on each; empirical boundaries marked (or "none in range"). Returns :func:`phase_summary`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .io import save_figure

    summ = phase_summary(res, C, err_threshold)
    lams, gammas = res.coords["lam"], res.coords["gamma"]
    le, ge = _edges(lams), _edges(gammas)
    gline = np.linspace(ge[0], ge[-1], 200)
    lline = lambda_max(summ["C_line"], gline)
    LL, GG = np.meshgrid(lams, gammas, indexing="ij")
    bound = theory_bound(LL, GG, summ["C_line"])
    adm = LL < lambda_max(summ["C_line"], GG)
    contr = res["contraction_median"]
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.6))
    c_lab = (f"theory: lambda = (1+g)/((2+g) C), C = {summ['C']:.3g}" if summ["C"] is not None
             else "theory with C = 1 (upper bound; C undefined)")
    panels = [
        ("final ||theta_T - theta*|| (mean over seeds)", res["final_dist"], "viridis", None),
        ("measured contraction factor r (median over seeds)", contr, "magma", (0, max(1.2, float(np.nanmax(np.where(np.isfinite(contr), contr, 0)))))),
        ("rho/(1+gamma) - r  (admissible region only)", np.where(adm, bound - contr, np.nan), "cividis", None),
    ]
    for ax, (ttl, Z, cmap, lim) in zip(axes, panels):
        kw = {} if lim is None else {"vmin": lim[0], "vmax": lim[1]}
        im = ax.pcolormesh(le, ge, np.asarray(Z, float).T, cmap=cmap, shading="flat", **kw)
        fig.colorbar(im, ax=ax)
        ax.plot(lline, gline, "c-", lw=2, label=c_lab)
        if C_alt is not None and np.isfinite(C_alt) and C is not None and abs(C_alt - C) > 1e-9 * C:
            ax.plot(lambda_max(C_alt, gline), gline, "c--", lw=1.5,
                    label=f"theory with plug-in (biased) eps: C = {C_alt:.3g}")
        ax.set_xlim(le[0], le[-1])
        ax.set_ylim(ge[0], ge[-1])
        ax.set_xlabel("lambda")
        ax.set_ylabel("gamma")
        ax.set_title(ttl, fontsize=9)
    # empirical boundaries
    rows = summ["rows"]
    for ax, keyname, lab, col in ((axes[0], "lambda_error_boundary", f"final dist >= {summ['err_threshold']:.3g}", "r"),
                                  (axes[1], "lambda_contraction_boundary", "r >= 1", "lime")):
        pts = [(r[keyname], r["gamma"]) for r in rows if np.isfinite(r[keyname])]
        if pts:
            xs, ys = zip(*pts)
            ax.plot(xs, ys, "o--", color=col, ms=5, label=f"empirical boundary ({lab})")
        if len(pts) < len(rows):
            ax.text(0.02, 0.02, f"empirical boundary ({lab}):\nnone in range" + ("" if not pts else " for some gamma"),
                    transform=ax.transAxes, color="w", fontsize=8, va="bottom",
                    bbox={"facecolor": "k", "alpha": 0.5, "lw": 0})
        ax.legend(loc="upper left", fontsize=7)
    if "min_margin" in summ:
        axes[2].text(0.02, 0.02, f"admissible points: {summ['admissible_points']}\nmin margin {summ['min_margin']:.3g}\n"
                     f"max r / bound {summ['max_ratio_measured_over_bound']:.3g}\nall below bound: {summ['all_below_bound']}\n"
                     f"violations: {summ['points_violating']} (diverged: {summ['points_diverged']})",
                     transform=axes[2].transAxes, fontsize=8, color="w", va="bottom",
                     bbox={"facecolor": "k", "alpha": 0.5, "lw": 0})
    a = res.attrs
    fig.suptitle(title or (f"{a['family']} on {a['data']}: n={a['n']}, T={a['generations']}, seeds={len(a['seeds'])}, "
                           f"corrector={a['corrector']}")
                 + f"; non-finite configurations: {summ['nonfinite_configs']} of {summ['total_configs']}", fontsize=10)
    save_figure(fig, path)
    return summ
