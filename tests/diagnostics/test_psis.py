"""PSIS k-hat of the whole guide (Yao et al. 2018): known good and bad guides."""

import math

import numpy as np
import pytest
import torch

from pyrolatent.diagnostics import (
    MIN_DRAWS,
    khat_verdict,
    pareto_khat,
    pareto_smooth,
    psis_diagnostic,
    psis_from_log_weights,
    to_inference_data,
)


def test_exact_guide_has_small_khat(exact_result):
    check = psis_diagnostic(exact_result, num_samples=1000)
    assert check.k_hat < 0.5
    assert check.verdict == "good"
    assert check.ess > 0.95 * check.num_samples  # equal weights up to rounding


def test_bad_guide_has_large_khat(bad_result):
    check = psis_diagnostic(bad_result, num_samples=1000)
    assert check.k_hat > 0.7
    assert check.verdict == "unreliable"
    assert "not to be trusted" in check.message
    assert check.ess < 0.1 * check.num_samples


def test_inference_data_gives_the_same_weights(bad_result):
    idata = to_inference_data(bad_result, num_samples=500, seed=4)
    from_idata = psis_diagnostic(idata)
    from_fit = psis_diagnostic(bad_result, num_samples=500, seed=4)
    np.testing.assert_allclose(from_idata.log_weights, from_fit.log_weights)
    assert from_idata.k_hat == pytest.approx(from_fit.k_hat)


def test_equal_weights_mean_an_exact_guide():
    check = psis_from_log_weights(torch.full((100,), -3.0))
    assert check.k_hat == -math.inf and check.verdict == "good"
    assert check.ess == pytest.approx(100.0)


def test_heavy_tailed_weights_are_flagged():
    generator = torch.Generator().manual_seed(0)
    log_weights = torch.distributions.Pareto(1.0, 1.0).sample((2000,)).log()  # tail index 1: k = 1
    assert psis_from_log_weights(log_weights).k_hat > 0.7
    light = torch.randn(2000, generator=generator) * 0.1
    assert psis_from_log_weights(light).k_hat < 0.5


@pytest.mark.parametrize(
    "k, verdict",
    [(-0.2, "good"), (0.49, "good"), (0.5, "usable"), (0.7, "usable"), (0.71, "unreliable"), (3.0, "unreliable")],
)
def test_verdict_thresholds(k, verdict):
    assert khat_verdict(k)[0] == verdict
    assert f"{k:.2f}" in khat_verdict(k)[1]


def test_to_dict_is_json_friendly(exact_result):
    import json

    d = psis_diagnostic(exact_result, num_samples=100).to_dict()
    assert set(d) == {"k_hat", "verdict", "message", "ess", "ess_raw", "num_samples"}
    json.dumps(d)


@pytest.mark.parametrize(
    "bad, error, match",
    [
        (torch.zeros(1), ValueError, "at least 2 draws"),
        (
            torch.tensor([0.0, 1.0, float("nan"), 2.0, 3.0]),
            ValueError,
            "'log_weights' argument must contain only finite",
        ),
        (torch.zeros(5, 2), ValueError, "'log_weights' argument must have 1 dimension"),
    ],
)
def test_bad_log_weights(bad, error, match):
    with pytest.raises(error, match=match):
        psis_from_log_weights(bad)


def test_bad_source():
    with pytest.raises(TypeError, match="'source' argument must be a FitResult or inference data"):
        psis_diagnostic(42)


def test_too_few_draws_say_so_instead_of_a_verdict():
    # 20 nearly equal log-weights (a perfect guide) leave a tail of 4 draws: no fit
    lw = -3.0 + 1e-6 * torch.randn(20, generator=torch.Generator().manual_seed(0))
    check = psis_from_log_weights(lw)
    assert math.isnan(check.k_hat) and check.verdict == "unknown"
    assert "Too few draws for a tail fit" in check.message and "misses" not in check.message
    assert torch.isnan(pareto_khat(lw))
    assert MIN_DRAWS == 25 and not math.isnan(psis_from_log_weights(torch.randn(MIN_DRAWS)).k_hat)


@pytest.mark.parametrize("tail_index", [0.5, 1.0, 2.0, 4.0])
def test_khat_estimates_the_known_tail_shape(tail_index):
    # weights with a Pareto tail of index a have shape k = 1 / a; 4,000 draws x 200 columns
    g = torch.Generator().manual_seed(1)
    u = torch.rand(4000, 200, generator=g, dtype=torch.double)
    log_w = -torch.log(u) / tail_index  # log of Pareto(1, a) draws
    k = pareto_khat(log_w)
    assert k.shape == (200,)
    # the documented weak prior (10 pseudo-observations at 0.5) on the M = 190 tail draws
    M, true_k = 190, 1.0 / tail_index
    expected = (M * true_k + 10 * 0.5) / (M + 10)
    assert abs(float(k.mean()) - expected) < 0.05
    assert float(k.std()) < 0.1 + 0.1 * true_k


def test_one_psis_for_per_example_and_whole_guide():
    g = torch.Generator().manual_seed(2)
    log_w = torch.randn(500, 7, generator=g, dtype=torch.double) * torch.linspace(0.1, 3.0, 7, dtype=torch.double)
    per_example = pareto_khat(log_w)
    whole = torch.tensor([psis_from_log_weights(log_w[:, j]).k_hat for j in range(7)], dtype=torch.double)
    assert torch.allclose(per_example, whole)
    assert per_example[0] < 0.5 < per_example[-1]  # wider log-weights, heavier tail


def test_smoothing_agrees_with_arviz():
    import arviz as az

    g = torch.Generator().manual_seed(3)
    lw = torch.randn(1000, generator=g, dtype=torch.double) * 1.5
    ours, k = pareto_smooth(lw)
    theirs, k_az = az.psislw(lw.numpy().copy())
    assert k == pytest.approx(float(k_az), abs=0.02)
    theirs = theirs - np.logaddexp.reduce(theirs)
    ess_ours = 1.0 / float(ours.exp().pow(2).sum())
    ess_theirs = 1.0 / float(np.exp(theirs) ** 2 @ np.ones_like(theirs))
    assert ess_ours == pytest.approx(ess_theirs, rel=0.02)
