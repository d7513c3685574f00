"""Sweep results on disk: ``results.npz`` (deterministic bytes) + ``index.json`` (dims, coords,
variables, attrs), written atomically; a resumed run writes the same bytes as an uninterrupted one.
"""
from __future__ import annotations

import dataclasses
import io
import json
import zipfile
from pathlib import Path
from typing import Any, Dict

import numpy as np

RESULTS = "results.npz"
INDEX = "index.json"
CHECKPOINT = "checkpoint.npz"


@dataclasses.dataclass
class SweepResult:
    """Labelled arrays: ``data[name]`` with ``dims[name]``, coords lam/gamma/seed/generation, attrs."""

    data: Dict[str, np.ndarray]
    dims: Dict[str, tuple]
    coords: Dict[str, np.ndarray]
    attrs: Dict[str, Any]

    def __getitem__(self, k):
        return self.data[k]


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


def write_atomic(path: Path, data: bytes) -> Path:
    from ..io import _atomic_write_bytes

    return _atomic_write_bytes(Path(path), data)


def save_results(res: SweepResult, out_dir) -> Path:
    """Write ``results.npz`` (arrays + coords) and ``index.json`` (dims, coords, attrs) atomically."""
    out = Path(out_dir)
    arrays = dict(res.data)
    arrays.update({f"coord_{k}": v for k, v in res.coords.items()})
    write_atomic(out / RESULTS, npz_bytes(arrays))
    index = {
        "format": "scsc sweep results v1: results.npz holds each variable and coord_<dim> arrays",
        "dims": ["lam", "gamma", "seed", "generation"],
        "coords": {k: v.tolist() for k, v in res.coords.items()},
        "variables": {k: {"dims": list(res.dims[k]), "shape": list(np.shape(res.data[k])),
                          "dtype": str(np.asarray(res.data[k]).dtype)} for k in sorted(res.data)},
        "attrs": res.attrs,
    }
    write_atomic(out / INDEX, (json.dumps(index, indent=2, sort_keys=True, default=_json_default) + "\n").encode())
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

