r"""NAS-Bench-201 cells in the arch2vec encoding, with their test accuracies.

A NAS-Bench-201 cell is a 4-node DAG whose 6 edges each carry one of 5
operations; all 15,625 cells share the same graph, so the operation string
defines the cell. arch2vec [1]_ turns a cell into a graph whose *nodes* are the
operations: 8 nodes (the input, the six edge operations in the order of the
architecture string ``|o1~0|+|o2~0|o3~1|+|o4~0|o5~1|o6~2|``, the output), a
fixed 8x8 adjacency

.. math::

    0 \to \{1, 2, 4\},\quad 1 \to \{3, 5\},\quad 2 \to 6,\quad 3 \to 6,\quad
    4 \to 7,\quad 5 \to 7,\quad 6 \to 7,

and a one-hot operation matrix over 7 types (:data:`OPERATIONS`).

References
----------
.. [1] S. Yan, Y. Zheng, W. Ao, X. Zeng, M. Zhang, "Does Unsupervised
   Architecture Representation Learning Help Neural Architecture Search?",
   NeurIPS 2020 (arch2vec).
.. [2] X. Dong, Y. Yang, "NAS-Bench-201: Extending the Scope of Reproducible
   Neural Architecture Search", ICLR 2020.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from pyrolatent.data import _readers
from pyrolatent.data.dataset import Dataset

__all__ = [
    "ACCURACY_COLUMNS",
    "ADJACENCY",
    "EDGE_OPERATIONS",
    "NASBench201",
    "OPERATIONS",
    "load_nasbench201",
    "parse_arch_string",
]

#: The 7 node types of the arch2vec encoding, in the authors' order.
OPERATIONS = ("input", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3", "skip_connect", "none", "output")
#: The 5 operations an edge may carry (OPERATIONS[1:6]); edge op code k is node type k + 1.
EDGE_OPERATIONS = OPERATIONS[1:6]
#: Data set name -> column of the table.
ACCURACY_COLUMNS = {
    "cifar10": "CIFAR10TestAccuracy200Epochs",
    "cifar100": "CIFAR100TestAccuracy200Epochs",
    "imagenet16": "ImageNetTestAccuracy200Epochs",
}
CSV_NAME = "nats_bench_tss_200ep_test_acc.csv"
N_NODES = 8
N_EDGES = 6

_EDGES = ((0, 1), (0, 2), (0, 4), (1, 3), (1, 5), (2, 6), (3, 6), (4, 7), (5, 7), (6, 7))
#: The fixed 8x8 adjacency of every cell (``ADJACENCY[i, j] = 1`` for an edge i -> j).
ADJACENCY = torch.zeros(N_NODES, N_NODES)
for _i, _j in _EDGES:
    ADJACENCY[_i, _j] = 1.0


def parse_arch_string(arch: str) -> tuple[int, ...]:
    """The six edge operation codes (indices into :data:`EDGE_OPERATIONS`) of an
    architecture string ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|``."""
    if not isinstance(arch, str):
        raise TypeError(f"The 'arch' argument must be a string; got {type(arch).__name__}.")
    tokens = [t for t in arch.replace("+", "|").split("|") if t]
    expected = ("~0", "~0", "~1", "~0", "~1", "~2")
    if len(tokens) != N_EDGES or any(not t.endswith(e) for t, e in zip(tokens, expected, strict=True)):
        raise ValueError(f"The 'arch' argument must have the form '|op~0|+|op~0|op~1|+|op~0|op~1|op~2|'; got {arch!r}.")
    codes = []
    for token in tokens:
        op = token.rsplit("~", 1)[0]
        if op not in EDGE_OPERATIONS:
            raise ValueError(
                f"The 'arch' argument must use the operations {', '.join(EDGE_OPERATIONS)}; got {op!r} in {arch!r}."
            )
        codes.append(EDGE_OPERATIONS.index(op))
    return tuple(codes)


@dataclass(frozen=True, eq=False, repr=False)
class NASBench201:
    """The NAS-Bench-201 table: one row per cell.

    Attributes
    ----------
    edge_ops : torch.LongTensor, shape (n, 6)
        Operation code of each edge, in ``0..4`` (:data:`EDGE_OPERATIONS`), in
        the order of the architecture string.
    accuracy : dict of str -> torch.Tensor, shape (n,)
        Test accuracy in percent for ``"cifar10"``, ``"cifar100"``, ``"imagenet16"``.
    arch_strings : tuple of str
        The architecture strings; row ``i`` is NAS-Bench-201 API index ``i``.
    """

    edge_ops: torch.Tensor
    accuracy: dict
    arch_strings: tuple

    @property
    def n_cells(self) -> int:
        """Number of cells (15,625 for the full space)."""
        return int(self.edge_ops.shape[0])

    def __len__(self) -> int:
        return self.n_cells

    def __repr__(self) -> str:
        return f"NASBench201(n_cells={self.n_cells}, datasets={sorted(self.accuracy)})"

    @property
    def node_ops(self) -> torch.Tensor:
        """Node types, shape ``(n, 8)``, indices into :data:`OPERATIONS`:
        input (0), the six edge operations (code + 1), output (6)."""
        n = self.n_cells
        first = torch.zeros(n, 1, dtype=torch.long)
        last = torch.full((n, 1), len(OPERATIONS) - 1, dtype=torch.long)
        return torch.cat([first, self.edge_ops + 1, last], dim=1)

    def one_hot(self) -> torch.Tensor:
        """The arch2vec operation matrix, shape ``(n, 8, 7)``, default float dtype."""
        return torch.nn.functional.one_hot(self.node_ops, len(OPERATIONS)).to(torch.get_default_dtype())

    def adjacency(self) -> torch.Tensor:
        """The adjacency of every cell, shape ``(n, 8, 8)`` (the same fixed matrix)."""
        return ADJACENCY.to(torch.get_default_dtype()).expand(self.n_cells, N_NODES, N_NODES).clone()

    def graph_data(self) -> dict:
        """``{"ops": (n, 8) long, "adj": (n, 8, 8) float}``, the data mapping of
        :class:`~pyrolatent.models.GraphVAE` for :func:`pyrolatent.inference.fit`."""
        return {"ops": self.node_ops, "adj": self.adjacency()}

    def to_dataset(self) -> Dataset:
        """A :class:`Dataset` whose ``x`` is the flattened one-hot matrix ``(n, 56)``;
        ``truth`` holds the adjacency and the three accuracy columns."""
        truth = {"adjacency": ADJACENCY.clone(), **{k: v.clone() for k, v in self.accuracy.items()}}
        truth["arch_strings"] = self.arch_strings
        return Dataset(self.one_hot().reshape(self.n_cells, -1), name="nasbench201", truth=truth)

    @classmethod
    def from_dataset(cls, dataset: Dataset) -> NASBench201:
        """Invert :meth:`to_dataset` (what ``load_dataset('nasbench201:PATH')`` returns)."""
        truth = dataset.truth or {}
        missing = [k for k in ("arch_strings", *ACCURACY_COLUMNS) if k not in truth]
        if missing or dataset.n_features != N_NODES * len(OPERATIONS):
            raise ValueError(
                "The 'dataset' argument must come from load_dataset('nasbench201:PATH') (56 one-hot columns "
                f"and truth with {', '.join(ACCURACY_COLUMNS)}, arch_strings); got {dataset!r}."
            )
        node_ops = dataset.x.reshape(-1, N_NODES, len(OPERATIONS)).argmax(-1)
        return cls(
            edge_ops=(node_ops[:, 1:-1] - 1).cpu(),
            accuracy={k: truth[k] for k in ACCURACY_COLUMNS},
            arch_strings=tuple(truth["arch_strings"]),
        )


def load_nasbench201(path) -> NASBench201:
    """Read the NAS-Bench-201 test-accuracy table.

    Parameters
    ----------
    path : str or pathlib.Path
        The CSV file (columns ``CIFAR10TestAccuracy200Epochs``,
        ``CIFAR100TestAccuracy200Epochs``, ``ImageNetTestAccuracy200Epochs``,
        ``ArchitectureString``) or a folder holding
        ``nats_bench_tss_200ep_test_acc.csv``.

    Returns
    -------
    NASBench201
        Row ``i`` is API index ``i``; the CSV's best CIFAR-10 cell is row 6111.
    """
    if isinstance(path, (str, Path)) and Path(path).expanduser().is_dir():
        path = Path(path).expanduser() / CSV_NAME
    file = _readers.existing_file(path)
    with open(file, newline="") as handle:
        reader = csv.reader(handle)
        try:
            header = next(reader)
        except StopIteration:
            raise ValueError(f"The file '{file}' must be a NAS-Bench-201 CSV table; it is empty.") from None
        needed = [*ACCURACY_COLUMNS.values(), "ArchitectureString"]
        missing = [c for c in needed if c not in header]
        if missing:
            raise ValueError(f"The file '{file}' must have the columns {needed}; missing {missing} (got {header}).")
        cols = [header.index(c) for c in needed]
        accs, codes, strings = [], [], []
        for line, row in enumerate(reader, start=2):
            try:
                accs.append([float(row[c]) for c in cols[:3]])
                strings.append(row[cols[3]])
                codes.append(parse_arch_string(row[cols[3]]))
            except (ValueError, IndexError) as exc:
                raise ValueError(f"The file '{file}' has a bad row at line {line}: {exc}") from exc
    if not codes:
        raise ValueError(f"The file '{file}' must hold at least one cell; got only a header.")
    accs = np.asarray(accs)
    if not np.isfinite(accs).all():
        raise ValueError(f"The file '{file}' must hold finite accuracies; found NaN or infinite values.")
    accuracy = {k: torch.as_tensor(accs[:, i], dtype=torch.get_default_dtype()) for i, k in enumerate(ACCURACY_COLUMNS)}
    return NASBench201(torch.as_tensor(codes, dtype=torch.long), accuracy, tuple(strings))
