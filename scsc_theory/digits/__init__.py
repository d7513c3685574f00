"""The image self-consuming loop on real handwritten digits (8x8, scikit-learn's ``load_digits``).

Gillman et al. (ICML 2024), section 4 (MNIST): a DDPM retrained on real images plus its own
samples, self-corrected by moving every synthetic image to the nearest k-means cluster centre of the
real data of its class. Here: a class-conditional MLP-mixer DDPM on 8x8 digits, the shared diffusion
machinery of :mod:`scsc_theory.diffusion` and the generic arms driver.

Modules: :mod:`.data` (split and scaling), :mod:`.model` (denoiser), :mod:`.correction` (k-means
centres, nearest-centre and strength-gamma correction, idealised correction), :mod:`.evaluator`
(classifier features: FID, accuracy, diversity), :mod:`.loop` (the experiment, figures).
"""
