r"""Bayesian optimisation over a table of cells embedded in a feature space, batched over runs.

arch2vec-BO [1]_: ``n_init`` cells drawn at random (distinct) are queried;
then, at every iteration, a Bayesian surrogate (DNGO, or a GP) is fitted to
the features :math:`z_i` of the queried cells and their signals, and the
next query is the not-yet-queried candidate with the largest expected
improvement over the best signal so far,

.. math::

    \mathrm{EI}(z) = \mathbb E\,[\max(f(z) - y^*, 0)] = (\mu - y^*)\Phi(u) + \sigma\varphi(u).

The features are an embedding (arch2vec's mean of node means), the raw
one-hot encoding, a random projection, ... any ``(n_cells, d)`` matrix: the
comparison between them is the ablation of [1]_.

Candidates: the authors score every cell of the space. Scoring 15,625 cells
for 500 runs at each of 84 iterations does not fit the 2-core time budget,
so by default the candidates of an iteration are ``n_candidates`` cells drawn
at random plus the one-edge neighbours of the ``n_local`` best cells queried so
far; ``n_candidates=None`` scores the whole space, as the paper does.

References
----------
.. [1] S. Yan, Y. Zheng, W. Ao, X. Zeng, M. Zhang, "Does Unsupervised
   Architecture Representation Learning Help Neural Architecture Search?",
   NeurIPS 2020.
.. [2] J. Snoek et al., "Scalable Bayesian Optimization Using Deep Neural
   Networks", ICML 2015.
.. [3] V. Picheny, T. Wagner, D. Ginsbourger, "A benchmark of kriging-based
   infill criteria for noisy optimization", Struct. Multidiscip. Optim. 2013
   (the plug-in expected improvement).
"""

from __future__ import annotations

import time

import torch

from pyrolatent._validation import check_choice, check_positive_int, check_tensor
from pyrolatent.search.embedding import scale_features
from pyrolatent.search.protocol import Oracle, SearchResult
from pyrolatent.search.space import CellSpace
from pyrolatent.search.surrogates import BatchedDNGO, BatchedGP, expected_improvement

__all__ = ["SURROGATES", "bayesian_optimization"]

SURROGATES = ("dngo", "gp")


def _make_surrogate(name: str, generator: torch.Generator, options: dict):
    if name == "dngo":
        return BatchedDNGO(generator=generator, **options)
    return BatchedGP(**options)


def bayesian_optimization(
    oracle: Oracle,
    features: torch.Tensor,
    *,
    space: CellSpace | None = None,
    surrogate: str = "dngo",
    queries: int = 100,
    runs: int = 500,
    n_init: int = 16,
    n_candidates: int | None = 500,
    n_local: int = 5,
    batch_size: int = 1,
    candidate_chunk: int = 2048,
    surrogate_options: dict | None = None,
    generator: torch.Generator,
    method: str | None = None,
    recommend: str = "signal",
    incumbent: str = "signal",
    feature_scaling: str = "none",
) -> SearchResult:
    """Run ``runs`` Bayesian optimisations of ``queries`` queries each, in lock step.

    Parameters
    ----------
    oracle : Oracle
        Answers the queries.
    features : torch.Tensor, shape (n_cells, d)
        Where the surrogate sees each cell.
    space : CellSpace, optional
        Needed for the local candidates (``n_local > 0``).
    surrogate : {"dngo", "gp"}
        The Bayesian surrogate.
    queries, runs, n_init : int
        Budget per run (initial cells included), number of runs, initial random cells.
    n_candidates : int or None
        Random candidates per iteration; None scores every cell.
    n_local : int
        Add the neighbours of this many best queried cells to the candidates.
    batch_size : int
        Queries per iteration: the ``batch_size`` candidates of largest EI under one fit
        (arch2vec's ``topk``, 5 in the authors' code; 1: one query per fit). A batch costs
        ``batch_size`` times fewer surrogate fits, which pays for scoring every cell.
    candidate_chunk : int
        Candidates scored per batched pass (memory: runs x chunk x width).
    surrogate_options : dict, optional
        Keyword arguments of :class:`BatchedDNGO` or :class:`BatchedGP`.
    generator : torch.Generator
        Source of every random choice.
    method : str, optional
        Name recorded in the result (default ``"bo"`` / ``"bo-gp"``).
    recommend : {"signal", "model"}
        The cell a run has found after ``t`` queries: the queried cell with the best signal (as
        for every method), or the queried cell with the best posterior mean of the surrogate
        fitted to those ``t`` queries, which averages the noise over similar cells (one more
        surrogate fit at the end of the budget).
    """
    surrogate = check_choice("surrogate", surrogate, SURROGATES)
    recommend = check_choice("recommend", recommend, ("signal", "model"))
    incumbent = check_choice("incumbent", incumbent, ("signal", "mean"))
    queries = check_positive_int("queries", queries)
    runs = check_positive_int("runs", runs)
    n_init = check_positive_int("n_init", n_init, minimum=2)
    n_local = check_positive_int("n_local", n_local, minimum=0)
    batch_size = check_positive_int("batch_size", batch_size)
    n_candidates = check_positive_int("n_candidates", n_candidates, allow_none=True)
    candidate_chunk = check_positive_int("candidate_chunk", candidate_chunk)
    features = scale_features(check_tensor("features", features, ndim=2).cpu(), feature_scaling)
    n_cells = oracle.n_cells
    if features.shape[0] != n_cells:
        raise ValueError(
            f"The 'features' argument of bayesian_optimization must have one row per cell ({n_cells}); "
            f"got shape {tuple(features.shape)}."
        )
    if n_local > 0 and space is None:
        raise ValueError("The 'space' argument of bayesian_optimization is needed when n_local > 0; got None.")
    start = time.perf_counter()
    n_init = min(n_init, queries)
    cells = torch.empty(runs, queries, dtype=torch.long)
    signals = torch.empty(runs, queries, dtype=oracle.accuracy.dtype)
    cells[:, :n_init] = torch.rand(runs, n_cells, generator=generator).topk(n_init, dim=1).indices
    signals[:, :n_init] = oracle(cells[:, :n_init])
    visited = torch.zeros(runs, n_cells, dtype=torch.bool)
    rows = torch.arange(runs)
    visited[rows.unsqueeze(1), cells[:, :n_init]] = True
    model = _make_surrogate(surrogate, generator, dict(surrogate_options or {}))
    recommended = cells.gather(1, torch.cummax(signals, dim=1).indices) if recommend == "model" else None

    def _recommend(t):  # best posterior mean among the first t queries, with the model fitted to them
        with torch.no_grad():
            mean, _ = model.predict(features[cells[:, :t]])
        recommended[:, t - 1] = cells[:, :t].gather(1, mean.argmax(1, keepdim=True)).squeeze(1)

    t = n_init
    while t < queries:
        model.fit(features[cells[:, :t]], signals[:, :t])
        if recommended is not None:
            _recommend(t)
        if n_candidates is None:
            pool = torch.arange(n_cells).expand(runs, n_cells)
        else:
            pool = torch.randint(n_cells, (runs, n_candidates), generator=generator)
            if n_local > 0:
                top = signals[:, :t].topk(min(n_local, t), dim=1).indices
                local = space.neighbours[cells[:, :t].gather(1, top)].reshape(runs, -1)
                pool = torch.cat([pool, local], dim=1)
        scores = []
        with torch.no_grad():
            if incumbent == "signal":
                best = model.transform(signals[:, :t].max(1, keepdim=True).values)
            else:
                best = model.predict(features[cells[:, :t]])[0].max(1, keepdim=True).values
            for lo in range(0, pool.shape[1], candidate_chunk):
                part = pool[:, lo : lo + candidate_chunk]
                mean, var = model.predict(features[part])
                ei = expected_improvement(mean, var, best)
                scores.append(ei.masked_fill(visited.gather(1, part), -float("inf")))
        scores = torch.cat(scores, dim=1)
        k = min(batch_size, queries - t)
        for j in range(k):  # the k best distinct candidates (a pool may list a cell twice)
            choice = pool.gather(1, scores.argmax(1, keepdim=True)).squeeze(1)
            cells[:, t + j] = choice
            scores = scores.masked_fill(pool == choice.unsqueeze(1), -float("inf"))
        signals[:, t : t + k] = oracle(cells[:, t : t + k])
        visited[rows.unsqueeze(1), cells[:, t : t + k]] = True
        if recommended is not None:  # the cells found between two fits: best signal so far
            best_so_far = cells[:, : t + k].gather(1, torch.cummax(signals[:, : t + k], dim=1).indices)
            recommended[:, t : t + k - 1] = best_so_far[:, t : t + k - 1]
        t += k
    if recommended is not None:
        model.fit(features[cells], signals)
        _recommend(queries)
    name = method or ("bo" if surrogate == "dngo" else "bo-gp")
    return SearchResult.from_queries(
        cells,
        signals,
        oracle.accuracy,
        method=name,
        noise=oracle.noise,
        seconds=time.perf_counter() - start,
        recommended=recommended,
        info={
            "recommend": recommend,
            "incumbent": incumbent,
            "surrogate": surrogate,
            "n_init": n_init,
            "n_candidates": n_candidates,
            "n_local": n_local,
            "batch_size": batch_size,
            "feature_scaling": feature_scaling,
        },
    )
