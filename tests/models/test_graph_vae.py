"""Tests for the arch2vec GraphVAE: sites, a short fit, the embedding and the table 1 metrics."""

import math

import pyro
import pyro.poutine as poutine
import pytest
import torch

from pyrolatent.inference import fit
from pyrolatent.models.graph_vae import GraphVAEGuide, pretraining_metrics, tiny_graphs


def test_model_and_guide_sites_match():
    model, data = tiny_graphs()
    guide = model.default_guide()
    guide_trace = poutine.trace(guide).get_trace(**data)
    model_trace = poutine.trace(poutine.replay(model, trace=guide_trace)).get_trace(**data)
    assert set(guide_trace.stochastic_nodes) - {"data"} == {"z"}
    assert {"z", "x", "A"} <= set(model_trace.nodes)
    assert model_trace.nodes["x"]["is_observed"] and model_trace.nodes["A"]["is_observed"]
    assert model_trace.nodes["z"]["value"].shape == (6, 8, 4)


def test_prior_samples_without_data():
    model, _ = tiny_graphs()
    trace = poutine.trace(model).get_trace(n_samples=3)
    assert trace.nodes["x"]["value"].shape == (3, 8)
    assert trace.nodes["A"]["value"].shape == (3, 8, 8)


def test_fit_lowers_the_loss_and_minibatches_through_the_data_plate():
    model, data = tiny_graphs()
    result = fit(model, data, num_steps=150, lr=1e-2, seed=0, progress=False, batch_size=3)
    losses = result.losses
    assert float(losses[-20:].mean()) < float(losses[:20].mean()) - 20.0
    assert model.embed(data["ops"], data["adj"]).shape == (6, 4)


def test_embedding_is_the_mean_of_node_means():
    model, data = tiny_graphs()
    node_means = model.node_means(data["ops"], data["adj"])
    torch.testing.assert_close(model.embed(data["ops"], data["adj"]), node_means.mean(1))


def test_metrics_bookkeeping_with_a_known_decoder(monkeypatch):
    # a stub decoder: held-out codes decode to their own cell except cell 1 (wrong op);
    # of 400 prior draws the first 100 decode to cell 0, the next 100 to cell 2, the rest are invalid
    # -> reconstruction 2/3 of the 3 test cells, validity 50 %, uniqueness 2 distinct / 200 valid = 1 %
    # (another 100 draws are valid only under the authors' looser check)
    model, data = tiny_graphs()
    ops, adj = data["ops"], data["adj"]
    test_idx, train_idx = torch.tensor([0, 1, 2]), torch.tensor([3, 4, 5])

    def node_means(o, a):
        # the code of a cell carries its row in the data (matched by its ops)
        rows = [int(((ops == row).all(-1)).nonzero()[0]) for row in o]
        return torch.tensor(rows, dtype=torch.float).view(-1, 1, 1).expand(-1, 8, 4).clone()

    def reconstruct_graph(z):
        if z.shape[0] == 3:
            rows = z[:, 0, 0].long()
            rec = ops[rows].clone()
            rec[1, 3] = (rec[1, 3] % 5) + 1  # another edge operation
            return rec, adj[rows]
        out = ops[[0] * 100 + [2] * 100 + [0] * 200].clone()
        out[200:300, 0] = 3  # not the input type: invalid under both definitions
        out[300:350, 1] = 0  # node 1 the input type: invalid, but arch2vec's check skips node 1
        dec_adj = adj[:1].expand(400, -1, -1).clone()
        dec_adj[350:, 0, 7] = 1.0  # an extra edge: invalid, but arch2vec's check ignores the adjacency
        return out, dec_adj

    monkeypatch.setattr(model, "node_means", node_means)
    monkeypatch.setattr(model, "reconstruct_graph", reconstruct_graph)
    metrics = pretraining_metrics(model, ops, adj, train_idx, test_idx, num_samples=400)
    assert metrics["reconstruction_accuracy"] == pytest.approx(200 / 3)
    assert metrics["validity"] == pytest.approx(50.0)
    assert metrics["uniqueness"] == pytest.approx(1.0)
    # arch2vec's code: 300 valid draws; distinct (adjacency, types): cell 0, cell 2, cell 0 with
    # node 1 the input, cell 0 with the extra edge -> 4 / 300
    assert metrics["validity_arch2vec"] == pytest.approx(75.0)
    assert metrics["uniqueness_arch2vec"] == pytest.approx(400 / 300)


def test_fit_reconstructs_six_cells():
    model, data = tiny_graphs()
    fit(model, data, num_steps=1000, lr=1e-2, seed=0, progress=False)
    ops, adj = model.reconstruct_graph(model.node_means(data["ops"], data["adj"]))
    assert float((ops == data["ops"]).float().mean()) > 0.9
    assert float((adj == data["adj"]).float().mean()) > 0.95


@pytest.mark.parametrize(
    "ops, match",
    [(torch.zeros(2, 5, dtype=torch.long), "shapes"), (torch.full((2, 8), 9), "node types")],
)
def test_bad_data_is_refused(ops, match):
    model, data = tiny_graphs()
    with pytest.raises(ValueError, match=match):
        model(ops=ops, adj=data["adj"][:2])


def test_flattened_one_hot_input_equals_the_mapping():
    # the Dataset form (x = flattened one-hot, shared adjacency) gives the same log density
    model, data = tiny_graphs()
    x = torch.nn.functional.one_hot(data["ops"], 7).float().reshape(6, -1)
    guide = model.default_guide()
    pyro.set_rng_seed(1)
    tr = poutine.trace(guide).get_trace(**data)
    lp_map = poutine.trace(poutine.replay(model, trace=tr)).get_trace(**data).log_prob_sum()
    lp_x = poutine.trace(poutine.replay(model, trace=tr)).get_trace(x=x).log_prob_sum()
    torch.testing.assert_close(lp_map, lp_x)


def test_encode_hook_embeds_the_flattened_one_hot():
    model, data = tiny_graphs()
    x = torch.nn.functional.one_hot(data["ops"], 7).float().reshape(6, -1)
    torch.testing.assert_close(model.encode(x), model.embed(data["ops"], data["adj"]))


def test_point_estimate_guide_gives_the_l2_penalised_autoencoder_loss():
    # with posterior="delta", z is the encoder mean and the ELBO's KL part is beta * 0.5 |mu|^2
    # (+ the prior's constant): loss = -[log p(x | mu) + w log p(A | mu) + beta log N(mu; 0, I)],
    # computed here by hand from the decoder's logits
    model, data = tiny_graphs()
    model.beta = 0.25
    guide = GraphVAEGuide(model, posterior="delta")
    mu = model.node_means(data["ops"], data["adj"])
    z = poutine.trace(guide).get_trace(**data).nodes["z"]["value"]
    torch.testing.assert_close(z, mu)
    with torch.no_grad():
        op_logits = model.op_decoder(mu)
        adj_logits = mu @ mu.transpose(-1, -2)
        target = (data["adj"] + data["adj"].transpose(-1, -2) + torch.eye(8)).clamp(max=1.0)
        log_x = torch.log_softmax(op_logits, -1).gather(-1, data["ops"].unsqueeze(-1)).sum()
        log_a = -torch.nn.functional.binary_cross_entropy_with_logits(adj_logits, target, reduction="sum")
        log_prior = (-0.5 * mu**2 - 0.5 * math.log(2 * math.pi)).sum()
        expected = -(log_x + model.adjacency_weight * log_a + model.beta * log_prior)
        loss = pyro.infer.Trace_ELBO().loss(model, guide, **data)
    assert loss == pytest.approx(float(expected), rel=1e-5)


def test_guide_refuses_an_unknown_posterior():
    model, _ = tiny_graphs()
    with pytest.raises(ValueError, match="'posterior' argument of GraphVAEGuide"):
        GraphVAEGuide(model, posterior="laplace")


def test_decoder_dropout_acts_in_training_mode_only():
    # eval mode: the operation site's logits are the decoder's on z itself; training mode with
    # dropout 0.5 zeroes about half of z's entries (and doubles the rest) before decoding
    model, data = tiny_graphs()
    model.decoder_dropout = 0.5
    z = torch.randn(6, 8, 4, generator=torch.Generator().manual_seed(0))
    conditioned = poutine.condition(model, data={"z": z})
    model.eval()
    logits = poutine.trace(conditioned).get_trace(**data).nodes["x"]["fn"].base_dist.logits
    torch.testing.assert_close(logits, torch.log_softmax(model.op_decoder(z), -1))
    model.train()
    pyro.set_rng_seed(0)
    logits = poutine.trace(conditioned).get_trace(**data).nodes["x"]["fn"].base_dist.logits
    assert not torch.allclose(logits, torch.log_softmax(model.op_decoder(z), -1))
    with pytest.raises(ValueError, match="'decoder_dropout' argument of GraphVAE"):
        type(model)(decoder_dropout=1.5)


def test_batch_norm_encoder_trains_and_uses_running_statistics_in_eval_mode():
    # norm="batch" (arch2vec's GIN): fit updates the running statistics in training mode;
    # in eval mode a cell's node means do not depend on the other cells encoded with it
    from pyrolatent.components.graph import NodeBatchNorm
    from pyrolatent.models.graph_vae import GraphVAE

    _, data = tiny_graphs()
    torch.manual_seed(0)
    model = GraphVAE(n_nodes=8, n_types=7, latent_dim=4, hidden=16, n_layers=2, norm="batch")
    norms = [m for m in model.modules() if isinstance(m, NodeBatchNorm)]
    assert len(norms) == 4
    result = fit(model, data, num_steps=30, lr=1e-2, seed=0, progress=False, batch_size=3)
    assert bool(torch.isfinite(result.losses).all())
    assert all(int(m.num_batches_tracked) == 31 for m in norms)  # 30 steps and the set-up pass
    assert not torch.allclose(norms[0].running_mean, torch.zeros(16))
    model.eval()
    before = [m.running_mean.clone() for m in norms]
    together = model.node_means(data["ops"], data["adj"])[:2]
    torch.testing.assert_close(model.node_means(data["ops"][:2], data["adj"][:2]), together)
    assert all(torch.equal(m.running_mean, b) for m, b in zip(norms, before, strict=True))
    # node_means and embed switch to eval mode themselves: in training mode they give the same
    # codes, leave the running statistics alone and put the model back in training mode
    model.train()
    torch.testing.assert_close(model.node_means(data["ops"][:2], data["adj"][:2]), together)
    torch.testing.assert_close(model.embed(data["ops"][:2], data["adj"][:2]), together.mean(1))
    assert model.training and all(torch.equal(m.running_mean, b) for m, b in zip(norms, before, strict=True))
    with pytest.raises(ValueError, match="'norm' argument of GraphVAE must be one of 'layer', 'batch'"):
        GraphVAE(norm="instance")


def test_draw_stats_replace_the_node_mean_statistics_of_the_draws(monkeypatch):
    # the prior draws are loc + scale * eps with eps from a generator seeded with `seed`; by default
    # loc / scale are the mean / sd of the training cells' node means, with draw_stats the given pair
    model, data = tiny_graphs()
    ops, adj = data["ops"], data["adj"]
    test_idx, train_idx = torch.tensor([0, 1]), torch.tensor([2, 3, 4, 5])
    seen = []
    decode = model.reconstruct_graph

    def reconstruct_graph(z):  # called for the 2 held-out cells, then for the 50 draws
        seen.append(z.clone())
        return decode(z)

    monkeypatch.setattr(model, "reconstruct_graph", reconstruct_graph)
    eps = torch.randn((50, 8, 4), generator=torch.Generator().manual_seed(4))
    loc, scale = torch.full((8, 4), 2.0), torch.full((8, 4), 0.5)
    given = pretraining_metrics(model, ops, adj, train_idx, test_idx, num_samples=50, seed=4, draw_stats=(loc, scale))
    torch.testing.assert_close(seen[-1], 2.0 + 0.5 * eps, rtol=0, atol=1e-6)
    mu = model.node_means(ops[train_idx], adj[train_idx])
    default = pretraining_metrics(model, ops, adj, train_idx, test_idx, num_samples=50, seed=4)
    torch.testing.assert_close(seen[-1], mu.mean(0) + mu.std(0) * eps, rtol=0, atol=1e-6)
    same = pretraining_metrics(
        model, ops, adj, train_idx, test_idx, num_samples=50, seed=4, draw_stats=(mu.mean(0), mu.std(0))
    )
    torch.testing.assert_close(seen[-1], seen[-3], rtol=0, atol=0)  # the same draws, to the bit
    assert same == pytest.approx(default, nan_ok=True)
    assert given["reconstruction_accuracy"] == default["reconstruction_accuracy"]  # held-out cells unaffected


@pytest.mark.parametrize(
    "draw_stats", [(torch.zeros(8, 3), torch.ones(8, 3)), (torch.zeros(8, 4),), torch.zeros(8, 4), (None, None)]
)
def test_bad_draw_stats_are_refused(draw_stats):
    model, data = tiny_graphs()
    idx = torch.arange(6)
    with pytest.raises(ValueError, match=r"'draw_stats' argument of pretraining_metrics must be a pair .*\(8, 4\)"):
        pretraining_metrics(model, data["ops"], data["adj"], idx[3:], idx[:3], num_samples=5, draw_stats=draw_stats)
