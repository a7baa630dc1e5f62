"""PSIS k-hat of the whole guide (Yao et al. 2018): known good and bad guides."""

import math

import numpy as np
import pytest
import torch

from pyrolatent.diagnostics import khat_verdict, psis_diagnostic, psis_from_log_weights, to_inference_data


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
        (torch.zeros(3), ValueError, "at least 5 draws"),
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
