r"""Did the variational fit work? PSIS k-hat of the whole guide.

Yao, Vehtari, Simpson and Gelman (2018) read the importance ratios of guide
draws :math:`z_s \sim q`,

.. math:: \log r_s = \log p(x, z_s) - \log q(z_s),

as a check of the whole approximation: fit a generalised Pareto distribution
to the largest ratios; its shape :math:`\hat k` says how heavy their tail is.

- :math:`\hat k < 0.5`: good — the guide covers the posterior; importance
  sampling from it (and expectations under it) can be trusted;
- :math:`0.5 \le \hat k \le 0.7`: usable — estimates converge, slowly;
- :math:`\hat k > 0.7`: not to be trusted for that purpose — the posterior has
  mass the guide misses, and posterior summaries from the guide may be far off.

A mean-field guide on a model with strong posterior correlations often gets
a large :math:`\hat k` even when its marginal means look right; report it.

References
----------
.. [1] Y. Yao, A. Vehtari, D. Simpson, A. Gelman, "Yes, but did it work?:
   Evaluating variational inference", ICML 2018.
.. [2] A. Vehtari, D. Simpson, A. Gelman, Y. Yao, J. Gabry, "Pareto smoothed
   importance sampling", JMLR 25, 2024.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch

from pyrolatent._pyro import with_local_params
from pyrolatent._validation import check_positive_int, check_tensor

from . import _arviz
from .inference_data import model_inputs, sample_guide

__all__ = [
    "GOOD",
    "MIN_DRAWS",
    "USABLE",
    "PSISDiagnostic",
    "khat_verdict",
    "pareto_khat",
    "pareto_smooth",
    "psis_diagnostic",
    "psis_from_log_weights",
]

#: The k-hat thresholds of Vehtari et al.: below GOOD reliable, up to USABLE
#: usable, above it not to be trusted. Defined here only.
GOOD, USABLE = 0.5, 0.7

#: Fewest draws for a tail fit: the tail holds ceil(min(S / 5, 3 sqrt(S)))
#: draws, and the fit needs at least 5 of them.
MIN_DRAWS = 25


def _tail_size(num_draws: int) -> int:
    return int(math.ceil(min(0.2 * num_draws, 3.0 * math.sqrt(num_draws))))


def _gpd_fit(X: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Zhang & Stephens' (2009) posterior-mean estimate of the generalised
    Pareto shape ``k`` and scale ``sigma`` of each row of ``X`` (ascending
    positive exceedances, (n, M))."""
    N = X.shape[1]
    m = 30 + int(math.sqrt(N))
    j = torch.arange(1, m + 1, dtype=torch.double, device=X.device)
    b = 1.0 - math.sqrt(m) / (j - 0.5).sqrt()
    quartile = int(N / 4 + 0.5) - 1
    b = b / (3.0 * X[:, quartile : quartile + 1]) + 1.0 / X[:, -1:]  # (n, m)
    ks = torch.log1p(-b.unsqueeze(-1) * X.unsqueeze(1)).mean(-1)  # (n, m)
    L = N * (torch.log(-b / ks) - ks - 1.0)
    weights = 1.0 / torch.exp(L.unsqueeze(1) - L.unsqueeze(2)).sum(-1)
    weights = torch.where(weights >= 10 * torch.finfo(torch.double).eps, weights, torch.zeros_like(weights))
    weights = weights / weights.sum(-1, keepdim=True)
    b_post = (b * weights).sum(-1, keepdim=True)
    k = torch.log1p(-b_post * X).mean(-1)
    return k, (-k / b_post.squeeze(-1))


def _tail(log_w: torch.Tensor, prior_weight: float):
    """Fit the tail of each column of ``log_w`` (S, n): ``(k, sigma, M, order, cutoff)``."""
    S = log_w.shape[0]
    M = _tail_size(S)
    lw = log_w.detach().double().T  # (n, S)
    lw = lw - lw.max(1, keepdim=True).values
    top, order = lw.topk(M + 1, dim=1)
    top, order = top.flip(1), order.flip(1)  # ascending: cutoff first
    cutoff = top[:, :1].clamp_min(math.log(torch.finfo(torch.double).tiny))
    X = top[:, 1:].exp() - cutoff.exp()  # exceedances, ascending (n, M)
    if X.shape[0]:
        fits = [_gpd_fit(chunk) for chunk in X.split(256)]
        k, sigma = torch.cat([f[0] for f in fits]), torch.cat([f[1] for f in fits])
    else:
        k = sigma = X.new_zeros(0)
    k = (M * k + prior_weight * 0.5) / (M + prior_weight)  # weak prior towards 0.5, as ArviZ
    return k, sigma, M, order[:, 1:], cutoff


def pareto_khat(log_w, *, prior_weight: float = 10.0) -> torch.Tensor:
    r"""PSIS :math:`\hat k` of each column of ``log_w`` (``(S, n)`` -> ``(n,)``), vectorised.

    The generalised Pareto distribution is fitted to the largest
    :math:`M = \lceil \min(S/5, 3\sqrt S) \rceil` weights of each column by
    the method of Zhang & Stephens (2009), shrunk towards 0.5 with a weak prior
    of ``prior_weight`` pseudo-observations, as ArviZ's ``psislw`` does.
    Read it with :func:`khat_verdict` (thresholds :data:`GOOD`, :data:`USABLE`).
    A column with fewer than :data:`MIN_DRAWS` draws has no tail to fit: its
    k-hat is NaN.
    """
    log_w = check_tensor("log_w", log_w, ndim=(1, 2), finite=False)
    squeeze = log_w.dim() == 1
    if squeeze:
        log_w = log_w.unsqueeze(-1)
    if log_w.shape[0] < MIN_DRAWS:
        k = torch.full((log_w.shape[1],), math.nan, dtype=log_w.dtype, device=log_w.device)
    else:
        k = _tail(log_w, prior_weight)[0].to(log_w.dtype)
    return k[0] if squeeze else k


def pareto_smooth(log_w, *, prior_weight: float = 10.0) -> tuple[torch.Tensor, float]:
    """Pareto-smoothed, self-normalised log-weights of one set of draws (S,), and k-hat.

    The largest :math:`M` weights are replaced by the expected order
    statistics of the fitted generalised Pareto tail, truncated at the largest
    raw weight (Vehtari et al. 2024). Needs at least :data:`MIN_DRAWS` draws.
    """
    lw = check_tensor("log_w", log_w, ndim=1, finite=True).detach().double()
    if lw.shape[0] < MIN_DRAWS:
        raise ValueError(f"Too few draws for a tail fit: need at least {MIN_DRAWS}, got {lw.shape[0]}.")
    k, sigma, M, order, cutoff = _tail(lw.unsqueeze(-1), prior_weight)
    k, sigma, order, cutoff = float(k[0]), float(sigma[0]), order[0], float(cutoff[0])
    shifted = lw - lw.max()
    p = (torch.arange(1, M + 1, dtype=torch.double) - 0.5) / M
    if abs(k) < 1e-12:
        q = -sigma * torch.log1p(-p)
    else:
        q = sigma * ((1.0 - p).pow(-k) - 1.0) / k
    smoothed_tail = torch.log(q + math.exp(cutoff)).clamp_max(0.0)  # at most the largest raw weight
    out = shifted.clone()
    out[order] = smoothed_tail
    return out - torch.logsumexp(out, 0), k


def khat_verdict(k_hat: float) -> tuple[str, str]:
    """Reading of a Pareto k-hat: ``(verdict, sentence)``, verdict one of
    ``"good"``, ``"usable"``, ``"unreliable"``."""
    if math.isnan(k_hat):
        return "unknown", (
            f"Too few draws for a tail fit: k-hat needs at least {MIN_DRAWS} importance weights "
            "(a few hundred to be useful)."
        )
    if k_hat < GOOD:
        return "good", (
            f"k-hat {k_hat:.2f} < {GOOD}: good. The guide covers the posterior; importance sampling "
            "from it, and posterior summaries taken from it, can be trusted."
        )
    if k_hat <= USABLE:
        return "usable", (
            f"k-hat {k_hat:.2f} is in [{GOOD}, {USABLE}]: usable. Importance-sampling estimates "
            "converge, but slowly; treat posterior summaries from the guide with some care."
        )
    return "unreliable", (
        f"k-hat {k_hat:.2f} > {USABLE}: not to be trusted. The posterior has mass that the guide "
        "misses; the guide's posterior summaries (variances especially) may be far off, even when "
        "its means look right."
    )


@dataclass(frozen=True)
class PSISDiagnostic:
    """The PSIS check of a guide.

    Attributes
    ----------
    k_hat : float
        Estimated Pareto shape of the importance-ratio tail (``-inf`` when all
        ratios are equal: the guide is the posterior up to rounding).
    verdict : str
        ``"good"``, ``"usable"``, ``"unreliable"``, or ``"unknown"`` when there
        are too few draws for a tail fit (see :func:`khat_verdict`).
    message : str
        The verdict as a sentence, for reports.
    ess : float
        Importance-sampling effective sample size of the Pareto-smoothed,
        self-normalised weights, :math:`1 / \\sum_s \\tilde w_s^2`.
    ess_raw : float
        The same from the raw weights.
    num_samples : int
        Number of guide draws.
    log_weights : numpy.ndarray
        The raw log-ratios ``log p(x, z) - log q(z)``.
    """

    k_hat: float
    verdict: str
    message: str
    ess: float
    ess_raw: float
    num_samples: int
    log_weights: np.ndarray = field(repr=False)

    @property
    def ess_fraction(self) -> float:
        """``ess / num_samples``."""
        return self.ess / self.num_samples

    def to_dict(self) -> dict:
        """JSON-friendly summary (without the weights)."""
        return {
            "k_hat": self.k_hat,
            "verdict": self.verdict,
            "message": self.message,
            "ess": self.ess,
            "ess_raw": self.ess_raw,
            "num_samples": self.num_samples,
        }


def _ess(log_weights: np.ndarray) -> float:
    w = np.exp(log_weights - log_weights.max())
    w = w / w.sum()
    return float(1.0 / np.sum(w**2))


def psis_from_log_weights(log_weights) -> PSISDiagnostic:
    """PSIS k-hat, verdict and importance-sampling ESS from log-ratios.

    Parameters
    ----------
    log_weights : array-like, shape (num_samples,)
        ``log p(x, z_s) - log q(z_s)`` for guide draws ``z_s``; finite.
    """
    lw_t = check_tensor("log_weights", log_weights, ndim=1).detach().double().cpu()
    lw = lw_t.numpy()
    if lw.shape[0] < 2:
        raise ValueError(f"The 'log_weights' argument must hold at least 2 draws; got {lw.shape[0]}.")
    if lw.shape[0] < MIN_DRAWS:
        k_hat = math.nan
        verdict, message = khat_verdict(k_hat)
        smoothed = lw - np.logaddexp.reduce(lw)
    elif np.ptp(lw) == 0.0:
        k_hat = -math.inf
        verdict, message = "good", "All importance ratios are equal: the guide is the posterior (up to rounding)."
        smoothed = np.full_like(lw, -math.log(lw.shape[0]))
    else:
        smoothed_t, k_hat = pareto_smooth(lw_t)
        smoothed = smoothed_t.numpy()
        verdict, message = khat_verdict(k_hat)
    return PSISDiagnostic(
        k_hat=float(k_hat),
        verdict=verdict,
        message=message,
        ess=_ess(smoothed),
        ess_raw=_ess(lw),
        num_samples=int(lw.shape[0]),
        log_weights=lw,
    )


@with_local_params
def psis_diagnostic(source, data=None, *, num_samples: int = 1000, seed: int | None = 0) -> PSISDiagnostic:
    """PSIS k-hat of a fitted guide.

    Parameters
    ----------
    source : FitResult or InferenceData
        A fit (``num_samples`` fresh guide draws are scored in one vectorised
        pass) or inference data from :func:`to_inference_data`, whose
        ``sample_stats.log_weight`` is used as it is.
    data : Dataset, tensor or mapping, optional
        Data to score a fit on; by default the fit's own.
    num_samples : int
        Guide draws, for a fit. The tail fit needs a few hundred at least.
    seed : int, optional
        Seed of the draws (in a forked RNG).

    Returns
    -------
    PSISDiagnostic

    Examples
    --------
    >>> check = psis_diagnostic(result)  # doctest: +SKIP
    >>> print(check.message)  # doctest: +SKIP
    """
    if hasattr(source, "model") and hasattr(source, "guide"):
        num_samples = check_positive_int("num_samples", num_samples)
        inputs = model_inputs(source, data)
        draws = sample_guide(source, inputs, num_samples=num_samples, num_predictive=0, seed=seed, collect=False)
        return psis_from_log_weights(draws.log_weights)
    try:
        stats = _arviz.group(source, "sample_stats")
    except (AttributeError, KeyError, TypeError) as exc:
        raise TypeError(
            "The 'source' argument must be a FitResult or inference data with sample_stats.log_weight "
            f"(from to_inference_data). Got {type(source).__name__} instead."
        ) from exc
    if "log_weight" not in stats:
        raise ValueError(
            "The 'source' argument's sample_stats has no 'log_weight' variable; make it with "
            "pyrolatent.diagnostics.to_inference_data."
        )
    return psis_from_log_weights(torch.as_tensor(np.asarray(stats["log_weight"]).ravel()))
