"""Real handwritten digits: scikit-learn's ``load_digits`` (1,797 images, 8x8, 17 grey levels).

Pixels ``p in {0, ..., 16}`` are scaled to ``x = p / 8 - 1 in [-1, 1]`` (the DDPM convention).
The images are split ONCE, stratified by class, with a fixed seed:

* ``train`` (``train_frac``, default 50%): the real data the generative models train on; the
  k-means centres of the self-correction and the evaluation classifier are fitted on it;
* ``pool`` (half of the rest): held-out real images the idealised arm draws from;
* ``ref`` (the other half): held-out real images whose classifier features are FID's reference.

Keeping ``pool`` and ``ref`` disjoint stops the idealised arm from being scored against the very
images it copies.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .._validate import SCSCInputError, check_int

SIDE = 8
IMAGE_SHAPE = (SIDE, SIDE)
NUM_CLASSES = 10
PIXEL_MAX = 16.0


def to_model_scale(pixels) -> np.ndarray:
    """``x = p / 8 - 1``: grey levels 0..16 -> [-1, 1]."""
    return (np.asarray(pixels, np.float32) / (PIXEL_MAX / 2.0) - 1.0).astype(np.float32)


def to_pixels(x) -> np.ndarray:
    """Inverse of :func:`to_model_scale` (clipped to [0, 16])."""
    return np.clip((np.asarray(x, np.float32) + 1.0) * (PIXEL_MAX / 2.0), 0.0, PIXEL_MAX)


def check_images(name: str, x, labels=None, num_classes: int = NUM_CLASSES, image_shape=IMAGE_SHAPE):
    """Validate a batch of images ``(n, *image_shape)`` (finite; ``image_shape=None``: any ``(n, h, w)``)
    and, if given, integer labels ``(n,)`` in ``[0, num_classes)``. Returns ``(x float32, labels int32 |
    None)``; raises SCSCInputError."""
    a = np.asarray(x)
    if image_shape is None:
        if a.ndim != 3:
            raise SCSCInputError(f"{name} must be a batch of images with shape (n, height, width) (got shape {a.shape})")
    elif a.ndim != 3 or tuple(a.shape[1:]) != tuple(image_shape):
        h, w = image_shape
        raise SCSCInputError(f"{name} must be a batch of {h}x{w} images with shape (n, {h}, {w}) (got shape {a.shape})")
    if a.shape[0] < 1:
        raise SCSCInputError(f"{name} must hold at least one image (got shape {a.shape})")
    if not np.issubdtype(a.dtype, np.number) or not np.all(np.isfinite(a)):
        raise SCSCInputError(f"{name} must be finite numbers")
    a = a.astype(np.float32)
    if labels is None:
        return a, None
    lab = np.asarray(labels)
    if lab.shape != (a.shape[0],):
        raise SCSCInputError(f"labels for {name} must have shape ({a.shape[0]},) (got {lab.shape})")
    if not np.issubdtype(lab.dtype, np.integer):
        if np.issubdtype(lab.dtype, np.floating) and np.all(lab == np.round(lab)):
            lab = lab.astype(np.int64)
        else:
            raise SCSCInputError(f"labels for {name} must be integers in [0, {num_classes - 1}]")
    if lab.size and (lab.min() < 0 or lab.max() >= num_classes):
        raise SCSCInputError(f"labels for {name} must lie in [0, {num_classes - 1}] (got {lab.min()}..{lab.max()})")
    return a, lab.astype(np.int32)


@dataclass(frozen=True)
class DigitsSplit:
    x_train: np.ndarray  # (n_train, 8, 8) float32 in [-1, 1]
    y_train: np.ndarray  # (n_train,) int32
    x_pool: np.ndarray  # held-out, for the idealised arm
    y_pool: np.ndarray
    x_ref: np.ndarray  # held-out, FID reference
    y_ref: np.ndarray
    split_seed: int

    @property
    def sizes(self) -> dict:
        return {"train": len(self.y_train), "pool": len(self.y_pool), "ref": len(self.y_ref)}


@lru_cache(maxsize=1)
def _raw():
    from sklearn.datasets import load_digits

    d = load_digits()
    return d.images.astype(np.float32), d.target.astype(np.int32)


def _stratified(y, frac, rng):
    """Indices of a stratified subset holding round(frac * count) of every class (>= 1 each)."""
    pick = []
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        rng.shuffle(idx)
        k = max(1, int(round(frac * idx.size)))
        pick.append(idx[:k])
    return np.sort(np.concatenate(pick))


def load_split(train_frac: float = 0.5, split_seed: int = 0, n_train: int | None = None) -> DigitsSplit:
    """The fixed stratified split described in the module docstring.

    ``n_train`` (optional) keeps only a stratified subset of that many training images (rounded per
    class), e.g. to make the loop cheaper or collapse faster with fewer real images.
    """
    if not 0.1 <= float(train_frac) <= 0.9:
        raise SCSCInputError(f"train_frac must lie in [0.1, 0.9] (got {train_frac})")
    split_seed = check_int("split_seed", split_seed, 0)
    images, target = _raw()
    rng = np.random.default_rng(split_seed)
    tr = _stratified(target, float(train_frac), rng)
    rest = np.setdiff1d(np.arange(target.size), tr)
    pool_rel = _stratified(target[rest], 0.5, rng)
    pool = rest[pool_rel]
    ref = np.setdiff1d(rest, pool)
    if n_train is not None:
        n_train = check_int("n_train", n_train, NUM_CLASSES, tr.size)
        tr = tr[_stratified(target[tr], n_train / tr.size, rng)]
    x = to_model_scale(images)
    return DigitsSplit(x[tr], target[tr], x[pool], target[pool], x[ref], target[ref], split_seed)
