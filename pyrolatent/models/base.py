"""What every pyrolatent model is, and the hooks diagnostics and reports use.

A model is a :class:`LatentModel`: a ``PyroModule`` whose ``forward`` is the
generative story and which names its default guide. Everything else is an
optional, documented hook; a model says it offers a hook by overriding it, and
callers ask :meth:`LatentModel.supports` rather than probing names.

Required
--------
``forward(x=None, subsample=None, *, n_samples=None, ...)``
    The generative story. Data enter only through ``obs=``, so calling it
    without data samples the prior predictive. The objects live in the
    ``"data"`` plate at dim -1; minibatch indices arrive through
    ``subsample`` (see :mod:`pyrolatent.inference.batching`).
``default_guide()``
    The guide :func:`~pyrolatent.inference.fit` uses when none is given.

Optional hooks (one name per operation)
---------------------------------------
``plate_sizes(**inputs) -> {plate: size}``
    The plates the engine may subsample; by default the one ``"data"`` plate
    over the rows of ``x``. A model with more plates (triplets, pairs, a
    second domain) overrides it.
``encode(x, guide=None) -> Tensor (n, K)``
    Posterior mean of the local code of each row.
``reconstruct(x, guide=None) -> Tensor (n, D)``
    The model's reconstruction of each row (decoded posterior mean).
``sample(n, guide=None) -> Tensor (n, D)``
    ``n`` new observations from the fitted model.
``identifiable_quantities(guide) -> {name: Tensor}``
    One guide draw of quantities that do not depend on label switching or
    rotations (restarts as chains, the NUTS comparison).
``arviz_dims``
    Names of the dimensions of each site, for ArviZ.

Reports draw the figures of each model (``pyrolatent.reports``): models
return arrays, never figures.
"""

from __future__ import annotations

import torch
from pyro.distributions import Distribution

from pyrolatent._pyro import LocalParamsModule, apply_to_distribution
from pyrolatent._validation import check_positive_int, check_tensor

__all__ = ["HOOKS", "LatentModel"]

#: The optional hooks of the model contract (see the module docstring).
HOOKS = ("encode", "reconstruct", "sample", "identifiable_quantities")


class LatentModel(LocalParamsModule):
    """Base class of pyrolatent models (see the module docstring for the contract).

    Its ``.to(device)`` also moves the tensors inside its ``PyroSample`` prior
    distributions, so a prior passed to the constructor follows the model onto
    the GPU; calling it runs with Pyro's ``module_local_params``, so its
    parameters never enter Pyro's global parameter store.
    """

    #: Names of the dimensions of each site, for ArviZ (``{"z": ("latent",)}``).
    arviz_dims: dict = {}

    def _apply(self, fn, *args, **kwargs):
        out = super()._apply(fn, *args, **kwargs)
        for prior in self._pyro_samples.values():
            if isinstance(prior, Distribution):
                apply_to_distribution(prior, fn)
        return out

    # -- required ------------------------------------------------------------------
    def default_guide(self):
        """The guide that :func:`~pyrolatent.inference.fit` uses when none is given."""
        raise NotImplementedError(f"{type(self).__name__} must define default_guide().")

    def check_inputs(self, x=None, **inputs) -> None:
        """Check the data before the first traced step (an error raised inside a
        Pyro trace comes back wrapped in a trace dump); :func:`fit` calls it.
        Nothing to check by default."""

    # -- plates --------------------------------------------------------------------
    def plate_sizes(self, x=None, **inputs) -> dict[str, int]:
        """The subsampled plates and their sizes: by default ``{"data": len(x)}``."""
        if x is None:
            raise ValueError(f"The 'x' argument of {type(self).__name__} is needed to size the 'data' plate; got None.")
        return {"data": int(x.shape[0])}

    def check_data(self, x, n_samples=None):
        """``(x as an (n, D) tensor or None, n)`` for a model with ``n_features`` = D:
        images are flattened, the shape is checked here and the values once by
        :func:`~pyrolatent.inference.fit`; without ``x``, ``n = n_samples`` (default 1)
        for sampling the prior predictive. Models with more to check (a
        likelihood's support) override it."""
        if x is None:
            return None, (1 if n_samples is None else check_positive_int("n_samples", n_samples))
        x = check_tensor("x", x, ndim=(2, 3), finite=False)
        x = x.reshape(x.shape[0], -1)
        if x.shape[1] != self.n_features:
            raise ValueError(
                f"The 'x' argument of {type(self).__name__} must have n_features = {self.n_features} columns; "
                f"got shape {tuple(x.shape)}."
            )
        return x, x.shape[0]

    # -- optional hooks --------------------------------------------------------------
    @classmethod
    def supports(cls, hook: str) -> bool:
        """Whether this model offers the optional ``hook`` (one of :data:`HOOKS`)."""
        if hook not in HOOKS:
            raise ValueError(f"The 'hook' argument must be one of {', '.join(map(repr, HOOKS))}. Got {hook!r}.")
        return getattr(cls, hook) is not getattr(LatentModel, hook)

    def encode(self, x, guide=None) -> torch.Tensor:
        """Posterior mean of the local code of each row of ``x`` (n, K)."""
        raise NotImplementedError(f"{type(self).__name__} has no local code to encode.")

    def reconstruct(self, x, guide=None) -> torch.Tensor:
        """The reconstruction of each row of ``x`` (n, D)."""
        raise NotImplementedError(f"{type(self).__name__} does not reconstruct data.")

    def sample(self, n: int, guide=None) -> torch.Tensor:
        """``n`` new observations from the fitted model (n, D)."""
        raise NotImplementedError(f"{type(self).__name__} does not sample new data.")

    def identifiable_quantities(self, guide) -> dict:
        """One guide draw of label- and rotation-invariant quantities."""
        raise NotImplementedError(f"{type(self).__name__} declares no identifiable quantities.")
