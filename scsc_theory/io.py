"""Atomic file writes, so a killed run never leaves a half-written result behind; code provenance
(:func:`provenance`) for every results/summary file."""
from __future__ import annotations

import functools
import hashlib
import io
import json
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any, Iterable, Optional

import numpy as np


def _umask() -> int:
    """The process umask (read without changing it where /proc allows, else set and restore)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    old = os.umask(0o022)
    os.umask(old)
    return old


def _atomic_write_bytes(path: Path, data: bytes) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        # mkstemp creates the file 0600; give it the mode any other file the user writes gets (0666 & ~umask)
        os.fchmod(fd, 0o666 & ~_umask())
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


def cache_dir() -> Path:
    """The package's cache folder (motion datasets, trained evaluators): ``$SCSC_CACHE`` if set, else
    ``~/.cache/scsc_theory``. The one cache-location variable; a cache only saves time, never changes a number."""
    root = os.environ.get("SCSC_CACHE")
    return Path(root) if root else Path.home() / ".cache" / "scsc_theory"


def _machine_tag() -> str:
    """16 hex digits naming this machine's compiled-code compatibility: CPU architecture and
    instruction-set flags, jax / jaxlib versions (an executable compiled for one CPU must not be
    loaded on another that shares the cache folder)."""
    import platform

    import jax
    import jaxlib

    flags = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features")):
                flags = line.split(":", 1)[1].strip()
                break
    except OSError:
        flags = platform.processor()
    key = json.dumps([platform.machine(), flags, jax.__version__, jaxlib.__version__])
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def compile_cache_dir() -> Path:
    """Where the ``scsc`` command keeps XLA executables: ``cache_dir()/xla/<machine tag>``."""
    return cache_dir() / "xla" / _machine_tag()


def enable_compile_cache(path=None, *, min_compile_s: float = 0.5) -> Path:
    """Turn on JAX's persistent compilation cache for this process (default folder
    :func:`compile_cache_dir`): every program whose compilation takes at least ``min_compile_s``
    seconds is stored, and a later process that builds the same program (same computation, shapes,
    flags, jax / jaxlib and machine) loads it instead of compiling again. The executable is the one
    compilation would produce, so no number changes (tested); only start-up time does. Call before
    the first compilation; the ``scsc`` command does (``scsc --no-compile-cache ...`` turns it off)."""
    import jax

    folder = Path(path) if path is not None else compile_cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", str(folder))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", float(min_compile_s))
    return folder


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


# ---------------------------------------------------------------------------------------------
# code provenance
# ---------------------------------------------------------------------------------------------

#: the package ``__init__`` runs before any submodule (its own text counts; its re-exports are not used by
#: the areas below, and no module changes numerical settings at import), and input validation
_BASE = ("__init__.py", "_validate.py")
_CORE = _BASE + ("data.py", "correction.py", "faithful.py", "loop.py", "workflows.py", "families")
#: pi_gamma on samples (``correction.mix_in_target``) and what ``correction.py`` imports
_PI_GAMMA = ("correction.py", "faithful.py", "families", "data.py")
#: the host motion world and its loop, file by file: :mod:`scsc_theory.motion.device` (the corrector
#: planned in jnp for one jit-compiled generation) is a group of its own, so adding to it leaves the
#: host loop's results current (a file the host loop imports must be listed here; the closure test
#: says which)
_MOTION = tuple(f"motion/{f}" for f in ("__init__.py", "assets/humanoid.xml", "controller.py", "data.py",
                                         "evaluator.py", "humanoid.py", "kinematics.py", "loop.py", "metrics.py",
                                         "model.py", "physics.py", "render.py"))
#: Source groups (paths relative to the package folder): each lists every file the *numbers* of its
#: area depend on, closed under the package's imports (``tests/test_io_provenance_closure.py``), so a
#: group is self-contained (the diffusion worlds do not use the toy engine, and a change to it leaves
#: their results current); a record hashes the union of its groups. ``io.py`` (atomic file writing,
#: the cache location, and this table) computes nothing and is in no group, so editing the table never
#: marks a result STALE. Every entry must exist (:func:`source_files` raises otherwise).
SOURCE_GROUPS = {
    "core": _CORE,
    "toy": _CORE + ("toy.py",),
    "collapse": _CORE + ("collapse.py", "closed_form.py"),
    "theory": _CORE + ("theory", "symbolic.py"),
    "sweep": _CORE + ("theory", "sweep", "conjecture.py", "distributed.py"),
    "diffusion": _BASE + _PI_GAMMA + ("diffusion",),
    "motion": _BASE + _PI_GAMMA + ("diffusion",) + _MOTION,
    "motion_device": _BASE + _PI_GAMMA + ("diffusion",) + _MOTION + ("motion/device",),
    "digits": _BASE + _PI_GAMMA + ("diffusion", "digits"),
    "effective_gamma": _CORE + ("diffusion", "digits") + _MOTION + ("effective_gamma.py", "effective_gamma_toy.py",
                                "effective_gamma_digits.py", "effective_gamma_motion.py", "effective_gamma_report.py"),
}


def _package_dir() -> Path:
    return Path(__file__).resolve().parent


def source_files(groups: Iterable[str] = ("core",)) -> list:
    """The .py files (and motion assets) of the named :data:`SOURCE_GROUPS`, relative to the package, sorted."""
    pkg = _package_dir()
    rels = set()
    for g in groups:
        if g not in SOURCE_GROUPS:
            raise ValueError(f"unknown source group {g!r} (known: {', '.join(SOURCE_GROUPS)})")
        for entry in SOURCE_GROUPS[g]:
            p = pkg / entry
            if p.is_dir():
                rels.update(str(f.relative_to(pkg)) for f in p.rglob("*")
                            if f.is_file() and f.suffix in (".py", ".xml") and "__pycache__" not in f.parts)
            elif p.is_file():
                rels.add(entry)
            else:
                raise ValueError(f"source group {g!r} names {entry!r}, which is not in the package")
    return sorted(rels)


def source_hash(groups: Iterable[str] = ("core",)) -> str:
    """sha256 (first 16 hex digits) over the relative path and bytes of every file of ``groups``."""
    pkg = _package_dir()
    h = hashlib.sha256()
    for rel in source_files(groups):
        h.update(rel.encode() + b"\0" + (pkg / rel).read_bytes() + b"\0")
    return h.hexdigest()[:16]


@functools.lru_cache(maxsize=1)
def _git_commit() -> Optional[str]:
    root = _package_dir().parent
    if not (root / ".git").exists():
        return None
    try:
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def provenance(groups: Iterable[str] = ("core",)) -> dict:
    """The code that produced a result: package version, git commit (None outside a checkout) and a
    hash of the source files of ``groups`` (see :data:`SOURCE_GROUPS`, each self-contained).

    Store it in every results/summary file; :func:`provenance_status` compares a stored record
    with the current code."""
    from . import __version__

    gs = tuple(dict.fromkeys(groups))
    if not gs:
        raise ValueError("provenance needs at least one source group")
    return {"package": "scsc_theory", "version": __version__, "git_commit": _git_commit(),
            "source_groups": list(gs), "source_hash": source_hash(gs)}


def provenance_status(stored: Optional[dict]) -> tuple:
    """(stale, text) for a stored :func:`provenance` record: stale when absent or when the current
    hash of the same source groups differs from the stored one."""
    if not stored or "source_hash" not in stored:
        return True, "code provenance: none recorded (STALE: produced before provenance was stored)"
    groups = stored.get("source_groups") or ["core"]
    try:
        now = source_hash(groups)
    except ValueError as err:
        return True, f"code provenance: {err} (STALE)"
    commit = stored.get("git_commit")
    desc = (f"code: scsc_theory {stored.get('version', '?')}, commit {commit[:10] if commit else 'unknown'}, "
            f"source hash {stored['source_hash']} ({'+'.join(groups)})")
    if now != stored["source_hash"]:
        return True, f"{desc}; STALE: those sources now hash to {now}"
    return False, desc


def combined_provenance(records) -> dict:
    """One provenance for a file assembled from several runs' summaries: theirs when they all carry
    the same source hash, else a record that :func:`provenance_status` reports as STALE."""
    records = list(records)
    hashes = {(r or {}).get("source_hash") for r in records}
    if records and len(hashes) == 1 and None not in hashes:
        return dict(records[0])
    return {"package": "scsc_theory", "source_hash": None, "source_groups": (records[0] or {}).get("source_groups")
            if records else None, "note": "assembled from runs without one common code provenance"}


def restamp(stored: dict, reason: str) -> dict:
    """A stored record re-hashed under today's :data:`SOURCE_GROUPS` definition, for a result whose
    group was *redefined* (files added to it) after it was written. Refused (ValueError) unless every
    file of the redefined groups is byte-identical between the record's git commit and the working
    tree, so the new hash describes the code that ran; the old record is kept under ``restamped``."""
    commit, groups = stored.get("git_commit"), stored.get("source_groups")
    if not commit or not groups:
        raise ValueError("restamp needs a record with a git commit and source groups")
    root, pkg = _package_dir().parent, _package_dir().name
    for rel in source_files(groups):
        out = subprocess.run(["git", "-C", str(root), "show", f"{commit}:{pkg}/{rel}"], capture_output=True, timeout=30)
        if out.returncode != 0 or out.stdout != (_package_dir() / rel).read_bytes():
            raise ValueError(f"{rel} differs between commit {commit[:10]} and the working tree: cannot restamp")
    new = provenance(groups)
    new["git_commit"] = commit
    new["restamped"] = {"previous": stored, "reason": reason}
    return new
