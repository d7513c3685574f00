"""Motion dataset: determinism, caching, splits, features round trip, physical validity."""
import numpy as np
import pytest

pytest.importorskip("mujoco")

from scsc_theory._validate import SCSCInputError  # noqa: E402
from scsc_theory.motion import data, humanoid, metrics  # noqa: E402

#: Stated validity thresholds for dataset clips (per clip, PhysDiff-style definitions in metrics).
VALID = data.VALIDITY_THRESHOLDS


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    import os

    old = os.environ.get("SCSC_CACHE")
    d = tmp_path_factory.mktemp("scsc_cache")
    os.environ["SCSC_CACHE"] = str(d)
    yield d
    if old is None:
        os.environ.pop("SCSC_CACHE")
    else:
        os.environ["SCSC_CACHE"] = old


@pytest.fixture(scope="module")
def ds(cache):
    return data.generate(27, seed=3)


def test_fields_shapes_and_labels(ds):
    n, T = 27, 60
    assert ds.qpos.shape == (n, T, humanoid.NQ) and ds.qpos.dtype == np.float32
    assert ds.labels.shape == (n,) and ds.labels.dtype == np.int32
    assert ds.features.shape == (n, T, data.N_FEATURES) and ds.features.dtype == np.float32
    assert ds.feature_mean.shape == ds.feature_std.shape == (data.N_FEATURES,)
    assert (ds.feature_std > 0).all()
    assert ds.label_names == data.ACTION_CLASSES and len(ds.label_names) >= 8
    assert ds.fps == 20.0
    # every block of 9 clips holds each class once
    for b in range(3):
        assert sorted(ds.labels[9 * b:9 * b + 9].tolist()) == list(range(9))
    nf = ds.features_normalized
    assert abs(float(nf.mean())) < 0.2
    np.testing.assert_allclose(ds.denormalize(nf), ds.features, atol=1e-4)


def test_clips_are_canonical_and_varied(ds):
    np.testing.assert_allclose(ds.qpos[:, 0, :2], 0.0, atol=1e-6)
    # heading 0 at frame 0: quaternion has no z-rotation component relative to tilt
    f = ds.features
    assert np.isfinite(f).all()
    # clips of the same class differ (per-clip style variety)
    for k in range(9):
        idx = np.flatnonzero(ds.labels == k)
        assert np.abs(ds.qpos[idx[0]] - ds.qpos[idx[1]]).max() > 0.05


def test_deterministic_cached_and_prefix(ds, cache):
    again = data.generate(27, seed=3)
    np.testing.assert_array_equal(again.qpos, ds.qpos)
    fresh = data.generate(27, seed=3, cache=False)
    np.testing.assert_allclose(fresh.qpos, ds.qpos, atol=1e-6)
    small = data.generate(9, seed=3, cache=False)
    np.testing.assert_allclose(small.qpos, ds.qpos[:9], atol=1e-6)
    other = data.generate(9, seed=4, cache=False)
    assert np.abs(other.qpos - ds.qpos[:9]).max() > 0.05
    assert len(list((cache / "motion").glob("*.npz"))) >= 1


def test_cache_key_changes_with_args_and_source(monkeypatch):
    k = data.cache_key(64, 0, "train", 60, 20.0)
    assert k != data.cache_key(64, 1, "train", 60, 20.0)
    assert k != data.cache_key(64, 0, "test", 60, 20.0)
    assert k != data.cache_key(128, 0, "train", 60, 20.0)
    monkeypatch.setattr(data, "_source_hash", lambda: "a different generator")
    assert k != data.cache_key(64, 0, "train", 60, 20.0)


def test_test_split_is_disjoint(ds):
    test = data.generate(9, seed=3, split="test", cache=False)
    d = np.abs(test.qpos[:, None] - ds.qpos[None]).max(axis=(2, 3))
    assert d.min() > 0.02


def test_features_round_trip(ds):
    q = ds.qpos.astype(np.float64)
    import jax

    back = np.asarray(jax.jit(data.features_to_qpos)(data.qpos_to_features(q)))
    np.testing.assert_allclose(back[..., :3], q[..., :3], atol=2e-4)
    np.testing.assert_allclose(back[..., 7:], q[..., 7:], atol=1e-5)
    dots = np.abs((back[..., 3:7] * q[..., 3:7]).sum(-1))
    np.testing.assert_allclose(dots, 1.0, atol=1e-5)
    # contacts are 0/1 and agree with the metric's definition
    c = ds.features[..., 31:33]
    assert set(np.unique(c)) <= {0.0, 1.0}
    np.testing.assert_array_equal(c.astype(bool), metrics.foot_contacts(ds.qpos))


def test_round_trip_after_heading_change():
    """Features of a rotated / translated clip reconstruct it up to that initial pose."""
    ds = data.generate(9, seed=5, cache=False)
    q = ds.qpos.astype(np.float64)
    yaw = 0.7
    rz = np.array([np.cos(yaw / 2), 0, 0, np.sin(yaw / 2)])
    from scsc_theory.motion.physics import _qmul

    moved = q.copy()
    c, s = np.cos(yaw), np.sin(yaw)
    moved[..., 0] = c * q[..., 0] - s * q[..., 1] + 1.5
    moved[..., 1] = s * q[..., 0] + c * q[..., 1] - 2.0
    moved[..., 3:7] = _qmul(np.broadcast_to(rz, q[..., 3:7].shape), q[..., 3:7])
    np.testing.assert_allclose(data.qpos_to_features(moved)[..., :31], data.qpos_to_features(q)[..., :31], atol=1e-4)
    np.testing.assert_allclose(data.canonicalize(moved), q, atol=1e-5)


def test_dataset_clips_are_physically_valid(ds):
    v = metrics.physics_violations(ds.qpos)
    for k, thr in VALID.items():
        assert v[k].shape == (len(ds),)
        assert (v[k] <= thr).all(), (k, v[k].max(), thr)
    assert ds.tracking_error.max() < 0.3


def test_sample_clips_fresh_stream(ds):
    labels = np.array([0, 3, 8, 3])
    a = data.sample_clips(labels, seed=3)
    b = data.sample_clips(labels, seed=3)
    assert a.shape == (4, 60, humanoid.NQ)
    np.testing.assert_array_equal(a, b)
    assert np.abs(a[1] - a[3]).max() > 0.05        # same label, different clips
    assert np.abs(a[:, None] - ds.qpos[None]).max(axis=(2, 3)).min() > 0.02
    with pytest.raises(SCSCInputError, match="labels"):
        data.sample_clips(np.array([9]), seed=0)
    with pytest.raises(SCSCInputError, match="labels"):
        data.sample_clips(np.array([0.5]), seed=0)


def test_generate_bad_args():
    with pytest.raises(SCSCInputError, match="n must"):
        data.generate(0)
    with pytest.raises(SCSCInputError, match="split"):
        data.generate(4, split="val")
    with pytest.raises(SCSCInputError, match="T must"):
        data.generate(4, T=1)
    with pytest.raises(SCSCInputError, match="fps"):
        data.generate(4, fps=30)
