"""A LeNet-5-style evaluation network for 28x28 digits, trained once on the ``ref`` split.

The paper scores MNIST samples by FID in the feature space of a LeNet-5 (Gillman et al., ICML 2024,
section 4; LeCun et al. 1998). Layout (per image ``x`` (28, 28)):

    C1 = AvgPool2(ReLU(Conv5x5(1 -> 6, pad 2)(x)))     6 x 14 x 14
    C3 = AvgPool2(ReLU(Conv5x5(6 -> 16)(C1)))          16 x 5 x 5
    F5 = ReLU(Linear(400 -> 120)(vec C3))
    f  = tanh(Linear(120 -> 84)(F5))                    the 84 penultimate features (FID, diversity)
    logits = Linear(84 -> 10)(f)

trained with AdamW on cross-entropy and pixel-noise augmentation (sigma ``noise_aug``) by the shared
:func:`scsc_theory.diffusion.classifier.train_classifier`, on the held-out ``ref`` images (never on
the generators' training data, never on the idealised arm's pool); FID's reference statistics are
the features of the same ``ref`` images, so the noise floor is measured on the unseen ``pool``.
"""
from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp

from .._validate import check_int
from ..diffusion.classifier import train_classifier
from .data import NUM_CLASSES, check_images
from .evaluator import ClassifierConfig, DigitsEvaluator
from .mnist import IMAGE_SHAPE

FEAT_DIM = 84


def _avgpool2(h):
    c, hh, ww = h.shape
    return h.reshape(c, hh // 2, 2, ww // 2, 2).mean(axis=(2, 4))


class LeNet5(eqx.Module):
    c1: eqx.nn.Conv2d
    c3: eqx.nn.Conv2d
    f5: eqx.nn.Linear
    f6: eqx.nn.Linear
    head: eqx.nn.Linear

    def __init__(self, num_classes: int = NUM_CLASSES, *, key):
        k = jax.random.split(key, 5)
        self.c1 = eqx.nn.Conv2d(1, 6, 5, padding=2, key=k[0])
        self.c3 = eqx.nn.Conv2d(6, 16, 5, key=k[1])
        self.f5 = eqx.nn.Linear(400, 120, key=k[2])
        self.f6 = eqx.nn.Linear(120, FEAT_DIM, key=k[3])
        self.head = eqx.nn.Linear(FEAT_DIM, num_classes, key=k[4])

    def features(self, x):
        h = _avgpool2(jax.nn.relu(self.c1(jnp.reshape(x, (1,) + IMAGE_SHAPE))))
        h = _avgpool2(jax.nn.relu(self.c3(h)))
        return jnp.tanh(self.f6(jax.nn.relu(self.f5(jnp.ravel(h)))))

    def __call__(self, x):
        return self.head(self.features(x))


def train_lenet_evaluator(x_ref, y_ref, cfg: ClassifierConfig = ClassifierConfig(steps=1500)) -> DigitsEvaluator:
    """LeNet-5 trained on ``(x_ref, y_ref)``; the returned evaluator's FID reference is the same set.

    ``cfg``: the optimisation settings of the 8x8 classifier (steps, batch, AdamW lr and weight decay,
    noise augmentation, seed); its ``hidden`` / ``feat_dim`` do not apply (LeNet-5's widths are fixed)."""
    check_int("clf_steps", cfg.steps, 1)
    x_ref, y_ref = check_images("x_ref", x_ref, y_ref, image_shape=IMAGE_SHAPE)
    model = LeNet5(key=jax.random.PRNGKey(cfg.seed))
    model, _ = train_classifier(model, jnp.asarray(x_ref), jnp.asarray(y_ref), cfg)
    return DigitsEvaluator(model, x_ref, y_ref)
