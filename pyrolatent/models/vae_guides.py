r"""A richer amortised guide for the VAE: low-rank plus diagonal covariance.

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

import pyro
import pyro.distributions as dist
import torch
from pyro.nn import PyroModule
from torch import nn

from pyrolatent._validation import check_positive_float, check_positive_int

from .vae import VAE

__all__ = ["LowRankNormalGuide"]


class LowRankNormalGuide(PyroModule):
    """Amortised normal guide with a rank-``rank`` plus diagonal covariance.

    Parameters
    ----------
    vae : VAE
        The model; its encoder must have ``features(x)`` and ``heads(h)``
        (as :class:`~pyrolatent.models.nets.GaussianEncoder` does).
    rank : int
        Rank r of the covariance factor.
    init_scale : float
        The factor head's initial weights are scaled by this (the guide starts
        close to the diagonal one; exactly zero would be a saddle point).
    """

    def __init__(self, vae: VAE, rank: int = 2, *, init_scale: float = 0.1):
        super().__init__()
        if not isinstance(vae, VAE):
            raise TypeError(f"The 'vae' argument must be a VAE. Got {type(vae).__name__} instead.")
        encoder = vae.encoder
        if not (hasattr(encoder, "features") and hasattr(encoder, "heads") and hasattr(encoder, "out_features")):
            raise TypeError(
                "The 'vae' argument's encoder must provide features(x), heads(h) and out_features "
                f"(a GaussianEncoder); got {type(encoder).__name__}."
            )
        self._vae = (vae,)
        self.rank = check_positive_int("rank", rank)
        K = vae.n_components
        self.factor = nn.Linear(encoder.out_features, K * self.rank)
        with torch.no_grad():
            self.factor.weight.mul_(check_positive_float("init_scale", init_scale))
            self.factor.bias.zero_()
        self.factor.to(next(encoder.parameters()).device)

    @property
    def vae(self) -> VAE:
        return self._vae[0]

    def posterior(self, x: torch.Tensor) -> dist.TorchDistribution:
        """:math:`q(z \\mid x)` for rows ``x`` (n, D): batch shape (n,), event shape (K,)."""
        encoder = self.vae.encoder
        h = encoder.features(x)
        loc, scale = encoder.heads(h)
        cov_factor = self.factor(h).reshape(*h.shape[:-1], self.vae.n_components, self.rank)
        return dist.LowRankMultivariateNormal(loc, cov_factor, scale.pow(2))

    def forward(self, x=None, subsample=None, *, n_samples=None):
        x, n = self.vae._data(x, n_samples)
        if x is None:
            raise ValueError("The 'x' argument of the amortised guide must be the data; got None.")
        with pyro.plate("data", n, subsample=subsample, dim=-1) as idx:
            xs = x if subsample is None else x.index_select(0, idx)
            return pyro.sample("z", self.posterior(xs))
