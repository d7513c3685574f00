"""Shared diffusion machinery (cosine schedule, x0-prediction training, strided CFG sampling,
atomic checkpoints, FID/diversity metrics and a generic self-consuming loop driver).

Used by the human-motion experiment (:mod:`scsc_theory.motion.loop`) and meant for any
``(n, *event_shape)`` data with integer labels (e.g. 8x8 digits): pass a denoiser that follows
the protocol in :mod:`scsc_theory.diffusion.sample`.
"""
from .schedule import Schedule, cosine_schedule, q_sample, strided_timesteps
from .sample import sample, guided_x0
from .train import TrainConfig, make_optimizer, init_opt_state, diffusion_loss, train_step, fit
from .fid import frechet_distance, fid_from_features, gaussian_stats, diversity, multimodality, mean_ci
from .loop import ARMS, LoopConfig, SelfConsumingLoop, summarize, read_metrics_csv, write_metrics_csv, gen_key
from . import checkpoint

__all__ = [
    "Schedule", "cosine_schedule", "q_sample", "strided_timesteps", "sample", "guided_x0",
    "TrainConfig", "make_optimizer", "init_opt_state", "diffusion_loss", "train_step", "fit",
    "frechet_distance", "fid_from_features", "gaussian_stats", "diversity", "multimodality", "mean_ci",
    "ARMS", "LoopConfig", "SelfConsumingLoop", "summarize", "read_metrics_csv", "write_metrics_csv",
    "gen_key", "checkpoint",
]
