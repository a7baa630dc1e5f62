"""Tests for the GIN layers."""

import torch

from pyrolatent.components.graph import GINEncoder, GINLayer, undirected


def test_gin_layer_is_permutation_equivariant():
    torch.manual_seed(0)
    layer = GINLayer(5, 7)
    h = torch.randn(2, 6, 5)
    adj = (torch.rand(2, 6, 6) < 0.4).float()
    perm = torch.randperm(6)
    out = layer(h, adj)
    out_perm = layer(h[:, perm], adj[:, perm][:, :, perm])
    torch.testing.assert_close(out_perm, out[:, perm])


def test_aggregation_is_sum_over_neighbours():
    layer = GINLayer(1, 1)
    h = torch.tensor([[[1.0], [2.0], [4.0]]])
    adj = torch.tensor([[[0.0, 1, 1], [1, 0, 0], [1, 0, 0]]])
    # (1 + eps) h + A h with eps = 0
    expected_in = torch.tensor([[[7.0], [3.0], [5.0]]])
    seen = {}
    layer.mlp.register_forward_hook(lambda m, inp, out: seen.setdefault("x", inp[0]))
    layer(h, adj)
    torch.testing.assert_close(seen["x"], expected_in)


def test_encoder_shapes_and_undirected():
    enc = GINEncoder(7, latent_dim=3, hidden=8, n_layers=2)
    loc, scale = enc(torch.eye(7)[torch.randint(7, (4, 8))], torch.zeros(4, 8, 8))
    assert loc.shape == scale.shape == (4, 8, 3) and bool((scale > 0).all())
    a = torch.tensor([[0.0, 1.0], [0.0, 0.0]])
    torch.testing.assert_close(undirected(a), torch.tensor([[0.0, 1.0], [1.0, 0.0]]))
