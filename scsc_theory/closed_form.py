"""Exact curves of the self-consuming workflows (issue 15). Generations t = 0, 1, ... as in
:mod:`scsc_theory.loop`: t = 0 is the fit on the real data.

Linear regression (:mod:`scsc_theory.families.linreg`; fixed design X, T x d, noise sigma^2,
n = T real rows, m = T synthetic rows per generation, i.e. lambda = 1). With A = (X^T X)^(-1) X^T
and e_t = theta_t - theta*, the real fit gives e_0 = A eps_0, and

* replace: theta_{t+1} = A (X theta_t + sigma eps) so e_{t+1} = e_t + A eps_{t+1}:
  E||e_t||^2 = (t + 1) sigma^2 tr (X^T X)^(-1);
* accumulate-all: theta_t is least squares on t + 1 stacked copies of X (the real batch and the
  batches drawn from theta_0..theta_{t-1}), i.e. the average of the batch solutions A y_j, with
  A y_j = theta_{j-1} + A eps_j; so (t + 2) e_{t+1} = (t + 1) e_t + e_t + A eps_{t+1}, e_{t+1} =
  e_t + A eps_{t+1}/(t + 2), and E||e_t||^2 = sigma^2 tr (X^T X)^(-1) sum_{k=1}^{t+1} 1/k^2
  <= (pi^2/6) sigma^2 tr (X^T X)^(-1).

Averaged over a Gaussian design, E tr (X^T X)^(-1) = d/(T - d - 1) (inverse-Wishart mean), so
c = sigma^2 d / (T - d - 1) and model k = t + 1 of the papers has E err = k c (replace; Dohmatob,
Feng & Kempe 2024, Thm 1) and c sum_{i<=k} 1/i^2 (accumulate; Gerstgrasser et al. 2024, Thm 2).

Gaussian, replace (fully synthetic, m points per generation, MLE with the biased covariance):
Sigma_{t+1} | Sigma_t ~ Wishart_d(m - 1, Sigma_t / m), so E Sigma_t = ((m - 1)/m)^t Sigma_0 and,
by Bartlett, log det Sigma_{t+1} - log det Sigma_t = sum_{i=1}^d log chi2_{m-i} - d log m, independent
across generations: E = t (sum_i [psi((m-i)/2) + log 2] - d log m), Var = t sum_i psi'((m-i)/2)
(raw moments of det are heavy-tailed for large t; the log moments are not).

Gaussian, replace with the ideal correction pi_gamma (strength gamma, target N(mu*, Sigma*)): the
m points of generation t+1 are i.i.d. from the mixture (N(mu_t, Sigma_t) + gamma N(mu*, Sigma*))/(1 + gamma),
whose mean is (mu_t + gamma mu*)/(1 + gamma) and whose covariance is
V_t = (Sigma_t + gamma Sigma*)/(1 + gamma) + gamma/(1 + gamma)^2 e_t e_t^T (e_t = mu_t - mu*). The MLE's
sample mean and biased covariance then give, exactly, with S_t = E Sigma_t and M_t = E e_t e_t^T,

    S_{t+1} = ((m - 1)/m) E V_t,        M_{t+1} = M_t/(1 + gamma)^2 + E V_t / m,
    E V_t = (S_t + gamma Sigma*)/(1 + gamma) + gamma/(1 + gamma)^2 M_t,

a linear recursion: gamma = 0 is the collapse above (S_t -> 0, the mean a random walk); any gamma > 0
has a stationary point (S_inf, M_inf) with S_inf > 0: the corrected loop is no longer fully synthetic.
For isotropic Sigma* = s I the stationary point is scalar (:func:`gaussian_replace_corrected_limit`).

Gaussian, fixed (n real points with mean xbar, lambda, ideal pi_gamma correction towards mu*):
E[mu_{t+1} | mu_t] = (xbar + lambda (mu_t + gamma mu*)/(1 + gamma)) / (1 + lambda), an AR(1) with
coefficient a = lambda / ((1 + lambda)(1 + gamma)): E[mu_t] = s + a^t (mu_0 - s),
s = (xbar + lambda gamma mu*/(1 + gamma)) / ((1 + lambda)(1 - a)).
"""
from __future__ import annotations

import numpy as np
from scipy.special import digamma, polygamma


def linreg_c(sigma: float, d: int, T: int) -> float:
    """c = sigma^2 d / (T - d - 1) = sigma^2 E tr (X^T X)^(-1) for an i.i.d. N(0, 1) design (T > d + 1)."""
    return float(sigma) ** 2 * d / (T - d - 1)


def linreg_c_design(X, sigma: float) -> float:
    """sigma^2 tr (X^T X)^(-1): the constant conditional on the design X."""
    X = np.asarray(X, np.float64)
    return float(sigma) ** 2 * float(np.trace(np.linalg.inv(X.T @ X)))


def linreg_error(workflow: str, t, c: float):
    """E||theta_t - theta*||^2 at generations ``t`` (t = 0 the real fit) for ``replace`` or ``accumulate-all``."""
    t = np.asarray(t)
    if workflow == "replace":
        return c * (t + 1.0)
    if workflow == "accumulate-all":
        k = np.arange(1, int(np.max(t)) + 2)
        return c * np.cumsum(1.0 / k**2)[t]
    raise ValueError(f"no closed form for workflow {workflow!r} (replace | accumulate-all)")


def gaussian_replace_cov_factor(t, m: int):
    """E Sigma_t / Sigma_0 = ((m - 1)/m)^t (fully synthetic, m points per generation)."""
    return ((m - 1.0) / m) ** np.asarray(t, np.float64)


def gaussian_replace_logdet(t, m: int, d: int):
    """(mean, variance) of log det Sigma_t - log det Sigma_0 under replace (exact; see the module docstring)."""
    i = np.arange(1, d + 1)
    step = np.sum(digamma((m - i) / 2.0) + np.log(2.0)) - d * np.log(m)
    var = np.sum(polygamma(1, (m - i) / 2.0))
    t = np.asarray(t, np.float64)
    return t * step, t * var


def fixed_mean_ar1(t, mu0, xbar, lam: float, gamma: float, mu_star=0.0):
    """E[mu_t | real data] for the fixed workflow with ideal correction: s + a^t (mu0 - s), a = lam/((1+lam)(1+gamma))."""
    a = lam / ((1.0 + lam) * (1.0 + gamma))
    s = (np.asarray(xbar) + lam * gamma * np.asarray(mu_star) / (1.0 + gamma)) / ((1.0 + lam) * (1.0 - a))
    return s + a ** np.asarray(t, np.float64) * (np.asarray(mu0) - s)


def gaussian_replace_corrected(t, m: int, gamma: float, S0, M0, Sigma_star=None):
    """(E Sigma_t, E e_t e_t^T) for t = 0..max(t) under replace with ideal correction (module docstring).

    ``S0``, ``M0``: E Sigma_0 and E e_0 e_0^T (for the real-data fit on n points of N(mu*, Sigma*):
    ((n - 1)/n) Sigma* and Sigma*/n); ``Sigma_star`` defaults to the identity. Shapes (T + 1, d, d)."""
    S, M = np.array(S0, np.float64), np.array(M0, np.float64)
    Sig = np.eye(S.shape[-1]) if Sigma_star is None else np.asarray(Sigma_star, np.float64)
    g = float(gamma)
    T = int(np.max(t))
    out_S, out_M = [S], [M]
    for _ in range(T):
        EV = (S + g * Sig) / (1.0 + g) + g / (1.0 + g) ** 2 * M
        S, M = (m - 1.0) / m * EV, M / (1.0 + g) ** 2 + EV / m
        out_S.append(S)
        out_M.append(M)
    idx = np.asarray(t)
    return np.asarray(out_S)[idx], np.asarray(out_M)[idx]


def gaussian_replace_corrected_limit(m: int, gamma: float, s_star: float = 1.0):
    """Stationary (E Sigma, E e e^T) per coordinate for Sigma* = s I, gamma > 0: the fixed point of the
    recursion above, ((m - 1)/m) v and v (1 + gamma)^2 / (m gamma (2 + gamma)) times I, where
    v = E V solves v = (S + gamma s)/(1 + gamma) + gamma/(1 + gamma)^2 M."""
    g, q = float(gamma), (m - 1.0) / m
    if g <= 0:
        raise ValueError("gamma must be > 0 for a stationary point (gamma = 0 collapses)")
    kM = (1.0 + g) ** 2 / (m * g * (2.0 + g))   # M = kM v (from M = M/(1+g)^2 + v/m)
    v = g * s_star / (1.0 + g) / (1.0 - q / (1.0 + g) - g / (1.0 + g) ** 2 * kM)
    return q * v, kM * v
