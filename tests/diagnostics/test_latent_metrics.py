"""Latent-space metrics against hand-made answers and scikit-learn."""

import numpy as np
import pytest
import torch

from pyrolatent.diagnostics.latent_metrics import (
    knn_accuracy,
    oracle_subspace_accuracy,
    triplet_accuracy_from_codes,
    triplet_accuracy_from_posteriors,
)
from pyrolatent.models import TripletVAE


def test_triplet_accuracy_from_codes_counts_closer_positives():
    codes = torch.tensor([[0.0, 0.0], [1.0, 0.0], [3.0, 0.0], [0.0, 2.0]])
    triplets = torch.tensor([[0, 1, 2], [0, 2, 1], [1, 0, 3], [3, 0, 2]])  # right, wrong, right, right
    assert triplet_accuracy_from_codes(codes, triplets) == pytest.approx(0.75)


def test_triplet_accuracy_from_posteriors_reads_the_scales_where_the_means_mislead():
    # anchor N(0, 1); candidate N(1, 1) at JS 0.1114, candidate N(0, 0.1) at JS 0.4333 (the issue's
    # reference values): by JS the first is closer, by the distance of the means the second.
    loc = torch.tensor([[0.0, 0.0], [1.0, 5.0], [0.0, 0.0]], dtype=torch.float64)
    scale = torch.tensor([[1.0, 1.0], [1.0, 1.0], [0.1, 1.0]], dtype=torch.float64)
    triplets = torch.tensor([[0, 1, 2], [0, 2, 1]])
    mask = torch.tensor([1.0, 0.0])
    assert triplet_accuracy_from_posteriors(loc, scale, triplets, mask=mask) == pytest.approx(0.5)
    first_right = torch.tensor([[0, 1, 2]])
    assert triplet_accuracy_from_posteriors(loc, scale, first_right, mask=mask) == 1.0
    assert triplet_accuracy_from_codes(loc[:, :1], first_right) == 0.0  # the means alone get it wrong
    # without the mask, dimension 1 (means 5 apart, JS near ln 2) makes the second candidate the closer
    assert triplet_accuracy_from_posteriors(loc, scale, first_right) == 0.0
    with pytest.raises(ValueError, match="The 'mask' argument must have one weight per latent dimension"):
        triplet_accuracy_from_posteriors(loc, scale, first_right, mask=torch.ones(3))
    with pytest.raises(ValueError, match="The 'scale' argument must have the shape of 'loc'"):
        triplet_accuracy_from_posteriors(loc, scale[:, :1], first_right)
    with pytest.raises(ValueError, match="distance"):
        triplet_accuracy_from_posteriors(loc, scale, first_right, distance="cosine")


def test_knn_accuracy_on_two_clusters():
    train = torch.tensor([[0.0], [0.1], [0.2], [5.0], [5.1], [5.2]])
    y = torch.tensor([0, 0, 0, 1, 1, 1])
    test = torch.tensor([[0.05], [4.0], [2.4]])
    assert knn_accuracy(train, y, test, torch.tensor([0, 1, 1]), k=1) == pytest.approx(2 / 3)
    assert knn_accuracy(train, y, test, torch.tensor([0, 1, 0]), k=5) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="The 'k' argument must be at most the 6 training codes"):
        knn_accuracy(train, y, test, y[:3], k=7)


def test_oracle_subspace_accuracy_scores_each_oracle_on_each_mask():
    torch.manual_seed(0)
    model = TripletVAE(4, 2, hidden=(), n_oracles=2, masks=torch.eye(2), likelihood="gaussian")
    x = torch.randn(30, 4)
    triplets = torch.stack([torch.randperm(30)[:3] for _ in range(40)])
    oracle = torch.arange(40) % 2
    acc = oracle_subspace_accuracy(model, x, triplets, oracle)
    for o in range(2):
        for m in range(2):
            p = model.triplet_probability(x, triplets[oracle == o], mask=torch.eye(2)[m])
            assert acc[o, m] == pytest.approx(float((p > 0.5).double().mean()))
    assert acc.shape == (2, 2) and np.all((acc >= 0) & (acc <= 1))
