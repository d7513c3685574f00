"""Input validation shared by the public API and the CLI.

Every check raises :class:`SCSCInputError` (a ``ValueError``) naming the parameter and the
allowed range, *before* any array is built or any function is compiled.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np


class SCSCInputError(ValueError):
    """Bad user input: the message names the parameter and the allowed values."""


def _fmt(value) -> str:
    return repr(value)


def check_finite_number(name: str, value) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise SCSCInputError(f"{name} must be a real number (got {_fmt(value)})") from None
    if not math.isfinite(v):
        raise SCSCInputError(f"{name} must be finite (got {_fmt(value)})")
    return v


def check_nonneg(name: str, value) -> float:
    v = check_finite_number(name, value)
    if v < 0:
        raise SCSCInputError(f"{name} must be >= 0 (got {_fmt(value)})")
    return v


def check_positive(name: str, value) -> float:
    v = check_finite_number(name, value)
    if v <= 0:
        raise SCSCInputError(f"{name} must be > 0 (got {_fmt(value)})")
    return v


def check_open_unit(name: str, value) -> float:
    v = check_finite_number(name, value)
    if not 0.0 < v < 1.0:
        raise SCSCInputError(f"{name} must lie in the open interval (0, 1) (got {_fmt(value)})")
    return v


def check_int(name: str, value, minimum: int, maximum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            raise SCSCInputError(f"{name} must be an integer >= {minimum} (got {_fmt(value)})")
    value = int(value)
    if value < minimum or (maximum is not None and value > maximum):
        rng = f">= {minimum}" if maximum is None else f"in [{minimum}, {maximum}]"
        raise SCSCInputError(f"{name} must be an integer {rng} (got {value})")
    return value


def check_choice(name: str, value, choices: Sequence[str]) -> str:
    if value not in choices:
        raise SCSCInputError(f"{name} must be one of {', '.join(map(repr, choices))} (got {_fmt(value)})")
    return value


def check_nonneg_list(name: str, values: Iterable) -> list[float]:
    vals = list(values)
    if len(vals) == 0:
        raise SCSCInputError(f"{name} must contain at least one value")
    return [check_nonneg(f"{name}[{i}]", v) for i, v in enumerate(vals)]


def check_spd(name: str, cov, dim: int | None = None) -> np.ndarray:
    """A finite, symmetric positive-definite matrix of shape (dim, dim)."""
    c = np.asarray(cov, dtype=np.float64)
    if c.ndim != 2 or c.shape[0] != c.shape[1]:
        raise SCSCInputError(f"{name} must be a square matrix (got shape {c.shape})")
    if dim is not None and c.shape[0] != dim:
        raise SCSCInputError(f"{name} must have shape ({dim}, {dim}) to match dim={dim} (got {c.shape})")
    if not np.all(np.isfinite(c)):
        raise SCSCInputError(f"{name} must be finite (got non-finite entries)")
    if not np.allclose(c, c.T, rtol=1e-10, atol=1e-12):
        raise SCSCInputError(f"{name} must be symmetric")
    w = np.linalg.eigvalsh(c)
    if w.min() <= 0:
        raise SCSCInputError(f"{name} must be positive definite (smallest eigenvalue {w.min():.3g} <= 0)")
    return c


def check_vector(name: str, v, dim: int | None = None) -> np.ndarray:
    a = np.asarray(v, dtype=np.float64)
    if a.ndim != 1:
        raise SCSCInputError(f"{name} must be a 1-D vector (got shape {a.shape})")
    if dim is not None and a.shape[0] != dim:
        raise SCSCInputError(f"{name} must have length {dim} to match dim={dim} (got {a.shape[0]})")
    if not np.all(np.isfinite(a)):
        raise SCSCInputError(f"{name} must be finite")
    return a


def parse_float_list(name: str, text: str) -> list[float]:
    """Parse a comma list such as ``"0,0.1,1"`` for the CLI."""
    try:
        return [float(t) for t in str(text).split(",") if t.strip() != ""]
    except ValueError:
        raise SCSCInputError(f"{name} must be a comma-separated list of numbers (got {text!r})") from None


def _first_existing(path: Path) -> Path:
    p = path
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def _probe_folder(name: str, folder: Path, what: str) -> None:
    """Create ``folder`` (with parents) and write and remove a probe file in it: the only test that
    holds for every file system and user (root passes os.access everywhere, /proc refuses writes)."""
    import tempfile

    anc = _first_existing(folder)
    if not anc.is_dir():
        raise SCSCInputError(f"{name}: cannot create {what}: {str(anc)!r} is a file, not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".scsc-write-probe-"):
            pass
    except OSError as err:
        raise SCSCInputError(f"{name}: cannot write {what} ({err.strerror or err})") from None


def check_output_dir(name: str, path) -> Path:
    """An output folder: an existing folder, or one that can be created, in which a file can be
    written (checked by creating the folder and a probe file). Called before any computation."""
    if path is None or str(path).strip() == "":
        raise SCSCInputError(f"{name} must be a folder path (got {path!r})")
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise SCSCInputError(f"{name} must be a folder, but {str(p)!r} is an existing file")
    _probe_folder(name, p, f"into {str(p)!r}")
    return p


def check_output_file(name: str, path) -> Path:
    """An output file: not a folder, in a folder that exists or can be created and is writable."""
    if path is None or str(path).strip() == "":
        raise SCSCInputError(f"{name} must be a file path (got {path!r})")
    p = Path(path)
    if p.is_dir():
        raise SCSCInputError(f"{name} must be a file, but {str(p)!r} is an existing folder")
    _probe_folder(name, p.parent if str(p.parent) else Path("."), f"{str(p)!r}")
    return p
