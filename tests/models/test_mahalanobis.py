"""Mahalanobis metric learning: the distance is (x_a - x_b)^T L^T L (x_a - x_b), the
loss matches hand-computed values, and on synthetic data the metric learns to
ignore a large noise dimension."""

import pytest
import torch

from pyrolatent.data.triplets import triplets_from_labels
from pyrolatent.inference import fit
from pyrolatent.models import MahalanobisMetric
from pyrolatent.models.mahalanobis import lmnn_loss


def test_lmnn_loss_matches_hand_computed_values():
    # mu = 1/2: 0.5 * 1 + 0.5 * max(0, 1 + 1 - 1.5) = 0.75; 0.5 * 1 + 0.5 * max(0, 1 + 1 - 3) = 0.5
    loss = lmnn_loss(torch.tensor([1.0, 1.0]), torch.tensor([1.5, 3.0]), 0.5)
    assert loss.tolist() == pytest.approx([0.75, 0.5], abs=1e-6)


def test_code_distances_are_the_mahalanobis_distance():
    g = torch.Generator().manual_seed(0)
    model = MahalanobisMetric(4, 3)
    with torch.no_grad():
        model.L.copy_(torch.randn(3, 4, generator=g))
    x = torch.randn(2, 4, generator=g)
    z = model.encode(x)
    diff = (x[0] - x[1]).double()
    expected = float(diff @ model.metric_matrix().double() @ diff)
    assert float((z[0] - z[1]).pow(2).sum()) == pytest.approx(expected, rel=1e-5)


def test_refuses_mu_outside_the_open_interval():
    with pytest.raises(ValueError, match="'mu' argument of MahalanobisMetric"):
        MahalanobisMetric(3, mu=1.0)


def test_learns_to_ignore_a_noise_dimension():
    # the label sits in dimension 0 (means -1, +1, sd 0.3); dimension 1 is pure noise with sd 3,
    # so the Euclidean metric answers label triplets barely better than chance
    g = torch.Generator().manual_seed(0)
    y = torch.arange(200) % 2
    x = torch.stack([(2 * y - 1) + 0.3 * torch.randn(200, generator=g), 3.0 * torch.randn(200, generator=g)], 1)
    triplets = triplets_from_labels(y, 2000, seed=0).index
    model = MahalanobisMetric(2)
    fit(model, {"x": x, "triplets": triplets}, num_steps=400, lr=0.05, batch_size=200, seed=0)
    M = model.metric_matrix()
    assert float(M[1, 1]) < 0.01 * float(M[0, 0])  # the noise dimension's weight is negligible
    held_out = triplets_from_labels(y, 2000, seed=1).index
    euclid = (x[held_out[:, 0]] - x[held_out[:, 1]]).pow(2).sum(1) < (x[held_out[:, 0]] - x[held_out[:, 2]]).pow(2).sum(
        1
    )
    learned = model.triplet_probability(x, held_out) > 0.5
    assert float(euclid.double().mean()) < 0.75 and float(learned.double().mean()) > 0.95
