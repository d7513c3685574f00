"""Running a sweep: the whole (lambda x gamma x seed x 2 chains) grid as one sharded, resumable,
jit-compiled loop (:mod:`scsc_theory.sweep`).

How it is run
-------------
The config axis (lam x gamma x seed x 2 chains) is padded to a multiple of the number of devices
(padded configs repeat config 0 and are dropped), laid out with a ``NamedSharding`` over a 1-D
mesh of all devices (all processes' devices under ``jax.distributed``: each process owns its
shard) and run through the engine's jitted ``init`` / ``chunk`` functions
(:func:`scsc_theory.loop.compiled_runner`). After every chunk of generations the state and the
records so far are written atomically to ``DIR/checkpoint.npz``; rerunning the same command
continues from it, and the results equal an uninterrupted run (the RNG is a function of (seed, t)).

Output: ``DIR/results.npz`` (deterministic bytes) + ``DIR/index.json`` (dims, coords, variables,
attrs), dims (lam, gamma, seed, generation).
"""
from __future__ import annotations

import functools
import json
import math
import os
import time
from pathlib import Path
from typing import Callable, Optional, Sequence

import jax
import numpy as np

from .._validate import SCSCInputError
from ..workflows import ACCUMULATING
from .analysis import contraction_factor
from .config import SweepConfig
from .results import CHECKPOINT, INDEX, RESULTS, SweepResult, load_results, npz_bytes, save_results, write_atomic

#: refuse sweeps whose estimated peak memory exceeds this fraction of physical RAM
MEMORY_FRACTION = 0.5


def _estimate_bytes(family, dim: int, C: int, n: int, m_max: int, chunk: int, T: int, accumulating: bool = False) -> int:
    """Rough peak bytes: carried state (x the family's state copies, e.g. an optimizer's moments),
    per-generation point buffers and their fit workspace (every past generation's points for an
    accumulating workflow), one chunk of recorded parameters, and the host records."""
    mem = family.fit_memory()
    p_bytes = 4 * family.param_count()
    st_bytes = p_bytes * mem.state_copies
    pts = (n + max(m_max, 1) * (T if accumulating else 1)) * dim * 4
    work = pts * (8 + mem.work_per_coordinate)
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


def run_sweep(family, data_law, lams: Sequence[float], gammas: Sequence[float], seeds: Sequence[int], *,
              n: int = 50, generations: int = 100, chunk: Optional[int] = None, corrector: str = "ideal",
              perturb: Optional[float] = None, t_fit: int = 8, out_dir=None, resume: bool = True, devices=None,
              progress: bool = False, overwrite: bool = False,
              on_checkpoint: Optional[Callable[[int], None]] = None, mode: str = "fixed",
              subsample: Optional[int] = None) -> SweepResult:
    """:func:`run_config` of ``SweepConfig.build(family, data_law, lams, gammas, seeds, ...)``."""
    cfg = SweepConfig.build(family, data_law, lams, gammas, seeds, n=n, generations=generations, chunk=chunk,
                            corrector=corrector, perturb=perturb, t_fit=t_fit, mode=mode, subsample=subsample)
    return run_config(cfg, out_dir=out_dir, resume=resume, devices=devices, progress=progress, overwrite=overwrite,
                      on_checkpoint=on_checkpoint)


def run_config(cfg: SweepConfig, *, out_dir=None, resume: bool = True, devices=None, progress: bool = False,
               overwrite: bool = False, on_checkpoint: Optional[Callable[[int], None]] = None) -> SweepResult:
    """Run the (lam x gamma x seed) grid of ``cfg``, two chains per point, sharded over ``devices``
    (default: all devices of all processes). With ``out_dir``: checkpoint after every chunk (resumed
    when ``resume``) and write ``results.npz`` + ``index.json``; finished results of a different grid
    in ``out_dir`` are refused (SCSCInputError) unless ``overwrite``. ``on_checkpoint(k)`` is called
    after the k-th checkpoint is written (tests use it to kill the process there).
    Returns a :class:`SweepResult`."""
    import jax
    import jax.numpy as jnp
    from jax.sharding import Mesh, NamedSharding, PartitionSpec

    from ..loop import compiled_runner, LoopSpec, synthetic_count, validate_loop_args

    family, data_law = cfg.family, cfg.data_law
    lams, gammas, seeds = cfg.lam_array, cfg.gamma_array, cfg.seed_array
    n, generations, chunk, t_fit, perturb, corrector = cfg.n, cfg.generations, cfg.chunk, cfg.t_fit, cfg.perturb, cfg.corrector
    L, G, S = lams.size, gammas.size, seeds.size
    devices = list(jax.devices()) if devices is None else list(devices)
    nd = len(devices)
    C0 = 2 * L * G * S
    C = int(math.ceil(C0 / nd) * nd)
    m_max = int(synthetic_count(np.max(lams), n))
    need = _estimate_bytes(family, data_law.dim, C, n, m_max, chunk, generations, cfg.mode in ACCUMULATING)
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
        mode=cfg.mode, sampling="finite", corrector=corrector)
    m = synthetic_count(lam_c, n)
    assert int(m.max()) == m_max
    pad = np.arange(C) % C0  # padded configs repeat the first ones and are dropped
    lam_p, gam_p, seed_p, m_p, chain_p = lam_c[pad], gam_c[pad], seed_c[pad], m[pad], chain[pad]

    attrs = cfg.attrs()
    key = cfg.key
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

    spec = LoopSpec(n=n, generations=generations, m_max=m_max, mode=cfg.mode, corrector=corrector,
                    fully_synthetic=cfg.mode == "replace", subsample=cfg.subsample)
    runner = compiled_runner(family, data_law, spec, chunk)
    mesh = Mesh(np.asarray(devices), ("c",))
    shard = NamedSharding(mesh, PartitionSpec("c"))
    dt = jnp.zeros(()).dtype
    ga = lambda x: _global_array(x, shard)  # noqa: E731
    lam_j, gam_j = ga(lam_p.astype(dt)), ga(gam_p.astype(dt))
    seed_j, m_j = ga(seed_p.astype(np.uint32)), ga(m_p.astype(np.int32))
    ts = family.theta_star(data_law)
    theta0 = jax.tree_util.tree_map(lambda a: ga(np.broadcast_to(np.asarray(a), (C,) + a.shape)), ts)
    use0 = ga(np.zeros(C, bool))

    move = family.perturbation(ts, jax.random.PRNGKey(12345))

    @jax.jit
    def perturb_state(state, is_pert):
        p = family.params(state["fit"])
        q = jax.vmap(lambda pp: move(pp, perturb))(p)
        q = jax.tree_util.tree_map(lambda a, b: jnp.where(is_pert.reshape((-1,) + (1,) * (a.ndim - 1)), a, b), q, p)
        new = dict(state)
        new["fit"] = jax.vmap(family.with_params)(state["fit"], q)
        return new

    # ---- start or resume
    t_done, records = 0, []
    state = None
    ck = None if out is None else out / CHECKPOINT
    if out is not None and resume and (out / RESULTS).exists() and (out / INDEX).exists():
        old = load_results(out)
        if old.attrs.get("sweep_key") == key:
            return old
    state0, rec0 = runner.init(lam_j, gam_j, seed_j, theta0, use0)
    state0 = perturb_state(state0, ga(chain_p == 1))
    rec0 = runner_record0(runner, state0, seed_j)
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
        t_j, state, rec = runner.chunk(t_j, state, lam_j, gam_j, seed_j, m_j)
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
                write_atomic(ck, npz_bytes(arrays))
            if on_checkpoint is not None:
                on_checkpoint(ci + 1)
    res = _assemble(family, records, lams, gammas, seeds, generations, t_fit, attrs)
    if out is not None and is_writer:
        save_results(res, out)
        write_atomic(out / "run_log.json", (json.dumps({
            "devices": nd, "processes": jax.process_count(), "platform": devices[0].platform,
            "chunk_seconds": timings, "resumed_from_generation": t_done}, indent=2) + "\n").encode())
        if ck is not None and ck.exists():
            ck.unlink()
    return res


def runner_record0(runner, state, seed_j):
    """Generation 0's record of a (perturbed) state, with the engine's own key
    (:func:`scsc_theory.loop.initial_record_key`), shaped (C, 1, ...) like a chunk's records."""
    import jax

    return jax.tree_util.tree_map(lambda a: a[:, None], runner.record0(state, seed_j))


@functools.partial(jax.jit, static_argnums=0)
def _pair_distance(family, a, b):
    """family.distance over the (config, generation) axes."""
    return jax.vmap(jax.vmap(family.distance))(a, b)


def _reduce_record(family, rec, C0):
    """Host record of one chunk (C, len, ...) -> small arrays: base metrics, pert dist, pair distance D_t."""
    import jax

    rec = jax.tree_util.tree_map(lambda a: a[:C0], rec)
    base = jax.tree_util.tree_map(lambda a: a[0::2], rec)
    pert = jax.tree_util.tree_map(lambda a: a[1::2], rec)
    diff = np.asarray(_pair_distance(family, pert["theta"], base["theta"]))
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
