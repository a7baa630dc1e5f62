"""The figures of each kind of model, for the run report.

Models return arrays; the figures are drawn here. :func:`figures_for` finds
the figure function of a model by its class (the nearest registered base
class wins, so a model built on the VAE gets the VAE's figures unless it
registers its own). A model with no entry simply gets the report's common
sections.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from matplotlib.figure import Figure

from pyrolatent._pyro import seeded
from pyrolatent.models import VAE, BayesianPCA

from .vae_figures import vae_figures

__all__ = ["MODEL_FIGURES", "figures_for", "model_figures", "model_findings", "register_figures"]

#: ``{model class: function(model, guide, data) -> {name: Figure}}``.
MODEL_FIGURES: dict[type, Callable[..., dict]] = {}


def register_figures(cls: type):
    """Decorator: ``fn(model, guide, data) -> {name: Figure}`` draws the figures of ``cls``."""

    def decorate(fn):
        MODEL_FIGURES[cls] = fn
        return fn

    return decorate


def figures_for(model) -> Callable[..., dict] | None:
    """The figure function of ``model``'s class or its nearest registered base."""
    for cls in type(model).__mro__:
        if cls in MODEL_FIGURES:
            return MODEL_FIGURES[cls]
    return None


def model_figures(result, data=None) -> dict:
    """The figures the report shows for the model of ``result`` (``{name: Figure}``;
    empty for a model with none): e.g. ``model_figures(result, data)["ard_relevance"]``."""
    draw = figures_for(result.model)
    return {} if draw is None else draw(result.model, result.guide, data if data is not None else result.data)


@register_figures(BayesianPCA)
def bpca_figures(model, guide, data) -> dict:
    """The ARD relevance plot: variance added by each component, survivors marked."""
    post = model.posterior(guide)
    rel = (post.relevance / post.noise_variance)[post.order].cpu().numpy()
    alive = post.surviving[post.order].cpu().numpy()
    fig = Figure(figsize=(6, 3.2))
    ax = fig.subplots()
    ax.bar(np.arange(1, len(rel) + 1), rel, color=["tab:blue" if a else "lightgray" for a in alive])
    ax.axhline(post.threshold, color="tab:red", ls="--", lw=1, label=f"survival threshold ({post.threshold:g})")
    ax.set_yscale("log")
    ax.set_xlabel("component (sorted by relevance)")
    ax.set_ylabel(r"$\|W_k\|^2 / \sigma^2$")
    ax.set_title(f"ARD relevance: {post.n_effective} of {len(rel)} components survive")
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    return {"ard_relevance": fig}


@register_figures(VAE)
def _vae(model, guide, data) -> dict:
    return vae_figures(model, guide, data)


def model_findings(result, data) -> list[str]:
    """One or two sentences on what the model found, for the report's verdict."""
    model = result.model
    if isinstance(model, BayesianPCA):
        post = model.posterior(result.guide)
        return [
            f"{post.n_effective} of {model.n_components} components survive ARD "
            f"(noise variance {float(post.noise_variance):.4g})."
        ]
    if isinstance(model, VAE):
        x = data.x if hasattr(data, "x") else (data.get("x") if isinstance(data, dict) else data)
        if isinstance(x, torch.Tensor) and x.shape[0] > 0:
            rows = x[:500]
            with seeded(0):
                ll = float(model.log_likelihood(rows, result.guide, num_samples=100).mean())
            return [
                f"log-likelihood {ll:.2f} nats per example on {rows.shape[0]} rows of the fitted data "
                "(importance-weighted, 100 draws; the held-out figure of a CLI run is in summary.json)."
            ]
    return []
