r"""What the deterministic metric-learning baselines share: an embedding
:math:`f_\theta`, the objects in the ``"data"`` plate and the triplets in
their own ``"triplets"`` plate, and a loss entered as a ``pyro.factor``.

The baselines of the lecture (a siamese network with the contrastive loss, a
triplet-margin network, Mahalanobis metric learning) are not generative
models: they learn a map :math:`f_\theta : \mathbb R^D \to \mathbb R^K` whose
Euclidean distances :math:`d_{ab} = \|f_\theta(x_a) - f_\theta(x_b)\|^2`
should agree with an oracle's triplets :math:`(i, j, l)`, "i is more similar
to j than to l", by minimising a loss :math:`\sum_{(i,j,l)} \ell(d_{ij},
d_{il})`. They are fitted by the same engine as every model
(:func:`pyrolatent.inference.fit`) as a Pyro model with **point estimates
only** (the network weights are ``nn.Parameter`` s, there is no latent site):

.. math::

    \log p_\theta(\text{triplets} \mid x) := -\lambda \sum_{(i,j,l)} \ell\big(d_{ij}, d_{il}\big),

written as ``pyro.factor("triplet_loss", -λ ℓ)`` inside the ``"triplets"``
plate, so a minibatch of triplets is scaled to the full set by the plate and
SVI's loss (the negative ELBO, with an empty guide) is exactly the summed
training loss. This is an unnormalised pseudo-likelihood: maximising it is
the classical deterministic training, nothing Bayesian is claimed, and the
"ELBO" these models report is minus their training loss.

**The inputs.** A discriminative model conditions on its inputs instead of
modelling them. So that the objects still enter only through ``obs=`` in the
``"data"`` plate, as for every model, each row is an observed site ``"x"``
with a point mass at itself, :math:`\delta(x_n)`: its log-density is 0, it
adds nothing to the objective, and its "posterior predictive" returns the
inputs (the model makes no claim about them). Without data the model has no
prior predictive and says so.

Subclasses define :meth:`TripletEmbeddingModel.embed` (the map :math:`f`) and
:meth:`TripletEmbeddingModel.triplet_loss` (the per-triplet loss).
"""

from __future__ import annotations

import weakref

import pyro
import pyro.distributions as dist
import torch
from torch import nn

from pyrolatent._pyro import LocalParamsModule, plate_subsample, with_local_params
from pyrolatent._validation import check_positive_float, check_positive_int, check_tensor

from .nets import MLP, check_hidden

__all__ = ["NoLatentGuide", "TripletEmbeddingModel", "squared_distances", "tiny_triplet_data"]


def squared_distances(codes: torch.Tensor, triplets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    r"""``(d_ij, d_il)``: squared Euclidean distances :math:`\|c_i - c_j\|^2` and
    :math:`\|c_i - c_l\|^2` for codes (n, K) and triplets (T, 3) of row ids."""
    a, p, n = codes[triplets[:, 0]], codes[triplets[:, 1]], codes[triplets[:, 2]]
    return (a - p).pow(2).sum(-1), (a - n).pow(2).sum(-1)


class TripletEmbeddingModel:
    """Mixin of a deterministic embedding fitted on triplets (see the module docstring).

    A subclass is a :class:`~pyrolatent.models.base.LatentModel` that sets
    ``n_features``, ``n_components`` and ``loss_weight`` and defines
    ``embed(x) -> (n, K)`` and ``triplet_loss(d_ij, d_il) -> (T,)``.
    """

    #: The factor site's name (the summed per-triplet loss, negated).
    LOSS_SITE = "triplet_loss"
    #: The model conditions on its inputs: calling it without data raises (see the module docstring).
    has_prior_predictive = False
    arviz_dims = {"x": ("feature",)}

    def _init_network(self, hidden, activation: str) -> None:
        """``self.net``: an MLP from the ``n_features`` inputs to the ``n_components`` code."""
        trunk = MLP(self.n_features, check_hidden(hidden), activation)
        self.net = nn.Sequential(trunk, nn.Linear(trunk.out_features, self.n_components))

    def _init_embedding(self, n_features: int, n_components: int, loss_weight: float) -> None:
        self.n_features = check_positive_int("n_features", n_features)
        self.n_components = check_positive_int("n_components", n_components)
        self.loss_weight = check_positive_float("loss_weight", loss_weight)
        self._checked_triplets = None

    def __getstate__(self):
        state = super().__getstate__()
        state["_checked_triplets"] = None
        return state

    # -- to define -------------------------------------------------------------------
    def embed(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def triplet_loss(self, d_ij: torch.Tensor, d_il: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    # -- data ------------------------------------------------------------------------
    def _check_triplets(self, triplets, n: int) -> torch.Tensor:
        """The (T, 3) row ids, checked once per tensor (the engine calls the model every step)."""
        cached = self._checked_triplets
        key = (id(triplets), getattr(triplets, "_version", None), n)
        if cached is not None and cached[0] == key and cached[1]() is triplets:
            return triplets
        idx = check_tensor("triplets", triplets, ndim=2, dtype="int").to(torch.long)
        if idx.shape[1] != 3:
            raise ValueError(
                f"The 'triplets' argument of {type(self).__name__} must have 3 columns (anchor, positive, "
                f"negative); got shape {tuple(idx.shape)}."
            )
        bad = ((idx < 0) | (idx >= n)).any(1)
        if bool(bad.any()):
            r = int(bad.nonzero()[0])
            raise ValueError(
                f"The 'triplets' argument of {type(self).__name__} must hold rows of 'x' in [0, {n}); "
                f"row {r} is {idx[r].tolist()}."
            )
        if isinstance(triplets, torch.Tensor) and triplets.dtype == torch.long:
            self._checked_triplets = (key, weakref.ref(triplets))
        return idx

    def plate_sizes(self, x=None, triplets=None, **inputs) -> dict[str, int]:
        """``{"data": N, "triplets": T}`` (only ``"data"`` without triplets)."""
        sizes = {"data": self.check_data(x, inputs.get("n_samples"))[1]}
        if triplets is not None:
            sizes["triplets"] = int(triplets.shape[0])
        return sizes

    def check_inputs(self, x=None, triplets=None, **inputs) -> None:
        """Check the data and the triplets before the first traced step."""
        x, n = self.check_data(x)
        if triplets is not None:
            self._check_triplets(triplets, n)

    def _device(self) -> torch.device:
        return next(self.parameters()).device

    # -- the model -------------------------------------------------------------------
    def forward(self, x=None, triplets=None, subsample=None, *, n_samples=None, **ignored):
        """The inputs as point masses in the ``"data"`` plate and, with ``triplets``
        (T, 3), the factor :math:`-\\lambda\\,\\ell(d_{ij}, d_{il})` in the ``"triplets"`` plate."""
        x, n = self.check_data(x, n_samples)
        if x is None:
            raise ValueError(
                f"{type(self).__name__} is a deterministic embedding that conditions on its inputs: it has no "
                "prior predictive. Pass the data 'x'."
            )
        rows = plate_subsample(subsample, "data")
        with pyro.plate("data", n, subsample=rows, dim=-1) as idx:
            xs = x if rows is None else x.index_select(0, idx)
            pyro.sample("x", dist.Delta(xs, event_dim=1), obs=xs)
        if triplets is None:
            return None
        idx3 = self._check_triplets(triplets, n)
        jdx = plate_subsample(subsample, "triplets")
        with pyro.plate("triplets", idx3.shape[0], subsample=jdx, dim=-1) as j:
            batch = idx3 if jdx is None else idx3.index_select(0, j)
            loss = self.batch_loss(x, batch)
            pyro.factor(self.LOSS_SITE, -self.loss_weight * loss)
        return loss

    def batch_loss(self, x: torch.Tensor, triplets: torch.Tensor) -> torch.Tensor:
        """The per-triplet loss (T,) of triplets (T, 3) of rows of ``x``."""
        T = triplets.shape[0]
        codes = self.embed(x.index_select(0, triplets.reshape(-1))).reshape(T, 3, -1)
        d_ij = (codes[:, 0] - codes[:, 1]).pow(2).sum(-1)
        d_il = (codes[:, 0] - codes[:, 2]).pow(2).sum(-1)
        return self.triplet_loss(d_ij, d_il)

    def default_guide(self) -> NoLatentGuide:
        """A guide with no site: the model has point estimates only."""
        return NoLatentGuide()

    # -- hooks -----------------------------------------------------------------------
    @torch.no_grad()
    @with_local_params
    def encode(self, x, guide=None) -> torch.Tensor:
        """The embedding :math:`f_\\theta(x)` of each row (n, K); ``guide`` is ignored."""
        x, _ = self.check_data(x)
        return self.embed(x.to(self._device()))

    @torch.no_grad()
    def triplet_probability(self, x, triplets, oracle=None, *, mask=None) -> torch.Tensor:
        """1 where the anchor's code is closer to its positive's than to its negative's,
        0 where farther, 1/2 at a tie (T,): the baseline's answer to each triplet
        (it defines no probability; the triplet metrics threshold at 1/2)."""
        z = self.encode(x).cpu()
        d_ij, d_il = squared_distances(z, check_tensor("triplets", triplets, ndim=2, dtype="int").to(torch.long))
        return 0.5 * (1 + torch.sign(d_il - d_ij))


class NoLatentGuide(LocalParamsModule):
    """The empty guide of a model with no latent site (point estimates only)."""

    def forward(self, *args, **kwargs):
        return None


def tiny_triplet_data(n_rows: int = 12, n_features: int = 6, n_triplets: int = 10, seed: int = 0) -> dict:
    """``{"x", "triplets"}``: random rows and random triplets of them (the common model tests)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n_rows, n_features, generator=g)
    triplets = torch.stack([torch.randperm(n_rows, generator=g)[:3] for _ in range(n_triplets)])
    return {"x": x, "triplets": triplets}
