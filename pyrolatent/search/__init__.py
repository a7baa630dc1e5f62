"""Search over a table of neural architecture cells, in a latent space or not.

This package uses models (an embedding of the cells) but is not one.

- :func:`random_search` — uniform, with replacement.
- :func:`regularized_evolution` — population 10, tournament 3, one-edge mutation, oldest removed.
- :func:`bayesian_optimization` — expected improvement over a DNGO or GP surrogate in a feature space.
- :func:`run_search` — one entry point by method name (``"rs"``, ``"re"``, ``"bo"``, ``"bo-gp"``).

Every method runs many seeded runs at once, as one batched computation, and
returns a :class:`SearchResult` (queried cells, signals, best-so-far curves).
"""

from __future__ import annotations

import torch

from pyrolatent._validation import check_choice, check_positive_int
from pyrolatent.search.bayesopt import SURROGATES, bayesian_optimization
from pyrolatent.search.evolution import regularized_evolution
from pyrolatent.search.protocol import Oracle, SearchResult, difference_in_se
from pyrolatent.search.random_search import random_search
from pyrolatent.search.space import CellSpace

__all__ = [
    "METHODS",
    "SURROGATES",
    "CellSpace",
    "Oracle",
    "SearchResult",
    "bayesian_optimization",
    "difference_in_se",
    "random_search",
    "regularized_evolution",
    "run_search",
]

#: Method names accepted by :func:`run_search` (and the command line's ``--method``).
METHODS = ("bo", "bo-gp", "rs", "re")


def run_search(
    method: str,
    accuracy: torch.Tensor,
    *,
    space: CellSpace | None = None,
    features: torch.Tensor | None = None,
    queries: int = 100,
    runs: int = 500,
    noise: float = 0.3,
    seed: int = 0,
    **options,
) -> SearchResult:
    """Run ``runs`` searches of one method with a fixed budget of ``queries``.

    Parameters
    ----------
    method : {"bo", "bo-gp", "rs", "re"}
        BO with DNGO, BO with a GP, random search, regularised evolution.
    accuracy : torch.Tensor, shape (n_cells,)
        Noiseless accuracy of every cell (what is reported).
    space : CellSpace, optional
        Needed by "re" and by BO's local candidates.
    features : torch.Tensor, shape (n_cells, d), optional
        The space BO searches (needed by "bo" and "bo-gp").
    queries, runs : int
        Budget per run (initial random cells included) and number of runs.
    noise : float
        Standard deviation of the Gaussian noise on every signal (0: noiseless).
    seed : int
        Seeds the one generator behind every random choice of the runs.
    **options
        Passed to the method (e.g. ``n_candidates``, ``population``).

    Examples
    --------
    >>> import torch
    >>> result = run_search("rs", torch.rand(100), runs=20, queries=10, noise=0.0)
    >>> result.final.shape
    (20,)
    """
    method = check_choice("method", method, METHODS)
    seed = check_positive_int("seed", seed, minimum=0)
    generator = torch.Generator().manual_seed(seed)
    oracle = Oracle(accuracy, noise, generator)
    if method == "rs":
        return random_search(oracle, queries=queries, runs=runs, generator=generator, **options)
    if method == "re":
        if space is None:
            raise ValueError("The 'space' argument of run_search is needed by method 're'; got None.")
        return regularized_evolution(oracle, space, queries=queries, runs=runs, generator=generator, **options)
    if features is None:
        raise ValueError(f"The 'features' argument of run_search is needed by method {method!r}; got None.")
    surrogate = "dngo" if method == "bo" else "gp"
    return bayesian_optimization(
        oracle, features, space=space, surrogate=surrogate, queries=queries, runs=runs, generator=generator, **options
    )
