"""Atomic file writes, so a killed run never leaves a half-written result behind."""
from __future__ import annotations

import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np


def _atomic_write_bytes(path: Path, data: bytes) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o)}")


def to_jsonable(obj: Any) -> Any:
    """Round-trip through json so NaN/inf become null-safe strings are *not* produced silently."""
    return json.loads(json.dumps(obj, default=_json_default, allow_nan=True))


def write_json(path, obj: Any) -> Path:
    text = json.dumps(obj, default=_json_default, indent=2, allow_nan=True)
    return _atomic_write_bytes(Path(path), (text + "\n").encode())


def write_text(path, text: str) -> Path:
    return _atomic_write_bytes(Path(path), text.encode())


def write_npz(path, **arrays) -> Path:
    buf = io.BytesIO()
    np.savez(buf, **{k: np.asarray(v) for k, v in arrays.items()})
    return _atomic_write_bytes(Path(path), buf.getvalue())


def save_figure(fig, path, close: bool = True) -> Path:
    """Save a matplotlib figure atomically (format by the path's suffix), then close it unless ``close=False``."""
    path = Path(path)
    buf = io.BytesIO()
    fmt = path.suffix.lstrip(".") or "png"
    fig.savefig(buf, format=fmt, dpi=130, bbox_inches="tight")
    if close:
        import matplotlib.pyplot as plt

        plt.close(fig)
    return _atomic_write_bytes(path, buf.getvalue())
