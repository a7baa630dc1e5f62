"""Checks every registered model passes (in the manner of scikit-learn's
``parametrize_with_checks``): a model registered in ``pyrolatent.models.REGISTRY``
is checked on each of its examples, with no list kept here."""

import pyro
import pytest
import torch
from pyro import poutine
from pyro.poutine.util import site_is_subsample

from pyrolatent.diagnostics import _arviz, to_inference_data
from pyrolatent.inference import as_model_inputs, fit, restore
from pyrolatent.models import HOOKS, REGISTRY, LatentModel
from pyrolatent.reports import write_report

# "name-variant" -> factory of a fresh (model, data) pair
EXAMPLES = {f"{name}-{variant}": make for name, spec in REGISTRY.items() for variant, make in spec.examples.items()}


def test_every_registered_model_has_an_example_and_a_cli_entry():
    import importlib

    for name, spec in REGISTRY.items():
        assert spec.examples, f"{name} has no example for the common tests"
        assert issubclass(spec.cls, LatentModel)
        assert importlib.import_module(spec.cli).ENTRY is not None


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


@pytest.fixture(params=sorted(EXAMPLES))
def case(request):
    make_pair = EXAMPLES[request.param]
    _, data = make_pair()
    return (lambda: make_pair()[0]), data


def test_model_and_default_guide_have_the_same_latent_sites(case):
    make, data = case
    model = make()
    guide = model.default_guide()
    inputs = as_model_inputs(data)  # a Dataset gives {"x": ...}; a mapping (x and triplets, ...) is used as it is
    guide_trace = poutine.trace(guide).get_trace(**inputs)
    model_trace = poutine.trace(poutine.replay(model, trace=guide_trace)).get_trace(**inputs)
    assert _latent_sites(model_trace) == _latent_sites(guide_trace)
    assert model_trace.nodes["x"]["is_observed"]
    assert model_trace.nodes["data"]["type"] == "sample"  # the "data" plate's subsample site


def test_minibatch_plate_has_the_fixed_name_and_dim(case):
    make, data = case
    model = make()
    idx = torch.tensor([0, 3, 5])
    inputs = as_model_inputs(data)
    n = inputs["x"].shape[0]
    # as SVI runs it: the guide draws the latents, the model scores them
    guide_trace = poutine.trace(model.default_guide()).get_trace(**inputs, subsample=idx)
    trace = poutine.trace(poutine.replay(model, trace=guide_trace)).get_trace(**inputs, subsample=idx)
    frames = trace.nodes["x"]["cond_indep_stack"]
    assert [(f.name, f.dim, f.size, f.full_size) for f in frames] == [("data", -1, 3, n)]
    assert trace.nodes["x"]["value"].shape[0] == 3
    assert trace.nodes["x"]["scale"] == pytest.approx(n / 3)  # the plate scales, not the model


def test_one_step_gives_a_finite_loss(case):
    make, data = case
    result = fit(make(), data, num_steps=1)
    assert result.losses.shape == (1,) and torch.isfinite(result.losses).all()


def test_prior_can_be_sampled(case):
    make, _ = case
    model = make()
    flat_prior = isinstance(model._pyro_samples.get("z"), pyro.distributions.ImproperUniform)
    if flat_prior or getattr(model, "has_prior_predictive", True) is False:
        # a flat prior (or a model that conditions on its inputs) has no prior predictive: it must say so clearly
        with pytest.raises(ValueError, match="no prior predictive"):
            model()
        return
    trace = poutine.trace(model).get_trace()
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


def test_the_traced_step_follows_the_eager_step(case):
    # fit(compile="trace") replays the eager step's operations: every model of
    # the library can be traced (no CompileWarning, which the suite turns into
    # an error), and a seeded traced fit follows the eager one
    make, data = case
    fits = []
    for mode in (False, "trace"):
        pyro.set_rng_seed(11)
        fits.append(fit(make(), data, num_steps=6, batch_size=3, seed=3, compile=mode, device="cpu"))
    torch.testing.assert_close(fits[1].losses, fits[0].losses, rtol=1e-6, atol=1e-6)
    pa, pb = _params(fits[0].model, fits[0].guide), _params(fits[1].model, fits[1].guide)
    for k in pa:
        torch.testing.assert_close(pb[k], pa[k], rtol=1e-6, atol=1e-6, msg=k)


def test_checkpoint_round_trips(case, tmp_path):
    make, data = case
    ckpt = tmp_path / "c.pt"
    a = fit(make(), data, num_steps=10, checkpoint_path=ckpt)
    b = restore(make(), data, ckpt)
    pa, pb = _params(a.model, a.guide), _params(b.model, b.guide)
    assert pa.keys() == pb.keys() and all(torch.equal(pa[k], pb[k]) for k in pa)
    assert len(pyro.get_param_store()) == 0


def test_the_optional_hooks_it_offers_work(case):
    make, data = case
    result = fit(make(), data, num_steps=5, seed=0)
    model, x = result.model, as_model_inputs(data)["x"][:6]
    offered = [h for h in HOOKS if model.supports(h)]
    assert offered, "a model should offer at least one hook"
    if model.supports("encode"):
        z = model.encode(x, result.guide)
        assert z.shape[0] == 6 and torch.isfinite(z).all()
    if model.supports("reconstruct"):
        assert model.reconstruct(x, result.guide).shape == x.shape
    if model.supports("sample"):
        assert model.sample(4, result.guide).shape == (4, x.shape[1])
    if model.supports("identifiable_quantities"):
        q = model.identifiable_quantities(result.guide)
        assert q and all(torch.isfinite(torch.as_tensor(v)).all() for v in q.values())


def test_moves_between_devices_and_dtypes(case):
    make, data = case
    model = make()
    model.to(torch.float64)
    assert all(p.dtype == torch.float64 for p in model.parameters())
    model.to(torch.float32).to("cpu")
    result = fit(model, data, num_steps=2, device="cpu")
    assert torch.isfinite(result.losses).all()


def test_converts_to_inference_data_and_writes_a_report(case, tmp_path):
    make, data = case
    result = fit(make(), data, num_steps=5, seed=0)
    idata = to_inference_data(result, data, num_samples=20)
    groups = set(_arviz.group_names(idata))
    assert {"posterior_predictive", "log_likelihood", "observed_data", "sample_stats"} <= groups
    path = write_report(result, data, tmp_path, num_samples=30)
    assert path.is_file() and "Verdict" in path.read_text()
    assert len(pyro.get_param_store()) == 0
