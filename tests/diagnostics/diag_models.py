"""Models with known posteriors and helpers for the diagnostics tests (fixtures: conftest.py)."""

import math

import pyro
import pyro.distributions as dist
import torch
from pyro.nn import PyroModule

from pyrolatent.inference import FitResult, FitSettings

PRIOR_SCALE = 2.0
NOISE_SCALE = 1.0


class NormalMean(PyroModule):
    r"""Conjugate model: ``mu ~ N(0, s0^2 I_2)``, ``x_n | mu ~ N(mu, s^2 I_2)`` in the "data" plate."""

    def forward(self, x=None):
        mu = pyro.sample("mu", dist.Normal(0.0, PRIOR_SCALE).expand([2]).to_event(1))
        with pyro.plate("data", x.shape[0], dim=-1):
            return pyro.sample("x", dist.Normal(mu, NOISE_SCALE).to_event(1), obs=x)


class FixedGuide(PyroModule):
    """``q(mu) = N(loc, scale^2)``, with fixed parameters."""

    def __init__(self, loc, scale):
        super().__init__()
        self.loc, self.scale = loc, scale

    def forward(self, x=None):
        return pyro.sample("mu", dist.Normal(self.loc, self.scale).to_event(1))


class Hierarchical(PyroModule):
    """A global ``mu`` and a local ``z_n`` per observation: ``x_n ~ N(z_n, 0.5^2)``."""

    def forward(self, x=None):
        mu = pyro.sample("mu", dist.Normal(0.0, 2.0))
        with pyro.plate("data", x.shape[0], dim=-1):
            z = pyro.sample("z", dist.Normal(mu, 1.0))
            return pyro.sample("x", dist.Normal(z, 0.5), obs=x)


def closed_form(x):
    """Posterior mean, posterior sd and log evidence of :class:`NormalMean` given ``x`` (n, 2)."""
    x = x.double()
    n = x.shape[0]
    precision = 1 / PRIOR_SCALE**2 + n / NOISE_SCALE**2
    loc = (x.sum(0) / NOISE_SCALE**2) / precision
    scale = precision**-0.5
    # Per dim: x ~ N(0, s^2 I + s0^2 11^T); use the matrix determinant lemma.
    log_evidence = 0.0
    for d in range(2):
        xd = x[:, d]
        quad = (xd @ xd) / NOISE_SCALE**2 - (xd.sum() / NOISE_SCALE**2) ** 2 / precision
        logdet = n * math.log(NOISE_SCALE**2) + math.log(1 + n * PRIOR_SCALE**2 / NOISE_SCALE**2)
        log_evidence += -0.5 * (n * math.log(2 * math.pi) + logdet + float(quad))
    return loc, scale, log_evidence


def make_result(model, guide, x, losses=None):
    """A FitResult for a guide that was not fitted by the engine."""
    losses = torch.linspace(100.0, 50.0, 20) if losses is None else losses
    return FitResult(
        model=model,
        guide=guide,
        losses=losses,
        num_steps=int(losses.numel()),
        wall_time=0.1,
        steps_per_second=losses.numel() / 0.1,
        device=torch.device("cpu"),
        settings=FitSettings(num_steps=max(1, int(losses.numel()))),
        data={"x": x},
    )
