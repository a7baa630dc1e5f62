r"""The search protocol: a fixed budget of queries, many seeded runs in one batch.

Every method queries cells of a table one at a time. A query of cell :math:`i`
returns the signal :math:`s = a_i + \varepsilon`, :math:`\varepsilon \sim
\mathcal N(0, \sigma^2)` drawn afresh at every query (:math:`\sigma = 0` is the
noiseless protocol; 0.3 points matches the spread between held validation
and test accuracies among the top cells). The cell a run *finds* after
:math:`t` queries is the queried cell with the highest signal so far; what is
reported is its noiseless accuracy :math:`a`. The budget counts every query,
initial random cells included.

All runs advance in lock step: the state of ``R`` runs is a tensor with a
leading run dimension, so one step of the protocol is one batched computation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch

from pyrolatent._validation import check_positive_float, check_positive_int, check_tensor

__all__ = ["Oracle", "SearchResult", "difference_in_se"]


class Oracle:
    """Answers queries: noisy signals for the search, noiseless accuracies for the report.

    Parameters
    ----------
    accuracy : torch.Tensor, shape (n_cells,)
        The noiseless value of every cell (test accuracy, percent).
    noise : float
        Standard deviation of the Gaussian noise added to every query (0 for none).
    generator : torch.Generator
        Source of the noise.
    """

    def __init__(self, accuracy: torch.Tensor, noise: float, generator: torch.Generator):
        self.accuracy = check_tensor("accuracy", accuracy, ndim=1).cpu()
        self.noise = check_positive_float("noise", noise, allow_zero=True)
        self.generator = generator

    @property
    def n_cells(self) -> int:
        return int(self.accuracy.shape[0])

    def __call__(self, cells: torch.Tensor) -> torch.Tensor:
        """The signals of ``cells`` (any shape of row indices)."""
        value = self.accuracy[cells]
        if self.noise > 0:
            value = value + self.noise * torch.randn(cells.shape, generator=self.generator, dtype=value.dtype)
        return value


@dataclass
class SearchResult:
    """What a batch of runs did.

    Attributes
    ----------
    cells : np.ndarray, shape (runs, queries)
        The cell queried at every step of every run.
    signals : np.ndarray, shape (runs, queries)
        The signal each query returned.
    curves : np.ndarray, shape (runs, queries)
        Noiseless accuracy of the cell found after each query (best signal so far).
    method, queries, noise, seconds
        What was run and how long it took (wall time).
    """

    cells: np.ndarray
    signals: np.ndarray
    curves: np.ndarray
    method: str
    noise: float
    seconds: float
    info: dict = field(default_factory=dict)

    @classmethod
    def from_queries(cls, cells, signals, accuracy, *, recommended=None, **kwargs) -> SearchResult:
        """Build the result from the queried cells and their signals. The cell found after ``t``
        queries is the one with the best signal so far, or ``recommended[:, t - 1]`` when given
        (a method's own choice among the cells it queried, e.g. BO's best posterior mean)."""
        if recommended is None:
            recommended = cells.gather(1, torch.cummax(signals, dim=1).indices)
        curves = accuracy[recommended]
        return cls(cells.numpy(), signals.numpy(), curves.numpy(), **kwargs)

    @property
    def runs(self) -> int:
        return int(self.cells.shape[0])

    @property
    def queries(self) -> int:
        return int(self.cells.shape[1])

    @property
    def final(self) -> np.ndarray:
        """Noiseless accuracy of the cell each run found with the whole budget, shape (runs,)."""
        return self.curves[:, -1]

    def at(self, queries: int) -> np.ndarray:
        """Accuracy of the cell found after the first ``queries`` queries (a smaller budget
        of the same runs: every method here decides its query ``t`` without looking ahead)."""
        queries = check_positive_int("queries", queries)
        if queries > self.queries:
            raise ValueError(f"The 'queries' argument must be at most {self.queries}. Got {queries} instead.")
        return self.curves[:, queries - 1]

    def summary(self, queries: int | None = None) -> dict:
        """``{"mean", "std" (ddof 0), "sem", "runs", "queries", "method", "noise"}``."""
        final = self.final if queries is None else self.at(queries)
        return {
            "mean": float(final.mean()),
            "std": float(final.std(ddof=0)),
            "sem": float(final.std(ddof=1) / math.sqrt(len(final))) if len(final) > 1 else float("nan"),
            "runs": self.runs,
            "queries": self.queries if queries is None else queries,
            "method": self.method,
            "noise": self.noise,
            "seconds": self.seconds,
        }


def difference_in_se(a: SearchResult, b: SearchResult) -> float:
    """How many standard errors of the difference separate the mean final accuracies of
    two independent batches of runs: :math:`(\\bar a - \\bar b) / \\sqrt{s_a^2/n_a + s_b^2/n_b}`."""
    fa, fb = a.final, b.final
    se = math.sqrt(fa.var(ddof=1) / len(fa) + fb.var(ddof=1) / len(fb))
    return float((fa.mean() - fb.mean()) / se) if se > 0 else float("inf")
