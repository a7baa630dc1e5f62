"""Several subsampled plates: objects and triplets minibatched independently."""

import math

import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro import poutine
from pyro.nn import PyroModule, PyroParam

from pyrolatent._pyro import plate_subsample
from pyrolatent.inference import fit
from pyrolatent.inference.batching import Batcher, plate_sizes

N_OBJ, N_TRI = 100, 5000


class ObjectsAndTriplets(PyroModule):
    """A toy model with two plates: a location per object, and for each triplet
    (i, j, l) a Bernoulli answer with p = sigmoid(|x_i - x_l| - |x_i - x_j|) times a
    learned scale. Its ELBO has a closed form for a fixed guide (no latents)."""

    def __init__(self):
        super().__init__()
        self.loc = PyroParam(torch.zeros(2))
        self.scale = PyroParam(torch.tensor(1.0))

    def plate_sizes(self, x=None, triplets=None, answers=None):
        return {"data": x.shape[0], "triplets": triplets.shape[0]}

    def forward(self, x=None, triplets=None, answers=None, subsample=None):
        rows = plate_subsample(subsample, "data")
        with pyro.plate("data", x.shape[0], subsample=rows) as i:
            pyro.sample("x", dist.Normal(self.loc, 1.0).to_event(1), obs=x[i])
        idx = plate_subsample(subsample, "triplets")
        with pyro.plate("triplets", triplets.shape[0], subsample=idx) as t:
            a, p, n = triplets[t].unbind(-1)
            d_ap = (x[a] - x[p]).norm(dim=-1)
            d_an = (x[a] - x[n]).norm(dim=-1)
            pyro.sample("t", dist.Bernoulli(logits=self.scale * (d_an - d_ap)), obs=answers[t])


def guide(**kwargs):
    pass


def _data(seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(N_OBJ, 2, generator=g)
    triplets = torch.randint(0, N_OBJ, (N_TRI, 3), generator=g)
    answers = torch.bernoulli(torch.full((N_TRI,), 0.7), generator=g)
    return {"x": x, "triplets": triplets, "answers": answers}


def test_plates_are_declared_by_the_model():
    assert plate_sizes(ObjectsAndTriplets(), _data()) == {"data": N_OBJ, "triplets": N_TRI}


def test_a_plain_callable_gets_one_data_plate_and_a_clear_error_on_mixed_sizes():
    with pytest.raises(ValueError, match="same first size .* plate_sizes"):
        plate_sizes(guide, _data())
    assert plate_sizes(guide, {"x": torch.zeros(7, 2)}) == {"data": 7}


def test_minibatch_loss_is_unbiased_for_the_full_data_loss():
    data = _data()
    elbo = pyro.infer.Trace_ELBO()
    with pyro.settings.context(module_local_params=True), torch.no_grad():
        model = ObjectsAndTriplets()  # Pyro wants a module built under the setting it is used with
        full = float(elbo.differentiable_loss(model, guide, **data))
        batcher = Batcher(plate_sizes(model, data), {"data": 10, "triplets": 50}, torch.device("cpu"))
        torch.manual_seed(0)
        draws = torch.tensor(
            [float(elbo.differentiable_loss(model, guide, **data, subsample=batcher.draw(s))) for s in range(4000)]
        )
    # the mean of 4,000 minibatch losses lies within 4 standard errors of the full loss
    se = float(draws.std()) / math.sqrt(len(draws))
    assert abs(float(draws.mean()) - full) < 4 * se
    assert se < 0.01 * abs(full)  # and the check is sharp: the error bar is under 1 % of the loss


def test_each_plate_gets_its_own_minibatch_and_epoch():
    data = _data()
    batcher = Batcher(plate_sizes(ObjectsAndTriplets(), data), {"data": 30, "triplets": 1000}, torch.device("cpu"))
    assert batcher.steps_per_epoch == 4  # the first plate defines the epoch: ceil(100 / 30)
    seen_rows, seen_triplets = [], []
    for step in range(4):
        sub = batcher.draw(step)
        assert set(sub) == {"data", "triplets"}
        seen_rows.append(sub["data"])
        seen_triplets.append(sub["triplets"])
    assert sorted(torch.cat(seen_rows).tolist()) == list(range(N_OBJ))  # one epoch: every object once
    tri = torch.cat(seen_triplets)
    assert tri.numel() == 4000 and tri.unique().numel() == 4000  # without replacement within a pass


def test_resumed_fit_equals_an_uninterrupted_one_bit_for_bit(tmp_path):
    data = _data()
    ckpt = tmp_path / "c.pt"
    batch = {"data": 32, "triplets": 64}
    straight = fit(ObjectsAndTriplets(), data, guide=guide, num_steps=200, batch_size=batch, seed=5, lr=0.05)
    fit(ObjectsAndTriplets(), data, guide=guide, num_steps=100, batch_size=batch, seed=5, lr=0.05, checkpoint_path=ckpt)
    resumed = fit(
        ObjectsAndTriplets(),
        data,
        guide=guide,
        num_steps=200,
        batch_size=batch,
        seed=5,
        lr=0.05,
        checkpoint_path=ckpt,
        resume=True,
    )
    assert torch.equal(straight.losses, resumed.losses)
    assert torch.equal(straight.model.loc, resumed.model.loc)


def test_one_batch_size_for_every_plate_and_unknown_plates_refused():
    data = _data()
    result = fit(ObjectsAndTriplets(), data, guide=guide, num_steps=3, batch_size=20)
    assert result.losses.shape == (3,)
    with pytest.raises(ValueError, match=r"names plates \['pairs'\] that the model does not declare"):
        fit(ObjectsAndTriplets(), data, guide=guide, num_steps=3, batch_size={"pairs": 5})


def test_the_model_sees_the_indices_of_each_plate():
    data = _data()
    sub = {"data": torch.tensor([1, 2]), "triplets": torch.tensor([5, 6, 7])}
    with pyro.settings.context(module_local_params=True):
        model = ObjectsAndTriplets()
        trace = poutine.trace(model).get_trace(**data, subsample=sub)
    assert trace.nodes["x"]["value"].shape[0] == 2 and trace.nodes["t"]["value"].shape[0] == 3
    assert trace.nodes["t"]["scale"] == pytest.approx(N_TRI / 3)
