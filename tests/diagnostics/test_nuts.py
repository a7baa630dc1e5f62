"""NUTS reference: the conjugate model, and Bayesian PCA on Bishop's data against SVI."""

import numpy as np
import pyro
import pytest
import torch
from diag_models import NormalMean, closed_form
from pyro import poutine

from pyrolatent.data import make_bishop
from pyrolatent.diagnostics import NUTSComparison, ReplayGuide, compare_to_nuts, run_nuts
from pyrolatent.inference import fit
from pyrolatent.models import BayesianPCA


def mu_quantity(model, guide):
    return {"mu": poutine.trace(guide).get_trace().nodes["mu"]["value"]}


def test_replay_guide_returns_draws_in_order():
    guide = ReplayGuide({"a": torch.arange(3.0), "b": torch.ones(3, 2)})
    first = poutine.trace(guide).get_trace()
    assert float(first.nodes["a"]["value"]) == 0.0 and first.nodes["b"]["value"].shape == (2,)
    assert float(guide()["a"]) == 1.0 and float(guide()["a"]) == 2.0 and float(guide()["a"]) == 0.0


def test_nuts_on_conjugate_model_matches_closed_form(exact_result, normal_data):
    """200 draws: means within 0.35 posterior sd, sds within 30% (about 3 Monte-Carlo errors)."""
    loc, scale, _ = closed_form(normal_data)
    nuts = run_nuts(NormalMean(), normal_data, num_warmup=100, num_samples=200, seed=0)
    assert nuts.samples["mu"].shape == (200, 2) and nuts.divergences == 0
    mu = nuts.samples["mu"].double()
    np.testing.assert_allclose(mu.mean(0), loc, atol=0.35 * scale)
    np.testing.assert_allclose(mu.std(0), scale, rtol=0.3)
    comparison = compare_to_nuts(exact_result, nuts, mu_quantity)
    table = comparison.table()
    assert list(table.index) == ["mu[0]", "mu[1]"]
    assert (table["z"].abs() < 0.5).all()
    assert ((table["sd_ratio"] > 0.7) & (table["sd_ratio"] < 1.3)).all()
    assert set(nuts.to_dataset().data_vars) == {"mu"}


def test_run_nuts_leaves_global_rng_alone(normal_data):
    state = torch.get_rng_state()
    run_nuts(NormalMean(), normal_data, num_warmup=5, num_samples=5, seed=1)
    assert torch.equal(torch.get_rng_state(), state)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"num_warmup": 0}, "'num_warmup' argument must be a positive integer"),
        ({"num_samples": 2}, "'num_samples' argument must be an integer >= 4"),
        ({"target_accept_prob": 1.5}, "'target_accept_prob' argument must be a number in \\[0, 1\\]"),
        ({"init_values": [1.0]}, "'init_values' argument must be a dict"),
    ],
)
def test_bad_nuts_arguments(normal_data, kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        run_nuts(NormalMean(), normal_data, **kwargs)


def test_compare_needs_a_nuts_result(exact_result):
    with pytest.raises(TypeError, match="'nuts' argument must be a NUTSResult"):
        compare_to_nuts(exact_result, {"mu": torch.zeros(3, 2)}, mu_quantity)


@pytest.mark.slow
def test_bpca_svi_agrees_with_nuts_on_bishop_data():
    """Collapsed BPCA, K = 9, on Bishop's data (3 directions over noise variance 0.25).

    NUTS on the raw ARD model mixes slowly along the rotations of W, and the
    exact posterior does not switch the spare columns fully off: NUTS gives the
    4th column a relevance ||W_4||^2 of about 0.5-0.9 noise variances (and about
    a 40% posterior probability of exceeding one), where the mean-field guide
    puts it at 0.3 with probability 0. So a component *survives* here when its
    relevance is at least the noise variance with posterior probability above
    1/2; the three real directions pass with probability ~1 under both methods.
    One short chain (150 + 150 draws, trees of depth <= 5) is enough for that.
    Noise variance: the two posterior means agree within 2 NUTS posterior sds
    (about 8%); the mean-field optimum may sit up to about one sd above NUTS, as
    its noise absorbs the variance of the columns it switches off.
    """
    data = make_bishop(seed=0)
    with pyro.validation_enabled(False):
        result = fit(BayesianPCA(10, 9), data, num_steps=2000, lr=0.03, seed=0)
        nuts = run_nuts(
            BayesianPCA(10, 9), data, num_warmup=150, num_samples=150, max_tree_depth=5, jit_compile=True, seed=0
        )
    comparison = compare_to_nuts(result, nuts)  # BayesianPCA.identifiable_quantities
    assert isinstance(comparison, NUTSComparison)
    assert nuts.divergences <= 0.05 * nuts.num_samples

    survivors = {}
    for method, draws in (("svi", comparison.svi_draws), ("nuts", comparison.nuts_draws)):
        snr = draws["relevance"] / draws["noise_variance"][:, None]  # per draw, sorted components
        survivors[method] = int(((snr >= 1.0).mean(0) > 0.5).sum())
    assert survivors == {"svi": data.truth["n_components"], "nuts": data.truth["n_components"]}

    row = comparison.table().loc["noise_variance"]
    assert abs(row["svi_mean"] - row["nuts_mean"]) < 2.0 * row["nuts_sd"]
    assert abs(row["nuts_mean"] - data.truth["noise_variance"]) < 0.1 * data.truth["noise_variance"]
