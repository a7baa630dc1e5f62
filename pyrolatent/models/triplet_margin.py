r"""A triplet-margin network, FaceNet-style (Schroff, Kalenichenko, Philbin [1]_).

An embedding :math:`f_\theta : \mathbb R^D \to \mathbb R^K`, by default
projected onto the unit sphere (:math:`\|f_\theta(x)\|_2 = 1`, as in FaceNet),
is trained so that each anchor is closer to its positive than to its negative
by a margin :math:`\alpha` in squared distance:

.. math::

    \ell_{ijl} = \max\big(0,\ d_{ij} - d_{il} + \alpha\big), \qquad
    d_{ab} = \|f_\theta(x_a) - f_\theta(x_b)\|_2^2 .

On the unit sphere :math:`d_{ab} \in [0, 4]`, so the margin has a fixed
meaning (FaceNet: :math:`\alpha = 0.2`); without the normalisation a larger
embedding satisfies any margin and the loss has no scale. It is fitted
through :func:`pyrolatent.inference.fit` as a Pyro model with point estimates
and the factor :math:`-\lambda \sum \ell_{ijl}` in the ``"triplets"`` plate
(:mod:`pyrolatent.components.embedding`). Triplets are the user's (or drawn
at random from labels); FaceNet's online hard-negative mining is not done.

References
----------
.. [1] F. Schroff, D. Kalenichenko, J. Philbin, "FaceNet: a unified embedding for face
   recognition and clustering", CVPR 2015.
.. [2] K. Q. Weinberger, L. K. Saul, "Distance metric learning for large margin nearest
   neighbor classification", JMLR 10, 2009 (the hinge on triplets).

Examples
--------
>>> from pyrolatent.data import load_digits
>>> from pyrolatent.data.triplets import make_triplet_split
>>> from pyrolatent.inference import fit
>>> split = make_triplet_split(load_digits(), "labels:2000")
>>> net = TripletMarginNetwork(64, 8, hidden=(128,))
>>> result = fit(net, {"x": split.train.x, **split.train_triplets.inputs()}, num_steps=500)  # doctest: +SKIP
"""

from __future__ import annotations

import torch
from torch import nn

from pyrolatent._validation import check_positive_float, owned
from pyrolatent.components.embedding import TripletEmbeddingModel, tiny_triplet_data

from .base import LatentModel
from .registry import ModelSpec, register

__all__ = ["TripletMarginNetwork", "tiny_example", "triplet_margin_loss"]


def triplet_margin_loss(d_ij: torch.Tensor, d_il: torch.Tensor, margin: float) -> torch.Tensor:
    r"""The hinge :math:`\max(0, d_{ij} - d_{il} + \alpha)` of each triplet (squared distances)."""
    return torch.relu(d_ij - d_il + margin)


@owned
class TripletMarginNetwork(TripletEmbeddingModel, LatentModel):
    r"""Triplet-margin embedding (FaceNet); see the module docstring.

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
        :math:`\alpha`, in squared distance.
    normalize : bool
        Project the embedding onto the unit sphere (FaceNet).
    loss_weight : float
        :math:`\lambda`, the weight of the loss in the factor.
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
        margin: float = 0.2,
        normalize: bool = True,
        loss_weight: float = 1.0,
        image_shape=None,
    ):
        super().__init__()
        self._init_embedding(n_features, n_components, loss_weight)
        self.margin = check_positive_float("margin", margin)
        self.normalize = bool(normalize)
        self.image_shape = None if image_shape is None else tuple(int(s) for s in image_shape)
        self._init_network(hidden, activation)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """:math:`f_\\theta(x)` (..., K), on the unit sphere when ``normalize``."""
        z = self.net(x)
        return nn.functional.normalize(z, dim=-1) if self.normalize else z

    def triplet_loss(self, d_ij: torch.Tensor, d_il: torch.Tensor) -> torch.Tensor:
        """The hinge of each triplet (:func:`triplet_margin_loss`)."""
        return triplet_margin_loss(d_ij, d_il, self.margin)


def tiny_example():
    """``(model, data)``: a triplet-margin network on 12 random rows of 6 features and 10 triplets."""
    return TripletMarginNetwork(6, 2, hidden=(8,)), tiny_triplet_data()


register(
    ModelSpec(
        name="triplet_margin",
        cls=TripletMarginNetwork,
        title="Triplet-margin network, FaceNet-style (Schroff, Kalenichenko, Philbin 2015)",
        summary="deterministic metric-learning baseline: hinge on triplets, unit-sphere codes; codes",
        cli="pyrolatent.cli.triplet_margin",
        examples={"mlp": tiny_example},
    )
)
