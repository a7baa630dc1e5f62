"""Tests for the pre-training entry point of the search package."""

import pytest
import torch

from pyrolatent.data import NASBench201
from pyrolatent.search.embedding import pretrain_graphvae


def _tiny_table(n=40):
    codes = torch.cartesian_prod(*[torch.arange(5)] * 6)[:: 15625 // n][:n]
    acc = torch.linspace(50.0, 90.0, n)
    return NASBench201(codes, {"cifar10": acc, "cifar100": acc, "imagenet16": acc}, tuple(map(str, range(n))))


def test_pretraining_with_one_seed_is_reproducible():
    # the seed covers the initial weights as well as the split and the fit's draws:
    # two pre-trainings with seed 3 give the same embedding, seed 4 another one
    table = _tiny_table()
    options = dict(num_epochs=1, batch_size=8, latent_dim=2, hidden=8, n_layers=1)
    torch.manual_seed(0)
    a = pretrain_graphvae(table, seed=3, **options)["embedding"]
    torch.manual_seed(1)  # a different global stream must not matter
    b = pretrain_graphvae(table, seed=3, **options)["embedding"]
    c = pretrain_graphvae(table, seed=4, **options)["embedding"]
    assert a.shape == (40, 2)
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert not torch.allclose(a, c)


def test_arch2vec_schedule_switches_to_the_point_estimate_after_the_gaussian_epochs():
    # 36 training cells, batch 8 -> 5 steps an epoch; with gaussian_epochs=1 the first epoch is
    # step for step the Gaussian pre-training's, the second differs (no noise, no dropout), and
    # the model ends in eval mode with the guide a point estimate
    table = _tiny_table()
    options = dict(batch_size=8, latent_dim=2, hidden=8, n_layers=1, decoder_dropout=0.3, seed=2)
    gaussian = pretrain_graphvae(table, num_epochs=2, **options)
    switched = pretrain_graphvae(table, num_epochs=2, posterior="delta", gaussian_epochs=1, **options)
    a, b = gaussian["result"].losses, switched["result"].losses
    assert a.shape == b.shape == (10,)
    torch.testing.assert_close(a[:5], b[:5], rtol=0, atol=0)
    assert not torch.allclose(a[5:], b[5:])
    assert not switched["model"].training


def test_gaussian_epochs_need_the_point_estimate():
    table = _tiny_table()
    with pytest.raises(ValueError, match="'gaussian_epochs' argument of pretrain_graphvae"):
        pretrain_graphvae(table, num_epochs=2, gaussian_epochs=1)
    with pytest.raises(ValueError, match="'gaussian_epochs' argument of pretrain_graphvae"):
        pretrain_graphvae(table, num_epochs=2, posterior="delta", gaussian_epochs=2)


def test_a_model_built_by_the_caller_is_pretrained_as_the_built_in_one():
    # the caller's GraphVAE (built under the same seed, same options) gives the embedding of the
    # built-in one to the last bit; anything but a GraphVAE is refused by name
    from pyrolatent.inference import seeded
    from pyrolatent.models.graph_vae import GraphVAE

    table = _tiny_table()
    sizes = dict(latent_dim=2, hidden=8, n_layers=1)
    built_in = pretrain_graphvae(table, num_epochs=1, batch_size=8, seed=5, **sizes)["embedding"]
    with seeded(5):
        model = GraphVAE(n_nodes=8, n_types=7, beta=0.01, **sizes)
    given = pretrain_graphvae(table, model=model, num_epochs=1, batch_size=8, seed=5)
    assert given["model"] is model
    torch.testing.assert_close(given["embedding"], built_in, rtol=0, atol=0)
    with pytest.raises(TypeError, match="'model' argument of pretrain_graphvae must be a GraphVAE"):
        pretrain_graphvae(table, model=torch.nn.Linear(2, 2), num_epochs=1)


def test_arch2vec_schedule_freezes_the_batch_norm_statistics_after_the_first_epoch():
    # with the encoder's batch norm, the schedule's eval mode from epoch 2 on freezes the running
    # statistics where epoch 1 left them (arch2vec's code): two epochs with the schedule end with
    # the statistics of one Gaussian epoch, to the bit; two Gaussian epochs move them further
    from pyrolatent.components.graph import NodeBatchNorm
    from pyrolatent.inference import seeded
    from pyrolatent.models.graph_vae import GraphVAE

    table = _tiny_table()

    def stats(num_epochs, **options):
        with seeded(7):
            model = GraphVAE(latent_dim=2, hidden=8, n_layers=1, norm="batch", decoder_dropout=0.3)
        pretrain_graphvae(table, model=model, num_epochs=num_epochs, batch_size=8, seed=7, **options)
        norms = [m for m in model.modules() if isinstance(m, NodeBatchNorm)]
        return torch.cat([torch.cat([m.running_mean, m.running_var]) for m in norms])

    one = stats(1)
    frozen = stats(2, posterior="delta", gaussian_epochs=1)
    moving = stats(2)
    torch.testing.assert_close(frozen, one, rtol=0, atol=0)
    assert not torch.allclose(moving, one)


def test_first_split_trains_on_the_leading_rows_and_callbacks_see_every_step():
    # split="first": the first 90 % of the rows train (arch2vec's code), the last 10 % are held out;
    # the caller's callbacks run after the schedule's, once per step (36 cells, batch 8: 5 steps an epoch)
    from pyrolatent.inference import Callback

    class Count(Callback):
        def __init__(self):
            self.steps, self.delta = [], []

        def on_step(self, info):
            self.steps.append(info.step)
            self.delta.append(info.guide.posterior == "delta")

    table = _tiny_table()
    count = Count()
    options = dict(num_epochs=2, batch_size=8, latent_dim=2, hidden=8, n_layers=1, seed=1)
    out = pretrain_graphvae(table, split="first", posterior="delta", gaussian_epochs=1, callbacks=(count,), **options)
    torch.testing.assert_close(out["train_idx"], torch.arange(36), rtol=0, atol=0)
    torch.testing.assert_close(out["test_idx"], torch.arange(36, 40), rtol=0, atol=0)
    assert count.steps == list(range(10))
    assert count.delta == [False] * 4 + [True] * 6  # the schedule's switch at step 4 runs first
    random = pretrain_graphvae(table, **options)
    assert sorted(torch.cat([random["train_idx"], random["test_idx"]]).tolist()) == list(range(40))
    assert random["test_idx"].tolist() != list(range(36, 40))


def test_bad_split_and_callbacks_are_refused():
    table = _tiny_table()
    with pytest.raises(ValueError, match="'split' argument of pretrain_graphvae must be one of 'random', 'first'"):
        pretrain_graphvae(table, num_epochs=1, split="last")
    from pyrolatent.inference import Callback

    with pytest.raises(TypeError, match="'callbacks' argument of pretrain_graphvae must be a sequence"):
        pretrain_graphvae(table, num_epochs=1, callbacks=Callback())
