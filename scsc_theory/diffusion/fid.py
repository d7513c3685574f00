"""Distribution metrics on learned features: Frechet distance, Diversity, Multimodality.

* Frechet distance (FID when the features come from a trained encoder; Heusel et al. 2017)::

      FD = ||mu_1 - mu_2||^2 + tr(S_1) + tr(S_2) - 2 tr( (S_1^{1/2} S_2 S_1^{1/2})^{1/2} )

  computed in float64; the trace of the matrix square root is taken from the eigenvalues of the
  symmetric PSD matrix ``S_1^{1/2} S_2 S_1^{1/2}`` (negative round-off eigenvalues clipped to 0),
  which is stable where ``scipy.linalg.sqrtm`` of the non-symmetric ``S_1 S_2`` can return
  complex noise.
* Diversity (Guo et al. 2020; MDM): mean L2 distance between two random disjoint-by-draw sets of
  ``S_d`` features.
* Multimodality: for each label, mean L2 distance between ``S_l`` random pairs of features with that
  label, averaged over labels that have at least two examples.

These are the metrics the paper reports for the human-motion experiment (Gillman et al., ICML
2024, section 5: FID, Diversity, plus recognition accuracy here).
"""
from __future__ import annotations

import numpy as np


def _psd_sqrt(s: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh((s + s.T) / 2.0)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def gaussian_stats(features) -> tuple[np.ndarray, np.ndarray]:
    f = np.asarray(features, np.float64)
    if f.ndim != 2 or f.shape[0] < 2:
        raise ValueError(f"features must be (n >= 2, d); got {f.shape}")
    return f.mean(axis=0), np.cov(f, rowvar=False)


def frechet_distance(mu1, s1, mu2, s2) -> float:
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    s1, s2 = np.atleast_2d(np.asarray(s1, np.float64)), np.atleast_2d(np.asarray(s2, np.float64))
    r1 = _psd_sqrt(s1)
    m = r1 @ s2 @ r1
    w = np.linalg.eigvalsh((m + m.T) / 2.0)
    tr_sqrt = float(np.sum(np.sqrt(np.clip(w, 0.0, None))))
    d = float(np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2.0 * tr_sqrt)
    return max(d, 0.0)


def fid_from_features(f1, f2) -> float:
    return frechet_distance(*gaussian_stats(f1), *gaussian_stats(f2))


def diversity(features, num_pairs: int = 300, seed: int = 0) -> float:
    f = np.asarray(features, np.float64)
    rng = np.random.default_rng(seed)
    k = min(num_pairs, f.shape[0])
    a = rng.choice(f.shape[0], k, replace=False)
    b = rng.choice(f.shape[0], k, replace=False)
    return float(np.mean(np.linalg.norm(f[a] - f[b], axis=1)))


def multimodality(features, labels, num_pairs: int = 20, seed: int = 0) -> float:
    f = np.asarray(features, np.float64)
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    vals = []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        if idx.size < 2:
            continue
        k = min(num_pairs, idx.size)
        a = rng.choice(idx, k, replace=False)
        b = rng.choice(idx, k, replace=False)
        # avoid comparing an example with itself
        same = a == b
        b[same] = rng.choice(idx, int(same.sum()))
        keep = a != b
        if keep.any():
            vals.append(np.mean(np.linalg.norm(f[a[keep]] - f[b[keep]], axis=1)))
    return float(np.mean(vals)) if vals else float("nan")


def mean_ci(values, level: float = 0.95) -> tuple[float, float, float]:
    """Mean and a Student-t confidence interval over replications (seeds): (mean, lo, hi)."""
    from scipy import stats

    v = np.asarray([x for x in values if np.isfinite(x)], np.float64)
    if v.size == 0:
        return float("nan"), float("nan"), float("nan")
    m = float(v.mean())
    if v.size < 2:
        return m, m, m
    h = float(stats.t.ppf(0.5 + level / 2.0, v.size - 1) * v.std(ddof=1) / np.sqrt(v.size))
    return m, m - h, m + h
