"""A NUTS reference for small problems, and SVI against it.

:func:`run_nuts` runs Pyro's No-U-Turn sampler on a model (one chain);
:func:`compare_to_nuts` puts the guide's posterior mean and standard
deviation of identifiable quantities next to NUTS's. The quantities come from
the same user function as in :func:`~pyrolatent.diagnostics.restart_diagnostics`:
NUTS draws are handed to it through a guide that replays them one at a time.

NUTS in Pyro costs a few milliseconds per gradient and tens of gradients per
draw, so keep it to small data and a few hundred draws.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field

import numpy as np
import pyro
import pyro.distributions as dist
import torch
import xarray as xr
from pyro.infer import MCMC, NUTS
from pyro.infer.autoguide.initialization import init_to_uniform, init_to_value

from pyrolatent._pyro import local_params, seeded
from pyrolatent._validation import check_positive_int, check_probability
from pyrolatent.inference import as_model_inputs

from . import _arviz
from .restarts import Quantities, draw_quantities, model_quantities

__all__ = ["NUTSComparison", "NUTSResult", "ReplayGuide", "compare_to_nuts", "run_nuts"]


class ReplayGuide:
    """A guide that replays stored posterior draws, one per call, in order.

    Each call samples every stored site as a ``Delta`` at the next draw and
    returns ``{site: value}``, so functions written for a fitted guide
    (``guide()`` or ``poutine.trace(guide).get_trace()``) work unchanged.
    """

    def __init__(self, samples: dict):
        self.samples = samples
        self.num_draws = int(next(iter(samples.values())).shape[0])
        self.index = 0

    def __call__(self, *args, **kwargs) -> dict:
        i = self.index % self.num_draws
        self.index += 1
        out = {}
        for name, values in self.samples.items():
            value = values[i]
            out[name] = pyro.sample(name, dist.Delta(value, event_dim=value.dim()))
        return out


@dataclass(frozen=True)
class NUTSResult:
    """Draws and diagnostics of one NUTS chain.

    Attributes
    ----------
    model : callable
        The model sampled.
    samples : dict of str to Tensor
        ``(num_samples, *site_shape)`` per latent site, on the CPU.
    num_warmup, num_samples : int
    wall_time : float
        Seconds for warm-up and sampling.
    divergences : int
        Divergent transitions after warm-up.
    site_diagnostics : dict
        Pyro's per-site ``n_eff`` and ``r_hat`` (split within the chain).
    """

    model: object
    samples: dict = field(repr=False)
    num_warmup: int
    num_samples: int
    wall_time: float
    divergences: int
    site_diagnostics: dict = field(repr=False, default_factory=dict)

    def guide(self) -> ReplayGuide:
        """A fresh :class:`ReplayGuide` over the draws."""
        return ReplayGuide(self.samples)

    def to_dataset(self) -> xr.Dataset:
        """The draws as an ``xarray.Dataset`` (one chain)."""
        return xr.Dataset(
            {
                name: (["chain", "draw"] + [f"{name}_dim_{i}" for i in range(v.dim() - 1)], v.double().numpy()[None])
                for name, v in self.samples.items()
            }
        )

    def to_inference_data(self):
        """The draws as ArviZ inference data (``posterior`` only)."""
        return _arviz.make_inference_data(
            {"posterior": self.to_dataset()}, {"inference_library": "pyro", "inference_method": "nuts"}
        )


def run_nuts(
    model,
    data,
    *,
    num_warmup: int = 300,
    num_samples: int = 300,
    seed: int = 0,
    max_tree_depth: int = 10,
    target_accept_prob: float = 0.8,
    init_values: dict | None = None,
    jit_compile: bool = False,
    progress: bool = False,
) -> NUTSResult:
    """Sample the posterior of ``model`` given ``data`` with Pyro's NUTS (one chain).

    Parameters
    ----------
    model : callable
        A Pyro model taking the data as keyword inputs, e.g. a collapsed
        :class:`~pyrolatent.models.BayesianPCA`.
    data : Dataset, tensor or mapping
        The data (a tensor or ``Dataset`` is passed as ``x=``).
    num_warmup, num_samples : int
        Warm-up (step size and diagonal mass matrix adaptation) and kept draws.
    seed : int
        Seed of the chain (in a forked RNG; the global RNG is untouched).
    max_tree_depth : int
        At most ``2**max_tree_depth`` leapfrog steps per draw; lower it to
        bound the cost per draw on ridge-shaped posteriors.
    target_accept_prob : float
        Step-size adaptation target.
    init_values : dict, optional
        Starting values of the latent sites; by default Pyro's: uniform in
        (-2, 2) on the unconstrained scale.
    jit_compile : bool
        Trace the potential energy with the PyTorch JIT (faster for small models).
    progress : bool
        Show Pyro's progress bar.

    Returns
    -------
    NUTSResult
    """
    num_warmup = check_positive_int("num_warmup", num_warmup)
    num_samples = check_positive_int("num_samples", num_samples, minimum=4)
    seed = check_positive_int("seed", seed, minimum=0)
    max_tree_depth = check_positive_int("max_tree_depth", max_tree_depth)
    target_accept_prob = check_probability("target_accept_prob", target_accept_prob)
    if init_values is not None and not isinstance(init_values, dict):
        raise TypeError(
            "The 'init_values' argument must be a dict of site values or None. "
            f"Got {type(init_values).__name__} instead."
        )
    inputs = as_model_inputs(data)
    init = init_to_value(values=init_values) if init_values else init_to_uniform
    kernel = NUTS(
        model,
        max_tree_depth=max_tree_depth,
        target_accept_prob=target_accept_prob,
        init_strategy=init,
        jit_compile=jit_compile,
        ignore_jit_warnings=True,
    )
    mcmc = MCMC(kernel, num_samples=num_samples, warmup_steps=num_warmup, num_chains=1, disable_progbar=not progress)
    t0 = time.perf_counter()
    with local_params(model), seeded(seed), warnings.catch_warnings():
        # The JIT path warns that torch.jit.trace is deprecated; the sampler is unaffected.
        warnings.filterwarnings("ignore", message=".*jit.*", category=DeprecationWarning)
        warnings.filterwarnings("ignore", message=".*jit.*", category=FutureWarning)
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        mcmc.run(**inputs)
        samples = {k: v.detach().cpu() for k, v in mcmc.get_samples().items()}
        diagnostics = mcmc.diagnostics()
    wall = time.perf_counter() - t0
    divergences = sum(len(v) for v in diagnostics.get("divergences", {}).values())
    sites = {
        k: {stat: np.asarray(val).tolist() for stat, val in v.items()} for k, v in diagnostics.items() if k in samples
    }
    return NUTSResult(
        model=model,
        samples=samples,
        num_warmup=num_warmup,
        num_samples=num_samples,
        wall_time=wall,
        divergences=divergences,
        site_diagnostics=sites,
    )


@dataclass(frozen=True)
class NUTSComparison:
    """SVI against NUTS on identifiable quantities.

    Attributes
    ----------
    svi_draws, nuts_draws : dict of str to numpy.ndarray
        ``(num_draws, *shape)`` per quantity.
    nuts : NUTSResult
        The reference run.
    """

    svi_draws: dict = field(repr=False)
    nuts_draws: dict = field(repr=False)
    nuts: NUTSResult = field(repr=False)

    def table(self):
        """One row per element of each quantity (a pandas DataFrame): posterior
        mean and sd under SVI and NUTS, ``z`` = (SVI mean - NUTS mean) / NUTS sd,
        and ``sd_ratio`` = SVI sd / NUTS sd (below 1: the guide is too narrow)."""
        import pandas as pd

        rows = []
        for name, nd in self.nuts_draws.items():
            sd_ = self.svi_draws[name]
            sm, ss = sd_.mean(0).ravel(), sd_.std(0, ddof=1).ravel()
            nm, ns = nd.mean(0).ravel(), nd.std(0, ddof=1).ravel()
            shape = nd.shape[1:]
            for flat in range(nm.size):
                index = np.unravel_index(flat, shape) if shape else ()
                label = name + ("[" + ",".join(str(int(i)) for i in index) + "]" if shape else "")
                rows.append(
                    {
                        "quantity": label,
                        "svi_mean": sm[flat],
                        "svi_sd": ss[flat],
                        "nuts_mean": nm[flat],
                        "nuts_sd": ns[flat],
                        "z": (sm[flat] - nm[flat]) / ns[flat] if ns[flat] > 0 else np.nan,
                        "sd_ratio": ss[flat] / ns[flat] if ns[flat] > 0 else np.nan,
                    }
                )
        return pd.DataFrame(rows).set_index("quantity")


def compare_to_nuts(
    result,
    nuts: NUTSResult,
    quantities: Quantities = model_quantities,
    *,
    num_samples: int | None = None,
    seed: int | None = 0,
) -> NUTSComparison:
    """Identifiable quantities under the fitted guide and under NUTS.

    Parameters
    ----------
    result : FitResult
        The SVI fit (its ``model`` and ``guide``).
    nuts : NUTSResult
        From :func:`run_nuts` on the same model class and data.
    quantities : callable
        ``quantities(model, guide) -> dict[str, Tensor]``, one draw (see
        :func:`~pyrolatent.diagnostics.restart_diagnostics`).
    num_samples : int, optional
        Guide draws; default as many as NUTS kept.
    seed : int, optional
        Seed of the guide draws.

    Returns
    -------
    NUTSComparison
    """
    if not isinstance(nuts, NUTSResult):
        raise TypeError(f"The 'nuts' argument must be a NUTSResult from run_nuts. Got {type(nuts).__name__} instead.")
    num_samples = nuts.num_samples if num_samples is None else check_positive_int("num_samples", num_samples)
    svi = draw_quantities(result.model, result.guide, quantities, num_samples, seed=seed)
    ref = draw_quantities(nuts.model, nuts.guide(), quantities, nuts.num_samples, seed=seed)
    if sorted(svi) != sorted(ref):
        raise ValueError(f"The quantities differ between SVI ({sorted(svi)}) and NUTS ({sorted(ref)}).")
    return NUTSComparison(svi_draws=svi, nuts_draws=ref, nuts=nuts)
