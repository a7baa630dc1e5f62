"""What every pyrolatent model shares."""

from __future__ import annotations

import torch
from pyro.distributions import Distribution
from pyro.nn import PyroModule

__all__ = ["LatentModel"]


def _apply_to_distribution(d: Distribution, fn) -> None:
    """Apply ``fn`` (as ``nn.Module._apply`` does) to every tensor a distribution holds,
    wrapped distributions (``Independent``, ``ExpandedDistribution``, ...) included."""
    for key, value in list(vars(d).items()):
        if isinstance(value, torch.Tensor):
            setattr(d, key, fn(value))
        elif isinstance(value, Distribution):
            _apply_to_distribution(value, fn)


class LatentModel(PyroModule):
    """Base class of pyrolatent models: a ``PyroModule`` whose ``.to(device)``
    also moves the tensors inside its ``PyroSample`` prior distributions, so a
    prior passed to the constructor follows the model onto the GPU.

    Subclasses write the generative story in ``forward(x=None, subsample=None, ...)``
    with the observations in ``pyro.plate("data", n, subsample=subsample)`` and
    provide ``default_guide()``.
    """

    def _apply(self, fn, *args, **kwargs):
        out = super()._apply(fn, *args, **kwargs)
        for prior in self._pyro_samples.values():
            if isinstance(prior, Distribution):
                _apply_to_distribution(prior, fn)
        return out

    def default_guide(self):  # pragma: no cover - every model overrides it
        raise NotImplementedError

    # Optional hooks that diagnostics and reports use when a model has them
    # (a model without one simply gets no such figure):
    #
    #   latent_mean(x, guide) -> Tensor (n, K)      posterior mean of the local code
    #   reconstruct_data(x, guide) -> Tensor (n, D) decode the latent mean of x
    #   sample_data(n, guide) -> Tensor (n, D)      new draws from the fitted model
    #   report_figures(result, data) -> dict[str, matplotlib Figure]
    #                                               model-specific figures
    #   identifiable_quantities(guide) -> dict[str, Tensor]
    #                                               one guide draw of rotation- and
    #                                               label-invariant quantities (restarts, NUTS)
