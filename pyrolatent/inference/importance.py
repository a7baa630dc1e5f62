r"""Per-example importance weights of amortised models, and what follows from them.

For a model whose latent variables are all local (inside the ``"data"``
plate) and a guide :math:`q(z \mid x)`, the importance log-weight of draw
:math:`z^{(s)}_n \sim q(\cdot \mid x_n)` is

.. math:: \log w^{(s)}_n = \log p(x_n, z^{(s)}_n) - \log q(z^{(s)}_n \mid x_n).

Its mean over draws is an unbiased estimate of the ELBO of :math:`x_n`; the
log of its mean over :math:`S` draws is the importance-weighted bound
:math:`\mathcal L_S` of Burda et al. (2016), which increases with :math:`S`
towards :math:`\log p(x_n)`; the Pareto tail of the weights (PSIS
:math:`\hat k`, :func:`pyrolatent.diagnostics.pareto_khat`) says how far the
guide is from the posterior of that example.

Everything here is computed in chunks of examples and of draws, so that
:math:`S` = 5,000 draws fit in memory, and without gradients.

References
----------
.. [1] Y. Burda, R. Grosse, R. Salakhutdinov, "Importance Weighted Autoencoders", ICLR 2016.
.. [2] A. Vehtari, D. Simpson, A. Gelman, Y. Yao, J. Gabry, "Pareto Smoothed Importance Sampling", 2015-2024.
"""

from __future__ import annotations

import math

import pyro
import torch
from pyro import poutine
from pyro.poutine.util import site_is_subsample

from pyrolatent._validation import check_positive_int

__all__ = ["importance_estimates", "iter_log_weights", "log_weights", "log_weights_pass"]

#: Default cap on (draws x examples) per vectorised pass.
MAX_ROWS = 2**15


def _chunk_sizes(total: int, size: int):
    start = 0
    while start < total:
        yield start, min(size, total - start)
        start += size


def log_weights_pass(model, guide, num_samples: int, kwargs: dict) -> tuple[torch.Tensor, float]:
    """``(log_w, scale)``: the ``(num_samples, batch)`` log-weights of one vectorised
    pass over the rows the ``"data"`` plate selects, and that plate's scale
    (``n / batch`` when subsampled). Gradients flow when enabled."""
    with pyro.plate("_importance_particles", num_samples, dim=-2):
        guide_trace = poutine.trace(guide).get_trace(**kwargs)
        model_trace = poutine.trace(poutine.replay(model, trace=guide_trace)).get_trace(**kwargs)
    total, scale = 0.0, 1.0
    for sign, trace in ((1.0, model_trace), (-1.0, guide_trace)):
        for name, site in trace.nodes.items():
            if site["type"] != "sample" or site_is_subsample(site):
                continue
            frames = {f.name for f in site["cond_indep_stack"]}
            if "data" not in frames:
                raise ValueError(
                    f"Per-example importance weights need every sample site inside the 'data' plate; the "
                    f"{'model' if sign > 0 else 'guide'} site {name!r} is outside it (a global latent?)."
                )
            scale = site["scale"]
            total = total + sign * site["fn"].log_prob(site["value"])
    if not isinstance(total, torch.Tensor) or total.dim() != 2 or total.shape[0] != num_samples:
        raise ValueError(
            "Per-example importance weights need a model and guide with sample sites in the "
            "'data' plate at dim -1 that broadcast a particle dimension on the left."
        )
    return total, scale


def _one_pass(model, guide, x: torch.Tensor, num_samples: int) -> torch.Tensor:
    """(num_samples, n) log-weights of the rows of ``x`` in one vectorised pass."""
    return log_weights_pass(model, guide, num_samples, {"x": x})[0].expand(num_samples, x.shape[0])


def iter_log_weights(
    model,
    guide,
    x: torch.Tensor,
    *,
    num_samples: int,
    batch_size: int | None = None,
    sample_batch_size: int | None = None,
):
    """Yield ``(start, log_w)`` per chunk of examples, ``log_w`` of shape
    ``(num_samples, chunk)``, drawing the samples in sub-chunks.

    ``batch_size`` examples per chunk (default: as many as fit with 100 draws
    in :data:`MAX_ROWS`); ``sample_batch_size`` draws per pass (default:
    ``MAX_ROWS // batch_size``).
    """
    num_samples = check_positive_int("num_samples", num_samples)
    n = x.shape[0]
    batch_size = check_positive_int("batch_size", batch_size, allow_none=True) or max(1, min(n, MAX_ROWS // 100))
    sample_batch_size = check_positive_int("sample_batch_size", sample_batch_size, allow_none=True)
    sample_batch_size = min(num_samples, sample_batch_size or max(1, MAX_ROWS // batch_size))
    with torch.no_grad():
        for start, size in _chunk_sizes(n, batch_size):
            xb = x[start : start + size]
            parts = [_one_pass(model, guide, xb, s) for _, s in _chunk_sizes(num_samples, sample_batch_size)]
            yield start, torch.cat(parts, 0)


def log_weights(model, guide, x, *, num_samples: int, batch_size=None, sample_batch_size=None) -> torch.Tensor:
    """All log-weights, ``(num_samples, n)`` (keep ``num_samples * n`` moderate)."""
    chunks = [
        lw
        for _, lw in iter_log_weights(
            model, guide, x, num_samples=num_samples, batch_size=batch_size, sample_batch_size=sample_batch_size
        )
    ]
    return torch.cat(chunks, 1)


def importance_estimates(model, guide, x, *, num_samples: int, batch_size=None, sample_batch_size=None):
    """Per-example ELBO estimate (mean log-weight) and importance-weighted
    bound :math:`\\log \\frac1S \\sum_s w^{(s)}` (both ``(n,)``, nats)."""
    elbos, bounds = [], []
    for _, lw in iter_log_weights(
        model, guide, x, num_samples=num_samples, batch_size=batch_size, sample_batch_size=sample_batch_size
    ):
        elbos.append(lw.mean(0))
        bounds.append(lw.logsumexp(0) - math.log(lw.shape[0]))
    return torch.cat(elbos), torch.cat(bounds)
