r"""Observation models :math:`p(x \mid z)` for decoders with one output per feature.

A likelihood turns the decoder output ``params`` (``(..., n_features)``) into
a distribution over one observation, with event shape ``(n_features,)``:

- :class:`BernoulliLikelihood` — binary data; ``params`` are logits.
- :class:`ContinuousBernoulliLikelihood` — data in [0, 1] (Loaiza-Ganem &
  Cunningham 2019); ``params`` are logits. Unlike the Bernoulli it is a proper
  density on [0, 1].
- :class:`GaussianLikelihood` — real data; ``params`` are the means; the
  scale is fixed or learned (per feature or shared).

Each also says what data it accepts (:meth:`Likelihood.check_data`) and what
a decoded mean image is (:meth:`Likelihood.mean`).
"""

from __future__ import annotations

import math

import pyro.distributions as dist
import torch
from torch import nn
from torch.nn import functional as F

from pyrolatent._validation import check_positive_float, check_positive_int, owned

__all__ = [
    "LIKELIHOODS",
    "BernoulliLikelihood",
    "ContinuousBernoulliLikelihood",
    "GaussianLikelihood",
    "Likelihood",
    "as_likelihood",
]


def _range_error(name, x, what) -> ValueError:
    return ValueError(
        f"The {name!r} argument must lie in [0, 1] for {what}; got values in [{float(x.min()):g}, {float(x.max()):g}]."
    )


@owned
class Likelihood(nn.Module):
    """Base class: ``forward(params)`` returns :math:`p(x \\mid z)` with event shape ``(n_features,)``."""

    #: Short name used in messages and summaries.
    name = "likelihood"

    def bind(self, n_features: int) -> Likelihood:
        """Create any per-feature parameters for ``n_features`` features; returns self."""
        return self

    def check_data(self, name: str, x: torch.Tensor) -> None:
        """Raise ``ValueError`` if ``x`` (finite, 2-D) is outside the support."""

    def mean(self, params: torch.Tensor) -> torch.Tensor:
        """The mean of :math:`p(x \\mid z)` (what a decoded picture shows)."""
        return self(params).mean

    def forward(self, params: torch.Tensor) -> dist.TorchDistribution:  # pragma: no cover - abstract
        raise NotImplementedError


@owned
class BernoulliLikelihood(Likelihood):
    r"""Independent Bernoulli pixels: :math:`x_d \sim \mathrm{Bernoulli}(\mathrm{sigmoid}(\ell_d))`.

    The data must be binary (0 or 1); binarise grey images first
    (:func:`pyrolatent.data.binarize`), or use the continuous Bernoulli.
    """

    name = "bernoulli"

    def check_data(self, name, x):
        low, high = float(x.min()), float(x.max())
        if low < 0.0 or high > 1.0:
            raise _range_error(name, x, "the Bernoulli likelihood (binary data)")
        fractional = (x != 0) & (x != 1)
        if bool(fractional.any()):
            example = float(x[fractional][0])
            raise ValueError(
                f"The {name!r} argument must be binary (0 or 1) for the Bernoulli likelihood; got values "
                f"strictly between 0 and 1 such as {example:g}. Binarise it (pyrolatent.data.binarize) "
                "or use likelihood='continuous_bernoulli'."
            )

    def mean(self, params):
        return torch.sigmoid(params)

    def forward(self, params):
        return dist.Bernoulli(logits=params).to_event(1)


@owned
class ContinuousBernoulliLikelihood(Likelihood):
    r"""Continuous Bernoulli pixels on [0, 1]:
    :math:`p(x_d) \propto \lambda_d^{x_d} (1 - \lambda_d)^{1 - x_d}`, :math:`\lambda_d = \mathrm{sigmoid}(\ell_d)`.

    Its mean is not :math:`\lambda`; :meth:`mean` gives the true mean.
    """

    name = "continuous_bernoulli"

    def check_data(self, name, x):
        if float(x.min()) < 0.0 or float(x.max()) > 1.0:
            raise _range_error(name, x, "the continuous Bernoulli likelihood")

    def forward(self, params):
        return dist.ContinuousBernoulli(logits=params).to_event(1)


@owned
class GaussianLikelihood(Likelihood):
    r"""Normal pixels :math:`x_d \sim \mathcal N(\mu_d, s_d^2)` with :math:`\mu` the decoder output.

    Parameters
    ----------
    scale : float, optional
        A fixed standard deviation. ``None`` (default) learns it as a point
        estimate (a module parameter): ``softplus(raw) + min_scale``.
    per_feature : bool
        With a learned scale, one scale per feature (default) or one shared
        scale (isotropic noise, as in probabilistic PCA).
    init_scale : float
        Initial value of a learned scale.
    min_scale : float
        Lower bound of a learned scale, which keeps the density bounded.
    """

    name = "gaussian"

    def __init__(
        self, scale: float | None = None, *, per_feature: bool = True, init_scale: float = 0.1, min_scale: float = 1e-3
    ):
        super().__init__()
        if not isinstance(per_feature, bool):
            raise ValueError(f"The 'per_feature' argument must be True or False. Got {per_feature!r} instead.")
        self.per_feature = per_feature
        self.min_scale = check_positive_float("min_scale", min_scale)
        self.fixed_scale = check_positive_float("scale", scale, allow_none=True)
        init_scale = check_positive_float("init_scale", init_scale)
        if init_scale <= self.min_scale:
            raise ValueError(
                f"The 'init_scale' argument must exceed min_scale = {self.min_scale:g}. Got {init_scale!r} instead."
            )
        # inverse softplus of (init_scale - min_scale)
        self._raw_init = math.log(math.expm1(init_scale - self.min_scale))
        self.raw_scale = None
        if self.fixed_scale is None and not per_feature:
            self.raw_scale = nn.Parameter(torch.tensor(self._raw_init))

    def bind(self, n_features):
        n_features = check_positive_int("n_features", n_features)
        if self.fixed_scale is None and self.per_feature:
            if self.raw_scale is None:
                self.raw_scale = nn.Parameter(torch.full((n_features,), self._raw_init))
            elif self.raw_scale.shape != (n_features,):
                raise ValueError(
                    f"This GaussianLikelihood has {self.raw_scale.shape[0]} per-feature scales; "
                    f"the model has n_features = {n_features}."
                )
        return self

    @property
    def scale(self) -> torch.Tensor | float:
        """The standard deviation (a float when fixed)."""
        if self.fixed_scale is not None:
            return self.fixed_scale
        if self.raw_scale is None:
            raise RuntimeError("GaussianLikelihood with a learned per-feature scale needs bind(n_features) first.")
        return F.softplus(self.raw_scale) + self.min_scale

    def mean(self, params):
        return params

    def forward(self, params):
        scale = self.scale
        if isinstance(scale, torch.Tensor):
            scale = scale.expand(params.shape)
        return dist.Normal(params, scale).to_event(1)


#: Likelihoods by name (the ``likelihood=`` strings of :class:`~pyrolatent.models.VAE`).
LIKELIHOODS = {
    "bernoulli": BernoulliLikelihood,
    "continuous_bernoulli": ContinuousBernoulliLikelihood,
    "gaussian": GaussianLikelihood,
}


def as_likelihood(value, n_features: int) -> Likelihood:
    """A :class:`Likelihood` from a name in :data:`LIKELIHOODS` or an instance, bound to ``n_features``."""
    if isinstance(value, str):
        if value not in LIKELIHOODS:
            options = ", ".join(repr(k) for k in LIKELIHOODS)
            raise ValueError(
                f"The 'likelihood' argument must be one of {options} or a Likelihood. Got {value!r} instead."
            )
        value = LIKELIHOODS[value]()
    if not isinstance(value, Likelihood):
        raise TypeError(
            "The 'likelihood' argument must be a name or a pyrolatent.models.likelihoods.Likelihood. "
            f"Got {type(value).__name__} instead."
        )
    return value.bind(n_features)
