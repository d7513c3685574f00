"""Learned motion embedding for FID / Diversity / Multimodality / recognition accuracy.

The paper (Gillman et al., ICML 2024, section 5) measures FID, Diversity and a matching score on
the learned motion embedding of Guo et al. (2020). Here the embedding is the penultimate layer of
an action classifier trained ONCE on held-out true clips (never the clips the generative models
train on):

    h  = GELU(Linear(GELU(Linear(window of 4 frames))))   for each window of the clip
    f  = Linear([mean_t h ; max_t h])    (the feature used for FID etc., dimension ``feat_dim``)
    logits = Linear(GELU(f))

Trained with AdamW on cross-entropy. Features are rescaled by one scalar so that the reference
true clips have mean per-dimension variance 1 (FID and Diversity are then in fixed units;
Diversity of true clips is about sqrt(2 * feat_dim)). ``feat_dim`` is 16: with 64 samples per
generation a low dimension keeps FID's finite-sample bias small. The trained weights are cached on disk under a key that
hashes the training clips, labels and every setting, so every run with the same world and
settings shares one evaluator.

Metrics of a batch of generated clips (per generation of the loop):
``fid`` (against the features of a reference set of true clips), ``diversity``, ``multimodality``
(:mod:`scsc_theory.diffusion.fid`) and ``accuracy`` (classifier agrees with the conditioning label).
"""
from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ..diffusion import checkpoint
from ..diffusion.fid import diversity, fid_from_features, gaussian_stats, frechet_distance, multimodality
from ..diffusion.classifier import features_and_logits, train_classifier


class MotionEncoder(eqx.Module):
    """Windowed-MLP action classifier over a (T, F) clip (matmuls only: fast on CPU).

    windows of ``window`` frames -> GELU(Linear) -> GELU(Linear) -> [mean_t ; max_t] pooling
    -> f = Linear (the embedding) -> GELU -> Linear (logits).
    """

    embed: eqx.nn.Linear
    mix: eqx.nn.Linear
    feat: eqx.nn.Linear
    head: eqx.nn.Linear
    window: int = eqx.field(static=True)

    def __init__(self, n_feats: int, num_classes: int, hidden: int = 64, feat_dim: int = 32, window: int = 4, *, key):
        k = jax.random.split(key, 4)
        self.window = window
        self.embed = eqx.nn.Linear(window * n_feats, hidden, key=k[0])
        self.mix = eqx.nn.Linear(hidden, hidden, key=k[1])
        self.feat = eqx.nn.Linear(2 * hidden, feat_dim, key=k[2])
        self.head = eqx.nn.Linear(feat_dim, num_classes, key=k[3])

    def features(self, x):
        """x: (T, F) normalised clip -> (feat_dim,) embedding (penultimate layer, pre-activation)."""
        T, F = x.shape
        w = self.window
        n = T // w
        win = jnp.reshape(x[: n * w], (n, w * F))
        h = jax.vmap(lambda v: jax.nn.gelu(self.mix(jax.nn.gelu(self.embed(v)))))(win)
        return self.feat(jnp.concatenate([h.mean(0), h.max(0)]))

    def __call__(self, x):
        return self.head(jax.nn.gelu(self.features(x)))


@dataclass(frozen=True)
class EvaluatorConfig:
    hidden: int = 64
    feat_dim: int = 16
    steps: int = 800
    batch_size: int = 64
    lr: float = 2e-3
    weight_decay: float = 1e-4
    noise_aug: float = 0.05
    seed: int = 0


def default_cache_dir() -> Path:
    from ..io import cache_dir

    return cache_dir() / "evaluators"


def _digest(x, y, cfg: EvaluatorConfig, extra: str = "") -> str:
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(np.asarray(x, np.float32)).tobytes())
    h.update(np.ascontiguousarray(np.asarray(y, np.int64)).tobytes())
    h.update(repr(sorted(asdict(cfg).items())).encode())
    h.update(repr(np.shape(x)).encode() + extra.encode())
    return h.hexdigest()[:20]


_train = train_classifier  # shared with the other evaluator (scsc_theory.diffusion.classifier)
_forward = features_and_logits


class MotionEvaluator:
    """A trained encoder plus the reference statistics of true clips.

    ``x`` arrays are normalised clips (n, T, F) (the same normalisation the denoiser sees).
    """

    def __init__(self, encoder: MotionEncoder, ref_x, ref_y=None):
        self.encoder = encoder
        self.scale = 1.0
        raw = self.features(ref_x)
        # fixed units: the reference features have mean per-dimension variance 1
        self.scale = float(1.0 / np.sqrt(np.mean(np.var(raw, axis=0)) + 1e-12))
        self.ref_features = raw * self.scale
        self.ref_mu, self.ref_cov = gaussian_stats(self.ref_features)
        self.ref_y = None if ref_y is None else np.asarray(ref_y)

    @classmethod
    def train_or_load(cls, train_x, train_y, num_classes: int, ref_x, ref_y=None, cfg: EvaluatorConfig = EvaluatorConfig(),
                      cache_dir=None, extra_key: str = "") -> "MotionEvaluator":
        train_x = np.asarray(train_x, np.float32)
        _, T, F = train_x.shape
        template = MotionEncoder(F, num_classes, cfg.hidden, cfg.feat_dim, key=jax.random.PRNGKey(cfg.seed))
        cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        path = cache / f"motion_encoder_{_digest(train_x, train_y, cfg, extra_key + str(num_classes))}.npz"
        if checkpoint.exists(path):
            enc, _ = checkpoint.load(path, template)
        else:
            enc, losses = _train(template, jnp.asarray(train_x), jnp.asarray(train_y, jnp.int32), cfg)
            checkpoint.save(path, enc, {"final_loss": float(losses[-50:].mean()), "config": asdict(cfg)})
        return cls(enc, ref_x, ref_y)

    def features(self, x) -> np.ndarray:
        f, _ = _forward(self.encoder, jnp.asarray(x, jnp.float32))
        return np.asarray(f, np.float64) * self.scale

    def logits(self, x) -> np.ndarray:
        _, lg = _forward(self.encoder, jnp.asarray(x, jnp.float32))
        return np.asarray(lg)

    def accuracy(self, x, y) -> float:
        return float(np.mean(np.argmax(self.logits(x), axis=1) == np.asarray(y)))

    def fid(self, x) -> float:
        return frechet_distance(*gaussian_stats(self.features(x)), self.ref_mu, self.ref_cov)

    def metrics(self, x, y, seed: int = 0) -> dict:
        f, lg = _forward(self.encoder, jnp.asarray(x, jnp.float32))
        f = np.asarray(f, np.float64) * self.scale
        return {
            "fid": frechet_distance(*gaussian_stats(f), self.ref_mu, self.ref_cov),
            "diversity": diversity(f, seed=seed),
            "multimodality": multimodality(f, y, seed=seed),
            "accuracy": float(np.mean(np.argmax(np.asarray(lg), axis=1) == np.asarray(y))),
        }


__all__ = ["MotionEncoder", "EvaluatorConfig", "MotionEvaluator", "fid_from_features", "default_cache_dir"]
