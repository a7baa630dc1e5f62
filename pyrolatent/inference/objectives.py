r"""Objectives for :func:`pyrolatent.inference.fit` that never read the device.

Pyro's ``Trace_ELBO.differentiable_loss`` and ``TraceMeanField_ELBO`` call
``.item()`` on every sample site to report the loss as a float, and check the
loss for NaN on the host: one device-to-host sync per site and step, which on a
GPU stalls the pipeline every step. The classes here compute the same
estimators with the value and the gradient kept in one tensor, so a step of
the engine is queued on the device without waiting for it; the engine's own
NaN/Inf guard reads the losses once per check window instead.

- :class:`TraceELBO` — Pyro's ``Trace_ELBO`` (score-function terms for
  non-reparameterised guide sites included).
- :class:`MeanFieldELBO` — Pyro's ``TraceMeanField_ELBO`` (analytic KL where
  it exists).
- :class:`TraceGraphELBO` — Pyro's ``TraceGraph_ELBO`` (score-function terms
  with the downstream costs and baselines of Schulman et al., 2015), which in
  Pyro has no ``differentiable_loss``.
- :class:`ImportanceWeightedELBO` — the bound of Burda et al. (2016) for
  models whose latent variables are all local.
"""

from __future__ import annotations

import math

import pyro.infer
import torch
from pyro.distributions.util import is_identically_zero, scale_and_mask
from pyro.infer.trace_elbo import _compute_log_r
from pyro.infer.util import check_fully_reparametrized, is_validation_enabled
from torch.distributions import kl_divergence

from pyrolatent._validation import check_positive_int

from .importance import log_weights_pass

__all__ = ["ImportanceWeightedELBO", "MeanFieldELBO", "TraceELBO", "TraceGraphELBO"]


def _value_with_grad_of(value: torch.Tensor, surrogate: torch.Tensor) -> torch.Tensor:
    """A tensor equal to ``value`` whose gradient is that of ``surrogate``."""
    return value.detach() + (surrogate - surrogate.detach())


class TraceELBO(pyro.infer.Trace_ELBO):
    """Pyro's ``Trace_ELBO`` without host reads in ``differentiable_loss``.

    The returned loss equals the negative ELBO estimate and its gradient is
    the usual (reparameterised plus score-function) surrogate gradient, as in
    Pyro.
    """

    def _differentiable_loss_particle(self, model_trace, guide_trace):
        elbo = 0.0
        surrogate = 0.0
        log_r = None
        for site in model_trace.nodes.values():
            if site["type"] == "sample":
                elbo = elbo + site["log_prob_sum"]
                surrogate = surrogate + site["log_prob_sum"]
        for site in guide_trace.nodes.values():
            if site["type"] != "sample":
                continue
            _, score_function_term, entropy_term = site["score_parts"]
            elbo = elbo - site["log_prob_sum"]
            if not is_identically_zero(entropy_term):
                surrogate = surrogate - entropy_term.sum()
            if not is_identically_zero(score_function_term):
                if log_r is None:
                    log_r = _compute_log_r(model_trace, guide_trace)
                surrogate = surrogate + (log_r.sum_to(site["cond_indep_stack"]) * score_function_term).sum()
        return -elbo, -surrogate

    def differentiable_loss(self, model, guide, *args, **kwargs):
        loss = 0.0
        surrogate = 0.0
        for model_trace, guide_trace in self._get_traces(model, guide, args, kwargs):
            loss_particle, surrogate_particle = self._differentiable_loss_particle(model_trace, guide_trace)
            loss = loss + loss_particle / self.num_particles
            surrogate = surrogate + surrogate_particle / self.num_particles
        return _value_with_grad_of(torch.as_tensor(loss), torch.as_tensor(surrogate))


class TraceGraphELBO(pyro.infer.TraceGraph_ELBO):
    """Pyro's ``TraceGraph_ELBO`` as a ``differentiable_loss``: the value is the
    negative ELBO estimate, the gradient that of Pyro's surrogate loss (with
    its variance-reducing downstream costs and baselines)."""

    def differentiable_loss(self, model, guide, *args, **kwargs):
        elbo, surrogate = self._loss_and_surrogate_loss(model, guide, args, kwargs)
        return _value_with_grad_of(-torch.as_tensor(elbo), torch.as_tensor(surrogate))


class MeanFieldELBO(pyro.infer.TraceMeanField_ELBO):
    """Pyro's ``TraceMeanField_ELBO`` (analytic KL terms where they exist)
    without host reads in ``differentiable_loss``."""

    def differentiable_loss(self, model, guide, *args, **kwargs):
        loss = 0.0
        for model_trace, guide_trace in self._get_traces(model, guide, args, kwargs):
            loss = loss + self._particle_loss(model_trace, guide_trace) / self.num_particles
        return torch.as_tensor(loss)

    @staticmethod
    def _particle_loss(model_trace, guide_trace):
        elbo = 0.0
        for name, model_site in model_trace.nodes.items():
            if model_site["type"] != "sample":
                continue
            if model_site["is_observed"]:
                elbo = elbo + model_site["log_prob_sum"]
                continue
            guide_site = guide_trace.nodes[name]
            if is_validation_enabled():
                check_fully_reparametrized(guide_site)
            try:
                kl = kl_divergence(guide_site["fn"], model_site["fn"])
            except NotImplementedError:  # no closed form: Monte-Carlo for this site
                elbo = elbo + model_site["log_prob_sum"] - guide_site["score_parts"].entropy_term.sum()
                continue
            kl = scale_and_mask(kl, scale=guide_site["scale"], mask=guide_site["mask"])
            elbo = elbo - (kl.sum() if torch.is_tensor(kl) else kl * guide_site["fn"].batch_shape.numel())
        for name, guide_site in guide_trace.nodes.items():
            if guide_site["type"] == "sample" and name not in model_trace.nodes:  # auxiliary guide sites
                if is_validation_enabled():
                    check_fully_reparametrized(guide_site)
                elbo = elbo - guide_site["score_parts"].entropy_term.sum()
        return -elbo


class ImportanceWeightedELBO(pyro.infer.ELBO):
    r"""The importance-weighted bound of Burda et al. (2016) as a training objective.

    .. math:: \mathcal L_K = \sum_n \log \frac1K \sum_{k=1}^K
              \frac{p(x_n, z_{n,k})}{q(z_{n,k} \mid x_n)}, \qquad z_{n,k} \sim q(\cdot \mid x_n),

    for models whose latent variables all live in the ``"data"`` plate (at
    dim -1) and broadcast a particle dimension on the left, such as the VAE.
    The K draws are vectorised; a subsampled plate is scaled up to the data
    size. :math:`K = 1` is the ELBO; the bound tightens as K grows. Unlike
    Pyro's ``RenyiELBO`` it has ``differentiable_loss``, which :func:`fit`
    drives: ``fit(vae, data, elbo="iwae", num_particles=5)`` or
    ``fit(vae, data, elbo=ImportanceWeightedELBO(num_particles=5))``.

    References
    ----------
    .. [1] Y. Burda, R. Grosse, R. Salakhutdinov, "Importance Weighted Autoencoders", ICLR 2016.
    """

    def __init__(self, num_particles: int = 5, vectorize_particles: bool = True):
        if not isinstance(vectorize_particles, bool):
            raise ValueError(
                "The 'vectorize_particles' argument of ImportanceWeightedELBO must be True or False. "
                f"Got {vectorize_particles!r} instead."
            )
        super().__init__(
            num_particles=check_positive_int("num_particles", num_particles), vectorize_particles=vectorize_particles
        )

    def differentiable_loss(self, model, guide, *args, **kwargs):
        if args:
            raise TypeError("ImportanceWeightedELBO passes the data by keyword (x=..., subsample=...).")
        if self.vectorize_particles:
            log_w, scale = log_weights_pass(model, guide, self.num_particles, kwargs)
        else:  # one draw per pass (less memory); the same bound
            passes = [log_weights_pass(model, guide, 1, kwargs) for _ in range(self.num_particles)]
            log_w, scale = torch.cat([lw for lw, _ in passes], 0), passes[0][1]
        bound = log_w.logsumexp(0) - math.log(self.num_particles)
        return -(scale * bound).sum()

    def __repr__(self) -> str:
        vec = "" if self.vectorize_particles else ", vectorize_particles=False"
        return f"ImportanceWeightedELBO(num_particles={self.num_particles}{vec})"

    def _get_trace(self, model, guide, args, kwargs):  # pragma: no cover - traces are built in one pass
        raise NotImplementedError("ImportanceWeightedELBO builds its traces in differentiable_loss.")

    def loss(self, model, guide, *args, **kwargs) -> float:
        with torch.no_grad():
            return float(self.differentiable_loss(model, guide, *args, **kwargs))

    def loss_and_grads(self, model, guide, *args, **kwargs) -> float:
        loss = self.differentiable_loss(model, guide, *args, **kwargs)
        loss.backward()
        return float(loss)
