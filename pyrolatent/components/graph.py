r"""Graph-network pieces: GIN layers and a GIN encoder of per-node Gaussian codes.

A graph isomorphism network layer [1]_ updates node features :math:`H`
(``(n, N, F)`` for ``n`` graphs of ``N`` nodes) with the adjacency
:math:`A` (``(n, N, N)``):

.. math:: H' = \mathrm{MLP}\big((1 + \epsilon) H + A H\big).

arch2vec [2]_ stacks GIN layers over the *undirected* cell graph
(:math:`A + A^\top`) and reads a Gaussian code per node from the last one.

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

from pyrolatent._validation import check_positive_int

__all__ = ["GINEncoder", "GINLayer", "undirected"]


def undirected(adj: torch.Tensor) -> torch.Tensor:
    """:math:`\\min(A + A^\\top, 1)`: the undirected graph of a directed adjacency ``(..., N, N)``."""
    return (adj + adj.transpose(-1, -2)).clamp(max=1.0)


class GINLayer(nn.Module):
    """One GIN layer, :math:`H' = \\mathrm{MLP}((1 + \\epsilon) H + A H)` with a learnt
    :math:`\\epsilon` and a two-layer ReLU MLP (batch normalised over all nodes)."""

    def __init__(self, in_features: int, out_features: int):
        super().__init__()
        in_features = check_positive_int("in_features", in_features)
        out_features = check_positive_int("out_features", out_features)
        self.eps = nn.Parameter(torch.zeros(()))
        self.mlp = nn.Sequential(
            nn.Linear(in_features, out_features),
            nn.ReLU(),
            nn.Linear(out_features, out_features),
        )
        self.norm = nn.LayerNorm(out_features)

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

    Returns (forward)
    -----------------
    loc, scale : torch.Tensor, shape (n, N, latent_dim)
    """

    def __init__(self, n_types: int, latent_dim: int = 16, hidden: int = 128, n_layers: int = 5):
        super().__init__()
        n_layers = check_positive_int("n_layers", n_layers)
        hidden = check_positive_int("hidden", hidden)
        sizes = [check_positive_int("n_types", n_types)] + [hidden] * n_layers
        self.layers = nn.ModuleList(GINLayer(a, b) for a, b in zip(sizes[:-1], sizes[1:], strict=True))
        self.loc = nn.Linear(hidden, check_positive_int("latent_dim", latent_dim))
        self.log_scale = nn.Linear(hidden, latent_dim)

    def forward(self, x: torch.Tensor, adj: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        a = undirected(adj)
        h = x
        for layer in self.layers:
            h = layer(h, a)
        return self.loc(h), torch.exp(self.log_scale(h).clamp(-10.0, 5.0) - 2.0)  # start near the means
