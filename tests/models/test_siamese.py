"""The siamese network's contrastive loss against hand-computed values."""

import pytest
import torch

from pyrolatent.models import SiameseNetwork
from pyrolatent.models.siamese import contrastive_loss


def test_contrastive_loss_matches_hand_computed_values():
    # d_ij = 1, d_il = 0.25 (distance 0.5), m = 1: 0.5 * 1 + 0.5 * (1 - 0.5)^2 = 0.625
    # d_ij = 1, d_il = 4 (distance 2 > m): 0.5 * 1 = 0.5
    loss = contrastive_loss(torch.tensor([1.0, 1.0]), torch.tensor([0.25, 4.0]), 1.0)
    assert loss.tolist() == pytest.approx([0.625, 0.5], abs=1e-6)


def test_model_loss_uses_the_embedding_distances():
    model = SiameseNetwork(2, 2, hidden=(), margin=1.0)
    with torch.no_grad():
        model.net[-1].weight.copy_(torch.eye(2))
        model.net[-1].bias.zero_()
    x = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 0.5], [0.0, 2.0]])
    assert model.batch_loss(x, torch.tensor([[0, 1, 2], [0, 1, 3]])).tolist() == pytest.approx([0.625, 0.5], abs=1e-6)


def test_without_data_it_says_it_has_no_prior_predictive():
    with pytest.raises(ValueError, match="no prior predictive"):
        SiameseNetwork(3, 2, hidden=(4,))()
