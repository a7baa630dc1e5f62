"""The triplet-margin network: the hinge against hand-computed values, the factor in
the model's trace, unit-sphere codes, and a fit that separates two clusters."""

import pytest
import torch
from pyro import poutine

from pyrolatent.inference import fit
from pyrolatent.models import TripletMarginNetwork
from pyrolatent.models.triplet_margin import triplet_margin_loss


def _identity_net(margin=0.2, normalize=False):
    model = TripletMarginNetwork(2, 2, hidden=(), margin=margin, normalize=normalize)
    linear = model.net[-1]
    with torch.no_grad():
        linear.weight.copy_(torch.eye(2))
        linear.bias.zero_()
    return model


# anchor (0, 0), positive (1, 0); negatives (0, 2) and (0, 0.5):
# d_ap = 1; d_an = 4 -> max(0, 1 - 4 + 0.2) = 0; d_an = 0.25 -> max(0, 1 - 0.25 + 0.2) = 0.95
X = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0], [0.0, 0.5]])
T = torch.tensor([[0, 1, 2], [0, 1, 3]])


def test_hinge_matches_hand_computed_values():
    assert triplet_margin_loss(torch.tensor([1.0, 1.0]), torch.tensor([4.0, 0.25]), 0.2).tolist() == pytest.approx(
        [0.0, 0.95], abs=1e-6
    )
    model = _identity_net()
    assert model.batch_loss(X, T).tolist() == pytest.approx([0.0, 0.95], abs=1e-6)


def test_the_factor_is_minus_the_weighted_loss_and_the_inputs_add_nothing():
    model = _identity_net()
    model.loss_weight = 3.0
    trace = poutine.trace(model).get_trace(x=X, triplets=T)
    trace.compute_log_prob()
    assert float(trace.nodes["triplet_loss"]["log_prob_sum"].detach()) == pytest.approx(-3.0 * 0.95, abs=1e-5)
    assert float(trace.nodes["x"]["log_prob_sum"]) == 0.0  # the inputs are conditioned on
    frames = [(f.name, f.size) for f in trace.nodes["triplet_loss"]["cond_indep_stack"]]
    assert frames == [("triplets", 2)]


def test_codes_lie_on_the_unit_sphere():
    model = TripletMarginNetwork(5, 3, hidden=(4,))
    z = model.encode(torch.randn(7, 5))
    assert z.norm(dim=1).tolist() == pytest.approx([1.0] * 7, abs=1e-5)


def test_fit_learns_triplets_of_two_clusters():
    g = torch.Generator().manual_seed(0)
    y = torch.arange(60) % 2
    x = torch.randn(60, 4, generator=g)
    x[:, 0] += 1.5 * (2 * y - 1)  # the label shifts one of four equally noisy dimensions
    same = [(i, j) for i in range(60) for j in range(60) if i != j and y[i] == y[j]]
    rng = torch.Generator().manual_seed(1)
    rows = []
    for k in torch.randint(len(same), (400,), generator=rng).tolist():
        i, j = same[k]
        others = (y != y[i]).nonzero().flatten()
        rows.append([i, j, int(others[torch.randint(len(others), (1,), generator=rng)])])
    triplets = torch.tensor(rows)
    model = TripletMarginNetwork(4, 2, hidden=(16,))
    fit(model, {"x": x, "triplets": triplets}, num_steps=300, lr=1e-2, seed=0)
    p = model.triplet_probability(x, triplets)
    # the hinge drives the training triplets past the margin
    assert float((p > 0.5).double().mean()) > 0.95
