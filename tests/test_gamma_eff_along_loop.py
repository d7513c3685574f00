"""experiments/gamma_eff_along_loop.py: the recording driver keeps the selfcorrect arm's own samples."""
import importlib.util
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from scsc_theory.diffusion import checkpoint
from test_diffusion_loop import make_loop

ROOT = Path(__file__).resolve().parents[1]


def _script():
    spec = importlib.util.spec_from_file_location("gamma_eff_along_loop", ROOT / "experiments" / "gamma_eff_along_loop.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_recording_loop_keeps_the_selfcorrect_arms_samples_and_changes_nothing(tmp_path):
    mod = _script()
    loop = make_loop(generations=2, arms=("selfconsume", "selfcorrect"))
    rec = mod.recording_loop(loop, tmp_path / "samples", keep={0, 2})
    rows = rec.run(tmp_path / "rec", progress=False)
    plain = make_loop(generations=2, arms=("selfconsume", "selfcorrect")).run(tmp_path / "plain", progress=False)
    assert rows == plain  # the hook only writes files
    assert sorted(p.name for p in (tmp_path / "samples").iterdir()) == ["seed0_g0.npz", "seed0_g2.npz"]
    template = {"state": loop.init_fn(jax.random.PRNGKey(0)), "raw": jnp.zeros((loop.cfg.num_samples, 2), jnp.float32)}
    for arm, same in (("selfcorrect", True), ("selfconsume", False)):
        tree, meta = checkpoint.load(rec.checkpoint_path(tmp_path / "rec", 0, arm), template)
        assert meta["generation"] == 2
        kept = np.load(tmp_path / "samples" / "seed0_g2.npz")["samples"]
        assert np.array_equal(kept, np.asarray(tree["raw"])) == same
