"""Tests for the options of the batched GP surrogate and the whole-space feature scaling."""

import numpy as np
import pytest
import torch

from pyrolatent.search import run_search
from pyrolatent.search.embedding import scale_features
from pyrolatent.search.surrogates import BatchedGP, rbf


def _reference_gp(model, x, y, kernel_name):
    """pyro.contrib.gp's GPRegression with the batched GP's fitted hyperparameters, on its inputs and targets."""
    import pyro.contrib.gp as gp

    hp = model.hyperparameters
    d = x.shape[-1]
    ls = hp["lengthscale"][0].expand(d) if hp["lengthscale"].shape[-1] == 1 else hp["lengthscale"][0]
    cls = {"matern52": gp.kernels.Matern52, "rbf": gp.kernels.RBF}[kernel_name]
    kernel = cls(input_dim=d, variance=hp["variance"][0], lengthscale=ls)
    xs = model._scale_inputs(x)[0]
    ys = ((model.transform(y) - model.y_loc_) / model.y_scale_)[0]
    return gp.models.GPRegression(xs, ys, kernel, noise=hp["noise"][0] + model.jitter, jitter=0.0)


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"kernel": "rbf"},
        {"ard": True},
        {"input_scaling": "none"},
        {"noise_variance": 0.05},
        {"output": "rank"},
        {"kernel": "rbf", "ard": False, "input_scaling": "none"},
    ],
)
def test_gp_options_match_pyro_contrib_gp(options):
    # the batched GP's predictions equal pyro.contrib.gp's exact GP with the same kernel,
    # hyperparameters, inputs and targets (to 1e-6), for every option
    generator = torch.Generator().manual_seed(0)
    x = 3 * torch.randn(1, 15, 3, generator=generator, dtype=torch.float64)
    y = torch.randn(1, 15, generator=generator, dtype=torch.float64)
    model = BatchedGP(num_steps=20, **options).fit(x, y)
    reference = _reference_gp(model, x, y, options.get("kernel", "matern52"))
    xt = torch.randn(1, 7, 3, generator=generator, dtype=torch.float64)
    mean, var = model.predict(xt)
    with torch.no_grad():
        ref_mean, ref_var = reference(model._scale_inputs(xt)[0], full_cov=False)
    np.testing.assert_allclose((mean[0] - model.y_loc_[0]) / model.y_scale_[0], ref_mean, atol=1e-6)
    np.testing.assert_allclose(var[0] / model.y_scale_[0] ** 2, ref_var, atol=1e-6)


def test_gp_shapes_of_iso_and_fixed_noise():
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(2, 10, 4, generator=generator, dtype=torch.float64)
    y = 10 * torch.randn(2, 10, generator=generator, dtype=torch.float64)
    model = BatchedGP(num_steps=5, ard=False, noise_variance=0.09).fit(x, y)
    hp = model.hyperparameters
    assert hp["lengthscale"].shape == (2, 1)
    # a fixed noise of 0.09 in the units of y is 0.09 / sd(y)^2 on the standardised scale
    np.testing.assert_allclose(hp["noise"], 0.09 / y.std(1) ** 2, rtol=1e-12)


def test_rbf_kernel_by_hand():
    # k(x, z) = v exp(-|x - z|^2 / (2 l^2)): points 0 and (3, 4) at l = 5, v = 2 give 2 exp(-1/2)
    x = torch.zeros(1, 1, 2, dtype=torch.float64)
    z = torch.tensor([[[3.0, 4.0]]], dtype=torch.float64)
    k = rbf(x, z, torch.full((1, 1, 2), 5.0, dtype=torch.float64), torch.full((1, 1, 1), 2.0, dtype=torch.float64))
    assert float(k) == pytest.approx(2 * np.exp(-0.5), rel=1e-12)


def test_rank_output_warps_by_normal_scores():
    # y = (3, 1, 2): ranks 3, 1, 2 of 3 -> Phi^-1(5/6), Phi^-1(1/6), Phi^-1(1/2) = 0.967422, -0.967422, 0;
    # a value between the two smallest interpolates linearly, values beyond the ends stay at the end scores
    x = torch.tensor([[[0.0], [1.0], [2.0]]], dtype=torch.float64)
    y = torch.tensor([[3.0, 1.0, 2.0]], dtype=torch.float64)
    model = BatchedGP(num_steps=1, output="rank").fit(x, y)
    got = model.transform(torch.tensor([[3.0, 1.0, 2.0, 1.5, 10.0, -5.0]], dtype=torch.float64))
    z = 0.9674215661017010
    np.testing.assert_allclose(got[0], [z, -z, 0.0, -z / 2, z, -z], atol=1e-9)


def test_gp_option_errors():
    with pytest.raises(ValueError, match="'kernel' argument of BatchedGP"):
        BatchedGP(kernel="linear")
    with pytest.raises(ValueError, match="'input_scaling' argument of BatchedGP"):
        BatchedGP(input_scaling="global")
    with pytest.raises(ValueError, match="'noise_variance'.*output='standardize'"):
        BatchedGP(output="rank", noise_variance=0.09)
    with pytest.raises(TypeError, match="'ard'"):
        BatchedGP(ard="yes")


def test_scale_features_by_hand():
    # rows (1, 0), (-1, 0), (0, 2), (0, -2): mean 0, covariance diag(2/3, 8/3) (ddof 1)
    x = torch.tensor([[1.0, 0.0], [-1.0, 0.0], [0.0, 2.0], [0.0, -2.0]], dtype=torch.float64)
    std = scale_features(x, "standardize")
    np.testing.assert_allclose(std, x / torch.tensor([(2 / 3) ** 0.5, (8 / 3) ** 0.5], dtype=torch.float64))
    white = scale_features(x, "whiten")
    # principal axes, largest variance first: column 0 is +-x2 / sqrt(8/3), column 1 is +-x1 / sqrt(2/3)
    np.testing.assert_allclose(white[:, 0].abs(), x[:, 1].abs() / (8 / 3) ** 0.5, atol=1e-12)
    np.testing.assert_allclose(white[:, 1].abs(), x[:, 0].abs() / (2 / 3) ** 0.5, atol=1e-12)
    assert scale_features(x, "none") is x


def test_whitened_features_have_identity_covariance():
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(500, 4, generator=generator, dtype=torch.float64) @ torch.randn(
        4, 4, generator=generator, dtype=torch.float64
    )
    white = scale_features(x, "whiten")
    np.testing.assert_allclose(torch.cov(white.T), torch.eye(4, dtype=torch.float64), atol=1e-10)
    with pytest.raises(ValueError, match="'how' argument of scale_features"):
        scale_features(x, "pca")


def test_bo_with_new_options_runs_and_records_them():
    generator = torch.Generator().manual_seed(3)
    accuracy = torch.rand(200, generator=generator, dtype=torch.float64)
    features = torch.randn(200, 3, generator=generator, dtype=torch.float64)
    result = run_search(
        "bo-gp",
        accuracy,
        features=features,
        runs=4,
        queries=20,
        noise=0.1,
        n_local=0,
        feature_scaling="whiten",
        surrogate_options={"output": "rank", "kernel": "rbf", "ard": False, "input_scaling": "none"},
    )
    assert result.final.shape == (4,)
    assert result.info["feature_scaling"] == "whiten"
