r"""The discrete search space of NAS-Bench-201 cells and its one-edge neighbourhoods.

A cell is a row of the table (its NAS-Bench-201 index); its six edge operation
codes :math:`c \in \{0, \dots, 4\}^6` are the genome. The neighbours of a cell
are the :math:`6 \times 4 = 24` cells that differ from it on exactly one edge,
which is the mutation of regularised evolution [1]_ and the local candidates
of the Bayesian optimiser.

References
----------
.. [1] E. Real, A. Aggarwal, Y. Huang, Q. V. Le, "Regularized Evolution for
   Image Classifier Architecture Search", AAAI 2019.
"""

from __future__ import annotations

import torch

from pyrolatent._validation import check_tensor

__all__ = ["CellSpace"]


class CellSpace:
    """Cells given by their operation codes, with a neighbour table.

    Parameters
    ----------
    edge_ops : torch.LongTensor, shape (n_cells, n_edges)
        Operation code of every edge of every cell, in ``0 .. n_ops - 1``.
        The table must hold the full space (every combination exactly once),
        so that every mutation lands on a row.
    n_ops : int
        Number of operations an edge may carry (5 in NAS-Bench-201).

    Attributes
    ----------
    neighbours : torch.LongTensor, shape (n_cells, n_edges * (n_ops - 1))
        Row ``i`` lists the cells one edge away from cell ``i``: entry
        ``e * (n_ops - 1) + k`` changes edge ``e`` to the ``k``-th operation
        other than its current one.
    """

    def __init__(self, edge_ops: torch.Tensor, n_ops: int = 5):
        edge_ops = check_tensor("edge_ops", edge_ops, ndim=2, dtype="int").to(torch.long).cpu()
        n_cells, n_edges = edge_ops.shape
        if int(edge_ops.min()) < 0 or int(edge_ops.max()) >= n_ops:
            raise ValueError(
                f"The 'edge_ops' argument of CellSpace must hold codes in [0, {n_ops}); "
                f"got values in [{int(edge_ops.min())}, {int(edge_ops.max())}]."
            )
        powers = n_ops ** torch.arange(n_edges)
        keys = (edge_ops * powers).sum(-1)
        if n_cells != n_ops**n_edges or torch.unique(keys).numel() != n_cells:
            raise ValueError(
                f"The 'edge_ops' argument of CellSpace must list every one of the {n_ops**n_edges} cells exactly "
                f"once (the full space); got {n_cells} rows with {torch.unique(keys).numel()} distinct cells."
            )
        row_of_key = torch.empty(n_cells, dtype=torch.long)
        row_of_key[keys] = torch.arange(n_cells)
        # new op for (edge e, k-th alternative): skip the current op
        alt = torch.arange(n_ops - 1)
        new_ops = alt + (alt >= edge_ops.unsqueeze(-1)).long()  # (n, E, n_ops-1)
        delta = (new_ops - edge_ops.unsqueeze(-1)) * powers.view(1, n_edges, 1)
        self.edge_ops = edge_ops
        self.n_ops = int(n_ops)
        self.neighbours = row_of_key[(keys.view(-1, 1, 1) + delta).reshape(n_cells, -1)]

    @property
    def n_cells(self) -> int:
        """Number of cells."""
        return int(self.edge_ops.shape[0])

    def mutate(self, cells: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """One-edge mutation: each cell changes one uniformly drawn edge to a
        uniformly drawn *different* operation.

        Parameters
        ----------
        cells : torch.LongTensor, any shape
            Row indices.
        generator : torch.Generator, optional
            Source of randomness.

        Returns
        -------
        torch.LongTensor
            The mutated cells, same shape.
        """
        pick = torch.randint(self.neighbours.shape[1], cells.shape, generator=generator)
        return self.neighbours[cells, pick]
