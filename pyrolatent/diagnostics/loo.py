"""PSIS-LOO and model comparison for fitted guides (``az.loo``, ``az.compare``).

The pointwise log-likelihood comes from guide draws (see
:func:`~pyrolatent.diagnostics.to_inference_data`), so LOO here treats the
guide as the posterior. That is fine for ranking models whose guides are of
the same quality; the per-observation Pareto k values say where the
leave-one-out estimate itself is shaky.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from pyrolatent._validation import check_positive_int

from . import _arviz
from .inference_data import to_inference_data
from .psis import USABLE

__all__ = ["LOO", "compare_models", "loo"]


@dataclass(frozen=True)
class LOO:
    """Leave-one-out expected log predictive density, estimated by PSIS.

    Attributes
    ----------
    elpd : float
        Sum over observations of the log predictive density of each
        observation given the others (higher is better).
    se : float
        Its standard error.
    p : float
        Effective number of parameters.
    pareto_k : numpy.ndarray
        Pareto k of each observation's importance ratios.
    warning : bool
        ArviZ's flag that some k values are too high for a reliable estimate.
    n_samples, n_data_points : int
        Draws and observations used.
    raw : object
        ArviZ's own record, for ``az.plot_khat`` and friends.
    """

    elpd: float
    se: float
    p: float
    pareto_k: np.ndarray = field(repr=False)
    warning: bool
    n_samples: int
    n_data_points: int
    raw: object = field(repr=False, default=None)

    @property
    def fraction_bad_k(self) -> float:
        """Share of observations with Pareto k above :data:`~pyrolatent.diagnostics.psis.USABLE`."""
        return float(np.mean(self.pareto_k > USABLE))


def _as_idata(source, data, num_samples: int, seed):
    if hasattr(source, "model") and hasattr(source, "guide"):
        return to_inference_data(source, data, num_samples=num_samples, num_predictive=1, seed=seed)
    try:
        _arviz.group(source, "log_likelihood")
    except (AttributeError, KeyError, TypeError) as exc:
        raise TypeError(
            "Expected a FitResult or inference data with a log_likelihood group (from to_inference_data). "
            f"Got {type(source).__name__} instead."
        ) from exc
    return source


def loo(source, data=None, *, num_samples: int = 500, seed: int | None = 0, var_name: str | None = None) -> LOO:
    """PSIS-LOO of one fit.

    Parameters
    ----------
    source : FitResult or InferenceData
        A fit (converted with :func:`to_inference_data`) or inference data with
        a ``log_likelihood`` group.
    data : Dataset, tensor or mapping, optional
        Data to score a fit on; by default the fit's own.
    num_samples : int
        Guide draws when ``source`` is a fit.
    seed : int, optional
        Seed of the draws.
    var_name : str, optional
        Observed site to use when the model has several.

    Returns
    -------
    LOO
    """
    num_samples = check_positive_int("num_samples", num_samples)
    idata = _as_idata(source, data, num_samples, seed)
    raw = _arviz.loo(idata, var_name=var_name)
    s = _arviz.elpd_summary(raw)
    return LOO(raw=raw, **s)


def compare_models(
    candidates: Mapping[str, object],
    data=None,
    *,
    num_samples: int = 500,
    seed: int | None = 0,
    var_name: str | None = None,
):
    """Rank fitted models by PSIS-LOO (``az.compare``).

    Parameters
    ----------
    candidates : mapping of str to FitResult or InferenceData
        At least two named fits of different models on the same data, e.g.
        ``{"K=3": fit3, "K=1": fit1}``.
    data, num_samples, seed, var_name
        As in :func:`loo`.

    Returns
    -------
    pandas.DataFrame
        One row per model, best first, with columns ``rank``, ``elpd``, ``p``,
        ``elpd_diff`` (to the best), ``weight`` (stacking), ``se``, ``dse``
        (standard error of the difference) and ``warning``.

    Examples
    --------
    >>> compare_models({"K=3": fit3, "K=1": fit1})  # doctest: +SKIP
    """
    if not isinstance(candidates, Mapping) or len(candidates) < 2:
        size = len(candidates) if hasattr(candidates, "__len__") else "?"
        raise ValueError(
            "The 'candidates' argument must be a mapping of at least two named fits. "
            f"Got {type(candidates).__name__} with {size} entries."
        )
    num_samples = check_positive_int("num_samples", num_samples)
    idatas = {str(name): _as_idata(src, data, num_samples, seed) for name, src in candidates.items()}
    n_obs = set()
    for idata in idatas.values():
        ll = _arviz.group(idata, "log_likelihood")
        var = var_name or next(iter(ll.data_vars))
        n_obs.add(int(np.prod(ll[var].shape[2:])))
    if len(n_obs) != 1:
        raise ValueError(
            f"The 'candidates' must be fits on the same data; their numbers of observations differ: {sorted(n_obs)}."
        )
    return _arviz.compare(idatas, var_name=var_name)
