"""No surprises for a Pyro user: importing changes no setting, seeded fits give the
caller's random generators back, parameters stay out of the global store."""

import random
import subprocess
import sys

import numpy as np
import pyro
import torch

from pyrolatent.data import make_bishop
from pyrolatent.inference import fit, seeded
from pyrolatent.models import VAE, BayesianPCA


def test_importing_pyrolatent_changes_no_pyro_setting():
    code = (
        "import pyro; before = dict(pyro.settings.get());"
        "import pyrolatent, pyrolatent.models, pyrolatent.inference, pyrolatent.diagnostics, pyrolatent.reports;"
        "import pyrolatent.cli; after = dict(pyro.settings.get());"
        "print(before == after, after['module_local_params'])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["True", "False"]


def _draws():
    return torch.rand(3), np.random.rand(3), [random.random() for _ in range(3)]


def test_a_seeded_fit_leaves_the_callers_generators_as_they_were():
    data = make_bishop(n_samples=30, seed=0)
    streams = []
    for caller_seed in (1, 2):
        pyro.set_rng_seed(caller_seed)
        model = BayesianPCA(10, 3)
        fit(model, data, num_steps=5, seed=0)
        streams.append(_draws())
        pyro.set_rng_seed(caller_seed)
        BayesianPCA(10, 3)
        expected = _draws()
        assert all(np.allclose(np.asarray(a), np.asarray(b)) for a, b in zip(streams[-1], expected, strict=True))
    # two callers with different seeds keep different streams after the same seeded fit
    assert not torch.equal(streams[0][0], streams[1][0])


def test_a_model_built_under_seeded_has_the_same_weights_and_the_caller_keeps_its_stream():
    pyro.set_rng_seed(5)
    with seeded(0):
        first = VAE(10, 2, hidden=(8,), likelihood="gaussian")
    after_first = _draws()
    pyro.set_rng_seed(5)
    with seeded(0):
        second = VAE(10, 2, hidden=(8,), likelihood="gaussian")
    after_second = _draws()
    for (name, a), (_, b) in zip(first.state_dict().items(), second.state_dict().items(), strict=True):
        assert torch.equal(a, b), name
    assert all(np.allclose(np.asarray(a), np.asarray(b)) for a, b in zip(after_first, after_second, strict=True))
    pyro.set_rng_seed(5)
    expected = _draws()  # the stream the caller would have had without building anything
    assert all(np.allclose(np.asarray(a), np.asarray(b)) for a, b in zip(after_first, expected, strict=True))
    third = VAE(10, 2, hidden=(8,), likelihood="gaussian")  # unseeded: other weights
    assert not torch.equal(
        first.state_dict()[next(iter(first.state_dict()))], third.state_dict()[next(iter(third.state_dict()))]
    )


def test_models_used_outside_fit_keep_their_parameters_local():
    data = make_bishop(n_samples=30, seed=0)
    vae = VAE(10, 2, hidden=(8,), likelihood="gaussian")
    result = fit(vae, data, num_steps=3)
    vae.encode(data.x)
    vae.log_likelihood(data.x[:5], num_samples=10)
    result.model.sample(3)
    assert len(pyro.get_param_store()) == 0
    assert pyro.settings.get("module_local_params") is False
