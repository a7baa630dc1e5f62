"""Checks every model of the package passes (in the manner of scikit-learn's
``parametrize_with_checks``): add a model to ``MODELS`` to have it checked."""

import pyro
import pytest
import torch
from pyro import poutine
from pyro.poutine.util import site_is_subsample

from pyrolatent.data import make_bishop
from pyrolatent.inference import fit, restore
from pyrolatent.models import VAE, BayesianPCA

DATA = make_bishop(n_samples=40, seed=0)

# name -> (factory of a fresh model, data it is fitted on)
MODELS = {
    "bpca-collapsed": (lambda: BayesianPCA(10, 3), DATA),
    "bpca-explicit": (lambda: BayesianPCA(10, 3, collapsed=False), DATA),
    "vae-gaussian": (lambda: VAE(10, 2, hidden=(8,), likelihood="gaussian"), DATA),
    "vae-vamp": (lambda: VAE(10, 2, hidden=(8,), likelihood="gaussian", prior="vamp"), DATA),
}


def _latent_sites(trace):
    return {
        name
        for name, site in trace.nodes.items()
        if site["type"] == "sample"
        and not site["is_observed"]
        and not site_is_subsample(site)
        and not site["infer"].get("is_auxiliary")
    }


def _params(model, guide):
    state = {f"m.{k}": v for k, v in model.state_dict().items()}
    state.update({f"g.{k}": v for k, v in guide.state_dict().items()})
    return {k: v.detach().clone() for k, v in state.items()}


@pytest.fixture(params=sorted(MODELS))
def case(request):
    make, data = MODELS[request.param]
    return make, data


def test_model_and_default_guide_have_the_same_latent_sites(case):
    make, data = case
    model = make()
    guide = model.default_guide()
    guide_trace = poutine.trace(guide).get_trace(x=data.x)
    model_trace = poutine.trace(poutine.replay(model, trace=guide_trace)).get_trace(x=data.x)
    assert _latent_sites(model_trace) == _latent_sites(guide_trace)
    assert model_trace.nodes["x"]["is_observed"]
    assert model_trace.nodes["data"]["type"] == "sample"  # the "data" plate's subsample site


def test_minibatch_plate_has_the_fixed_name_and_dim(case):
    make, data = case
    model = make()
    idx = torch.tensor([0, 3, 5])
    trace = poutine.trace(model).get_trace(x=data.x, subsample=idx)
    frames = trace.nodes["x"]["cond_indep_stack"]
    assert [(f.name, f.dim, f.size, f.full_size) for f in frames] == [("data", -1, 3, data.n_samples)]
    assert trace.nodes["x"]["value"].shape[0] == 3
    assert trace.nodes["x"]["scale"] == pytest.approx(data.n_samples / 3)  # the plate scales, not the model


def test_one_step_gives_a_finite_loss(case):
    make, data = case
    result = fit(make(), data, num_steps=1)
    assert result.losses.shape == (1,) and torch.isfinite(result.losses).all()


def test_prior_can_be_sampled(case):
    make, _ = case
    trace = poutine.trace(make()).get_trace()
    assert all(torch.isfinite(s["value"]).all() for s in trace.nodes.values() if s["type"] == "sample")


def test_fit_is_reproducible_with_a_seed(case):
    make, data = case
    # network weights are drawn when a model is built: seed that too
    pyro.set_rng_seed(11)
    a = fit(make(), data, num_steps=15, seed=3)
    pyro.set_rng_seed(11)
    b = fit(make(), data, num_steps=15, seed=3)
    assert torch.equal(a.losses, b.losses)
    pa, pb = _params(a.model, a.guide), _params(b.model, b.guide)
    assert all(torch.equal(pa[k], pb[k]) for k in pa)


def test_checkpoint_round_trips(case, tmp_path):
    make, data = case
    ckpt = tmp_path / "c.pt"
    a = fit(make(), data, num_steps=10, checkpoint_path=ckpt)
    b = restore(make(), data, ckpt)
    pa, pb = _params(a.model, a.guide), _params(b.model, b.guide)
    assert pa.keys() == pb.keys() and all(torch.equal(pa[k], pb[k]) for k in pa)
    assert len(pyro.get_param_store()) == 0
