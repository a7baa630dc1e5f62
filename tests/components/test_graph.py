"""Tests for the GIN layers."""

import pytest
import torch

from pyrolatent.components.graph import GINEncoder, GINLayer, NodeBatchNorm, undirected


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


def test_node_batch_norm_uses_batch_statistics_in_training_and_running_ones_in_eval():
    # hand computation: BatchNorm over all n * N node rows, biased variance in training mode,
    # running estimates updated with momentum 0.1 from (0, 1) with the unbiased variance
    torch.manual_seed(1)
    norm = NodeBatchNorm(3)
    h = torch.randn(4, 5, 3) * 2.0 + 1.0
    rows = h.reshape(-1, 3)
    mean, var = rows.mean(0), rows.var(0, unbiased=False)
    out = norm(h)
    torch.testing.assert_close(out, (h - mean) / torch.sqrt(var + 1e-5), rtol=1e-5, atol=1e-5)
    running_mean, running_var = 0.1 * mean, 0.9 + 0.1 * rows.var(0, unbiased=True)
    torch.testing.assert_close(norm.running_mean, running_mean)
    torch.testing.assert_close(norm.running_var, running_var)
    norm.eval()
    other = torch.randn(2, 5, 3)
    torch.testing.assert_close(norm(other), (other - running_mean) / torch.sqrt(running_var + 1e-5))
    torch.testing.assert_close(norm.running_mean, running_mean)  # eval mode leaves them


def test_batch_norm_encoder_couples_the_graphs_only_in_training_mode():
    torch.manual_seed(2)
    enc = GINEncoder(7, latent_dim=3, hidden=8, n_layers=2, norm="batch")
    assert sum(isinstance(m, NodeBatchNorm) for m in enc.modules()) == 4  # two per GIN layer
    x = torch.eye(7)[torch.randint(7, (6, 8))]
    adj = (torch.rand(6, 8, 8) < 0.3).float()
    together = enc(x, adj)[0][:2]
    alone = enc(x[:2], adj[:2])[0]
    assert not torch.allclose(together, alone, atol=1e-3)  # batch statistics differ
    enc.eval()
    torch.testing.assert_close(enc(x, adj)[0][:2], enc(x[:2], adj[:2])[0])


def test_unknown_norm_is_refused_by_name():
    with pytest.raises(ValueError, match="'norm' argument of GINEncoder must be one of 'layer', 'batch'"):
        GINEncoder(7, norm="group")
