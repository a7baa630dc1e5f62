"""From a fitted guide to ``arviz.InferenceData``: :func:`to_inference_data`.

ArviZ's ``from_pyro`` reads only MCMC objects, so the groups are built here
from one vectorised pass over guide draws (see :mod:`._draws`) and bundled by
the version helper in :mod:`._arviz`.
"""

from __future__ import annotations

import json
import numbers
from collections.abc import Mapping
from datetime import UTC, datetime

import numpy as np
import pyro
import torch
import xarray as xr

import pyrolatent
from pyrolatent._pyro import local_params, seeded, with_local_params
from pyrolatent._validation import check_positive_int
from pyrolatent.inference import as_model_inputs

from . import _arviz
from ._draws import GuideDraws, SiteInfo, draw_from_guide

__all__ = ["load_inference_data", "model_inputs", "save_inference_data", "to_inference_data"]

#: Values the posterior_predictive group may hold by default (about 4 MB in float32).
_PREDICTIVE_VALUES = 2**20
#: Fewest replicates by default, whatever the data size.
_MIN_PREDICTIVE = 10
#: Local latent sites go into ``posterior`` by default when all their draws hold at most this many values.
_LOCAL_VALUES = 2**22


def model_inputs(result, data=None) -> dict:
    """The keyword inputs to run ``result.model`` and ``result.guide`` on, on the fit's device.

    ``data`` is as in :func:`pyrolatent.inference.as_model_inputs`; ``None`` uses the data of the fit.
    """
    if not hasattr(result, "model") or not hasattr(result, "guide"):
        raise TypeError(
            "The 'result' argument must be a FitResult (with 'model' and 'guide'). "
            f"Got {type(result).__name__} instead."
        )
    if data is None:
        data = dict(getattr(result, "data", None) or {})
        if not data:
            raise ValueError("The 'data' argument is None and the 'result' holds no data; pass the data.")
    device = getattr(result, "device", None) or torch.device("cpu")
    return {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in as_model_inputs(data).items()}


def _event_names(name: str, info: SiteInfo, dims: Mapping) -> list[str]:
    given = dims.get(name)
    if given is not None:
        given = [given] if isinstance(given, str) else list(given)
        if len(given) != len(info.event_shape):
            raise ValueError(
                f"The 'dims' argument gives {len(given)} dim name(s) for site {name!r}, whose event shape "
                f"{info.event_shape} has {len(info.event_shape)}. Got {given!r}."
            )
        return given
    return [f"{name}_dim_{i}" for i in range(len(info.event_shape))]


def _dataset(
    values: dict, draws: GuideDraws, dims: Mapping, *, lead: tuple[str, ...], event: bool = True
) -> xr.Dataset:
    """Variables of one group; ``lead`` names the leading dims (``chain``, ``draw``, ...)."""
    data_vars = {}
    for name, tensor in values.items():
        info = draws.sites[name]
        array = tensor.numpy() if isinstance(tensor, torch.Tensor) else np.asarray(tensor)
        names = list(lead) + list(info.plate_dims) + (_event_names(name, info, dims) if event else [])
        if array.ndim != len(names):  # pragma: no cover - guarded by the draws' shapes
            raise ValueError(f"Site {name!r} has shape {array.shape}, which does not match dims {names}.")
        data_vars[name] = (names, array)
    ds = xr.Dataset(data_vars)
    return ds.assign_coords({d: np.arange(ds.sizes[d]) for d in lead if d in ds.dims})


def _attr(value):
    """netCDF attributes hold numbers and strings only."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (numbers.Number, str)):
        return value
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, default=str, sort_keys=True)
    return str(value)


def _fit_attrs(result, num_samples: int, seed) -> dict:
    settings = getattr(result, "settings", None)
    attrs = {
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "inference_library": "pyro",
        "inference_library_version": pyro.__version__,
        "inference_method": "svi",
        "pyrolatent_version": pyrolatent.__version__,
        "model": type(result.model).__name__,
        "guide": type(result.guide).__name__,
        "num_guide_draws": num_samples,
        "draw_seed": "None" if seed is None else seed,
        "fit_settings": settings.to_dict() if hasattr(settings, "to_dict") else str(settings),
    }
    for key in ("num_steps", "wall_time", "steps_per_second", "device", "interrupted", "converged", "final_elbo"):
        if hasattr(result, key):
            attrs[key] = getattr(result, key)
    return {key: _attr(value) for key, value in attrs.items()}


@with_local_params
def to_inference_data(
    result,
    data=None,
    *,
    num_samples: int = 500,
    num_predictive: int | None = None,
    seed: int | None = 0,
    dims: Mapping[str, tuple[str, ...]] | None = None,
    include_local: bool | None = None,
):
    """Turn a fitted guide into ``arviz.InferenceData``.

    Parameters
    ----------
    result : FitResult
        What :func:`pyrolatent.inference.fit` returned (its ``model``, ``guide``,
        ``losses``, ``settings`` and timings are used).
    data : Dataset, tensor or mapping, optional
        The data to score; by default the data of the fit.
    num_samples : int
        Draws from the guide (one chain).
    num_predictive : int, optional
        How many of the draws get a replicate of the data in
        ``posterior_predictive``; by default as many as keep that group under
        about a million values (at least 10, at most ``num_samples``).
    seed : int, optional
        Seed for the draws, used in a forked RNG so that the global RNG state is
        untouched; ``None`` draws from the current global state.
    dims : mapping, optional
        Names of the *event* dims of sites, e.g. ``{"W": ("component",
        "feature"), "x": ("feature",)}``. Plate dims are always named after their
        plate. Defaults to the model's ``arviz_dims`` attribute when it has one,
        otherwise ``<site>_dim_<i>``.
    include_local : bool, optional
        Put the local latent sites (one value per observation, such as a VAE's
        ``z``) into ``posterior`` too. By default they are kept when all their
        draws hold at most about four million values.

    Returns
    -------
    arviz.InferenceData
        Groups ``posterior`` (global latent sites), ``posterior_predictive``
        (replicates drawn from the likelihood at each draw), ``log_likelihood``
        (pointwise, one value per observation, for LOO), ``observed_data``,
        ``sample_stats`` (``log_joint`` = log p(x, z), ``log_guide`` = log q(z),
        ``log_weight`` = their difference) and ``vi_trace`` (the loss of every
        step). Every group carries the fit's settings and timings as attributes.

    Notes
    -----
    Global and local latent sites are told apart by the trace's plates (a
    latent site in a plate of an observed site is local, e.g. ``z``); the
    attributes ``local_sites`` and ``local_kept`` say which were found and
    whether they are in ``posterior``. For models with local latents the
    pointwise log-likelihood is conditional on the drawn local codes.

    Examples
    --------
    >>> idata = to_inference_data(result, num_samples=500)  # doctest: +SKIP
    >>> idata.posterior["tau"].mean()  # doctest: +SKIP
    """
    num_samples = check_positive_int("num_samples", num_samples)
    num_predictive = check_positive_int("num_predictive", num_predictive, allow_none=True)
    if seed is not None:
        seed = check_positive_int("seed", seed, minimum=0)
    inputs = model_inputs(result, data)
    if dims is None:
        dims = getattr(result.model, "arviz_dims", None) or {}
    if not isinstance(dims, Mapping):
        raise TypeError(f"The 'dims' argument must be a mapping of site name to dim names. Got {dims!r} instead.")
    if include_local not in (None, True, False):
        raise TypeError(f"The 'include_local' argument must be True, False or None. Got {include_local!r} instead.")
    budget = {None: _LOCAL_VALUES, True: 2**62, False: 0}[include_local]
    draws = sample_guide(
        result, inputs, num_samples=num_samples, num_predictive=num_predictive, seed=seed, local_budget=budget
    )
    return inference_data_from_draws(draws, result, dims=dims, seed=seed)


def sample_guide(
    result, inputs: dict, *, num_samples: int, num_predictive: int | None, seed, collect=True, local_budget: int = 0
):
    """Run :func:`._draws.draw_from_guide` on a fit, seeded without touching the global RNG."""
    if num_predictive is None:
        observed = [v for v in inputs.values() if isinstance(v, torch.Tensor)]
        size = max(1, sum(v.numel() for v in observed))
        num_predictive = max(_MIN_PREDICTIVE, _PREDICTIVE_VALUES // size)
    num_predictive = min(num_predictive, num_samples)
    with local_params(result), seeded(seed):
        return draw_from_guide(
            result.model,
            result.guide,
            inputs,
            num_samples=num_samples,
            num_predictive=num_predictive,
            collect=collect,
            local_budget=local_budget,
        )


def inference_data_from_draws(draws: GuideDraws, result, *, dims: Mapping, seed=None):
    """Bundle :class:`._draws.GuideDraws` into the groups described in :func:`to_inference_data`."""
    num_samples = int(draws.log_weights.shape[0])
    lead = ("chain", "draw")

    def one_chain(values: dict) -> dict:
        return {name: t.unsqueeze(0) for name, t in values.items()}

    groups = {
        "posterior": _dataset(one_chain(draws.posterior), draws, dims, lead=lead),  # may be empty
        "posterior_predictive": _dataset(one_chain(draws.predictive), draws, dims, lead=lead),
        "log_likelihood": _dataset(one_chain(draws.log_likelihood), draws, dims, lead=lead, event=False),
        "observed_data": _dataset(draws.observed, draws, dims, lead=()),
        "sample_stats": xr.Dataset(
            {
                "log_joint": (lead, draws.log_joint.numpy()[None]),
                "log_guide": (lead, draws.log_guide.numpy()[None]),
                "log_weight": (lead, draws.log_weights.numpy()[None]),
            },
            coords={"chain": [0], "draw": np.arange(num_samples)},
        ),
    }
    losses = getattr(result, "losses", None)
    if isinstance(losses, torch.Tensor) and losses.numel() > 0:
        groups["vi_trace"] = xr.Dataset({"loss": (("step",), losses.detach().double().cpu().numpy())})
    attrs = _fit_attrs(result, num_samples, seed)
    attrs["local_sites"] = _attr(list(draws.local_sites))
    attrs["local_kept"] = _attr(draws.local_kept)
    attrs["data_plates"] = _attr(list(draws.data_plates))
    return _arviz.make_inference_data(groups, attrs)


def save_inference_data(idata, path) -> None:
    """Write ``idata`` (as made by :func:`to_inference_data`) to a netCDF-4 file."""
    _arviz.save_netcdf(idata, path)


def load_inference_data(path):
    """Read a netCDF file written by :func:`save_inference_data` back into memory."""
    return _arviz.load_netcdf(path)
