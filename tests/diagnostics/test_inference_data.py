"""to_inference_data: groups, closed-form agreement, replicates, netCDF round trip."""

import math

import numpy as np
import pytest
import torch
from diag_models import Hierarchical, NormalMean, closed_form, make_result
from pyro.infer.autoguide import AutoNormal

from pyrolatent.data import make_bishop
from pyrolatent.diagnostics import _arviz, load_inference_data, save_inference_data, to_inference_data
from pyrolatent.inference import fit
from pyrolatent.models import BayesianPCA

GROUPS = {"posterior", "posterior_predictive", "log_likelihood", "observed_data", "sample_stats", "vi_trace"}
S = 4000
# Monte-Carlo tolerances for S draws: 4 standard errors of a mean (sd / sqrt(S))
# and of a standard deviation (about sd / sqrt(2 S)).
MEAN_TOL = 4 / math.sqrt(S)
SD_TOL = 4 / math.sqrt(2 * S)


def test_groups_and_dims(exact_result):
    idata = to_inference_data(exact_result, num_samples=50, dims={"mu": ("coord",), "x": ("coord",)})
    assert set(_arviz.group_names(idata)) == GROUPS
    post = _arviz.group(idata, "posterior")
    assert list(post.data_vars) == ["mu"]
    assert post["mu"].dims == ("chain", "draw", "coord") and post["mu"].shape == (1, 50, 2)
    assert _arviz.group(idata, "log_likelihood")["x"].dims == ("chain", "draw", "data")
    assert _arviz.group(idata, "posterior_predictive")["x"].dims == ("chain", "draw", "data", "coord")
    assert _arviz.group(idata, "observed_data")["x"].dims == ("data", "coord")
    stats = _arviz.group(idata, "sample_stats")
    assert set(stats.data_vars) == {"log_joint", "log_guide", "log_weight"}
    np.testing.assert_allclose(stats["log_weight"], stats["log_joint"] - stats["log_guide"])
    np.testing.assert_array_equal(_arviz.group(idata, "vi_trace")["loss"], exact_result.losses.double().numpy())
    assert post.attrs["model"] == "NormalMean" and post.attrs["num_steps"] == 20
    assert '"num_steps": 20' in post.attrs["fit_settings"]


def test_default_dim_names_come_from_plates_and_sites(exact_result):
    idata = to_inference_data(exact_result, num_samples=10)
    assert _arviz.group(idata, "posterior")["mu"].dims == ("chain", "draw", "mu_dim_0")
    assert _arviz.group(idata, "observed_data")["x"].dims == ("data", "x_dim_0")


def test_exact_guide_matches_closed_form(exact_result, normal_data):
    loc, scale, log_evidence = closed_form(normal_data)
    idata = to_inference_data(exact_result, num_samples=S, seed=1)
    mu = np.asarray(_arviz.group(idata, "posterior")["mu"])[0]
    np.testing.assert_allclose(mu.mean(0), loc.numpy(), atol=MEAN_TOL * scale)
    np.testing.assert_allclose(mu.std(0), scale, rtol=SD_TOL)
    # With the exact posterior as guide, every importance log-weight is the log evidence.
    log_w = np.asarray(_arviz.group(idata, "sample_stats")["log_weight"])
    np.testing.assert_allclose(log_w, log_evidence, atol=1e-2)


def test_fitted_guide_matches_closed_form(normal_data):
    """AutoNormal can represent this posterior exactly; after fitting (64 particles per
    step keep the final iterate's jitter small), means agree to 0.15 posterior sd and
    sds to 15%."""
    loc, scale, _ = closed_form(normal_data)
    model = NormalMean()
    result = fit(
        model,
        normal_data,
        guide=AutoNormal(model),
        num_steps=400,
        lr=0.05,
        num_particles=64,
        vectorize_particles=True,
        seed=0,
    )
    mu = np.asarray(_arviz.group(to_inference_data(result, num_samples=S), "posterior")["mu"])[0]
    np.testing.assert_allclose(mu.mean(0), loc.numpy(), atol=0.15 * scale)
    np.testing.assert_allclose(mu.std(0), scale, rtol=0.15)


def test_log_likelihood_is_pointwise_and_exact(exact_result, normal_data):
    idata = to_inference_data(exact_result, num_samples=5)
    mu = torch.as_tensor(np.asarray(_arviz.group(idata, "posterior")["mu"])[0]).double()  # (5, 2)
    expected = torch.distributions.Normal(mu[:, None, :], 1.0).log_prob(normal_data.double()).sum(-1)
    np.testing.assert_allclose(np.asarray(_arviz.group(idata, "log_likelihood")["x"])[0], expected.numpy(), rtol=1e-5)


def test_posterior_predictive_is_real_replicates(exact_result, normal_data):
    loc, scale, _ = closed_form(normal_data)
    idata = to_inference_data(exact_result, num_samples=S, num_predictive=S)
    reps = np.asarray(_arviz.group(idata, "posterior_predictive")["x"])[0]  # (S, 50, 2)
    observed = np.asarray(_arviz.group(idata, "observed_data")["x"])
    np.testing.assert_array_equal(observed, normal_data.numpy())
    assert not np.allclose(reps[0], observed)
    # Each replicate x_n ~ N(loc, 1 + scale^2) under the posterior predictive.
    pred_sd = math.sqrt(NOISE := 1.0 + scale**2)
    np.testing.assert_allclose(reps[:, 0, :].mean(0), loc.numpy(), atol=MEAN_TOL * pred_sd)
    np.testing.assert_allclose(reps[:, 0, :].var(0), NOISE, rtol=2 * SD_TOL)


def test_default_num_predictive_bounds_the_group(exact_result):
    idata = to_inference_data(exact_result, num_samples=30)
    assert np.asarray(_arviz.group(idata, "posterior_predictive")["x"]).shape[1] == 30
    idata = to_inference_data(exact_result, num_samples=30, num_predictive=3)
    assert np.asarray(_arviz.group(idata, "posterior_predictive")["x"]).shape[1] == 3


def test_local_sites_are_told_apart_by_plates(normal_data):
    model = Hierarchical()
    x = normal_data[:, 0]
    guide = AutoNormal(model)
    result = fit(model, x, guide=guide, num_steps=5, seed=0)
    idata = to_inference_data(result, num_samples=20, include_local=False)
    post = _arviz.group(idata, "posterior")
    assert list(post.data_vars) == ["mu"]  # z is local: it lives in the "data" plate
    assert post.attrs["local_sites"] == '["z"]' and post.attrs["local_kept"] == 0
    assert _arviz.group(idata, "log_likelihood")["x"].shape == (1, 20, 50)
    # Small local sites are kept by default, with the plate's name on their dim.
    post = _arviz.group(to_inference_data(result, num_samples=20), "posterior")
    assert set(post.data_vars) == {"mu", "z"} and post.attrs["local_kept"] == 1
    assert post["z"].dims == ("chain", "draw", "data") and post["z"].shape == (1, 20, 50)
    with pytest.raises(TypeError, match="'include_local' argument must be True, False or None"):
        to_inference_data(result, num_samples=5, include_local="yes")


def test_bpca_conversion_and_netcdf_round_trip(tmp_path):
    data = make_bishop(n_samples=60, seed=0)
    result = fit(BayesianPCA(10, 3), data, num_steps=30, lr=0.03, seed=0)
    idata = to_inference_data(result, data, num_samples=40, dims={"W": ("component", "feature"), "x": ("feature",)})
    post = _arviz.group(idata, "posterior")
    assert set(post.data_vars) == {"alpha", "W", "mu", "tau"}
    assert post["W"].dims == ("chain", "draw", "component", "feature") and post["W"].shape == (1, 40, 3, 10)
    assert post["tau"].shape == (1, 40)
    path = tmp_path / "idata.nc"
    save_inference_data(idata, path)
    back = load_inference_data(path)
    assert set(_arviz.group_names(back)) == set(_arviz.group_names(idata))
    for name in _arviz.group_names(idata):
        original, loaded = _arviz.group(idata, name), _arviz.group(back, name)
        assert set(loaded.data_vars) == set(original.data_vars)
        for var in original.data_vars:
            assert loaded[var].dims == original[var].dims
            np.testing.assert_array_equal(np.asarray(loaded[var]), np.asarray(original[var]))
        assert loaded.attrs["fit_settings"] == original.attrs["fit_settings"]


def test_seed_is_reproducible_and_leaves_global_rng_alone(exact_result):
    state = torch.get_rng_state()
    a = to_inference_data(exact_result, num_samples=20, seed=3)
    assert torch.equal(torch.get_rng_state(), state)
    b = to_inference_data(exact_result, num_samples=20, seed=3)
    np.testing.assert_array_equal(_arviz.group(a, "posterior")["mu"], _arviz.group(b, "posterior")["mu"])


@pytest.mark.parametrize("bad", [0, -3, 2.5, "10"])
def test_bad_num_samples(exact_result, bad):
    with pytest.raises(ValueError, match="'num_samples' argument must be a positive integer"):
        to_inference_data(exact_result, num_samples=bad)


def test_bad_result_and_dims(exact_result):
    with pytest.raises(TypeError, match="'result' argument must be a FitResult"):
        to_inference_data(object())
    with pytest.raises(ValueError, match="'dims' argument gives 2 dim name\\(s\\) for site 'mu'"):
        to_inference_data(exact_result, num_samples=5, dims={"mu": ("a", "b")})
    with pytest.raises(TypeError, match="'data' argument must be numeric"):
        to_inference_data(exact_result, "not data")


def test_model_that_does_not_broadcast_gets_a_clear_error(normal_data):
    import pyro
    import pyro.distributions as dist

    def model(x=None):
        mu = pyro.sample("mu", dist.Normal(torch.zeros(2), 1.0).to_event(1))
        with pyro.plate("data", x.shape[0], dim=-1):
            # Indexing a fixed position breaks when a sample dim is added on the left.
            pyro.sample("x", dist.Normal(mu.reshape(2), 1.0).to_event(1), obs=x)

    def guide(x=None):
        pyro.sample("mu", dist.Normal(torch.zeros(2), 1.0).to_event(1))

    result = make_result(model, guide, normal_data)
    with pytest.raises(ValueError, match="must broadcast a sample dimension"):
        to_inference_data(result, num_samples=5)
