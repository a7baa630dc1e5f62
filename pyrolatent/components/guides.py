r"""Amortised guides for any model with an encoder and a ``"data"`` plate.

A model qualifies (:class:`EncoderModel`) when it has an ``encoder`` module
``x -> (loc, scale)``, an ``n_components`` latent size and a public
``check_data(x, n_samples=None) -> (x or None, n)``; its local latent site is
``"z"`` inside the ``"data"`` plate at dim -1. The guides hold no encoder
weights of their own (the model's encoder is shared with, e.g., the VampPrior),
so they work for the VAE and for every model built on it (the triplet VAE,
the two-domain VAE, ...).

- :class:`AmortizedNormalGuide` — :math:`q(z_n \mid x_n) = \mathcal N(\mu(x_n),
  \mathrm{diag}\,\sigma^2(x_n))`, the VAE's default (Kingma & Welling 2013).
- :class:`LowRankNormalGuide` — low-rank plus diagonal covariance:

.. math::

    q(z_n \mid x_n) = \mathcal N\big(\mu(x_n),\ \mathrm{diag}\,\sigma^2(x_n) + F(x_n) F(x_n)^\top\big),
    \qquad F(x_n) \in \mathbb R^{K \times r},

where :math:`\mu` and :math:`\sigma` come from the model's encoder (shared with
the default guide and the VampPrior) and :math:`F` from an extra linear head on
the encoder's hidden features, so correlations between latent coordinates can
be represented. With ``rank = K - 1`` or more it is a full-covariance normal.
Swapping it in is one line: ``fit(vae, data, guide=LowRankNormalGuide(vae))``.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import pyro
import pyro.distributions as dist
import torch
from torch import nn

from pyrolatent._pyro import LocalParamsModule, plate_subsample
from pyrolatent._validation import check_positive_float, check_positive_int, owner

from .nets import GaussianEncoder

__all__ = ["AmortizedGuide", "AmortizedNormalGuide", "EncoderModel", "LowRankNormalGuide"]


@runtime_checkable
class EncoderModel(Protocol):
    """What an amortised guide needs of its model."""

    encoder: nn.Module
    n_components: int

    def check_data(self, x, n_samples=None) -> tuple[torch.Tensor | None, int]:
        """``(x as an (n, D) tensor or None, n)``."""
        ...


def _check_model(guide, model) -> None:
    if not isinstance(model, EncoderModel):
        raise TypeError(
            f"The 'model' argument of {type(guide).__name__} must have an 'encoder', 'n_components' and "
            f"check_data(x) (as VAE does). Got {type(model).__name__} instead."
        )


class AmortizedGuide(LocalParamsModule):
    """Base of the amortised guides: ``posterior(x)`` gives q(z given x) for rows
    ``x``; ``forward`` draws ``z`` from it in the ``"data"`` plate. The model is
    referenced, not registered as a submodule (the encoder's parameters are the
    model's)."""

    def __init__(self, model):
        super().__init__()
        _check_model(self, model)
        self._model = (model,)

    @property
    def model(self):
        return self._model[0]

    @property
    def vae(self):  # the name of pyrolatent 0.1
        return self._model[0]

    def posterior(self, x: torch.Tensor) -> dist.TorchDistribution:  # pragma: no cover - abstract
        raise NotImplementedError

    def forward(self, x=None, subsample=None, *, n_samples=None, **inputs):
        x, n = self.model.check_data(x, n_samples)
        if x is None:
            raise ValueError(
                f"The 'x' argument of {type(self).__name__} must be the data; got None "
                "(to sample from the prior, call the model alone)."
            )
        idx = plate_subsample(subsample, "data")
        with pyro.plate("data", n, subsample=idx, dim=-1) as rows:
            xs = x if idx is None else x.index_select(0, rows)
            return pyro.sample("z", self.posterior(xs))


class AmortizedNormalGuide(AmortizedGuide):
    r"""The default VAE guide: :math:`q(z_n \mid x_n) = \mathcal N(\mu(x_n), \mathrm{diag}\,\sigma^2(x_n))`
    from the model's ``encoder`` (whose parameters the model holds, so the
    guide has none of its own and ``VAE.log_likelihood(x)`` needs no guide)."""

    def posterior(self, x: torch.Tensor) -> dist.TorchDistribution:
        r""":math:`q(z \mid x)` for rows ``x`` (n, D): batch shape (n,), event shape (K,)."""
        loc, scale = self.model.encoder(x)
        return dist.Normal(loc, scale).to_event(1)


class LowRankNormalGuide(AmortizedGuide):
    """Amortised normal guide with a rank-``rank`` plus diagonal covariance.

    Parameters
    ----------
    model : EncoderModel
        The model (a VAE or any model built on one); its encoder must have
        ``features(x)``, ``heads(h)`` and ``out_features`` (as
        :class:`~pyrolatent.components.nets.GaussianEncoder` does).
    rank : int
        Rank r of the covariance factor.
    init_scale : float
        The factor head's initial weights are scaled by this (the guide starts
        close to the diagonal one; exactly zero would be a saddle point).
    """

    def __init__(self, model, rank: int = 2, *, init_scale: float = 0.1):
        super().__init__(model)
        encoder = model.encoder
        if not isinstance(encoder, GaussianEncoder):
            raise TypeError(
                "The 'model' argument's encoder must be a GaussianEncoder (features(x), heads(h), "
                f"out_features) for LowRankNormalGuide; got {type(encoder).__name__}."
            )
        with owner(self):
            self.rank = check_positive_int("rank", rank)
            init_scale = check_positive_float("init_scale", init_scale)
        K = model.n_components
        self.factor = nn.Linear(encoder.out_features, K * self.rank)
        with torch.no_grad():
            self.factor.weight.mul_(init_scale)
            self.factor.bias.zero_()
        self.factor.to(next(encoder.parameters()).device)

    def posterior(self, x: torch.Tensor) -> dist.TorchDistribution:
        """:math:`q(z \\mid x)` for rows ``x`` (n, D): batch shape (n,), event shape (K,)."""
        encoder = self.model.encoder
        h = encoder.features(x)
        loc, scale = encoder.heads(h)
        cov_factor = self.factor(h).reshape(*h.shape[:-1], self.model.n_components, self.rank)
        return dist.LowRankMultivariateNormal(loc, cov_factor, scale.pow(2))
