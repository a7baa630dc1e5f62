"""Bayesian PCA: ARD pruning on Bishop's data, agreement with PCA, priors, helpers."""

import numpy as np
import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro.nn import PyroSample
from pyro.poutine.util import site_is_subsample
from scipy.linalg import subspace_angles
from sklearn.decomposition import PCA

from pyrolatent.data import load_digits, make_bishop, make_bishop_variational
from pyrolatent.inference import fit
from pyrolatent.models import BayesianPCA, BPCAGuide

# Settings that separate survivors from pruned components on Bishop's data
# (see the closing note of the Foundation issue for the margins measured).
STEPS, LR = 2000, 0.03


@pytest.fixture
def fast():
    """Statistical acceptance fits run with Pyro's validation off: it doubles the
    cost per step, and every site of the model is validated by the other tests."""
    pyro.enable_validation(False)
    yield  # conftest's autouse fixture turns validation back on


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize(
    "make, n_true",
    [(make_bishop, 3), (make_bishop_variational, 4)],
    ids=["stds 1x3 + 0.5x7", "stds 5,4,3,2 + 1x6"],
)
def test_ard_keeps_exactly_the_true_components(fast, make, n_true, seed):
    data = make(seed=seed)
    assert data.truth["n_components"] == n_true
    model = BayesianPCA(n_features=10, n_components=9)
    result = fit(model, data, num_steps=STEPS, lr=LR, seed=seed)
    post = model.posterior(result.guide)
    assert post.n_effective == n_true
    # the noise variance is recovered within 15% (300 points, 7 or 6 noise dims)
    assert post.noise_variance.item() == pytest.approx(data.truth["noise_variance"], rel=0.15)
    # the surviving components span the true signal subspace
    signal = data.truth["rotation"][:, :n_true].float()
    angles = np.degrees(subspace_angles(post.components.T.numpy(), signal.numpy()))
    assert angles.max() < 20


@pytest.mark.slow
def test_principal_subspace_on_digits_agrees_with_pca(fast):
    """The ML solution of probabilistic PCA spans the top-K principal subspace
    (Tipping & Bishop 1999); the ARD prior only shrinks it a little. Threshold:
    every principal angle below 15 degrees (two random 10-dimensional subspaces
    of R^64 have their largest angle near 90 degrees). Measured: 2.8-9.2."""
    data = load_digits()
    k = 10
    model = BayesianPCA(n_features=64, n_components=k)
    result = fit(model, data, num_steps=1500, lr=0.03, seed=0)
    post = model.posterior(result.guide)
    pca = PCA(n_components=k).fit(data.x.numpy())
    angles = np.degrees(subspace_angles(post.W.T.numpy(), pca.components_.T))
    assert angles.max() < 15


def test_collapsed_and_explicit_forms_agree(fast):
    data = make_bishop(seed=0)
    noise = {}
    for collapsed in (True, False):
        model = BayesianPCA(10, 9, collapsed=collapsed)
        result = fit(model, data, num_steps=800, lr=0.03, seed=0)
        noise[collapsed] = model.posterior(result.guide, x=None if collapsed else data.x).noise_variance.item()
        assert isinstance(result.guide, BPCAGuide) != collapsed
    assert noise[True] == pytest.approx(noise[False], rel=0.1)


def test_fitted_model_reproduces_the_data_covariance(fast):
    data = make_bishop(seed=1)
    model = BayesianPCA(10, 9)
    post = model.posterior(fit(model, data, num_steps=STEPS, lr=LR, seed=1).guide)
    samples = post.sample(20000, generator=torch.Generator().manual_seed(0))
    cov = torch.cov(samples.T)
    truth = data.truth["covariance"].float()
    # 300 training points: the fitted covariance is within 0.2 of the truth in every entry
    assert (cov - truth).abs().max() < 0.2
    # reconstruction through the 3 surviving components leaves about the noise
    resid = data.x - post.reconstruct(data.x)
    assert resid.pow(2).mean().item() == pytest.approx(0.25 * 7 / 10, rel=0.25)
    z = post.transform(data.x)
    assert z.shape == (300, 9)


def test_prior_can_be_sampled_without_data():
    model = BayesianPCA(5, 3)
    assert model().shape == (1, 5)
    assert model(n_samples=7).shape == (7, 5)
    explicit = BayesianPCA(5, 3, collapsed=False)
    trace = pyro.poutine.trace(explicit).get_trace(n_samples=4)
    assert trace.nodes["z"]["value"].shape == (4, 3)
    assert trace.nodes["x"]["value"].shape == (4, 5)


def test_priors_are_swappable_in_one_line():
    narrow = BayesianPCA(10, 4, alpha_prior=dist.Gamma(1.0, 1.0))
    alpha = pyro.poutine.trace(narrow).get_trace().nodes["alpha"]["fn"]
    assert torch.allclose(alpha.base_dist.concentration, torch.ones(4))

    model = BayesianPCA(10, 4)
    model.tau = PyroSample(dist.LogNormal(0.0, 1.0))  # reassign the attribute
    trace = pyro.poutine.trace(model).get_trace()
    assert isinstance(trace.nodes["tau"]["fn"], dist.LogNormal)
    result = fit(model, make_bishop(n_samples=50), num_steps=20)
    assert torch.isfinite(result.losses).all()


def test_sample_sites_are_the_papers_symbols():
    data = make_bishop(n_samples=20)
    model = BayesianPCA(10, 4, collapsed=False)
    trace = pyro.poutine.trace(model).get_trace(data.x)
    latent = {
        n for n, s in trace.nodes.items() if s["type"] == "sample" and not s["is_observed"] and not site_is_subsample(s)
    }
    assert latent == {"alpha", "W", "mu", "tau", "z"}
    assert trace.nodes["x"]["is_observed"]
    assert trace.nodes["W"]["value"].shape == (4, 10)


def test_model_broadcasts_a_sample_dimension_on_the_left():
    data = make_bishop(n_samples=20)
    model = BayesianPCA(10, 4)
    with pyro.plate("draws", 6, dim=-2):
        trace = pyro.poutine.trace(model).get_trace(data.x)
    trace.compute_log_prob()
    assert trace.nodes["x"]["log_prob"].shape == (6, 20)
    assert trace.nodes["W"]["value"].shape == (6, 1, 4, 10)


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (
            {"n_features": 0, "n_components": 2},
            ValueError,
            r"'n_features' argument(?: of \w+)? must be a positive integer. Got 0",
        ),
        ({"n_features": 5, "n_components": 2.0}, ValueError, r"'n_components' .* Got 2.0"),
        ({"n_features": 5, "n_components": 2, "collapsed": "no"}, ValueError, r"'collapsed' .* Got 'no'"),
        ({"n_features": 5, "n_components": 2, "alpha_prior": 1.0}, TypeError, r"'alpha_prior' .* Got float"),
        (
            {"n_features": 5, "n_components": 2, "alpha_prior": dist.Gamma(torch.ones(2), 1.0)},
            ValueError,
            r"'alpha_prior' argument(?: of \w+)? must be a scalar distribution .* batch shape \(2,\)",
        ),
        (
            {"n_features": 5, "n_components": 2, "tau_prior": dist.Normal(0.0, 1.0)},
            ValueError,
            r"'tau_prior' argument(?: of \w+)? must have support on the positive reals",
        ),
        ({"n_features": 5, "n_components": 2, "mu_scale": 0.0}, ValueError, r"'mu_scale' .* Got 0.0"),
    ],
)
def test_bad_constructor_arguments(kwargs, error, message):
    with pytest.raises(error, match=message):
        BayesianPCA(**kwargs)


def test_data_of_the_wrong_width_is_refused():
    model = BayesianPCA(5, 2)
    with pytest.raises(
        ValueError, match=r"'x' argument(?: of \w+)? must have 5 columns \(n_features\); got shape \(4, 3\)"
    ):
        model(torch.zeros(4, 3))
    with pytest.raises(ValueError, match=r"'x' argument(?: of \w+)? must have 2 dimension\(s\); got 1"):
        model(torch.zeros(4))


def test_moving_the_model_moves_its_prior_distributions():
    """``.to()`` reaches the tensors inside PyroSample priors (here a dtype change
    stands in for a device move, which this CPU machine cannot show)."""
    model = BayesianPCA(5, 2, alpha_prior=dist.Gamma(torch.tensor(2.0), torch.tensor(3.0))).to(torch.float64)
    trace = pyro.poutine.trace(model).get_trace(torch.zeros(3, 5, dtype=torch.float64))
    for name in ("alpha", "W", "mu", "tau"):
        assert trace.nodes[name]["value"].dtype == torch.float64, name
    trace.compute_log_prob()
    assert trace.nodes["x"]["log_prob"].dtype == torch.float64


@pytest.mark.parametrize("collapsed", [True, False])
def test_vectorised_particles_match_one_particle_at_a_time(collapsed):
    """The model broadcasts a particle dimension on the left: the log-likelihood
    of each vectorised particle equals that of the model run on its draws alone."""
    data = make_bishop(n_samples=30, seed=2)
    model = BayesianPCA(10, 3, collapsed=collapsed)
    guide = model.default_guide()
    with pyro.plate("particles", 4, dim=-2):
        trace = pyro.poutine.trace(guide).get_trace(x=data.x)
        model_trace = pyro.poutine.trace(pyro.poutine.replay(model, trace=trace)).get_trace(x=data.x)
    model_trace.compute_log_prob()
    vectorised = model_trace.nodes["x"]["log_prob"]
    assert vectorised.shape == (4, 30)
    sites = ["alpha", "W", "mu", "tau"] + ([] if collapsed else ["z"])
    for s in range(4):
        draws = {name: trace.nodes[name]["value"][s] for name in sites}
        draws = {name: (v if name == "z" else v.squeeze(0)) for name, v in draws.items()}
        single = pyro.poutine.trace(pyro.poutine.condition(model, data=draws)).get_trace(x=data.x)
        single.compute_log_prob()
        assert torch.allclose(single.nodes["x"]["log_prob"], vectorised[s], rtol=1e-5, atol=1e-4)
