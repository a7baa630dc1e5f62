r"""Graph-network pieces: GIN layers and a GIN encoder of per-node Gaussian codes.

A graph isomorphism network layer [1]_ updates node features :math:`H`
(``(n, N, F)`` for ``n`` graphs of ``N`` nodes) with the adjacency
:math:`A` (``(n, N, N)``):

.. math:: H' = \mathrm{MLP}\big((1 + \epsilon) H + A H\big).

arch2vec [2]_ stacks GIN layers over the *undirected* cell graph
(:math:`A + A^\top`) and reads a Gaussian code per node from the last one.

Normalisation (``norm``): ``"layer"`` (the default here) normalises each node's
features over the feature axis after the MLP; ``"batch"`` is the GIN of [1]_ as
arch2vec's code uses it, a batch normalisation over all nodes of all graphs of the
minibatch after each hidden linear map of the MLP and after the MLP,

.. math:: H' = \mathrm{ReLU}\big(\mathrm{BN}(W_2\,\mathrm{ReLU}(\mathrm{BN}(W_1 G)))\big),
    \qquad G = (1 + \epsilon) H + A H,

where :math:`\mathrm{BN}` standardises each feature with the mean and variance over
the :math:`n N` node rows in training mode (updating running estimates, momentum 0.1)
and with those running estimates in eval mode (``module.eval()``).

References
----------
.. [1] K. Xu, W. Hu, J. Leskovec, S. Jegelka, "How Powerful are Graph Neural
   Networks?", ICLR 2019.
.. [2] S. Yan et al., "Does Unsupervised Architecture Representation Learning
   Help Neural Architecture Search?", NeurIPS 2020.
"""

from __future__ import annotations

import torch
from torch import nn

from pyrolatent._validation import check_choice, check_positive_int, owner

__all__ = ["GINEncoder", "GINLayer", "NodeBatchNorm", "undirected"]

NORMS = ("layer", "batch")


def undirected(adj: torch.Tensor) -> torch.Tensor:
    """:math:`\\min(A + A^\\top, 1)`: the undirected graph of a directed adjacency ``(..., N, N)``."""
    return (adj + adj.transpose(-1, -2)).clamp(max=1.0)


class NodeBatchNorm(nn.BatchNorm1d):
    """Batch normalisation of node features ``(..., F)`` over all leading axes (every node of
    every graph is one row), as ``BatchNorm1d`` on the ``(n N, F)`` view: batch statistics in
    training mode, running statistics in eval mode."""

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return super().forward(h.reshape(-1, h.shape[-1])).reshape(h.shape)


class GINLayer(nn.Module):
    """One GIN layer, :math:`H' = \\mathrm{MLP}((1 + \\epsilon) H + A H)` with a learnt
    :math:`\\epsilon` and a two-layer ReLU MLP, normalised by ``norm`` (module docstring):
    ``"layer"`` (default) a layer norm after the MLP, ``"batch"`` GIN's batch norm over all
    nodes after the first linear map and after the MLP."""

    def __init__(self, in_features: int, out_features: int, norm: str = "layer"):
        super().__init__()
        in_features = check_positive_int("in_features", in_features)
        out_features = check_positive_int("out_features", out_features)
        with owner(self):
            batch = check_choice("norm", norm, NORMS) == "batch"
        self.eps = nn.Parameter(torch.zeros(()))
        inner = (NodeBatchNorm(out_features),) if batch else ()  # GIN's batch norm after the first linear map
        self.mlp = nn.Sequential(
            nn.Linear(in_features, out_features),
            *inner,
            nn.ReLU(),
            nn.Linear(out_features, out_features),
        )
        self.norm = NodeBatchNorm(out_features) if batch else nn.LayerNorm(out_features)

    def forward(self, h: torch.Tensor, adj: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.norm(self.mlp((1 + self.eps) * h + adj @ h)))


class GINEncoder(nn.Module):
    """Stacked GIN layers, then a Gaussian code per node.

    Parameters
    ----------
    n_types : int
        Size of the one-hot node features (7 operation types in arch2vec).
    latent_dim : int
        Dimension of each node's code (16 in arch2vec).
    hidden : int
        Width of the GIN layers (128 in arch2vec).
    n_layers : int
        Number of GIN layers.
    norm : {"layer", "batch"}
        Normalisation inside each layer (module docstring): ``"batch"`` is arch2vec's GIN, whose
        outputs then depend on the minibatch in training mode and on the running statistics in
        eval mode.

    Returns (forward)
    -----------------
    loc, scale : torch.Tensor, shape (n, N, latent_dim)
    """

    def __init__(self, n_types: int, latent_dim: int = 16, hidden: int = 128, n_layers: int = 5, norm: str = "layer"):
        super().__init__()
        with owner(self):
            norm = check_choice("norm", norm, NORMS)
        n_layers = check_positive_int("n_layers", n_layers)
        hidden = check_positive_int("hidden", hidden)
        sizes = [check_positive_int("n_types", n_types)] + [hidden] * n_layers
        self.layers = nn.ModuleList(GINLayer(a, b, norm) for a, b in zip(sizes[:-1], sizes[1:], strict=True))
        self.loc = nn.Linear(hidden, check_positive_int("latent_dim", latent_dim))
        self.log_scale = nn.Linear(hidden, latent_dim)

    def forward(self, x: torch.Tensor, adj: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        a = undirected(adj)
        h = x
        for layer in self.layers:
            h = layer(h, a)
        return self.loc(h), torch.exp(self.log_scale(h).clamp(-10.0, 5.0) - 2.0)  # start near the means
