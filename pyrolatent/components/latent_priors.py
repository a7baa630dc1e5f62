r"""Priors :math:`p(z)` over the latent code of a VAE, as modules.

A prior module's ``forward()`` returns a distribution with batch shape ``()``
and event shape ``(n_components,)``; the VAE samples ``z`` from it inside its
``"data"`` plate, which broadcasts it over the batch (and over a particle
dimension on the left). Learnable priors hold their parameters, so they are
trained with the model by :func:`pyrolatent.inference.fit`.

- :class:`StandardNormalPrior` — :math:`\mathcal N(0, I)` (Kingma & Welling 2013).
- :class:`MixturePrior` — a learnable mixture of diagonal Gaussians.
- :class:`VampPrior` — the variational mixture of posteriors of Tomczak &
  Welling (2018): :math:`p(z) = \frac1C \sum_c q(z \mid u_c)` with learned
  pseudo-inputs :math:`u_c` pushed through the VAE's own encoder.
- :class:`DistributionPrior` — any fixed user distribution.

A user's own ``nn.Module`` whose ``forward()`` returns such a distribution
works too (:func:`as_vae_prior` checks it).

References
----------
.. [1] D. P. Kingma, M. Welling, "Auto-Encoding Variational Bayes", ICLR 2014 (arXiv:1312.6114).
.. [2] J. M. Tomczak, M. Welling, "VAE with a VampPrior", AISTATS 2018 (arXiv:1705.07120).
"""

from __future__ import annotations

import pyro.distributions as dist
import torch
from torch import nn

from pyrolatent._pyro import apply_to_distribution
from pyrolatent._validation import check_positive_float, check_positive_int, check_tensor, owned

__all__ = ["PRIORS", "DistributionPrior", "MixturePrior", "StandardNormalPrior", "VampPrior", "as_vae_prior"]


@owned
class StandardNormalPrior(nn.Module):
    """:math:`z \\sim \\mathcal N(0, I_K)`."""

    def __init__(self, n_components: int):
        super().__init__()
        self.n_components = check_positive_int("n_components", n_components)
        self.register_buffer("loc", torch.zeros(self.n_components))
        self.register_buffer("scale", torch.ones(self.n_components))

    def forward(self) -> dist.TorchDistribution:
        return dist.Normal(self.loc, self.scale).to_event(1)


@owned
class MixturePrior(nn.Module):
    r"""A learnable mixture of diagonal Gaussians,
    :math:`p(z) = \sum_c \pi_c \, \mathcal N(z; m_c, \mathrm{diag}\, s_c^2)`.

    Parameters
    ----------
    n_components : int
        Latent size K.
    n_mixture_components : int
        Number C of mixture components.
    init_spread : float
        Initial means are drawn from :math:`\mathcal N(0, \text{init\_spread}^2 I)`;
        initial scales are 1 and weights equal.
    """

    def __init__(self, n_components: int, n_mixture_components: int = 10, *, init_spread: float = 1.0):
        super().__init__()
        self.n_components = check_positive_int("n_components", n_components)
        self.n_mixture_components = check_positive_int("n_mixture_components", n_mixture_components)
        spread = check_positive_float("init_spread", init_spread)
        C, K = self.n_mixture_components, self.n_components
        self.logits = nn.Parameter(torch.zeros(C))
        self.locs = nn.Parameter(spread * torch.randn(C, K))
        self.raw_scales = nn.Parameter(torch.zeros(C, K))  # scale = exp(raw)

    def forward(self) -> dist.TorchDistribution:
        components = dist.Normal(self.locs, self.raw_scales.exp()).to_event(1)
        return dist.MixtureSameFamily(dist.Categorical(logits=self.logits), components)


@owned
class VampPrior(nn.Module):
    r"""Variational mixture of posteriors (Tomczak & Welling 2018).

    :math:`p(z) = \frac1C \sum_{c=1}^C q_\phi(z \mid u_c)`, where :math:`q_\phi`
    is the VAE's encoder and the pseudo-inputs :math:`u_c` are learned with
    everything else.

    Parameters
    ----------
    encoder : nn.Module
        The inference network, ``x -> (loc, scale)`` (the VAE passes its own:
        the prior and the posterior share it, as in the paper).
    n_features : int
        Size of one (flattened) input.
    n_pseudo_inputs : int
        Number C of pseudo-inputs.
    init : Tensor, optional
        Initial pseudo-inputs ``(C, n_features)``, e.g. random training rows.
        By default uniform on [0, 1] (image-like data).
    """

    def __init__(self, encoder: nn.Module, n_features: int, n_pseudo_inputs: int = 100, *, init=None):
        super().__init__()
        if not isinstance(encoder, nn.Module):
            raise TypeError(f"The 'encoder' argument must be an nn.Module. Got {type(encoder).__name__} instead.")
        self.encoder = encoder
        self.n_features = check_positive_int("n_features", n_features)
        self.n_pseudo_inputs = check_positive_int("n_pseudo_inputs", n_pseudo_inputs)
        if init is None:
            init = torch.rand(self.n_pseudo_inputs, self.n_features)
        else:
            init = check_tensor("init", init, ndim=2)
            if tuple(init.shape) != (self.n_pseudo_inputs, self.n_features):
                raise ValueError(
                    f"The 'init' argument must have shape (n_pseudo_inputs, n_features) = "
                    f"({self.n_pseudo_inputs}, {self.n_features}); got {tuple(init.shape)}."
                )
        self.pseudo_inputs = nn.Parameter(init.detach().clone().to(torch.get_default_dtype()))

    def forward(self) -> dist.TorchDistribution:
        loc, scale = self.encoder(self.pseudo_inputs)
        components = dist.Normal(loc, scale).to_event(1)
        weights = torch.zeros(self.n_pseudo_inputs, dtype=loc.dtype, device=loc.device)
        return dist.MixtureSameFamily(dist.Categorical(logits=weights), components)


@owned
class DistributionPrior(nn.Module):
    """A fixed user distribution as a prior module (its tensors follow ``.to(device)``).

    A scalar distribution (batch and event shape ``()``) is expanded to
    ``n_components`` independent coordinates.
    """

    def __init__(self, distribution: dist.Distribution, n_components: int):
        super().__init__()
        self.n_components = check_positive_int("n_components", n_components)
        if not isinstance(distribution, dist.Distribution):
            raise TypeError(
                f"The 'prior' argument must be a pyro Distribution. Got {type(distribution).__name__} instead."
            )
        if distribution.batch_shape == () and distribution.event_shape == ():
            distribution = distribution.expand([self.n_components]).to_event(1)
        self.distribution = distribution
        _check_prior_dist(distribution, self.n_components, "prior")

    def _apply(self, fn, *args, **kwargs):
        out = super()._apply(fn, *args, **kwargs)
        apply_to_distribution(self.distribution, fn)
        return out

    def forward(self) -> dist.Distribution:
        return self.distribution


def _check_prior_dist(d, n_components: int, name: str) -> None:
    if not isinstance(d, dist.Distribution):
        raise TypeError(f"The {name!r} module must return a Distribution from forward(). Got {type(d).__name__}.")
    if d.batch_shape != () or d.event_shape != (n_components,):
        raise ValueError(
            f"The {name!r} argument must be a distribution over R^{n_components} (batch shape () and event "
            f"shape ({n_components},), or a scalar distribution to expand); got batch shape "
            f"{tuple(d.batch_shape)} and event shape {tuple(d.event_shape)}."
        )


#: Prior names accepted by :class:`~pyrolatent.models.VAE`.
PRIORS = ("normal", "mixture", "vamp")


def as_vae_prior(value, n_components: int, *, encoder: nn.Module | None = None, n_features: int | None = None):
    """A prior module from a name in :data:`PRIORS`, a distribution or a module.

    A module is checked by calling it once: it must return a distribution
    with batch shape ``()`` and event shape ``(n_components,)``.
    """
    if isinstance(value, str):
        if value == "normal":
            return StandardNormalPrior(n_components)
        if value == "mixture":
            return MixturePrior(n_components)
        if value == "vamp":
            return VampPrior(encoder, n_features)
        options = ", ".join(repr(p) for p in PRIORS)
        raise ValueError(
            f"The 'prior' argument must be one of {options}, a Distribution or a prior module. Got {value!r} instead."
        )
    if isinstance(value, dist.Distribution):
        return DistributionPrior(value, n_components)
    if isinstance(value, nn.Module):
        with torch.no_grad():
            _check_prior_dist(value(), n_components, "prior")
        return value
    raise TypeError(
        "The 'prior' argument must be a name, a pyro Distribution or an nn.Module returning one. "
        f"Got {type(value).__name__} instead."
    )
