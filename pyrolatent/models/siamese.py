r"""A siamese network with the contrastive margin loss (Hadsell, Chopra, LeCun [1]_), fitted on triplets.

One network :math:`f_\theta : \mathbb R^D \to \mathbb R^K` embeds both members
of a pair, and the contrastive loss pulls similar pairs together and pushes
dissimilar pairs at least a margin :math:`m` apart:

.. math::

    \ell(a, b) = y_{ab}\, \tfrac12 D_{ab}^2 + (1 - y_{ab})\, \tfrac12 \max(0,\ m - D_{ab})^2,
    \qquad D_{ab} = \|f_\theta(x_a) - f_\theta(x_b)\|_2 ,

with :math:`y_{ab} = 1` for a similar pair. A triplet :math:`(i, j, l)` gives
one similar pair :math:`(i, j)` and one dissimilar pair :math:`(i, l)`, so the
loss of a triplet is

.. math:: \ell_{ijl} = \tfrac12 d_{ij} + \tfrac12 \max\big(0,\ m - \sqrt{d_{il}}\big)^2,
          \qquad d_{ab} = D_{ab}^2 .

It is fitted through :func:`pyrolatent.inference.fit` as a Pyro model with
point estimates and the factor :math:`-\lambda \sum \ell_{ijl}` in the
``"triplets"`` plate (:mod:`pyrolatent.components.embedding`).

References
----------
.. [1] R. Hadsell, S. Chopra, Y. LeCun, "Dimensionality reduction by learning an invariant
   mapping", CVPR 2006.
.. [2] J. Bromley et al., "Signature verification using a siamese time delay neural network",
   NIPS 1993.

Examples
--------
>>> from pyrolatent.data import load_digits
>>> from pyrolatent.data.triplets import make_triplet_split
>>> from pyrolatent.inference import fit
>>> split = make_triplet_split(load_digits(), "labels:2000")
>>> net = SiameseNetwork(64, 8, hidden=(128,))
>>> result = fit(net, {"x": split.train.x, **split.train_triplets.inputs()}, num_steps=500)  # doctest: +SKIP
>>> codes = net.encode(split.test.x)  # doctest: +SKIP
"""

from __future__ import annotations

import torch

from pyrolatent._validation import check_positive_float, owned
from pyrolatent.components.embedding import TripletEmbeddingModel, tiny_triplet_data

from .base import LatentModel
from .registry import ModelSpec, register

__all__ = ["SiameseNetwork", "contrastive_loss", "tiny_example"]


def contrastive_loss(d_ij: torch.Tensor, d_il: torch.Tensor, margin: float) -> torch.Tensor:
    r"""Contrastive loss of a triplet from its squared distances:
    :math:`\tfrac12 d_{ij} + \tfrac12 \max(0, m - \sqrt{d_{il}})^2`."""
    return 0.5 * d_ij + 0.5 * torch.relu(margin - d_il.clamp_min(1e-12).sqrt()).pow(2)


@owned
class SiameseNetwork(TripletEmbeddingModel, LatentModel):
    r"""Siamese MLP embedding with the contrastive margin loss; see the module docstring.

    Parameters
    ----------
    n_features : int
        Size D of one (flattened) input.
    n_components : int
        Embedding size K.
    hidden : int or sequence of int
        Hidden sizes of the MLP; ``()`` gives a linear map.
    activation : str
        One of :data:`pyrolatent.components.nets.ACTIVATIONS`.
    margin : float
        The margin :math:`m` (a Euclidean distance, not squared).
    loss_weight : float
        :math:`\lambda`, the weight of the loss in the factor (the objective's scale).
    image_shape : tuple of int, optional
        Kept for reports.
    """

    def __init__(
        self,
        n_features: int,
        n_components: int = 2,
        *,
        hidden=(400,),
        activation: str = "softplus",
        margin: float = 1.0,
        loss_weight: float = 1.0,
        image_shape=None,
    ):
        super().__init__()
        self._init_embedding(n_features, n_components, loss_weight)
        self.margin = check_positive_float("margin", margin)
        self.image_shape = None if image_shape is None else tuple(int(s) for s in image_shape)
        self._init_network(hidden, activation)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """:math:`f_\\theta(x)` (..., K)."""
        return self.net(x)

    def triplet_loss(self, d_ij: torch.Tensor, d_il: torch.Tensor) -> torch.Tensor:
        """The contrastive loss of each triplet (:func:`contrastive_loss`)."""
        return contrastive_loss(d_ij, d_il, self.margin)


def tiny_example():
    """``(model, data)``: a siamese network on 12 random rows of 6 features and 10 triplets."""
    return SiameseNetwork(6, 2, hidden=(8,)), tiny_triplet_data()


register(
    ModelSpec(
        name="siamese",
        cls=SiameseNetwork,
        title="Siamese network with the contrastive margin loss (Hadsell, Chopra, LeCun 2006)",
        summary="deterministic metric-learning baseline on triplets (a pyro.factor, point estimates); codes",
        cli="pyrolatent.cli.siamese",
        examples={"mlp": tiny_example},
    )
)
