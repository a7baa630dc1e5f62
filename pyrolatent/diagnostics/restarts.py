"""Restarts as chains: do independent fits agree?

Fit the same model R times from different seeds, draw S times from each
fitted guide, and treat the R x S draws as R chains: R-hat and ESS across
restarts flag fits that ended in different optima. The raw latent variables
are often not comparable between fits (BPCA's ``W`` is defined only up to a
rotation and signs), so the check runs on *identifiable quantities* that a
user function computes from the model and guide (for BPCA: relevances or ARD
precisions sorted by size, the noise variance, ``W^T W``).

R-hat compares the spread between restarts with the spread within each
guide. A mean-field guide's spread is usually too narrow, so restarts that
stop a little apart (optimiser noise, slow pruning) already raise R-hat: the
default threshold 1.05 is looser than the 1.01 used for MCMC, and on BPCA
with Bishop's data well-run restarts still give about 1.1-1.4 on ``W^T W``.
Read the value against that scale: a restart stuck in another optimum gives
values of 2 and more.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import xarray as xr

from pyrolatent._pyro import local_params, seeded
from pyrolatent._validation import check_positive_float, check_positive_int
from pyrolatent.inference import fit

from . import _arviz

__all__ = ["RestartDiagnostic", "draw_quantities", "fit_restarts", "model_quantities", "restart_diagnostics"]

Quantities = Callable[[object, object], Mapping[str, torch.Tensor]]


def model_quantities(model, guide) -> Mapping[str, torch.Tensor]:
    """The default quantities: the model's ``identifiable_quantities(guide)`` hook."""
    from pyrolatent.models import LatentModel

    if not (isinstance(model, LatentModel) and model.supports("identifiable_quantities")):
        raise TypeError(
            f"The model {type(model).__name__} has no identifiable_quantities(guide) method; pass a "
            "'quantities' function mapping (model, guide) to a dict of named tensors."
        )
    return model.identifiable_quantities(guide)


def fit_restarts(
    make_model, data, num_restarts: int = 4, *, seeds: Sequence[int] | None = None, make_guide=None, **settings
) -> list:
    """Fit ``make_model()`` ``num_restarts`` times from different seeds.

    Parameters
    ----------
    make_model : callable
        Returns a fresh model each call.
    data : Dataset, tensor or mapping
        Passed to :func:`pyrolatent.inference.fit`.
    num_restarts : int
        Number of fits (at least 2).
    seeds : sequence of int, optional
        One seed per fit; default ``0, 1, ..., num_restarts - 1``.
    make_guide : callable, optional
        ``make_guide(model)`` returns a fresh guide; default ``model.default_guide()``.
    **settings
        Fit settings (``num_steps=``, ``lr=``, ...); ``seed`` is taken from ``seeds``.

    Returns
    -------
    list of FitResult
    """
    num_restarts = check_positive_int("num_restarts", num_restarts, minimum=2)
    if not callable(make_model):
        raise TypeError(f"The 'make_model' argument must be callable. Got {type(make_model).__name__} instead.")
    if seeds is None:
        seeds = list(range(num_restarts))
    seeds = [check_positive_int("seeds", s, minimum=0) for s in seeds]
    if len(seeds) != num_restarts or len(set(seeds)) != num_restarts:
        raise ValueError(
            f"The 'seeds' argument must hold {num_restarts} distinct seeds (one per restart). Got {seeds!r} instead."
        )
    if "seed" in settings:
        raise TypeError("Pass the restarts' seeds as 'seeds', not 'seed'.")
    results = []
    for seed in seeds:
        model = make_model()
        guide = make_guide(model) if make_guide is not None else None
        results.append(fit(model, data, guide=guide, seed=seed, **settings))
    return results


@torch.no_grad()
def draw_quantities(model, guide, quantities: Quantities, num_samples: int, *, seed: int | None = 0) -> dict:
    """Call ``quantities(model, guide)`` ``num_samples`` times; stack each quantity.

    ``quantities`` must return *one draw*: it draws from the guide itself
    (e.g. ``poutine.trace(guide).get_trace()``) and maps the draw to a dict of
    named tensors with fixed shapes.

    Returns
    -------
    dict of str to numpy.ndarray, shape ``(num_samples, *quantity_shape)``
    """
    num_samples = check_positive_int("num_samples", num_samples, minimum=4)
    rows: dict[str, list] = {}
    with local_params(model, guide), seeded(seed):
        for _ in range(num_samples):
            draw = quantities(model, guide)
            if not isinstance(draw, Mapping) or not draw:
                raise TypeError(
                    "The 'quantities' function must return a non-empty dict of named tensors. "
                    f"Got {type(draw).__name__} instead."
                )
            for name, value in draw.items():
                rows.setdefault(name, []).append(torch.as_tensor(value).detach().double().cpu())
    out = {}
    for name, values in rows.items():
        shapes = {tuple(v.shape) for v in values}
        if len(shapes) != 1:
            raise ValueError(f"The quantity {name!r} changed shape between draws: {sorted(shapes)}.")
        out[name] = torch.stack(values).numpy()
    return out


@dataclass(frozen=True)
class RestartDiagnostic:
    """Agreement of independent fits on identifiable quantities.

    Attributes
    ----------
    draws : dict of str to numpy.ndarray
        ``(num_restarts, num_samples, *shape)`` per quantity.
    rhat, ess : dict of str to numpy.ndarray
        Rank-normalised split R-hat and bulk ESS across restarts, per element.
    threshold : float
        R-hat above which a quantity counts as disagreeing.
    seeds : list
        The fits' seeds, when known.
    final_elbos : list of float
        The final ELBO of each fit.
    """

    draws: dict
    rhat: dict
    ess: dict
    threshold: float
    seeds: list = field(default_factory=list)
    final_elbos: list = field(default_factory=list)

    @property
    def num_restarts(self) -> int:
        return int(next(iter(self.draws.values())).shape[0])

    @property
    def max_rhat(self) -> float:
        """The largest R-hat over every element of every quantity."""
        return float(max(np.nanmax(r) for r in self.rhat.values()))

    @property
    def agree(self) -> bool:
        """True when every element's R-hat is at most ``threshold``."""
        return self.max_rhat <= self.threshold

    def table(self):
        """One row per quantity: size, worst R-hat, smallest ESS, verdict (a pandas DataFrame)."""
        import pandas as pd

        rows = []
        for name in self.draws:
            r, e = self.rhat[name], self.ess[name]
            worst = float(np.nanmax(r))
            rows.append(
                {
                    "quantity": name,
                    "size": int(np.size(r)),
                    "max_rhat": worst,
                    "min_ess": float(np.nanmin(e)),
                    "agree": bool(worst <= self.threshold),
                }
            )
        return pd.DataFrame(rows).set_index("quantity")

    def means(self) -> dict:
        """Mean of each quantity within each restart: ``(num_restarts, *shape)``."""
        return {name: d.mean(axis=1) for name, d in self.draws.items()}

    def summary(self) -> str:
        """One sentence for reports."""
        verdict = "agree" if self.agree else "DISAGREE"
        return (
            f"{self.num_restarts} restarts {verdict}: max R-hat {self.max_rhat:.3f} "
            f"(threshold {self.threshold:g}) over the identifiable quantities {sorted(self.draws)}."
        )

    def to_dataset(self) -> xr.Dataset:
        """The draws as an ``xarray.Dataset`` with restarts as ``chain``."""
        return _chains_dataset(self.draws)


def _chains_dataset(draws: dict) -> xr.Dataset:
    data_vars = {}
    for name, d in draws.items():
        data_vars[name] = (["chain", "draw"] + [f"{name}_dim_{i}" for i in range(d.ndim - 2)], d)
    return xr.Dataset(data_vars)


def restart_diagnostics(
    results: Sequence,
    quantities: Quantities = model_quantities,
    *,
    num_samples: int = 200,
    seed: int | None = 0,
    threshold: float = 1.05,
) -> RestartDiagnostic:
    """R-hat and ESS across restarts, on identifiable quantities.

    Parameters
    ----------
    results : sequence of FitResult
        At least two fits of the same model (e.g. from :func:`fit_restarts`).
    quantities : callable
        ``quantities(model, guide) -> dict[str, Tensor]``: one draw of named
        quantities that do not depend on how a fit labels, rotates or signs
        its latent variables. Default: the model's
        ``identifiable_quantities(guide)`` (BPCA: sorted relevances and ARD
        precisions, noise variance, ``W^T W``).
    num_samples : int
        Draws per restart.
    seed : int, optional
        Seed of the draws (the same for every restart, in a forked RNG).
    threshold : float
        R-hat above which the restarts are said to disagree.

    Returns
    -------
    RestartDiagnostic

    Examples
    --------
    >>> def noise(model, guide):  # doctest: +SKIP
    ...     return {"noise_variance": 1 / guide()["tau"]}
    >>> restart_diagnostics(fit_restarts(lambda: BayesianPCA(10, 9), data, 4, num_steps=2000), noise)  # doctest: +SKIP
    """
    results = list(results)
    if len(results) < 2:
        raise ValueError(f"The 'results' argument must hold at least 2 fits. Got {len(results)} instead.")
    if not callable(quantities):
        raise TypeError(f"The 'quantities' argument must be callable. Got {type(quantities).__name__} instead.")
    threshold = check_positive_float("threshold", threshold)
    per_fit = [draw_quantities(r.model, r.guide, quantities, num_samples, seed=seed) for r in results]
    names = list(per_fit[0])
    for i, d in enumerate(per_fit[1:], start=1):
        if list(d) != names or any(d[n].shape != per_fit[0][n].shape for n in names):
            raise ValueError(f"Fit {i} gives quantities {list(d)} that do not match fit 0's {names} in name or shape.")
    draws = {n: np.stack([d[n] for d in per_fit]) for n in names}
    dataset = _chains_dataset(draws)
    rhat_ds, ess_ds = _arviz.rhat(dataset), _arviz.ess(dataset)
    return RestartDiagnostic(
        draws=draws,
        rhat={n: np.asarray(rhat_ds[n], dtype=np.float64) for n in names},
        ess={n: np.asarray(ess_ds[n], dtype=np.float64) for n in names},
        threshold=threshold,
        seeds=[getattr(getattr(r, "settings", None), "seed", None) for r in results],
        final_elbos=[float(getattr(r, "final_elbo", math.nan)) for r in results],
    )
