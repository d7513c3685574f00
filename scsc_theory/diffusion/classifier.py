"""Training and feature extraction for the evaluators' classifiers (motion and digits).

An evaluator is a classifier whose penultimate layer gives the features that FID, Diversity and
Multimodality are computed on; it is trained once on true data with AdamW, mini-batches drawn
with ``jax.random`` and Gaussian input noise ``cfg.noise_aug`` as augmentation.
"""
from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import optax


@eqx.filter_jit
def train_classifier(model, x, y, cfg):
    """``cfg.steps`` AdamW steps (lr, weight_decay, batch_size, noise_aug, seed from ``cfg``) as one scan.

    Returns (trained model, per-step cross-entropy losses). ``model(x)`` gives logits for one example.
    """
    opt = optax.adamw(cfg.lr, weight_decay=cfg.weight_decay)
    params, static = eqx.partition(model, eqx.is_inexact_array)
    key = jax.random.PRNGKey(cfg.seed + 1)

    def loss_fn(p, xb, yb):
        logits = jax.vmap(eqx.combine(p, static))(xb)
        return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, yb))

    def body(carry, i):
        p, s = carry
        k1, k2 = jax.random.split(jax.random.fold_in(key, i))
        idx = jax.random.randint(k1, (cfg.batch_size,), 0, x.shape[0])
        xb = x[idx] + cfg.noise_aug * jax.random.normal(k2, x[idx].shape)
        loss, g = jax.value_and_grad(loss_fn)(p, xb, y[idx])
        u, s = opt.update(g, s, p)
        return (optax.apply_updates(p, u), s), loss

    (params, _), losses = jax.lax.scan(body, (params, opt.init(params)), jnp.arange(cfg.steps))
    return eqx.combine(params, static), losses


@eqx.filter_jit
def features_and_logits(model, x):
    """(penultimate features, logits) of a batch, from ``model.features`` and ``model.head``."""
    f = jax.vmap(model.features)(x)
    return f, jax.vmap(model.head)(f)
