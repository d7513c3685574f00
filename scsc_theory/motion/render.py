"""Stick-figure pictures of clips: an image strip (PNG) and an animation (GIF), before / after.

Each body geom is drawn as a thick line (capsules) or a dot (spheres), projected on a vertical
plane seen from the side (camera azimuth in degrees, 0 = looking along +y, so forward +x is to the
right). Rows are clips (e.g. input and corrected); the floor is the line z = 0, and parts below it
are drawn in red.
"""
from __future__ import annotations

import io as _io
from pathlib import Path

import numpy as np

from . import humanoid


def _segments(qpos: np.ndarray):
    """Geom segment end points (T, G, 2, 3) in m and radii (G,) for one clip (T, 28)."""
    from .kinematics import geom_poses

    gp, ga = geom_poses(qpos)
    h = humanoid.info().geom_halflen[:, None]
    ends = np.stack([gp - ga * h, gp + ga * h], axis=-2)
    return ends, humanoid.info().geom_radius


def _project(p, azimuth_deg: float):
    a = np.deg2rad(azimuth_deg)
    u = p[..., 0] * np.cos(a) + p[..., 1] * np.sin(a)
    return u, p[..., 2]


def _draw(ax, ends_t, radius, offset: float, azimuth: float, color: str):
    u, z = _project(ends_t, azimuth)
    for g in range(ends_t.shape[0]):
        below = (z[g] < -0.005).any()
        c = "tab:red" if below else color
        if np.allclose(ends_t[g, 0], ends_t[g, 1]):
            ax.plot(u[g, 0] + offset, z[g, 0], "o", ms=radius[g] * 110, color=c, alpha=0.85)
        else:
            ax.plot(u[g] + offset, z[g], "-", lw=radius[g] * 110, color=c, alpha=0.85, solid_capstyle="round")


def strip(clips, labels=None, *, n_frames: int = 8, azimuth: float = 0.0, spacing: float = 0.9, title: str | None = None):
    """A matplotlib figure: one row per clip (list of (T, 28) arrays), ``n_frames`` poses per row.

    Poses are spread ``spacing`` m apart on top of the clip's own horizontal motion (relative to
    its first frame) so that steps and turns stay visible.
    """
    import matplotlib.pyplot as plt

    clips = [np.asarray(c, dtype=np.float64) for c in clips]
    fig, axes = plt.subplots(len(clips), 1, figsize=(1.3 * n_frames, 2.6 * len(clips)), squeeze=False)
    for r, clip in enumerate(clips):
        ax = axes[r, 0]
        T = clip.shape[0]
        idx = np.linspace(0, T - 1, n_frames).round().astype(int)
        ends, radius = _segments(clip[idx])
        u0, _ = _project(clip[0, :3], azimuth)
        for k in range(len(idx)):
            ends_k = ends[k].copy()
            _draw(ax, ends_k, radius, k * spacing - u0, azimuth, "tab:blue" if r == 0 else "tab:green")
            ax.text(k * spacing, -0.12, f"t={idx[k]}", ha="center", fontsize=7)
        ax.axhline(0.0, color="k", lw=1)
        ax.set_aspect("equal")
        ax.set_ylim(-0.2, 2.0)
        ax.set_xticks([])
        if labels is not None:
            ax.set_ylabel(labels[r])
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def gif_bytes(clips, labels=None, *, azimuth: float = 0.0, fps: float = 20.0, size: float = 3.0) -> bytes:
    """An animated GIF (bytes) of the clips side by side, one panel each, at the clip frame rate."""
    import matplotlib.pyplot as plt
    from PIL import Image

    clips = [np.asarray(c, dtype=np.float64) for c in clips]
    T = min(c.shape[0] for c in clips)
    segs = [_segments(c[:T]) for c in clips]
    frames = []
    for t in range(T):
        fig, axes = plt.subplots(1, len(clips), figsize=(size * len(clips), size), squeeze=False)
        for r, (clip, (ends, radius)) in enumerate(zip(clips, segs)):
            ax = axes[0, r]
            u, _ = _project(clip[t, :3], azimuth)
            _draw(ax, ends[t], radius, 0.0, azimuth, "tab:blue" if r == 0 else "tab:green")
            ax.axhline(0.0, color="k", lw=1)
            ax.set_xlim(u - 1.0, u + 1.0)
            ax.set_ylim(-0.2, 1.9)
            ax.set_aspect("equal")
            ax.set_xticks([])
            ax.set_title((labels[r] if labels else f"clip {r}") + f"  t={t}", fontsize=8)
        buf = _io.BytesIO()
        fig.savefig(buf, format="png", dpi=60)
        plt.close(fig)
        buf.seek(0)
        frames.append(Image.open(buf).convert("P", palette=Image.ADAPTIVE))
    out = _io.BytesIO()
    frames[0].save(out, format="GIF", save_all=True, append_images=frames[1:], duration=int(1000 / fps), loop=0)
    return out.getvalue()


def render_clip(clip, out_dir, *, corrected=None, name: str = "clip", fps: float = 20.0, n_frames: int = 8,
                title: str | None = None) -> list[Path]:
    """Write ``<name>_strip.png`` and ``<name>.gif`` for ``clip`` (T, 28), with ``corrected`` as a
    second row / panel when given. Returns the paths written (atomic writes)."""
    from ..io import _atomic_write_bytes, save_figure

    clips = [clip] if corrected is None else [clip, corrected]
    labels = ["input"] if corrected is None else ["input", "corrected"]
    out_dir = Path(out_dir)
    fig = strip(clips, labels, n_frames=n_frames, title=title)
    png = save_figure(fig, out_dir / f"{name}_strip.png")
    gif = _atomic_write_bytes(out_dir / f"{name}.gif", gif_bytes(clips, labels, fps=fps))
    return [png, gif]
