"""Tests of the VAE: objectives, importance-weighted log-likelihood, priors,
likelihoods, guides, input checks, pictures, CLI and the engine's common contract.

Statistical tests use fixed seeds (conftest seeds every test) and state their
tolerance. Everything runs on one CPU thread with small networks.
"""

import copy
import io
import json
import math
import pickle
import warnings
from types import SimpleNamespace

import numpy as np
import pyro
import pyro.distributions as dist
import pytest
import torch
from matplotlib.figure import Figure
from pyro import poutine
from pyro.infer import Trace_ELBO, TraceMeanField_ELBO
from pyro.infer.autoguide import AutoNormal
from pyro.poutine.util import site_is_subsample
from torch import nn

from pyrolatent.cli import main
from pyrolatent.components.nets import MLP, ConvDecoder, ConvTrunk
from pyrolatent.data import binarize, load_digits
from pyrolatent.diagnostics import pareto_khat
from pyrolatent.inference import ImportanceWeightedELBO, fit, restore
from pyrolatent.models import (
    VAE,
    AmortizedNormalGuide,
    GaussianLikelihood,
    LowRankNormalGuide,
    MixturePrior,
    VampPrior,
)
from pyrolatent.reports import model_figures


@pytest.fixture(scope="module")
def digits():
    """Binarised digits, (train, test) split fixed by seed."""
    return binarize(load_digits(), seed=0).split(0.1, seed=0)


@pytest.fixture(scope="module")
def grey():
    """Grey-level digits in [0, 1] (first 256 rows)."""
    return load_digits().x[:256]


def small_vae(n_components=2, **kwargs):
    kwargs.setdefault("hidden", (32,))
    return VAE(64, n_components, image_shape=(8, 8), **kwargs)


@pytest.fixture(scope="module")
def fitted(digits):
    """A VAE fitted for 1,000 minibatch steps on binarised digits."""
    pyro.set_rng_seed(0)
    vae = small_vae(hidden=(64,))
    fit(vae, digits[0], num_steps=1000, batch_size=128, lr=3e-3, seed=0)
    return vae


# -- objectives ------------------------------------------------------------------------------------


def test_analytic_kl_elbo_equals_monte_carlo_elbo_in_expectation(fitted, digits):
    """TraceMeanField_ELBO (closed-form KL) and the Monte-Carlo ELBO estimate the same number.

    Both are averaged over many draws; they must agree within 4 combined standard errors.
    (Near the optimum the Monte-Carlo form can have the *smaller* variance: its KL term
    is correlated with the reconstruction term, so no ordering of the variances is asserted.)
    """
    x = digits[1].x[:50]
    guide = fitted.default_guide()
    with torch.no_grad():
        analytic = torch.stack(
            [
                -TraceMeanField_ELBO(num_particles=200, vectorize_particles=True).differentiable_loss(
                    fitted, guide, x=x
                )
                for _ in range(20)
            ]
        )
        monte_carlo = torch.stack(
            [
                -Trace_ELBO(num_particles=200, vectorize_particles=True).differentiable_loss(fitted, guide, x=x)
                for _ in range(20)
            ]
        )
    per_draw = fitted.log_weights(x, num_samples=4000).sum(1)  # our own MC ELBO, one value per draw
    se_a = analytic.std() / math.sqrt(len(analytic))
    se_mc = monte_carlo.std() / math.sqrt(len(monte_carlo))
    se_ours = per_draw.std() / math.sqrt(len(per_draw))
    assert abs(analytic.mean() - monte_carlo.mean()) < 4 * math.hypot(se_a, se_mc)
    assert abs(analytic.mean() - per_draw.mean()) < 4 * math.hypot(se_a, se_ours)


def test_iwae_bound_is_above_elbo_and_increases_with_k(fitted, digits):
    """On a fitted model the bound L_K grows with K: ELBO (L_1) < L_10 < L_1000.

    Past K ~ 100 the gaps are ~0.01 nats here, below the noise of independent
    estimates, so L_K is estimated from one pool of S = 10,000 draws per example split
    into S / K disjoint groups (an unbiased, low-variance estimate of the bound).
    Independent estimates with the public API must then agree with the pooled ones
    (within 0.03 nats), and the independent L_1000 must clear the ELBO by 0.05 nats.
    """
    x = digits[1].x
    S, n = 10_000, x.shape[0]
    log_w = fitted.log_weights(x, num_samples=S).double()
    pooled = {k: float((log_w.reshape(S // k, k, n).logsumexp(1) - math.log(k)).mean()) for k in (1, 10, 100, 1000)}
    # (the pooled values increase with K by Jensen's inequality whatever the model,
    # so their order is no test; the independent estimates below are)
    elbo = fitted.elbo(x, num_samples=1000)
    l10 = fitted.log_likelihood(x, num_samples=10)
    bound = fitted.log_likelihood(x, num_samples=1000)
    # measured (3 seeds): ELBO -25.02, L_10 -24.85 to -24.88, L_1000 -24.83 to -24.84
    assert float(elbo.mean()) + 0.1 < float(l10.mean()) < float(bound.mean())
    assert abs(float(elbo.mean()) - pooled[1]) < 0.03
    assert abs(float(bound.mean()) - pooled[1000]) < 0.03
    assert float(bound.mean() - elbo.mean()) > 0.05
    assert float((bound >= elbo).double().mean()) >= 0.95


def test_importance_weighted_objective_with_one_particle_is_the_elbo(digits):
    vae, x = small_vae(), digits[0].x
    guide = vae.default_guide()
    idx = torch.arange(0, 200, 3)
    torch.manual_seed(1)
    expected = Trace_ELBO().differentiable_loss(vae, guide, x=x, subsample=idx)
    torch.manual_seed(1)
    got = ImportanceWeightedELBO(num_particles=1).differentiable_loss(vae, guide, x=x, subsample=idx)
    assert torch.allclose(got, expected, rtol=1e-5)
    torch.manual_seed(1)
    tighter = ImportanceWeightedELBO(num_particles=50).differentiable_loss(vae, guide, x=x, subsample=idx)
    assert tighter < expected  # the loss is minus the bound, which grows with K


def test_importance_weighted_objective_trains_through_fit(digits):
    vae = small_vae()
    result = fit(vae, digits[0], num_steps=30, batch_size=128, lr=3e-3, elbo=ImportanceWeightedELBO(num_particles=4))
    assert torch.isfinite(result.losses).all()
    assert result.losses[-10:].mean() < result.losses[:10].mean()


def test_linear_gaussian_vae_log_likelihood_approaches_exact_ppca():
    """With linear networks and isotropic Gaussian noise the VAE is probabilistic PCA,
    x ~ N(b, W W^T + s^2 I) with the decoder's W, b, s. The IWAE estimate with 2,000
    draws must be within 0.02 nats per example of that exact log-likelihood, and closer
    than the estimate with 10 draws."""
    g = torch.Generator().manual_seed(0)
    n, D, K = 400, 6, 2
    x = torch.randn(n, K, generator=g) @ (2.0 * torch.randn(K, D, generator=g)) + 0.3 * torch.randn(n, D, generator=g)
    vae = VAE(D, K, hidden=(), likelihood=GaussianLikelihood(per_feature=False, init_scale=1.0))
    fit(vae, x, num_steps=800, lr=0.02, seed=0)
    linear = vae.decoder[-1]
    W, b, s = linear.weight.detach(), linear.bias.detach(), vae.likelihood.scale.detach()
    cov = W @ W.T + s**2 * torch.eye(D)
    exact = dist.MultivariateNormal(b, covariance_matrix=cov).log_prob(x[:200]).mean()
    coarse = vae.log_likelihood(x[:200], num_samples=10).mean()
    fine = vae.log_likelihood(x[:200], num_samples=2000).mean()
    assert abs(fine - exact) < 0.02, (float(fine), float(exact))
    assert abs(fine - exact) < abs(coarse - exact)
    assert vae.elbo(x[:200], num_samples=200).mean() < fine


# -- priors, likelihoods, guides ---------------------------------------------------------------------


class LearnedScalePrior(nn.Module):
    """A user's prior module: N(0, s^2 I) with a learned scale."""

    def __init__(self, n_components):
        super().__init__()
        self.n_components = n_components
        self.log_scale = nn.Parameter(torch.zeros(()))

    def forward(self):
        return dist.Normal(0.0, self.log_scale.exp()).expand([self.n_components]).to_event(1)


PRIORS = {
    "normal": lambda: "normal",
    "mixture": lambda: "mixture",
    "vamp": lambda: "vamp",
    "laplace": lambda: dist.Laplace(0.0, 1.0),
    "module": lambda: LearnedScalePrior(2),
}


@pytest.mark.parametrize("name", sorted(PRIORS))
def test_each_prior_fits_and_samples(name, digits):
    vae = small_vae(prior=PRIORS[name]())
    before = {k: v.detach().clone() for k, v in vae.prior.named_parameters()}
    result = fit(vae, digits[0], num_steps=5, batch_size=64, lr=1e-2, elbo="meanfield")
    assert torch.isfinite(result.losses).all()
    for k, v in vae.prior.named_parameters():  # learnable priors are trained with the model
        assert not torch.equal(v, before[k]), k
    draws = vae.sample(3)
    assert draws.shape == (3, 64) and set(draws.unique().tolist()) <= {0.0, 1.0}
    assert vae.sample(3, mean=True).shape == (3, 64)


LIKELIHOODS = {
    "bernoulli": ("bernoulli", True),
    "continuous_bernoulli": ("continuous_bernoulli", False),
    "gaussian_learned": ("gaussian", False),
    "gaussian_fixed": (GaussianLikelihood(scale=0.2), False),
    "gaussian_shared": (GaussianLikelihood(per_feature=False), False),
}


@pytest.mark.parametrize("name", sorted(LIKELIHOODS))
def test_each_likelihood_fits_and_samples(name, digits, grey):
    likelihood, binary = LIKELIHOODS[name]
    vae = small_vae(likelihood=copy.deepcopy(likelihood))
    result = fit(vae, digits[0].x[:256] if binary else grey, num_steps=5, batch_size=64, lr=1e-2)
    assert torch.isfinite(result.losses).all()
    assert vae.sample(4).shape == (4, 64)
    mean = vae.sample(4, mean=True)
    if name == "continuous_bernoulli":
        assert ((mean > 0) & (mean < 1)).all()


def test_swapping_the_prior_is_one_line(digits):
    vae = small_vae()
    vae.prior = MixturePrior(2, n_mixture_components=5)
    fit(vae, digits[0], num_steps=3, batch_size=64)
    trace = poutine.trace(vae).get_trace(x=digits[0].x[:10])
    assert isinstance(trace.nodes["z"]["fn"], dist.MixtureSameFamily)
    vae.prior = VampPrior(vae.encoder, 64, n_pseudo_inputs=7)
    fit(vae, digits[0], num_steps=3, batch_size=64)
    assert poutine.trace(vae).get_trace(x=digits[0].x[:10]).nodes["z"]["fn"].batch_shape == (10,)


@pytest.mark.parametrize("make_guide", ["lowrank", "autonormal"])
def test_swapping_the_guide_is_one_line(make_guide, digits):
    vae, x = small_vae(), digits[0].x[:64]
    guide = LowRankNormalGuide(vae, rank=1) if make_guide == "lowrank" else AutoNormal(vae)
    result = fit(vae, x, guide=guide, num_steps=5, lr=1e-2)
    assert torch.isfinite(result.losses).all()
    assert vae.encode(x, guide).shape == (64, 2)
    assert torch.isfinite(vae.log_likelihood(x, guide, num_samples=20)).all()


@pytest.mark.slow
def test_low_rank_guide_learns_the_correlated_posterior_of_a_linear_gaussian_vae():
    """Known answer: with a fixed linear decoder x = W z + noise (sd s) the exact
    posterior covariance is (I + W^T W / s^2)^-1 for every x; W's columns are made
    non-orthogonal so it has a strong correlation. Training only the guide (encoder
    and factor head) must recover it; the untrained guide is far off."""
    from pyrolatent.components.likelihoods import GaussianLikelihood

    torch.manual_seed(0)
    D, K, s = 6, 2, 0.5
    W = torch.tensor([[1.0, 0.9], [0.8, 1.0], [0.5, 0.6], [0.2, 0.1], [0.3, 0.4], [0.1, 0.2]])  # (D, K)
    true_cov = torch.linalg.inv(torch.eye(K) + W.T @ W / s**2)
    true_corr = true_cov[0, 1] / true_cov.diag().prod().sqrt()
    vae = VAE(D, K, hidden=(), likelihood=GaussianLikelihood(scale=s))
    decoder_linear = [m for m in vae.decoder.modules() if isinstance(m, torch.nn.Linear)]
    assert len(decoder_linear) == 1
    with torch.no_grad():
        decoder_linear[0].weight.copy_(W)
        decoder_linear[0].bias.zero_()
    decoder_linear[0].requires_grad_(False)
    z = torch.randn(400, K)
    x = z @ W.T + s * torch.randn(400, D)
    guide = LowRankNormalGuide(vae, rank=1)

    def corr(g):
        with torch.no_grad():
            cov = g.posterior(x[:50]).covariance_matrix.mean(0)
        return cov, cov[0, 1] / cov.diag().prod().sqrt()

    _, before = corr(guide)
    assert abs(float(before - true_corr)) > 0.5  # the untrained guide does not have it
    fit(vae, x, guide=guide, num_steps=1500, lr=0.02, num_particles=8, vectorize_particles=True, seed=0)
    cov, after = corr(guide)
    assert float(true_corr) < -0.7  # the test is about a strongly correlated posterior
    assert abs(float(after - true_corr)) < 0.1
    assert torch.allclose(cov.diag(), true_cov.diag(), rtol=0.2)


# -- evaluation helpers ---------------------------------------------------------------------------------


def test_log_likelihood_chunking_agrees(fitted, digits):
    x = digits[1].x[:30]
    whole = fitted.log_likelihood(x, num_samples=2000)
    chunked = fitted.log_likelihood(x, num_samples=2000, batch_size=7, sample_batch_size=333)
    assert whole.shape == chunked.shape == (30,)
    assert abs(whole.mean() - chunked.mean()) < 0.05  # Monte-Carlo noise of two independent estimates
    assert fitted.log_weights(x, num_samples=40).shape == (40, 30)


def test_pareto_khat_matches_arviz():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import arviz as az
    g = torch.Generator().manual_seed(3)
    log_w = torch.cat(
        [
            torch.randn(2000, 3, generator=g, dtype=torch.double),
            dist.StudentT(2.0).sample((2000, 2)).double().abs() * 3,
        ],
        1,
    )
    ours = pareto_khat(log_w)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, theirs = az.psislw(log_w.T.numpy())
    assert torch.allclose(ours, torch.as_tensor(theirs), atol=1e-6)


def test_psis_khat_per_example(fitted, digits):
    khat = fitted.psis_khat(digits[1].x[:20], num_samples=200)
    assert khat.shape == (20,) and torch.isfinite(khat).all()


def test_latent_manifold_grid_uses_inverse_normal_cdf(fitted):
    images, z = fitted.latent_manifold(5)
    assert images.shape == (5, 5, 64) and z.shape == (5, 5, 2)
    q = dist.Normal(0.0, 1.0).icdf((torch.arange(5) + 0.5) / 5)
    assert torch.allclose(z[0, :, 0], q) and torch.allclose(z[:, 0, 1], q.flip(0))
    assert ((images >= 0) & (images <= 1)).all()


def test_encode_reconstruct_and_report_hooks(fitted, digits):
    x = digits[1].x[:16]
    assert fitted.encode(x).shape == fitted.encode(x, fitted.default_guide()).shape == (16, 2)
    assert fitted.reconstruct(x).shape == fitted.reconstruct(x, None).shape == (16, 64)
    assert fitted.sample(5).shape == fitted.sample(5, fitted.default_guide()).shape == (5, 64)
    assert all(type(fitted).supports(h) for h in ("encode", "reconstruct", "sample"))
    assert not type(fitted).supports("identifiable_quantities")
    assert fitted.encode(x.reshape(16, 8, 8)).shape == (16, 2)  # images are flattened


def test_report_figures(fitted, digits):
    figs = model_figures(SimpleNamespace(model=fitted, guide=fitted.default_guide()), digits[1])
    assert set(figs) == {"latent_manifold", "prior_decoder_means", "psis_khat_per_example"}
    assert all(isinstance(f, Figure) for f in figs.values())
    figs["psis_khat_per_example"].savefig(io.BytesIO(), format="png")
    three = small_vae(n_components=3)
    figs = model_figures(SimpleNamespace(model=three, guide=three.default_guide()), digits[1].subset(slice(0, 40)))
    assert "latent_manifold" not in figs and "psis_khat_per_example" in figs


@pytest.mark.parametrize("shape", [(8, 8), (28, 20), (7, 9)])
def test_conv_networks_keep_leading_dims(shape):
    D = shape[0] * shape[1]
    trunk, decoder = ConvTrunk(shape, hidden=16), ConvDecoder(3, shape, hidden=16)
    assert trunk(torch.rand(2, 5, D)).shape == (2, 5, 16)
    assert decoder(torch.randn(2, 5, 3)).shape == (2, 5, D)


def test_conv_vae_fits(digits):
    vae = small_vae(network="conv", hidden=(16,))
    result = fit(vae, digits[0], num_steps=3, batch_size=32)
    assert torch.isfinite(result.losses).all()
    assert MLP(4, ()).out_features == 4


# -- bad input -----------------------------------------------------------------------------------


def test_bernoulli_rejects_data_outside_unit_interval(grey):
    with pytest.raises(
        ValueError, match=r"'x' argument(?: of \w+)? must lie in \[0, 1\] for the Bernoulli .* got values in \[0, 2\]"
    ):
        fit(small_vae(), 2.0 * grey, num_steps=1)


def test_bernoulli_rejects_grey_data(grey):
    with pytest.raises(
        ValueError, match=r"'x' argument(?: of \w+)? must be binary \(0 or 1\) for the Bernoulli .*binarize"
    ):
        fit(small_vae(), grey, num_steps=1)


def test_continuous_bernoulli_rejects_data_outside_unit_interval(grey):
    with pytest.raises(ValueError, match=r"\[0, 1\] for the continuous Bernoulli likelihood; got values in \[-1, 1\]"):
        small_vae(likelihood="continuous_bernoulli")(x=grey * 2 - 1)


@pytest.mark.parametrize(
    "x, message",
    [
        (
            torch.zeros(5, 28, 28),
            r"'x' argument(?: of \w+)? must hold images of shape \(8, 8\) or rows of 64 features; got shape \(5, 28, 28\)",
        ),
        (
            torch.zeros(5, 63),
            r"'x' argument(?: of \w+)? must have n_features = 64 columns \(flattened images of shape \(8, 8\)\); got shape \(5, 63\)",
        ),
        (torch.zeros(5, 2, 4, 8), r"'x' argument(?: of \w+)? must have 2 or 3 dimension\(s\); got 4"),
        (torch.full((5, 64), float("nan")), r"'x' argument(?: of \w+)? must contain only finite values"),
    ],
)
def test_wrong_data_shape_or_values(x, message):
    with pytest.raises(ValueError, match=message):
        small_vae()(x=x)


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2"])
def test_latent_size_must_be_positive(bad):
    with pytest.raises(
        ValueError, match=rf"The 'n_components' argument(?: of \w+)? must be a positive integer. Got {bad!r} instead"
    ):
        VAE(64, bad)


@pytest.mark.parametrize(
    "kwargs, exc, message",
    [
        (
            dict(image_shape=(28, 28)),
            ValueError,
            r"'image_shape' argument(?: of \w+)? must multiply out to n_features = 64; got \(28, 28\)",
        ),
        (
            dict(network="conv"),
            ValueError,
            r"'image_shape' argument(?: of \w+)? must be \(height, width\) for network='conv'",
        ),
        (dict(network="rnn"), ValueError, r"'network' argument(?: of \w+)? must be one of 'mlp', 'conv'. Got 'rnn'"),
        (
            dict(likelihood="poisson"),
            ValueError,
            r"'likelihood' argument(?: of \w+)? must be one of 'bernoulli', .* Got 'poisson'",
        ),
        (dict(likelihood=3), TypeError, r"'likelihood' argument(?: of \w+)? must be a name or .* Got int"),
        (
            dict(prior="flat"),
            ValueError,
            r"'prior' argument(?: of \w+)? must be one of 'normal', 'mixture', 'vamp'.* Got 'flat'",
        ),
        (
            dict(prior=dist.MultivariateNormal(torch.zeros(3), torch.eye(3))),
            ValueError,
            r"'prior' argument(?: of \w+)? must be a distribution over R\^2 .* event shape \(3,\)",
        ),
        (
            dict(prior=42),
            TypeError,
            r"'prior' argument(?: of \w+)? must be a name, a pyro Distribution or an nn.Module",
        ),
        (dict(hidden=(0,)), ValueError, r"'hidden' argument(?: of \w+)? must be a positive integer. Got 0"),
        (
            dict(hidden="abc"),
            ValueError,
            r"'hidden' argument(?: of \w+)? must be a sequence of positive integers. Got 'abc'",
        ),
        (dict(activation="swish"), ValueError, r"'activation' argument(?: of \w+)? must be one of .* Got 'swish'"),
    ],
)
def test_bad_constructor_arguments(kwargs, exc, message):
    with pytest.raises(exc, match=message):
        VAE(64, 2, **kwargs) if {"image_shape", "network"} & set(kwargs) else small_vae(**kwargs)


@pytest.mark.parametrize(
    "kwargs, name",
    [(dict(scale=-1.0), "scale"), (dict(min_scale=0.0), "min_scale"), (dict(init_scale=1e-4), "init_scale")],
)
def test_bad_gaussian_likelihood(kwargs, name):
    with pytest.raises(ValueError, match=rf"The '{name}' argument(?: of \w+)? must"):
        GaussianLikelihood(**kwargs)


def test_bad_evaluation_arguments(fitted, digits):
    with pytest.raises(ValueError, match=r"'num_samples' argument(?: of \w+)? must be a positive integer. Got 0"):
        fitted.log_likelihood(digits[1].x[:3], num_samples=0)
    with pytest.raises(ValueError, match=r"'dims' argument(?: of \w+)? must be two different latent indices below 2"):
        fitted.latent_manifold(3, dims=(1, 1))
    with pytest.raises(ValueError, match=r"'x' argument of AmortizedNormalGuide must be the data; got None"):
        fitted.default_guide()()
    with pytest.raises(ValueError, match=r"'n_pseudo_inputs' argument(?: of \w+)? must be a positive integer. Got 0"):
        VampPrior(fitted.encoder, 64, n_pseudo_inputs=0)


# -- the engine's common contract -------------------------------------------------------------------------


def test_model_and_guide_sites_match(digits):
    vae, x = small_vae(), digits[0].x[:10]
    guide = vae.default_guide()
    guide_trace = poutine.trace(guide).get_trace(x=x)
    model_trace = poutine.trace(poutine.replay(vae, trace=guide_trace)).get_trace(x=x)
    latent = {
        n
        for n, s in model_trace.nodes.items()
        if s["type"] == "sample" and not s["is_observed"] and not site_is_subsample(s)
    }
    guided = {n for n, s in guide_trace.nodes.items() if s["type"] == "sample" and not site_is_subsample(s)}
    assert latent == guided == {"z"}
    assert model_trace.nodes["x"]["is_observed"]


def test_one_step_gives_finite_loss_and_prior_samples(digits):
    vae = small_vae()
    assert torch.isfinite(fit(vae, digits[0], num_steps=1).losses).all()
    trace = poutine.trace(vae).get_trace(n_samples=7)
    assert trace.nodes["x"]["value"].shape == (7, 64) and not trace.nodes["x"]["is_observed"]
    assert vae().shape == (1, 64)


def _fresh_fit(digits, **settings):
    pyro.set_rng_seed(11)
    vae = small_vae()
    return vae, fit(vae, digits[0], batch_size=64, lr=1e-2, seed=3, **settings)


def test_fit_is_reproducible_with_a_seed(digits):
    (a, ra), (b, rb) = _fresh_fit(digits, num_steps=15), _fresh_fit(digits, num_steps=15)
    assert torch.equal(ra.losses, rb.losses)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))


def test_checkpoint_round_trip(digits, tmp_path):
    path = tmp_path / "vae.pt"
    straight, rs = _fresh_fit(digits, num_steps=20)
    _fresh_fit(digits, num_steps=10, checkpoint_path=path)
    resumed, rr = _fresh_fit(digits, num_steps=20, checkpoint_path=path, resume=True)
    assert torch.allclose(rr.losses, rs.losses)
    assert all(torch.allclose(p, q) for p, q in zip(straight.parameters(), resumed.parameters(), strict=True))
    pyro.set_rng_seed(99)
    restored = restore(small_vae(), digits[0], path).model
    assert all(torch.equal(p, q) for p, q in zip(restored.parameters(), resumed.parameters(), strict=True))


def test_model_copies_and_pickles_after_a_fit(digits):
    vae = small_vae()
    fit(vae, digits[0], num_steps=2)
    clone = pickle.loads(pickle.dumps(vae))
    assert isinstance(copy.deepcopy(vae), VAE)
    assert torch.isfinite(clone.log_likelihood(digits[1].x[:4], num_samples=10)).all()
    assert isinstance(clone.default_guide(), AmortizedNormalGuide)


# -- command line ---------------------------------------------------------------------------------------


def test_cli_fit_vae_writes_test_metrics(tmp_path, capsys):
    out = tmp_path / "run"
    args = [
        "fit",
        "vae",
        "--data",
        "digits",
        "--steps",
        "40",
        "--batch-size",
        "128",
        "--hidden",
        "32",
        "--iwae-samples",
        "50",
        "--n-components",
        "3",
        "--out",
        str(out),
    ]
    assert main(args) == 0
    summary = json.loads((out / "summary.json").read_text())
    for key in ("final_elbo", "test_elbo", "test_log_likelihood", "baseline_test_log_likelihood", "n_test"):
        assert math.isfinite(summary[key]), key
    assert summary["n_test"] == 180 and summary["n_components"] == 3
    assert summary["test_log_likelihood"] > summary["test_elbo"]
    assert "test log-likelihood" in capsys.readouterr().out


def test_cli_rejects_bad_vae_options(tmp_path, capsys):
    out = str(tmp_path / "r")
    assert main(["fit", "vae", "--steps", "1", "--iwae-samples", "0", "--out", out]) == 2
    err = capsys.readouterr().err
    assert "'--iwae-samples' option must be a positive integer. Got 0" in err and "iwae_samples" not in err
    # data outside the continuous Bernoulli's [0, 1]: one line that names the data, no trace dump
    grey = tmp_path / "grey.csv"
    np.savetxt(grey, np.full((30, 4), 2.0), delimiter=",")
    assert (
        main(
            [
                "fit",
                "vae",
                "--steps",
                "1",
                "--likelihood",
                "continuous_bernoulli",
                "--data",
                f"csv:{grey}",
                "--out",
                out,
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "'x' argument" in err and "[0, 1]" in err and "Trace" not in err
    assert not (tmp_path / "r").exists()
    # a flag of another model is refused by name
    with pytest.raises(SystemExit) as stop:
        main(["fit", "bpca", "--prior", "vamp", "--out", out])
    assert stop.value.code == 2 and "unrecognized arguments: --prior vamp" in capsys.readouterr().err
