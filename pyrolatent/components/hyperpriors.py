"""Priors shared by the models, and the check that a user's prior is usable."""

from __future__ import annotations

import pyro.distributions as dist
import torch

__all__ = ["as_prior", "broad_gamma"]


def broad_gamma(concentration: float = 1e-3, rate: float = 1e-3) -> dist.Gamma:
    """Bishop's broad hyperprior on a precision: ``Gamma(1e-3, 1e-3)`` (mean 1, variance 1000)."""
    return dist.Gamma(concentration, rate)


def as_prior(name: str, value, default: dist.Distribution, *, positive: bool = True):
    """Return ``value`` (or ``default`` when None) after checking that it is a
    scalar distribution, on the positive reals when ``positive``."""
    if value is None:
        return default
    if not isinstance(value, dist.Distribution):
        raise TypeError(
            f"The {name!r} argument must be a pyro.distributions.Distribution. Got {type(value).__name__} instead."
        )
    if value.batch_shape != () or value.event_shape != ():
        raise ValueError(
            f"The {name!r} argument must be a scalar distribution (batch and event shape ()); "
            f"got batch shape {tuple(value.batch_shape)} and event shape {tuple(value.event_shape)}."
        )
    if positive:
        support = value.support
        on_positive_reals = (
            not support.is_discrete
            and bool(support.check(torch.tensor(2.0)))
            and not bool(support.check(torch.tensor(-1.0)))
        )
        if not on_positive_reals:
            raise ValueError(f"The {name!r} argument must have support on the positive reals; got {support}.")
    return value
