"""Atomic checkpoints of any pytree (equinox modules, optax states, arrays, metadata).

``save(path, tree, meta)`` writes every array leaf of ``tree`` (``leaf_0 ... leaf_k``) plus a JSON
string of ``meta`` into ONE ``.npz`` written atomically (:func:`scsc_theory.io.write_npz`: temp file,
fsync, rename), so a run killed at any instant leaves either the previous or the new checkpoint.
``load(path, like)`` needs a template pytree of the same structure (e.g. a freshly initialised
model and ``optimizer.init(...)``) and returns ``(tree, meta)``; shapes and dtypes are checked.
"""
from __future__ import annotations

import json
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ..io import write_npz


def _leaves(tree):
    return jax.tree_util.tree_leaves(eqx.filter(tree, eqx.is_array))


def save(path, tree, meta: dict | None = None) -> Path:
    leaves = _leaves(tree)
    arrays = {f"leaf_{i}": np.asarray(leaf) for i, leaf in enumerate(leaves)}
    arrays["__meta__"] = np.asarray(json.dumps(meta or {}))
    arrays["__nleaves__"] = np.asarray(len(leaves))
    return write_npz(path, **arrays)


def load(path, like):
    """Return ``(tree, meta)``: ``like`` with its array leaves replaced by the stored ones."""
    with np.load(Path(path), allow_pickle=False) as z:
        n = int(z["__nleaves__"])
        stored = [z[f"leaf_{i}"] for i in range(n)]
        meta = json.loads(str(z["__meta__"]))
    arrays, static = eqx.partition(like, eqx.is_array)
    flat, treedef = jax.tree_util.tree_flatten(arrays)
    if len(flat) != n:
        raise ValueError(f"checkpoint {path} has {n} arrays, template has {len(flat)}")
    new = []
    for i, (t, s) in enumerate(zip(flat, stored)):
        if tuple(t.shape) != tuple(s.shape):
            raise ValueError(f"checkpoint {path}: leaf {i} has shape {s.shape}, template {t.shape}")
        new.append(jnp.asarray(s, dtype=t.dtype))
    return eqx.combine(jax.tree_util.tree_unflatten(treedef, new), static), meta


def exists(path) -> bool:
    return Path(path).is_file()
