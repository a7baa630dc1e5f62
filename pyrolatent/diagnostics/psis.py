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

from pyrolatent._validation import check_positive_int, check_tensor

from . import _arviz
from .inference_data import model_inputs, sample_guide

__all__ = ["PSISDiagnostic", "khat_verdict", "psis_diagnostic", "psis_from_log_weights"]

GOOD, USABLE = 0.5, 0.7


def khat_verdict(k_hat: float) -> tuple[str, str]:
    """Reading of a Pareto k-hat: ``(verdict, sentence)``, verdict one of
    ``"good"``, ``"usable"``, ``"unreliable"``."""
    if math.isnan(k_hat):
        return "unreliable", "k-hat could not be estimated (too few distinct importance weights)."
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
        ``"good"``, ``"usable"`` or ``"unreliable"`` (see :func:`khat_verdict`).
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
    lw = check_tensor("log_weights", log_weights, ndim=1).detach().double().cpu().numpy()
    if lw.shape[0] < 5:
        raise ValueError(f"The 'log_weights' argument must hold at least 5 draws; got {lw.shape[0]}.")
    if np.ptp(lw) == 0.0:
        k_hat = -math.inf
        verdict, message = "good", "All importance ratios are equal: the guide is the posterior (up to rounding)."
        smoothed = np.full_like(lw, -math.log(lw.shape[0]))
    else:
        smoothed, k_hat = _arviz.psis_smooth(lw)
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
