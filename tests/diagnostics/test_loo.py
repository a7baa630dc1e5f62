"""PSIS-LOO prefers the true number of components (az.loo, az.compare)."""

import numpy as np
import pytest
import torch
from diag_models import make_result

from pyrolatent.data import make_bishop
from pyrolatent.diagnostics import USABLE, compare_models, loo, to_inference_data
from pyrolatent.inference import fit
from pyrolatent.models import BayesianPCA


@pytest.fixture(scope="module")
def bishop_fits():
    """BPCA with the true K = 3 and a clearly wrong K = 1 on Bishop's data (3 strong directions)."""
    data = make_bishop(seed=0)
    settings = dict(num_steps=500, lr=0.05, seed=0)
    return data, {k: fit(BayesianPCA(10, k), data, **settings) for k in (3, 1)}


def test_loo_prefers_true_n_components(bishop_fits):
    data, fits = bishop_fits
    table = compare_models({"K=3": fits[3], "K=1": fits[1]}, num_samples=400)
    assert list(table.index) == ["K=3", "K=1"]
    assert table.loc["K=3", "rank"] == 0
    # The difference is many standard errors, not a coin flip.
    assert table.loc["K=1", "elpd_diff"] > 4 * table.loc["K=1", "dse"]
    assert table.loc["K=3", "weight"] > table.loc["K=1", "weight"]


def test_loo_record(bishop_fits):
    data, fits = bishop_fits
    idata = to_inference_data(fits[3], data, num_samples=400)
    result = loo(idata)
    assert result.n_data_points == data.n_samples and result.n_samples == 400
    assert result.pareto_k.shape == (data.n_samples,)
    assert np.isfinite(result.elpd) and result.se > 0 and result.p > 0
    # a well-specified model fitted well: leaving one point out barely moves the
    # posterior, so (almost) no observation has a Pareto k above 0.7
    assert result.fraction_bad_k < 0.02
    assert result.fraction_bad_k == pytest.approx(float(np.mean(result.pareto_k > USABLE)))
    # From a fit directly, with the same seed, the same answer.
    assert loo(fits[3], data, num_samples=400).elpd == pytest.approx(result.elpd)


def test_compare_needs_two_fits_on_the_same_data(bishop_fits, exact_result):
    _, fits = bishop_fits
    with pytest.raises(ValueError, match="'candidates' argument must be a mapping of at least two"):
        compare_models({"K=3": fits[3]})
    with pytest.raises(ValueError, match="numbers of observations differ"):
        compare_models({"bpca": fits[3], "normal": exact_result}, num_samples=20)
    with pytest.raises(TypeError, match="log_likelihood group"):
        loo(torch.zeros(3))
    small = make_result(exact_result.model, exact_result.guide, exact_result.data["x"][:10])
    assert loo(small, num_samples=50).n_data_points == 10
