"""Tests for the synthetic low-rank Gaussian data with known truth."""

import pytest
import torch

from pyrolatent.data import make_bishop, make_bishop_variational, make_low_rank, random_rotation


def _sample_covariance(x):
    x = x.double()
    centred = x - x.mean(0)
    return centred.T @ centred / (x.shape[0] - 1)


def test_default_is_bishops_check():
    ds = make_low_rank()
    assert (ds.n_samples, ds.n_features) == (300, 10)
    assert ds.name == "low_rank" and ds.y is None
    truth = ds.truth
    assert truth["stds"].tolist() == [1.0] * 3 + [0.5] * 7
    assert truth["n_components"] == 3
    assert truth["noise_variance"] == pytest.approx(0.25)
    assert set(truth) == {"stds", "rotation", "mean", "covariance", "n_components", "noise_variance"}


@pytest.mark.parametrize(
    "make, name, stds, n_components, noise_variance",
    [
        (make_bishop, "bishop", [1.0] * 3 + [0.5] * 7, 3, 0.25),
        (make_bishop_variational, "bishop_variational", [5.0, 4.0, 3.0, 2.0] + [1.0] * 6, 4, 1.0),
    ],
)
def test_named_sets(make, name, stds, n_components, noise_variance):
    ds = make(n_samples=50, seed=2)
    assert ds.name == name and ds.x.shape == (50, 10)
    assert ds.truth["stds"].tolist() == stds
    assert ds.truth["n_components"] == n_components
    assert ds.truth["noise_variance"] == pytest.approx(noise_variance)


@pytest.mark.parametrize("rotate", [True, False])
def test_sample_covariance_approaches_the_truth(rotate):
    mean = torch.linspace(-2.0, 2.0, 10)
    ds = make_low_rank(20_000, [5.0, 4.0, 3.0, 2.0] + [1.0] * 6, seed=0, rotate=rotate, mean=mean)
    truth = ds.truth["covariance"].double()
    torch.testing.assert_close(truth, truth.T)
    # An entry of a sample covariance has standard error sqrt((S_ii S_jj + S_ij^2) / n),
    # at most 25 * sqrt(2 / 20,000) = 0.25 here; allow 4 standard errors.
    error = (_sample_covariance(ds.x) - truth).abs().max()
    assert error < 1.0
    # The eigenvalues are the variances, whatever the rotation.
    eigenvalues = torch.linalg.eigvalsh(_sample_covariance(ds.x)).flip(0)
    torch.testing.assert_close(eigenvalues, ds.truth["stds"].double() ** 2, atol=0.6, rtol=0.05)
    torch.testing.assert_close(ds.x.double().mean(0), mean.double(), atol=0.1, rtol=0)


def test_bishop_covariance_is_tight():
    ds = make_bishop(n_samples=20_000, seed=5)
    error = (_sample_covariance(ds.x) - ds.truth["covariance"].double()).abs().max()
    assert error < 0.05  # standard error of each entry is at most 1.0 * sqrt(2 / 20,000) = 0.01


def test_covariance_formula():
    ds = make_low_rank(10, [3.0, 1.0, 1.0], seed=4)
    r, s = ds.truth["rotation"], ds.truth["stds"]
    torch.testing.assert_close(ds.truth["covariance"], r @ torch.diag(s**2) @ r.T)


def test_rotation_is_orthogonal_and_seeded():
    ds = make_low_rank(5, seed=11)
    r = ds.truth["rotation"]
    torch.testing.assert_close(r @ r.T, torch.eye(10), atol=1e-5, rtol=0)
    assert not torch.allclose(r.abs(), torch.eye(10))  # a genuine rotation, not the identity
    assert torch.equal(make_low_rank(400, seed=11).truth["rotation"], r)
    g1, g2 = torch.Generator().manual_seed(1), torch.Generator().manual_seed(1)
    q = random_rotation(6, g1)
    torch.testing.assert_close(q.T @ q, torch.eye(6, dtype=torch.float64))
    torch.testing.assert_close(random_rotation(6, g2), q)


def test_no_rotation_keeps_coordinate_axes():
    plain = make_low_rank(50, [2.0, 1.0], seed=3, rotate=False)
    rotated = make_low_rank(50, [2.0, 1.0], seed=3)
    assert torch.equal(plain.truth["rotation"], torch.eye(2))
    # Same latent draws: rotating the unrotated data reproduces the rotated data.
    torch.testing.assert_close(plain.x @ rotated.truth["rotation"].T, rotated.x, atol=1e-5, rtol=1e-5)


def test_same_seed_same_data_and_global_rng_untouched():
    torch.manual_seed(42)
    expected = torch.rand(4)
    torch.manual_seed(42)
    a = make_low_rank(100, seed=9)
    b = make_low_rank(100, seed=9)
    torch.testing.assert_close(torch.rand(4), expected)
    assert torch.equal(a.x, b.x)
    assert not torch.equal(a.x, make_low_rank(100, seed=10).x)


def test_all_equal_stds_have_no_components():
    ds = make_low_rank(10, [2.0, 2.0], seed=0)
    assert ds.truth["n_components"] == 0
    assert ds.truth["noise_variance"] == pytest.approx(4.0)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"n_samples": 0}, ValueError, r"'n_samples' argument must be a positive integer. Got 0 instead"),
        ({"stds": [1.0, 0.0]}, ValueError, r"'stds' argument must hold positive standard deviations; got 0 at index 1"),
        (
            {"stds": [1.0, float("nan")]},
            ValueError,
            r"'stds' argument must contain only finite values; found NaN at row 1",
        ),
        ({"stds": []}, ValueError, r"'stds' argument must not be empty"),
        ({"stds": [[1.0]]}, ValueError, r"'stds' argument must have 1 dimension\(s\); got 2"),
        (
            {"mean": [0.0, 1.0]},
            ValueError,
            r"'mean' argument must have one entry per feature \(10, the length of 'stds'\); got 2",
        ),
        ({"seed": -3}, ValueError, r"'seed' argument must be an integer >= 0. Got -3 instead"),
        ({"rotate": "yes"}, TypeError, r"'rotate' argument must be True or False; got 'yes'"),
    ],
    ids=["n-samples", "zero-std", "nan-std", "empty-stds", "stds-rank", "mean-length", "seed", "rotate"],
)
def test_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        make_low_rank(**kwargs)
