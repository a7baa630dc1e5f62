"""Restarts as chains: agreeing fits pass, a fit stuck elsewhere is flagged."""

import numpy as np
import pytest
import torch
from diag_models import NormalMean
from pyro import poutine
from pyro.infer.autoguide import AutoNormal

from pyrolatent.diagnostics import draw_quantities, fit_restarts, restart_diagnostics
from pyrolatent.inference import fit

SETTINGS = dict(num_steps=300, lr=0.05, num_particles=16, vectorize_particles=True)


def mean_quantities(model, guide):
    return {"mu": poutine.trace(guide).get_trace().nodes["mu"]["value"]}


@pytest.fixture(scope="module")
def restarts():
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(50, 2, generator=generator) + torch.tensor([1.0, -0.5])
    fits = fit_restarts(NormalMean, x, 3, seeds=[0, 1, 2], make_guide=AutoNormal, **SETTINGS)
    model = NormalMean()
    stuck = fit(model, x, guide=AutoNormal(model), num_steps=3, lr=0.05, seed=3)  # far from the optimum
    return fits, stuck


def test_agreeing_restarts(restarts):
    fits, _ = restarts
    assert [f.settings.seed for f in fits] == [0, 1, 2]
    diag = restart_diagnostics(fits, mean_quantities, num_samples=200)
    assert diag.num_restarts == 3
    assert diag.draws["mu"].shape == (3, 200, 2)
    assert diag.max_rhat < 1.05 and diag.agree
    table = diag.table()
    assert list(table.index) == ["mu"] and bool(table.loc["mu", "agree"])
    assert table.loc["mu", "min_ess"] > 100
    assert "agree" in diag.summary()


def test_a_stuck_restart_is_detected(restarts):
    fits, stuck = restarts
    diag = restart_diagnostics(fits + [stuck], mean_quantities, num_samples=200)
    assert diag.max_rhat > 1.5
    assert not diag.agree and "DISAGREE" in diag.summary()
    assert diag.seeds == [0, 1, 2, 3]


def test_draw_quantities_stacks_draws_and_forks_the_rng(restarts):
    fits, _ = restarts
    state = torch.get_rng_state()
    a = draw_quantities(fits[0].model, fits[0].guide, mean_quantities, 10, seed=5)
    assert torch.equal(torch.get_rng_state(), state)
    b = draw_quantities(fits[0].model, fits[0].guide, mean_quantities, 10, seed=5)
    assert a["mu"].shape == (10, 2)
    np.testing.assert_array_equal(a["mu"], b["mu"])


def test_bad_arguments(restarts):
    fits, _ = restarts
    with pytest.raises(ValueError, match="'results' argument must hold at least 2 fits"):
        restart_diagnostics(fits[:1], mean_quantities)
    with pytest.raises(TypeError, match="'quantities' argument must be callable"):
        restart_diagnostics(fits, "mu")
    with pytest.raises(TypeError, match="must return a non-empty dict"):
        restart_diagnostics(fits, lambda m, g: 3.0, num_samples=4)
    with pytest.raises(ValueError, match="'threshold' argument must be a finite positive number"):
        restart_diagnostics(fits, mean_quantities, threshold=-1.0)
    with pytest.raises(ValueError, match="'num_restarts' argument must be an integer >= 2"):
        fit_restarts(NormalMean, torch.zeros(3, 2), 1)
    with pytest.raises(ValueError, match="'seeds' argument must hold 2 distinct seeds"):
        fit_restarts(NormalMean, torch.zeros(3, 2), 2, seeds=[1, 1])
    with pytest.raises(TypeError, match="Pass the restarts' seeds as 'seeds'"):
        fit_restarts(NormalMean, torch.zeros(3, 2), 2, seed=4)
