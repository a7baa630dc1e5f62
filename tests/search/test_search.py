"""Tests for the search package: the space, the three methods and the protocol."""

import math

import numpy as np
import pytest
import torch

from pyrolatent.search import CellSpace, Oracle, SearchResult, difference_in_se, random_search, run_search
from pyrolatent.search.surrogates import BatchedDNGO, BatchedGP, expected_improvement


@pytest.fixture(scope="module")
def space():
    codes = torch.cartesian_prod(*[torch.arange(5)] * 6)  # the 15,625 cells of NAS-Bench-201's space
    return CellSpace(codes[torch.randperm(len(codes), generator=torch.Generator().manual_seed(1))])


@pytest.fixture(scope="module")
def accuracy(space):
    # a smooth synthetic landscape: the number of edges carrying op 2, plus small noise
    generator = torch.Generator().manual_seed(2)
    return (space.edge_ops == 2).sum(1).float() + 0.1 * torch.rand(space.n_cells, generator=generator)


def test_mutation_changes_exactly_one_edge_to_a_different_op(space):
    cells = torch.randint(space.n_cells, (5000,), generator=torch.Generator().manual_seed(0))
    children = space.mutate(cells, torch.Generator().manual_seed(1))
    changed = space.edge_ops[children] != space.edge_ops[cells]
    assert torch.equal(changed.sum(1), torch.ones(5000, dtype=torch.long))
    # all 24 neighbours are distinct cells one edge away
    diff = (space.edge_ops[space.neighbours] != space.edge_ops.unsqueeze(1)).sum(-1)
    assert torch.equal(diff, torch.ones_like(diff))
    assert all(len(set(row)) == 24 for row in space.neighbours[:50].tolist())


def test_space_refuses_a_partial_table(space):
    with pytest.raises(ValueError, match="full space"):
        CellSpace(space.edge_ops[:100])


def test_random_search_samples_uniformly():
    # 200 x 500 = 100,000 draws over 10 cells: each count is Binomial(1e5, 0.1), sd ~ 95;
    # the chi-square statistic with 9 degrees of freedom stays below 27.9 (p = 0.001)
    oracle = Oracle(torch.arange(10.0), 0.0, torch.Generator().manual_seed(0))
    result = random_search(oracle, queries=500, runs=200, generator=torch.Generator().manual_seed(3))
    counts = np.bincount(result.cells.ravel(), minlength=10)
    expected = result.cells.size / 10
    chi2 = ((counts - expected) ** 2 / expected).sum()
    assert chi2 < 27.9
    # with replacement: some run queries a cell twice
    assert any(len(set(row)) < 500 for row in result.cells.tolist())


def test_curves_follow_the_best_signal():
    cells = torch.tensor([[0, 1, 2]])
    signals = torch.tensor([[1.0, 3.0, 2.0]])
    result = SearchResult.from_queries(
        cells, signals, torch.tensor([10.0, 5.0, 30.0]), method="x", noise=0.0, seconds=0.0
    )
    assert result.curves.tolist() == [[10.0, 5.0, 5.0]]  # reported: the noiseless value of the best signal
    assert result.summary()["mean"] == 5.0 and result.at(1).tolist() == [10.0]


@pytest.mark.parametrize("method", ["rs", "re", "bo", "bo-gp"])
def test_smoke_20_runs(method, space, accuracy):
    features = torch.nn.functional.one_hot(space.edge_ops, 5).reshape(space.n_cells, -1).float()
    options = {"n_candidates": 200, "surrogate_options": {"num_epochs": 30}} if method == "bo" else {}
    if method == "bo-gp":
        options = {"n_candidates": 200, "surrogate_options": {"num_steps": 5}}
    result = run_search(
        method, accuracy, space=space, features=features, runs=20, queries=30, noise=0.3, seed=0, **options
    )
    assert result.cells.shape == (20, 30) and result.final.shape == (20,)
    summary = result.summary()
    assert summary["runs"] == 20 and summary["method"] == method and summary["noise"] == 0.3
    assert np.all(np.diff(result.curves, axis=1)[:, :] >= -10)  # curves are defined at every query
    # every method beats the space's mean (3.0/5 * 6 = 1.2 edges of op 2 on average) by a wide margin
    assert summary["mean"] > float(accuracy.mean()) + 1.0


def test_bo_beats_random_search_on_a_smooth_landscape(space, accuracy):
    features = torch.nn.functional.one_hot(space.edge_ops, 5).reshape(space.n_cells, -1).float()
    bo = run_search(
        "bo",
        accuracy,
        space=space,
        features=features,
        runs=20,
        queries=30,
        noise=0.0,
        seed=0,
        n_candidates=200,
        surrogate_options={"num_epochs": 30},
    )
    rs = run_search("rs", accuracy, runs=200, queries=30, noise=0.0, seed=0)
    assert difference_in_se(bo, rs) > 3.0


def test_dngo_and_gp_fit_a_known_function():
    # y = sin(3x) on 40 points; both surrogates predict held-out points within 0.15 and their
    # standardised errors are of order one
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(2, 40, 1, generator=generator) * 2 - 1
    y = torch.sin(3 * x[..., 0])
    xt = torch.linspace(-0.9, 0.9, 25).view(1, -1, 1).expand(2, -1, -1)
    for model in (BatchedDNGO(num_epochs=300, generator=generator), BatchedGP(num_steps=100)):
        mean, var = model.fit(x, y).predict(xt)
        err = (mean - torch.sin(3 * xt[..., 0])).abs()
        assert float(err.max()) < 0.15, type(model).__name__
        assert float((err / var.sqrt()).mean()) < 3.0


def test_expected_improvement_closed_form():
    # EI of N(0, 1) over 0 is phi(0) = 1 / sqrt(2 pi)
    ei = expected_improvement(torch.zeros(1), torch.ones(1), torch.zeros(1))
    assert float(ei) == pytest.approx(1 / math.sqrt(2 * math.pi), rel=1e-6)


@pytest.mark.parametrize("bad, match", [("ga", "'method'"), ("bo", "'features'"), ("re", "'space'")])
def test_run_search_errors(bad, match):
    with pytest.raises(ValueError, match=match):
        run_search(bad, torch.rand(10), runs=2, queries=5)


def test_bo_model_recommendation_is_among_the_queried_cells(space, accuracy):
    features = torch.nn.functional.one_hot(space.edge_ops, 5).reshape(space.n_cells, -1).float()
    result = run_search(
        "bo",
        accuracy,
        space=space,
        features=features,
        runs=4,
        queries=20,
        noise=0.3,
        seed=0,
        n_candidates=100,
        recommend="model",
        surrogate_options={"num_epochs": 20},
    )
    # each recommended cell was queried: its accuracy is one of the run's queried accuracies
    for run in range(4):
        assert result.final[run] in set(accuracy[torch.as_tensor(result.cells[run])].tolist())


def test_bo_batch_queries_the_top_candidates_of_one_fit(space, accuracy, monkeypatch):
    # 16 initial cells, then batches of 5 under one surrogate fit: 31 queries = 16 + 5 + 5 + 5
    # -> 3 fits (at 16, 21, 26 points), and no cell is queried twice within a run
    from pyrolatent.search.surrogates import BatchedGP

    sizes = []
    original = BatchedGP.fit

    def counting_fit(self, x, y):
        sizes.append(x.shape[1])
        return original(self, x, y)

    monkeypatch.setattr(BatchedGP, "fit", counting_fit)
    features = torch.nn.functional.one_hot(space.edge_ops, 5).reshape(space.n_cells, -1).float()
    result = run_search(
        "bo-gp",
        accuracy,
        space=space,
        features=features,
        runs=6,
        queries=31,
        noise=0.3,
        seed=0,
        batch_size=5,
        n_candidates=100,
        surrogate_options={"num_steps": 3},
    )
    assert sizes == [16, 21, 26]
    assert all(len(set(row)) == 31 for row in result.cells.tolist())
    assert result.info["batch_size"] == 5


@pytest.mark.parametrize("incumbent", ["signal", "mean"])
def test_bo_incumbents_beat_random_search_on_a_noisy_smooth_landscape(space, accuracy, incumbent):
    # the landscape's steps are 1.0 apart and the noise sd 0.3: either incumbent of EI finds
    # better cells than random search with the same budget, by more than 3 standard errors
    features = torch.nn.functional.one_hot(space.edge_ops, 5).reshape(space.n_cells, -1).float()
    bo = run_search(
        "bo-gp",
        accuracy,
        space=space,
        features=features,
        runs=20,
        queries=30,
        noise=0.3,
        seed=0,
        n_candidates=200,
        incumbent=incumbent,
        surrogate_options={"num_steps": 5},
    )
    assert bo.info["incumbent"] == incumbent
    rs = run_search("rs", accuracy, runs=200, queries=30, noise=0.3, seed=0)
    assert difference_in_se(bo, rs) > 3.0
