"""Models and helpers for the report tests (fixtures: conftest.py)."""

import pyro
import pyro.distributions as dist
import torch
from pyro import poutine
from pyro.nn import PyroModule


def relevance_quantities(model, guide):
    trace = poutine.trace(guide).get_trace()
    W, tau = trace.nodes["W"]["value"], trace.nodes["tau"]["value"]
    return {"relevance": torch.sort(W.pow(2).sum(-1), descending=True).values, "noise_variance": 1.0 / tau}


class PlainMean(PyroModule):
    """A model with none of the report hooks: ``mu ~ N(0, 1)``, ``x_n ~ N(mu, 1)``."""

    def forward(self, x=None):
        mu = pyro.sample("mu", dist.Normal(0.0, 1.0))
        with pyro.plate("data", x.shape[0], dim=-1):
            return pyro.sample("x", dist.Normal(mu, 1.0), obs=x)


def plain_guide(x=None):
    return pyro.sample("mu", dist.Normal(torch.tensor(0.5), torch.tensor(0.2)))
