"""The one place that knows which ArviZ is installed.

ArviZ 0.23 (the last release for Python 3.11) keeps posterior groups in an
``arviz.InferenceData``; ArviZ 1.x (Python >= 3.12) keeps them in an
``xarray.DataTree`` and moved PSIS and the LOO record into ``arviz_stats``.
Everything else in :mod:`pyrolatent.diagnostics` builds plain
``xarray.Dataset`` groups (dims ``chain`` and ``draw`` first) and goes through
the helpers here, so the rest of the package never branches on the version.

Importing ArviZ 0.23 prints a ``FutureWarning`` about the coming refactor;
:func:`arviz` imports it once with that warning silenced (pytest would turn it
into an error).
"""

from __future__ import annotations

import functools
import os
import warnings

import numpy as np
import xarray as xr

__all__ = [
    "arviz",
    "compare",
    "elpd_summary",
    "ess",
    "group",
    "group_names",
    "is_arviz_1",
    "load_netcdf",
    "loo",
    "make_inference_data",
    "rhat",
    "save_netcdf",
    "summary",
]


@functools.cache
def arviz():
    """Import and return the ``arviz`` module (its import-time FutureWarning silenced)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        import arviz as az
    return az


def _major() -> int:
    return int(arviz().__version__.split(".")[0])


@functools.cache
def is_arviz_1() -> bool:
    """True under ArviZ 1.x (``xarray.DataTree`` containers, ``arviz_stats``)."""
    return _major() >= 1


# -- containers ---------------------------------------------------------------
def make_inference_data(groups: dict[str, xr.Dataset], attrs: dict | None = None):
    """Bundle ``groups`` (name -> ``xarray.Dataset``) into the installed ArviZ's container,
    with ``attrs`` on every group; groups without variables are left out (as
    ArviZ 0.23 does). Custom group names (for example ``"vi_trace"``) are
    allowed in both versions."""
    groups = {name: ds.assign_attrs(**(attrs or {})) for name, ds in groups.items() if ds.data_vars}
    if is_arviz_1():
        return xr.DataTree.from_dict(groups)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "group ... not defined in the InferenceData scheme"
        return arviz().InferenceData(**groups)


def group_names(idata) -> list[str]:
    """Names of the groups held by ``idata``."""
    if is_arviz_1():
        return list(idata.children)
    return list(idata.groups())


def group(idata, name: str) -> xr.Dataset:
    """Group ``name`` of ``idata`` as an ``xarray.Dataset``."""
    if name not in group_names(idata):
        raise KeyError(f"The inference data has no group {name!r}; it has {group_names(idata)}.")
    if is_arviz_1():
        return idata[name].to_dataset()
    return getattr(idata, name)


def save_netcdf(idata, path: str | os.PathLike) -> None:
    """Write ``idata`` to one netCDF-4 file, one HDF5 group per ArviZ group
    (``InferenceData.to_netcdf`` and ``DataTree.to_netcdf`` share this call)."""
    idata.to_netcdf(os.fspath(path), engine="h5netcdf")


def load_netcdf(path: str | os.PathLike):
    """Read a file written by :func:`save_netcdf` fully into memory."""
    if is_arviz_1():
        return xr.open_datatree(os.fspath(path), engine="h5netcdf").load()
    az = arviz()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return az.from_netcdf(os.fspath(path), engine="h5netcdf").load()


# -- diagnostics ---------------------------------------------------------------
def rhat(dataset: xr.Dataset) -> xr.Dataset:
    """Rank-normalised split R-hat of every variable (dims ``chain``, ``draw`` reduced)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return arviz().rhat(dataset)


def ess(dataset: xr.Dataset) -> xr.Dataset:
    """Bulk effective sample size of every variable (dims ``chain``, ``draw`` reduced)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return arviz().ess(dataset)


def loo(idata, *, var_name: str | None = None):
    """``arviz.loo(idata, pointwise=True)``.

    ArviZ's own warning about high Pareto k is not re-raised: the record it
    returns carries the same information (``warning`` and the ``pareto_k``
    values), which :func:`elpd_summary` exposes.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        return arviz().loo(idata, pointwise=True, var_name=var_name)


def elpd_summary(elpd) -> dict:
    """A version-independent view of a LOO record: ``elpd``, ``se``, ``p``,
    ``pareto_k`` (array), ``warning`` (bool), ``n_samples``, ``n_data_points``."""

    def first(*names):
        for name in names:
            value = getattr(elpd, name, None)
            if value is None and hasattr(elpd, "get"):
                value = elpd.get(name)
            if value is not None:
                return value
        return None

    pareto_k = first("pareto_k")
    return {
        "elpd": float(first("elpd_loo", "elpd")),
        "se": float(first("se")),
        "p": float(first("p_loo", "p")),
        "pareto_k": None if pareto_k is None else np.asarray(pareto_k, dtype=np.float64).ravel(),
        "warning": bool(first("warning")),
        "n_samples": int(first("n_samples")),
        "n_data_points": int(first("n_data_points")),
    }


def compare(idatas: dict, *, var_name: str | None = None):
    """``arviz.compare`` on LOO, with the columns renamed to the 1.x names
    (``elpd``, ``p``) so that callers see one table layout."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", DeprecationWarning)  # pandas 3 deprecations inside ArviZ 0.23
        kwargs = {} if is_arviz_1() else {"ic": "loo"}
        table = arviz().compare(idatas, var_name=var_name, **kwargs)
    return table.rename(columns={"elpd_loo": "elpd", "p_loo": "p"})


def summary(idata):
    """``arviz.summary(idata, kind="stats")`` of the posterior group, a pandas DataFrame."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        warnings.simplefilter("ignore", FutureWarning)
        return arviz().summary(idata, kind="stats")
