"""The fused generation's pieces in jnp against the host loop's: the feature map and the guard rule."""
from types import SimpleNamespace

import jax
import numpy as np

from scsc_theory.motion import data
from scsc_theory.motion.device import generation as gen
from scsc_theory.motion.device import kinematics as dk
from scsc_theory.motion.loop import guard_correction


def test_qpos_to_features_matches_the_datasets_map():
    ds = data.generate(4, seed=0, split="test")
    q = np.asarray(ds.qpos, np.float64)
    q[1, :, 2] += 0.2   # a floating clip: no foot in contact
    mx = dk.device_model()
    got = np.asarray(jax.jit(lambda x: gen.qpos_to_features(x, ds.fps, mx))(q))
    want = ds.qpos_to_features(q)
    assert got.dtype == np.float32 and got.shape == want.shape
    np.testing.assert_allclose(got[..., :31], want[..., :31], atol=1e-5, rtol=0)
    np.testing.assert_array_equal(got[..., 31:], want[..., 31:])
    assert want[1, :, 31:].sum() == 0 and want[0, :, 31:].sum() > 0


def test_guard_is_the_host_loops_rule():
    rng = np.random.default_rng(0)
    m = 8
    raw = rng.standard_normal((m, 5, 3)).astype(np.float32)
    corrected = rng.standard_normal((m, 5, 3)).astype(np.float32)
    corrected[2] *= 10.0          # leaves the data's range: keeps raw
    raw[3] *= 10.0                # raw already far out, corrected closer: corrected kept
    corrected[3] *= 3.0
    corr = SimpleNamespace(corrected=np.array([True] * 6 + [False, True]),
                           fallback=np.array([False, True] + [False] * 6))
    want, keep = guard_correction(raw, corrected, corr, z_max=5.0)
    got, gkeep = gen.guard(raw, corrected, corr, 5.0)
    np.testing.assert_array_equal(np.asarray(gkeep), keep)
    np.testing.assert_array_equal(np.asarray(got), want)
    assert keep.tolist() == [False, True, True, False, False, False, True, False]
