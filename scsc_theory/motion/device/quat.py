"""Quaternion helpers (w, x, y, z) in jnp: twins of the NumPy helpers of :mod:`scsc_theory.motion.physics`.

Every function is pure, jit-able and vmappable, takes jnp or NumPy arrays with any leading batch
dimensions and returns jnp arrays of the ambient float dtype. The arithmetic is written in the same
order as the host's, so under ``jax.enable_x64`` the twins agree with the host to rounding (see
``tests/test_motion_device_plan.py``).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

_CONJ = (1.0, -1.0, -1.0, -1.0)


def qnorm(q):
    """Twin of ``physics._qnorm``: quaternions (..., 4) divided by their norm."""
    q = jnp.asarray(q)
    return q / jnp.linalg.norm(q, axis=-1, keepdims=True)


def qmul(a, b):
    """Twin of ``physics._qmul``: Hamilton product a b of quaternions (..., 4) (broadcasting)."""
    aw, ax, ay, az = jnp.moveaxis(jnp.asarray(a), -1, 0)
    bw, bx, by, bz = jnp.moveaxis(jnp.asarray(b), -1, 0)
    return jnp.stack([aw * bw - ax * bx - ay * by - az * bz,
                      aw * bx + ax * bw + ay * bz - az * by,
                      aw * by - ax * bz + ay * bw + az * bx,
                      aw * bz + ax * by - ay * bx + az * bw], axis=-1)


def qconj(q):
    """Twin of ``physics._qconj``: the conjugate (w, -x, -y, -z) of quaternions (..., 4)."""
    q = jnp.asarray(q)
    return q * jnp.asarray(_CONJ, dtype=jnp.result_type(q.dtype, float))


def qrotate(q, v):
    """Twin of ``physics._qrotate``: vectors v (..., 3) rotated by unit quaternions q (..., 4), q v q*."""
    v = jnp.asarray(v)
    qv = jnp.concatenate([jnp.zeros(v.shape[:-1] + (1,), v.dtype), v], axis=-1)
    return qmul(qmul(q, qv), qconj(q))[..., 1:]


def qlog_angvel(q0, q1, dt):
    """Twin of ``physics._qlog_angvel``: angular velocity (world frame, rad/s) that rotates q0 into q1
    in time dt, from the shortest-way-round log of q1 q0*."""
    dq = qmul(q1, qconj(q0))
    dq = jnp.where(dq[..., :1] < 0, -dq, dq)
    s = jnp.linalg.norm(dq[..., 1:], axis=-1, keepdims=True)
    ang = 2.0 * jnp.arctan2(s, dq[..., :1])
    axis = dq[..., 1:] / jnp.maximum(s, 1e-12)
    return axis * ang / dt


def continuous_quats(quat):
    """Twin of ``physics._continuous_quats``: quaternions (..., T, 4) normalised, then each frame's sign
    flipped when its dot product with the (already flipped) previous frame is < 0 (a dot of exactly 0
    is no flip). Sequential along time like the host: a ``lax.scan`` over the T axis (-2)."""
    q = qnorm(quat)
    if q.shape[-2] < 2:
        return q
    qt = jnp.moveaxis(q, -2, 0)

    def step(prev, cur):
        cur = jnp.where(((cur * prev).sum(-1) < 0)[..., None], -cur, cur)
        return cur, cur

    _, rest = jax.lax.scan(step, qt[0], qt[1:])
    return jnp.moveaxis(jnp.concatenate([qt[:1], rest], axis=0), 0, -2)


def rotvec(q):
    """Twin of ``physics._rotvec``: rotation vectors (..., 3) of unit quaternions (..., 4), shortest way round."""
    q = jnp.asarray(q)
    q = jnp.where(q[..., :1] < 0, -q, q)
    s = jnp.linalg.norm(q[..., 1:], axis=-1, keepdims=True)
    ang = 2.0 * jnp.arctan2(s, q[..., :1])
    return q[..., 1:] / jnp.maximum(s, 1e-12) * ang


def quat_exp(r):
    """Twin of ``physics._quat_exp``: unit quaternions (..., 4) of rotation vectors r (..., 3)."""
    r = jnp.asarray(r)
    ang = jnp.linalg.norm(r, axis=-1, keepdims=True)
    axis = r / jnp.maximum(ang, 1e-12)
    return jnp.concatenate([jnp.cos(ang / 2), axis * jnp.sin(ang / 2)], axis=-1)
