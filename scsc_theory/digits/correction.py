"""Self-correction of synthetic digit images (Gillman et al., ICML 2024, section 4 / MNIST).

The paper's practical image correction: k-means is fitted ONCE on the real training images of each
class (``K = 16`` centres per class here) and every synthetic image ``x`` with label ``y`` is moved to
the nearest centre of its own class,

    c(x, y) = argmin_{c in C_y} ||x - c||_2 .

* ``gamma = inf`` (``None``): replacement, ``x -> c(x, y)``, as the original code did;
* finite ``gamma >= 0``: the strength-gamma variant that moves only part of the way,

      x -> (x + gamma c(x, y)) / (1 + gamma),

  i.e. the convex combination with weight ``gamma / (1 + gamma)`` on the centre, mirroring the
  theory's ``pi_gamma = (p_theta + gamma p_data) / (1 + gamma)`` (``gamma = 0`` leaves ``x`` unchanged);
* the idealised correction of the theory (``ideal`` arm): each synthetic image is replaced by a
  held-out REAL image of the same class with probability ``gamma / (1 + gamma)``, so the corrected
  batch is an exact draw from ``pi_gamma`` class by class when the model's class marginal is
  the data's.

All array functions are pure ``jax.numpy`` (jittable); validation is done on the host before.
"""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from .._validate import SCSCInputError, check_int, check_nonneg
from .data import NUM_CLASSES, check_images


def check_gamma(gamma, name: str = "gamma"):
    """``None`` or ``inf`` -> ``None`` (replacement); else a finite float >= 0 (SCSCInputError)."""
    if gamma is None:
        return None
    try:
        g = float(gamma)
    except (TypeError, ValueError):
        raise SCSCInputError(f"{name} must be a number >= 0 or inf (got {gamma!r})") from None
    if math.isinf(g) and g > 0:
        return None
    return check_nonneg(name, g)


def fit_centres(x, y, k: int = 16, seed: int = 0, num_classes: int = NUM_CLASSES) -> np.ndarray:
    """k-means (scikit-learn, ``n_init=10``, fixed ``random_state``) per class on real images.

    Returns ``(num_classes, k, h, w)`` float32 for images ``(n, h, w)`` (8x8 digits, 28x28 MNIST).
    Every class needs at least ``k`` images.
    """
    from sklearn.cluster import KMeans

    x, y = check_images("x", x, y, num_classes, image_shape=None)
    k = check_int("k", k, 1)
    shape = tuple(x.shape[1:])
    out = np.zeros((num_classes, k) + shape, np.float32)
    for c in range(num_classes):
        xc = x[y == c].reshape(-1, math.prod(shape))
        if xc.shape[0] < k:
            raise SCSCInputError(f"class {c} has {xc.shape[0]} training images, fewer than k={k} centres")
        km = KMeans(n_clusters=k, n_init=10, random_state=int(seed)).fit(xc.astype(np.float64))
        out[c] = km.cluster_centers_.reshape((k,) + shape).astype(np.float32)
    return out


def nearest_centre(x, y, centres):
    """``c(x, y)``: for each image the nearest (L2) centre among ``centres[y]``. ``x``: (b, h, w)."""
    x = jnp.asarray(x, jnp.float32)
    cy = jnp.asarray(centres)[jnp.asarray(y, jnp.int32)]  # (b, K, 8, 8)
    d2 = jnp.sum((cy - x[:, None]) ** 2, axis=(2, 3))  # (b, K)
    j = jnp.argmin(d2, axis=1)
    return jnp.take_along_axis(cy, j[:, None, None, None], axis=1)[:, 0]


def correct_images(x, y, centres, gamma=None):
    """The cluster-centre self-correction (host API, validated): ``c(x, y)`` if ``gamma`` is None/inf,
    else ``(x + gamma c(x, y)) / (1 + gamma)``. ``x``: (n, h, w), ``y``: (n,) ints in [0, 10),
    ``centres``: (10, K, h, w) from :func:`fit_centres`. Raises SCSCInputError on bad input."""
    gamma = check_gamma(gamma)
    c = np.asarray(centres)
    x, y = check_images("x", x, y, image_shape=tuple(c.shape[2:]) if c.ndim == 4 and np.ndim(x) != 3 else None)
    if c.ndim != 4 or c.shape[0] != NUM_CLASSES or tuple(c.shape[2:]) != tuple(x.shape[1:]):
        h, w = x.shape[1:]
        raise SCSCInputError(f"centres must have shape ({NUM_CLASSES}, K, {h}, {w}) to match the images (got {c.shape})")
    return correct_jnp(x, y, c, gamma)


def correct_jnp(x, y, centres, gamma):
    """Jittable core of :func:`correct_images` (no validation; ``gamma`` a Python float or None)."""
    c = nearest_centre(x, y, centres)
    if gamma is None:
        return c
    return (jnp.asarray(x, jnp.float32) + gamma * c) / (1.0 + gamma)


class PerClassPool:
    """Held-out real images arranged per class for jittable same-class draws.

    ``images``: (num_classes, max_count, h, w) (zero-padded), ``counts``: (num_classes,).
    """

    def __init__(self, x, y, num_classes: int = NUM_CLASSES):
        x, y = check_images("pool images", x, y, num_classes, image_shape=None)
        counts = np.bincount(y, minlength=num_classes)
        if counts.min() < 1:
            raise SCSCInputError(f"the held-out pool needs at least one image of every class (counts {counts.tolist()})")
        imgs = np.zeros((num_classes, int(counts.max())) + tuple(x.shape[1:]), np.float32)
        for c in range(num_classes):
            imgs[c, : counts[c]] = x[y == c]
        self.images, self.counts = jnp.asarray(imgs), jnp.asarray(counts, jnp.int32)

    def draw(self, labels, key):
        """One uniformly drawn held-out image of class ``labels[i]`` for each ``i`` (with replacement)."""
        labels = jnp.asarray(labels, jnp.int32)
        u = jax.random.uniform(key, labels.shape)
        j = jnp.minimum(jnp.floor(u * self.counts[labels]).astype(jnp.int32), self.counts[labels] - 1)
        return self.images[labels, j]


def ideal_correct(x, y, pool: PerClassPool, gamma: float, key):
    """Idealised correction: each image replaced by a held-out real image of its class with
    probability ``gamma / (1 + gamma)`` (the same rule as :func:`scsc_theory.diffusion.loop.ideal_mix`)."""
    from ..diffusion.loop import ideal_mix

    gamma = check_nonneg("gamma", gamma)
    x, y = check_images("x", x, y, image_shape=tuple(pool.images.shape[2:]))
    k_draw, k_mix = jax.random.split(key)
    fresh = pool.draw(y, k_draw)
    return ideal_mix(jnp.asarray(x, jnp.float32), fresh, gamma, k_mix)
