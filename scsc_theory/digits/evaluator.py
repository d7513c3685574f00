"""A small digit classifier, trained ONCE on the real training digits, whose features score samples.

Network (an MLP on the 64 pixels; the digits are small enough):

    f(x) = tanh(W_2 GELU(W_1 vec(x) + b_1) + b_2)   (feature, ``feat_dim`` = 32)
    logits = W_3 f(x) + b_3

trained with AdamW on cross-entropy, pixel-noise augmentation (sigma 0.1), fixed seed. The same
weights serve every arm, lambda and seed.

Metrics of a batch of generated images with conditioning labels (each generation of the loop):

* ``fid``: Frechet distance between the Gaussian fits of the sample features and of the features of
  the held-out ``ref`` images (:func:`scsc_theory.diffusion.fid.frechet_distance`);
* ``accuracy``: fraction of samples the classifier assigns to their conditioning label;
* ``diversity``: mean feature distance between random pairs of samples (Guo et al. 2020);
* ``multimodality``: the same within each class, averaged over classes (per-class diversity).

Reference values for real data (``real_reference``): the classifier's held-out accuracy and the FID
of the real training images against ``ref`` (the floor a perfect generator would reach at that
sample size).
"""
from __future__ import annotations

from dataclasses import dataclass

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ..diffusion.fid import diversity, frechet_distance, gaussian_stats, multimodality
from .data import IMAGE_SHAPE, NUM_CLASSES, check_images
from ..diffusion.classifier import features_and_logits, train_classifier


class DigitClassifier(eqx.Module):
    l1: eqx.nn.Linear
    l2: eqx.nn.Linear
    head: eqx.nn.Linear

    def __init__(self, hidden: int = 128, feat_dim: int = 32, num_classes: int = NUM_CLASSES, *, key):
        k = jax.random.split(key, 3)
        d = int(np.prod(IMAGE_SHAPE))
        self.l1 = eqx.nn.Linear(d, hidden, key=k[0])
        self.l2 = eqx.nn.Linear(hidden, feat_dim, key=k[1])
        self.head = eqx.nn.Linear(feat_dim, num_classes, key=k[2])

    def features(self, x):
        return jnp.tanh(self.l2(jax.nn.gelu(self.l1(jnp.ravel(x)))))

    def __call__(self, x):
        return self.head(self.features(x))


@dataclass(frozen=True)
class ClassifierConfig:
    hidden: int = 128
    feat_dim: int = 32
    steps: int = 2000
    batch_size: int = 128
    lr: float = 2e-3
    weight_decay: float = 1e-4
    noise_aug: float = 0.1
    seed: int = 0


_train = train_classifier  # shared with the other evaluator (scsc_theory.diffusion.classifier)
_forward = features_and_logits


class DigitsEvaluator:
    """Classifier + reference feature statistics of the held-out ``ref`` images (any image size: the
    classifier decides; :mod:`.lenet` gives the 28x28 one)."""

    def __init__(self, classifier, ref_x, ref_y):
        self.classifier = classifier
        ref_x, ref_y = check_images("ref_x", ref_x, ref_y, image_shape=None)
        self.image_shape = tuple(ref_x.shape[1:])
        f, _ = self._fwd(ref_x)
        self.ref_mu, self.ref_cov = gaussian_stats(f)
        self.ref_y = ref_y

    @classmethod
    def train(cls, x_train, y_train, ref_x, ref_y, cfg: ClassifierConfig = ClassifierConfig()) -> "DigitsEvaluator":
        x_train, y_train = check_images("x_train", x_train, y_train)
        model = DigitClassifier(cfg.hidden, cfg.feat_dim, key=jax.random.PRNGKey(cfg.seed))
        model, _ = _train(model, jnp.asarray(x_train), jnp.asarray(y_train), cfg)
        return cls(model, ref_x, ref_y)

    def _fwd(self, x):
        f, lg = _forward(self.classifier, jnp.asarray(x, jnp.float32))
        return np.asarray(f, np.float64), np.asarray(lg)

    def features(self, x) -> np.ndarray:
        return self._fwd(x)[0]

    def accuracy(self, x, y) -> float:
        return float(np.mean(np.argmax(self._fwd(x)[1], axis=1) == np.asarray(y)))

    def fid(self, x) -> float:
        return frechet_distance(*gaussian_stats(self.features(x)), self.ref_mu, self.ref_cov)

    def metrics(self, x, y, seed: int = 0) -> dict:
        x = np.asarray(x, np.float32)
        if x.ndim != 3 or tuple(x.shape[1:]) != self.image_shape:
            raise ValueError(f"samples must have shape (n, {self.image_shape[0]}, {self.image_shape[1]}); got {x.shape}")
        f, lg = self._fwd(x)
        return {
            "fid": frechet_distance(*gaussian_stats(f), self.ref_mu, self.ref_cov),
            "accuracy": float(np.mean(np.argmax(lg, axis=1) == np.asarray(y))),
            "diversity": diversity(f, seed=seed),
            "multimodality": multimodality(f, y, seed=seed),
        }

    def fid_floor(self, x_real, n: int, draws: int = 5, seed: int = 0) -> dict:
        """FID's noise floor: FID of ``draws`` random subsets of ``n`` REAL images (drawn without
        replacement from ``x_real``, e.g. the held-out pool) against the reference. A generator whose
        FID lies inside ``mean +- 2 sd`` is indistinguishable from real data at this sample size."""
        x = np.asarray(x_real, np.float32)
        n = min(int(n), x.shape[0])
        rng = np.random.default_rng(seed)
        vals = [self.fid(x[rng.choice(x.shape[0], n, replace=False)]) for _ in range(int(draws))]
        return {"n": n, "draws": int(draws), "mean": float(np.mean(vals)),
                "sd": float(np.std(vals, ddof=1)) if len(vals) > 1 else 0.0, "values": [float(v) for v in vals]}

    def real_reference(self, x_real, y_real, x_heldout, y_heldout) -> dict:
        """Metrics of REAL images: the classifier's held-out accuracy, FID(train real vs ref) etc."""
        m = self.metrics(x_real, y_real)
        return {"fid_real_train_vs_ref": m["fid"], "diversity_real_train": m["diversity"],
                "accuracy_real_train": m["accuracy"], "accuracy_real_heldout": self.accuracy(x_heldout, y_heldout)}
