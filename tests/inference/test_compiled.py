"""The compiled step (``fit(..., compile=...)``): the traced graph replays the
eager step's operations, so a seeded compiled fit follows the eager one; what
cannot be traced runs eagerly with a warning that says why."""

import pyro
import pyro.distributions as dist
import pytest
import torch
from torch.testing import assert_close

from pyrolatent.data import make_low_rank
from pyrolatent.inference import CompileWarning, fit
from pyrolatent.inference import compiled as compiled_module
from pyrolatent.models import VAE, BayesianPCA


def _state(result):
    out = {f"m.{k}": v.detach().clone() for k, v in result.model.state_dict().items()}
    if isinstance(result.guide, torch.nn.Module):
        out.update({f"g.{k}": v.detach().clone() for k, v in result.guide.state_dict().items()})
    return out


def _fit_both(make, data, **settings):
    """The same seeded fit, eager and with ``compile=settings['compile']``."""
    mode = settings.pop("compile")
    results = []
    for compile_ in (False, mode):
        pyro.set_rng_seed(5)  # network weights are drawn when a model is built
        results.append(fit(make(), data, seed=2, device="cpu", compile=compile_, **settings))
    return results


def _assert_same_fit(eager, compiled, **tol):
    assert_close(compiled.losses, eager.losses, **tol)
    a, b = _state(eager), _state(compiled)
    assert a.keys() == b.keys()
    for key in a:
        assert_close(b[key], a[key], **tol, msg=key)


def _bpca_data():
    return make_low_rank(n_samples=60, stds=[1.0] * 2 + [0.3] * 4, seed=0).x


def test_traced_bpca_with_a_last_smaller_minibatch_equals_eager():
    # 60 rows in batches of 25: 25, 25, 10 -- two signatures, two graphs
    eager, traced = _fit_both(lambda: BayesianPCA(6, 4), _bpca_data(), num_steps=12, batch_size=25, compile="trace")
    _assert_same_fit(eager, traced, rtol=1e-6, atol=1e-6)


def test_traced_vae_equals_eager_and_the_data_are_read_once():
    x = torch.rand(40, 12).round()
    make = lambda: VAE(12, 2, hidden=(8,), likelihood="bernoulli")  # noqa: E731
    eager, traced = _fit_both(make, x, num_steps=15, batch_size=16, compile="trace")
    _assert_same_fit(eager, traced, rtol=1e-6, atol=1e-6)


def test_a_function_guide_with_store_parameters_is_traced():
    x = torch.randn(30) + 3.0

    def model(x, subsample=None):
        loc = pyro.sample("loc", dist.Normal(0.0, 10.0))
        with pyro.plate("data", x.shape[0]):
            pyro.sample("x", dist.Normal(loc, 1.0), obs=x)

    def guide(x, subsample=None):
        m = pyro.param("m", torch.tensor(0.0))
        s = pyro.param("s", torch.tensor(1.0), constraint=dist.constraints.positive)
        pyro.sample("loc", dist.Normal(m, s))

    results = []
    for mode in (False, "trace"):
        pyro.clear_param_store()
        results.append(fit(model, {"x": x}, guide=guide, num_steps=60, lr=0.05, seed=1, compile=mode, device="cpu"))
        results[-1].m = pyro.param("m").detach().clone()
    assert_close(results[1].losses, results[0].losses, rtol=1e-6, atol=1e-6)
    assert_close(results[1].m, results[0].m)
    assert abs(float(results[1].m) - float(x.mean())) < 1.0  # it learned: the posterior mean is near x-bar


class _ReadsValues(BayesianPCA):
    """A model whose Python control flow reads a tensor value every step."""

    def forward(self, x=None, subsample=None, **kwargs):
        if x is not None and float(x.abs().sum()) > 1e12:  # data-dependent: cannot be traced
            raise ValueError("huge data")
        return super().forward(x, subsample, **kwargs)


def test_a_model_that_reads_values_runs_eagerly_with_a_warning():
    data = _bpca_data()
    with pytest.warns(CompileWarning, match=r"The step of _ReadsValues cannot be compiled .*running it eagerly"):
        eager, traced = _fit_both(lambda: _ReadsValues(6, 4), data, num_steps=8, compile="trace")
    _assert_same_fit(eager, traced, rtol=0.0, atol=0.0)  # the fallback is the eager step itself


def test_a_failing_inductor_keeps_the_traced_graph(monkeypatch):
    def broken_compile(graph, **kwargs):
        def run(*args):
            raise RuntimeError("no C++ compiler here")

        return run

    monkeypatch.setattr(compiled_module.torch, "compile", broken_compile)
    with pytest.warns(CompileWarning, match=r"TorchInductor could not compile .*no C\+\+ compiler here.*'trace'"):
        eager, compiled = _fit_both(lambda: BayesianPCA(6, 4), _bpca_data(), num_steps=8, compile=True)
    _assert_same_fit(eager, compiled, rtol=1e-6, atol=1e-6)


@pytest.mark.slow
def test_inductor_compiled_bpca_equals_eager_to_float_rounding():
    # TorchInductor compiles a C++ kernel (tens of seconds on a cold cache); its
    # fused arithmetic rounds differently, and fallback_random keeps torch's draws
    eager, compiled = _fit_both(lambda: BayesianPCA(6, 4), _bpca_data(), num_steps=30, compile="inductor")
    _assert_same_fit(eager, compiled, rtol=1e-4, atol=1e-4)


def test_resuming_an_eager_checkpoint_with_a_compiled_step(tmp_path):
    ckpt = tmp_path / "c.pt"
    data = _bpca_data()
    whole = fit(BayesianPCA(6, 4), data, num_steps=20, seed=3, device="cpu")
    fit(BayesianPCA(6, 4), data, num_steps=10, seed=3, device="cpu", checkpoint_path=ckpt)
    resumed = fit(
        BayesianPCA(6, 4), data, num_steps=20, seed=3, device="cpu", checkpoint_path=ckpt, resume=True, compile="trace"
    )
    assert_close(resumed.losses, whole.losses, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("value", ["fast", 1, "Trace", None])
def test_a_bad_compile_setting_is_refused(value):
    with pytest.raises(ValueError, match=r"The 'compile' argument must be False, True, 'trace' or 'inductor'\. Got"):
        fit(BayesianPCA(6, 4), _bpca_data(), num_steps=1, compile=value)


def test_the_parameters_are_given_back_after_tracing():
    # tracing puts stand-ins into the modules' parameter slots: afterwards the
    # modules hold their own Parameters again, and those are what was trained
    model = VAE(12, 2, hidden=(8,), likelihood="bernoulli")
    before = {name: p for name, p in model.named_parameters()}
    start = {name: p.detach().clone() for name, p in before.items()}
    result = fit(model, torch.rand(20, 12).round(), num_steps=5, compile="trace", device="cpu")
    after = dict(result.model.named_parameters())
    assert before and after.keys() == before.keys()
    assert all(after[k] is before[k] and isinstance(after[k], torch.nn.Parameter) for k in before)
    assert all(isinstance(p, torch.nn.Parameter) for p in result.guide.parameters())
    assert any(not torch.equal(before[k], start[k]) for k in before)
