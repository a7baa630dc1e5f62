r"""Mahalanobis metric learning on the inputs, with the large-margin triplet loss
(Weinberger & Saul's LMNN objective [1]_ on the given triplets).

A linear map :math:`L \in \mathbb R^{K \times D}` defines the distance

.. math:: d_{ab} = \|L (x_a - x_b)\|_2^2 = (x_a - x_b)^\top M (x_a - x_b), \qquad M = L^\top L \succeq 0,

(a Mahalanobis distance; :math:`K < D` gives a low-rank metric) and is learned
from triplets :math:`(i, j, l)` by

.. math:: \ell_{ijl} = (1 - \mu)\, d_{ij} + \mu \max\big(0,\ 1 + d_{ij} - d_{il}\big),

the pull of similar pairs together plus the hinge that pushes each negative a
unit margin beyond the positive. The pull term fixes the scale of :math:`L`
(the hinge alone is satisfied by any large multiple of a good :math:`L`);
:math:`\mu = 1/2` is LMNN's usual choice. Unlike LMNN, the triplets are the
oracle's (or drawn from labels), not the k nearest target neighbours and
their impostors. It is fitted through :func:`pyrolatent.inference.fit` as a
Pyro model with point estimates and the factor :math:`-\lambda \sum
\ell_{ijl}` in the ``"triplets"`` plate
(:mod:`pyrolatent.components.embedding`); ``encode`` returns :math:`L x`, whose
Euclidean distances are the learned metric.

References
----------
.. [1] K. Q. Weinberger, L. K. Saul, "Distance metric learning for large margin nearest
   neighbor classification", JMLR 10, 2009.
.. [2] E. P. Xing, A. Y. Ng, M. I. Jordan, S. Russell, "Distance metric learning, with
   application to clustering with side-information", NIPS 2002.

Examples
--------
>>> from pyrolatent.data import load_digits
>>> from pyrolatent.data.triplets import make_triplet_split
>>> from pyrolatent.inference import fit
>>> split = make_triplet_split(load_digits(), "labels:2000")
>>> metric = MahalanobisMetric(64)
>>> result = fit(metric, {"x": split.train.x, **split.train_triplets.inputs()}, num_steps=500)  # doctest: +SKIP
>>> M = metric.metric_matrix()  # (64, 64)  # doctest: +SKIP
"""

from __future__ import annotations

import torch
from torch import nn

from pyrolatent._validation import check_positive_int, check_probability, owned
from pyrolatent.components.embedding import TripletEmbeddingModel

from .base import LatentModel
from .registry import ModelSpec, register

__all__ = ["MahalanobisMetric", "lmnn_loss", "tiny_example"]


def lmnn_loss(d_ij: torch.Tensor, d_il: torch.Tensor, mu: float = 0.5) -> torch.Tensor:
    r""":math:`(1 - \mu) d_{ij} + \mu \max(0, 1 + d_{ij} - d_{il})` of each triplet."""
    return (1.0 - mu) * d_ij + mu * torch.relu(1.0 + d_ij - d_il)


@owned
class MahalanobisMetric(TripletEmbeddingModel, LatentModel):
    r"""A learned Mahalanobis distance :math:`\|L(x_a - x_b)\|^2` on the inputs; see the module docstring.

    Parameters
    ----------
    n_features : int
        Size D of one (flattened) input.
    n_components : int, optional
        Rows K of :math:`L` (the rank of the metric); default D (full rank).
    mu : float
        :math:`\mu \in (0, 1)`, the weight of the hinge against the pull term.
    loss_weight : float
        :math:`\lambda`, the weight of the loss in the factor.
    image_shape : tuple of int, optional
        Kept for reports.

    Attributes
    ----------
    L : nn.Parameter (K, D)
        The linear map; it starts at the first K rows of the identity (the
        Euclidean metric when K = D).
    """

    def __init__(
        self,
        n_features: int,
        n_components: int | None = None,
        *,
        mu: float = 0.5,
        loss_weight: float = 1.0,
        image_shape=None,
    ):
        n_features = check_positive_int("n_features", n_features)
        n_components = n_features if n_components is None else n_components
        super().__init__()
        self._init_embedding(n_features, n_components, loss_weight)
        self.mu = check_probability("mu", mu)
        if not 0.0 < self.mu < 1.0:
            raise ValueError(f"The 'mu' argument of MahalanobisMetric must lie strictly between 0 and 1. Got {mu!r}.")
        self.image_shape = None if image_shape is None else tuple(int(s) for s in image_shape)
        self.L = nn.Parameter(torch.eye(self.n_components, self.n_features))

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """:math:`L x` (..., K)."""
        return x @ self.L.T

    def triplet_loss(self, d_ij: torch.Tensor, d_il: torch.Tensor) -> torch.Tensor:
        """The large-margin loss of each triplet (:func:`lmnn_loss`)."""
        return lmnn_loss(d_ij, d_il, self.mu)

    @torch.no_grad()
    def metric_matrix(self) -> torch.Tensor:
        """:math:`M = L^\\top L` (D, D)."""
        return (self.L.T @ self.L).detach().cpu()


def tiny_example():
    """``(model, data)``: a Mahalanobis metric on 12 random rows of 6 features and 10 triplets."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(12, 6, generator=g)
    triplets = torch.stack([torch.randperm(12, generator=g)[:3] for _ in range(10)])
    return MahalanobisMetric(6, 3), {"x": x, "triplets": triplets}


register(
    ModelSpec(
        name="mahalanobis",
        cls=MahalanobisMetric,
        title="Mahalanobis metric learning on the inputs (large-margin loss, Weinberger & Saul 2009)",
        summary="a learned linear map L, distance ||L(x_a - x_b)||^2, from triplets; codes Lx",
        cli="pyrolatent.cli.mahalanobis",
        examples={"linear": tiny_example},
    )
)
