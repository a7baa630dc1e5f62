r"""Regularised (ageing) evolution [1]_, the NAS-Bench-201 baseline, batched over runs.

A population of ``population`` cells starts at random. At every query,
``tournament`` distinct members are drawn uniformly; the one with the best
signal is the parent; its child (one edge changed to a different operation,
:meth:`~pyrolatent.search.space.CellSpace.mutate`) is queried and joins the
population, and the *oldest* member leaves it. The initial cells count
against the budget.

References
----------
.. [1] E. Real, A. Aggarwal, Y. Huang, Q. V. Le, "Regularized Evolution for
   Image Classifier Architecture Search", AAAI 2019.
"""

from __future__ import annotations

import time

import torch

from pyrolatent._validation import check_positive_int
from pyrolatent.search.protocol import Oracle, SearchResult
from pyrolatent.search.space import CellSpace

__all__ = ["regularized_evolution"]


def regularized_evolution(
    oracle: Oracle,
    space: CellSpace,
    *,
    queries: int = 100,
    runs: int = 500,
    population: int = 10,
    tournament: int = 3,
    generator: torch.Generator,
) -> SearchResult:
    """Run ``runs`` regularised evolutions of ``queries`` queries each, in lock step."""
    queries = check_positive_int("queries", queries)
    runs = check_positive_int("runs", runs)
    population = check_positive_int("population", population)
    tournament = check_positive_int("tournament", tournament)
    if tournament > population:
        raise ValueError(
            f"The 'tournament' argument of regularized_evolution must be at most population={population}. "
            f"Got {tournament} instead."
        )
    if space.n_cells != oracle.n_cells:
        raise ValueError(
            f"The 'space' argument must have one cell per accuracy ({oracle.n_cells}); got {space.n_cells}."
        )
    start = time.perf_counter()
    n_init = min(population, queries)
    cells = torch.empty(runs, queries, dtype=torch.long)
    signals = torch.empty(runs, queries, dtype=oracle.accuracy.dtype)
    cells[:, :n_init] = torch.randint(oracle.n_cells, (runs, n_init), generator=generator)
    signals[:, :n_init] = oracle(cells[:, :n_init])
    pop_cells, pop_signals = cells[:, :population].clone(), signals[:, :population].clone()
    rows = torch.arange(runs)
    for t in range(n_init, queries):
        contestants = torch.rand(runs, population, generator=generator).argsort(1)[:, :tournament]
        winner = contestants[rows, pop_signals.gather(1, contestants).argmax(1)]
        child = space.mutate(pop_cells[rows, winner], generator)
        cells[:, t] = child
        signals[:, t] = oracle(child)
        # members sit in order of age: slot (t - population) % population holds the oldest
        oldest = (t - population) % population
        pop_cells[:, oldest] = child
        pop_signals[:, oldest] = signals[:, t]
    return SearchResult.from_queries(
        cells, signals, oracle.accuracy, method="re", noise=oracle.noise, seconds=time.perf_counter() - start
    )
