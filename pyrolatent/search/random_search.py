"""Random search: every query a cell drawn uniformly, with replacement (the NAS-Bench-201 baseline [1]_).

References
----------
.. [1] X. Dong, Y. Yang, "NAS-Bench-201: Extending the Scope of Reproducible
   Neural Architecture Search", ICLR 2020.
"""

from __future__ import annotations

import time

import torch

from pyrolatent._validation import check_positive_int
from pyrolatent.search.protocol import Oracle, SearchResult

__all__ = ["random_search"]


def random_search(oracle: Oracle, *, queries: int = 100, runs: int = 500, generator: torch.Generator) -> SearchResult:
    """Run ``runs`` random searches of ``queries`` queries each, all at once.

    Each query is a cell drawn uniformly from the ``oracle.n_cells`` cells, independently
    of the others (so a cell may be queried twice).
    """
    queries = check_positive_int("queries", queries)
    runs = check_positive_int("runs", runs)
    start = time.perf_counter()
    cells = torch.randint(oracle.n_cells, (runs, queries), generator=generator)
    signals = oracle(cells)
    return SearchResult.from_queries(
        cells, signals, oracle.accuracy, method="rs", noise=oracle.noise, seconds=time.perf_counter() - start
    )
