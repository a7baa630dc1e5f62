"""The shared SVI engine: reproducibility, resume, isolation, guards, interruption."""

import os
import signal

import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro.infer.autoguide import AutoDelta, AutoLowRankMultivariateNormal, AutoNormal, init_to_feasible
from pyro.nn import PyroModule

from pyrolatent.data import make_bishop
from pyrolatent.inference import Callback, CheckpointError, FitSettings, NonFiniteLossError, fit, restore
from pyrolatent.models import BayesianPCA

DATA = make_bishop(n_samples=60, seed=3)


def small_bpca(k=4, **kw):
    return BayesianPCA(n_features=10, n_components=k, **kw)


def params(result):
    state = {f"model.{k}": v for k, v in result.model.state_dict().items()}
    state.update({f"guide.{k}": v for k, v in result.guide.state_dict().items()})
    return {k: v.detach().clone() for k, v in state.items()}


def assert_same_params(a, b):
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


# -- reproducibility and isolation ------------------------------------------------
@pytest.mark.parametrize("batch_size", [None, 16])
def test_same_seed_same_losses_bit_for_bit(batch_size):
    r1 = fit(small_bpca(), DATA, num_steps=40, batch_size=batch_size, seed=7)
    r2 = fit(small_bpca(), DATA, num_steps=40, batch_size=batch_size, seed=7)
    assert torch.equal(r1.losses, r2.losses)
    assert_same_params(params(r1), params(r2))
    r3 = fit(small_bpca(), DATA, num_steps=40, batch_size=batch_size, seed=8)
    assert not torch.equal(r1.losses, r3.losses)


def test_two_fits_in_one_process_do_not_share_state():
    alone = fit(small_bpca(), DATA, num_steps=30, seed=1)
    first = fit(small_bpca(), DATA, num_steps=30, seed=1)
    before = params(first)
    second = fit(small_bpca(), make_bishop(n_samples=60, seed=9), num_steps=30, seed=2)
    assert_same_params(params(first), before)  # the second fit did not touch the first
    assert_same_params(params(first), params(alone))
    assert not torch.equal(first.losses, second.losses)
    assert len(pyro.get_param_store()) == 0


def test_result_record():
    r = fit(small_bpca(), DATA, num_steps=25, log_every=10, seed=0)
    assert r.num_steps == 25 and r.losses.shape == (25,)
    assert torch.isfinite(r.losses).all()
    assert r.device == torch.device("cpu")
    assert r.wall_time > 0 and r.steps_per_second > 0
    assert not r.interrupted and not r.converged
    assert r.final_elbo == pytest.approx(-float(r.losses[-2:].mean()))


def test_loss_decreases_and_minibatches_cover_epochs():
    r = fit(small_bpca(), DATA, num_epochs=30, batch_size=20, lr=0.05, seed=0)
    assert r.num_steps == 30 * 3
    assert r.losses[-10:].mean() < r.losses[:10].mean()


@pytest.mark.parametrize(
    "make_guide",
    [
        lambda m: AutoNormal(m),
        # the broad Gamma(1e-3, 1e-3) prior's median underflows to 0 in float32,
        # so guides that start at the prior median are started at a feasible point
        lambda m: AutoLowRankMultivariateNormal(m, rank=2, init_loc_fn=init_to_feasible),
        lambda m: AutoDelta(m, init_loc_fn=init_to_feasible),
    ],
    ids=["AutoNormal", "AutoLowRank", "AutoDelta"],
)
def test_any_autoguide_is_accepted_unchanged(make_guide):
    model = small_bpca()
    guide = make_guide(model)
    r = fit(model, DATA, guide=guide, num_steps=30, lr=0.02)
    assert r.guide is guide and torch.isfinite(r.losses).all()
    assert r.losses[-5:].mean() < r.losses[:5].mean()


def test_function_guide_with_param_store_parameters_is_trained():
    def model(x=None):
        loc = pyro.sample("loc", dist.Normal(torch.zeros(2), 10.0).to_event(1))
        with pyro.plate("data", x.shape[0]):
            pyro.sample("x", dist.Normal(loc, 1.0).to_event(1), obs=x)

    def guide(x=None):
        m = pyro.param("q_loc", torch.zeros(2))
        pyro.sample("loc", dist.Delta(m).to_event(1))

    pyro.clear_param_store()
    x = torch.randn(200, 2) + torch.tensor([3.0, -1.0])
    fit(model, x, guide=guide, num_steps=400, lr=0.05)
    q_loc = pyro.param("q_loc").detach()
    pyro.clear_param_store()
    # the MAP of loc is the sample mean shrunk by n / (n + 1/10^2)
    assert torch.allclose(q_loc, x.sum(0) / (200 + 0.01), atol=0.01)


def test_explicit_bpca_with_minibatches_and_default_guide():
    r = fit(small_bpca(collapsed=False), DATA, num_steps=60, batch_size=15, lr=0.03)
    assert torch.isfinite(r.losses).all()


def test_progress_bar_is_silent_when_disabled(capsys):
    fit(small_bpca(), DATA, num_steps=5, progress=False)
    out, err = capsys.readouterr()
    assert out == "" and err == ""
    fit(small_bpca(), DATA, num_steps=5, progress=True)
    _, err = capsys.readouterr()
    assert "5/5" in err and "elbo" in err


def test_early_stopping_marks_converged():
    r = fit(small_bpca(), DATA, num_steps=5000, lr=0.05, log_every=20, patience=3, tol=1e-2)
    assert r.converged and r.num_steps < 5000 and r.num_steps % 20 == 0


def test_callbacks_see_steps_and_can_stop():
    class Recorder(Callback):
        def __init__(self):
            self.steps, self.checks, self.ended = [], [], None

        def on_step(self, info):
            self.steps.append(info.step)

        def on_check(self, info):
            self.checks.append(info.loss)
            return len(self.checks) == 2

        def on_end(self, result):
            self.ended = result

    rec = Recorder()
    r = fit(small_bpca(), DATA, num_steps=100, log_every=10, callbacks=[rec])
    assert rec.steps == list(range(20)) and len(rec.checks) == 2
    assert rec.ended is r and r.num_steps == 20 and not r.converged


# -- checkpoints and resume ---------------------------------------------------------
@pytest.mark.parametrize("batch_size", [None, 25])
def test_resume_continues_exactly(tmp_path, batch_size):
    kw = dict(batch_size=batch_size, lr=0.03, seed=5, log_every=7)
    whole = fit(small_bpca(), DATA, num_steps=200, **kw)
    ckpt = tmp_path / "run.pt"
    half = fit(small_bpca(), DATA, num_steps=100, checkpoint_path=ckpt, **kw)
    assert half.checkpoint_path == ckpt
    resumed = fit(small_bpca(), DATA, num_steps=200, checkpoint_path=ckpt, resume=True, **kw)
    assert resumed.num_steps == 200
    assert torch.equal(resumed.losses, whole.losses)
    assert_same_params(params(resumed), params(whole))


def test_checkpoint_every_writes_mid_fit_and_restore_loads_it(tmp_path):
    ckpt = tmp_path / "c.pt"
    seen = []

    class Spy(Callback):
        def on_check(self, info):
            seen.append(torch.load(ckpt, weights_only=True)["step"] if ckpt.exists() else None)

    r = fit(
        small_bpca(), DATA, num_steps=30, checkpoint_path=ckpt, checkpoint_every=10, log_every=10, callbacks=[Spy()]
    )
    assert seen == [10, 20, 30]
    loaded = restore(small_bpca(), DATA, ckpt)
    assert loaded.num_steps == 30 and torch.equal(loaded.losses, r.losses)
    assert_same_params(params(loaded), params(r))


def test_checkpoint_of_another_model_or_shape_is_refused(tmp_path):
    ckpt = tmp_path / "c.pt"
    fit(small_bpca(k=4), DATA, num_steps=5, checkpoint_path=ckpt)
    with pytest.raises(CheckpointError, match=r"shape mismatch .*\(4, 10\) vs model \(3, 10\)"):
        fit(small_bpca(k=3), DATA, num_steps=10, checkpoint_path=ckpt, resume=True)

    class Other(BayesianPCA):
        pass

    with pytest.raises(CheckpointError, match=r"written for model '.*BayesianPCA', not for '.*Other'"):
        fit(Other(10, 4), DATA, num_steps=10, checkpoint_path=ckpt, resume=True)


def test_resume_without_a_checkpoint_file_starts_fresh(tmp_path):
    # documented: resume=True continues "when it exists"; a first run starts from scratch
    pyro.set_rng_seed(0)
    fresh = fit(small_bpca(), DATA, num_steps=5, seed=2)
    pyro.set_rng_seed(0)
    first = fit(small_bpca(), DATA, num_steps=5, seed=2, checkpoint_path=tmp_path / "none.pt", resume=True)
    assert torch.equal(fresh.losses, first.losses)
    assert (tmp_path / "none.pt").is_file()


def test_checkpoint_loads_without_unpickling_objects(tmp_path):
    ckpt = tmp_path / "c.pt"
    fit(small_bpca(), DATA, num_steps=5, checkpoint_path=ckpt)
    state = torch.load(ckpt, weights_only=True)
    assert state["step"] == 5 and state["model_class"].endswith("BayesianPCA")
    assert {"params", "optimizer", "rng", "losses"} <= state.keys()


def test_a_crash_while_writing_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    ckpt = tmp_path / "c.pt"
    fit(small_bpca(), DATA, num_steps=10, checkpoint_path=ckpt)
    good = ckpt.read_bytes()

    def broken_save(obj, handle, *args, **kwargs):
        handle.write(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        fit(small_bpca(), DATA, num_steps=20, checkpoint_path=ckpt)
    monkeypatch.undo()
    assert ckpt.read_bytes() == good
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.pt"]  # no temp file left
    assert restore(small_bpca(), DATA, ckpt).num_steps == 10


# -- NaN/Inf guard --------------------------------------------------------------------
@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_bad_data_is_refused_before_fitting(bad):
    x = DATA.x.clone()
    x[7, 2] = bad
    with pytest.raises(ValueError, match=r"'data' .* at row 7, column 2"):
        fit(small_bpca(), x, num_steps=5)


class Poisonable(BayesianPCA):
    """BPCA whose log density is NaN on the one call after ``poison`` is set."""

    poison = False

    def forward(self, *args, **kwargs):
        if self.poison:
            self.poison = False
            pyro.factor("boom", torch.tensor(float("nan")))
        return super().forward(*args, **kwargs)


class PoisonBefore(Callback):
    def __init__(self, step):
        self.step = step

    def on_step(self, info):
        if info.step == self.step - 1:
            info.model.poison = True


# Pyro's Trace_ELBO itself warns "Encountered NaN: loss"; the error raised by the
# engine is what this test checks.
@pytest.mark.filterwarnings("ignore:Encountered NaN")
def test_nan_at_step_k_stops_with_the_step_and_keeps_the_last_finite_state():
    k = 37
    # Pyro's validation would refuse the NaN factor itself; the engine's guard is
    # what protects a fit run with validation off, so test it that way.
    pyro.enable_validation(False)
    with pytest.raises(NonFiniteLossError, match=f"loss became non-finite at step {k} .* after step {k - 1}") as err:
        fit(Poisonable(10, 4), DATA, num_steps=100, log_every=25, seed=4, callbacks=[PoisonBefore(k)])
    partial = err.value.result
    reference = fit(BayesianPCA(10, 4), DATA, num_steps=k, seed=4)
    assert partial.num_steps == k
    assert torch.equal(partial.losses, reference.losses)
    assert_same_params(params(partial), params(reference))


@pytest.mark.filterwarnings("ignore:Encountered NaN")
def test_non_finite_gradient_is_caught():
    class BadGrad(PyroModule):
        def __init__(self):
            super().__init__()
            self.s = torch.nn.Parameter(torch.tensor(0.0))

        def forward(self, x=None):
            # sqrt has an infinite derivative at 0: finite loss, infinite gradient
            pyro.factor("f", -torch.sqrt(self.s.abs()))

    def guide(x=None):
        pass

    pyro.enable_validation(False)  # as above: the engine's own guard is under test
    with pytest.raises(NonFiniteLossError, match="gradient became non-finite at step 0"):
        fit(BadGrad(), DATA, guide=guide, num_steps=5)


# -- interruption -------------------------------------------------------------------
def interrupt_at(step, how):
    class Interrupt(Callback):
        def on_step(self, info):
            if info.step == step:
                if how == "signal":
                    os.kill(os.getpid(), signal.SIGINT)
                else:
                    raise KeyboardInterrupt

    return Interrupt()


@pytest.mark.parametrize("how", ["signal", "exception"])
def test_ctrl_c_returns_an_interrupted_result_with_the_last_good_state(tmp_path, how):
    ckpt = tmp_path / "c.pt"
    r = fit(
        small_bpca(), DATA, num_steps=200, seed=2, log_every=50, checkpoint_path=ckpt, callbacks=[interrupt_at(30, how)]
    )
    assert r.interrupted and r.num_steps == 31
    reference = fit(small_bpca(), DATA, num_steps=31, seed=2)
    assert torch.equal(r.losses, reference.losses)
    assert_same_params(params(r), params(reference))
    assert torch.load(ckpt, weights_only=True)["step"] == 31


# -- settings -----------------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"num_steps": 0}, r"'num_steps' argument must be a positive integer or None. Got 0"),
        ({"num_steps": 2.5}, r"'num_steps' .* Got 2.5"),
        ({"num_steps": 10, "num_epochs": 2}, "either 'num_steps' or 'num_epochs'"),
        ({"lr": -1.0}, r"'lr' argument must be a finite positive number. Got -1.0"),
        ({"lr": float("nan")}, r"'lr' .* Got nan"),
        ({"batch_size": 0}, r"'batch_size' .* Got 0"),
        ({"optimizer": "adamx"}, r"'optimizer' argument must be one of 'adam', .* Got 'adamx'"),
        ({"elbo": "elbow"}, r"'elbo' argument must be one of .* Got 'elbow'"),
        ({"device": "tpu"}, r"'device' argument must be .* Got 'tpu'"),
        ({"num_particles": 0}, r"'num_particles' .* Got 0"),
        ({"resume": True}, "'resume' argument needs 'checkpoint_path'"),
        ({"checkpoint_every": 5}, "'checkpoint_every' argument needs 'checkpoint_path'"),
        ({"progress": "yes"}, r"'progress' argument must be True or False. Got 'yes'"),
        ({"seed": -1}, r"'seed' argument must be an integer >= 0. Got -1"),
    ],
)
def test_bad_settings_are_refused_with_a_clear_message(kwargs, message):
    with pytest.raises(ValueError, match=message):
        FitSettings(**kwargs)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message shown when CUDA is absent")
def test_cuda_asked_for_without_cuda():
    with pytest.raises(ValueError, match="CUDA is not available"):
        fit(small_bpca(), DATA, num_steps=1, device="cuda")


def test_batch_size_larger_than_the_data_is_refused():
    with pytest.raises(
        ValueError, match=r"'batch_size' argument must be at most the size of the 'data' plate \(60\). Got 61"
    ):
        fit(small_bpca(), DATA, num_steps=1, batch_size=61)


def test_model_without_default_guide_needs_a_guide():
    def model(x=None):
        pass

    with pytest.raises(TypeError, match="has no default_guide"):
        fit(model, DATA, num_steps=1)


def test_settings_object_and_keywords_do_not_mix():
    with pytest.raises(TypeError, match="either 'settings' or keyword settings"):
        fit(small_bpca(), DATA, settings=FitSettings(num_steps=1), lr=0.1)


def test_restore_leaves_the_global_rng_alone(tmp_path):
    ckpt = tmp_path / "c.pt"
    fit(small_bpca(), DATA, num_steps=5, checkpoint_path=ckpt)
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    restore(small_bpca(), DATA, ckpt)
    assert torch.equal(torch.rand(3), expected)
