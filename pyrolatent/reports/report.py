"""One self-contained report per run: :func:`write_report`.

The report is built in a temporary folder beside its destination and renamed
into place only when everything has been written, so an error never leaves
half a report, and an older report is replaced only by a complete new one.
It uses only the model's optional hooks (``encode``, ``reconstruct``,
``sample``; see :class:`pyrolatent.models.LatentModel`), skipping a figure
whose hook the model does not offer, and the model's own figures from
:mod:`pyrolatent.reports.model_figures`.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import torch

from pyrolatent._files import replacing_dir
from pyrolatent._validation import check_positive_int
from pyrolatent.diagnostics import _arviz
from pyrolatent.diagnostics.inference_data import model_inputs, save_inference_data, to_inference_data
from pyrolatent.diagnostics.nuts import NUTSComparison
from pyrolatent.diagnostics.psis import GOOD, USABLE, psis_from_log_weights
from pyrolatent.diagnostics.restarts import RestartDiagnostic
from pyrolatent.models import LatentModel

from . import figures
from .html import HTMLPage, png_bytes
from .model_figures import figures_for, model_findings

__all__ = ["write_report"]

REPORT_DIR = "report"
#: Rows of the az.summary table shown per variable (the netCDF file has them all).
SUMMARY_ROWS = 12
#: The report's netCDF is meant to be mailed: single precision, at most
#: NETCDF_BYTES before compression, at most NETCDF_DRAWS guide draws (fewer when
#: the draws are large, never fewer than NETCDF_MIN_DRAWS) and NETCDF_REPLICATES
#: replicates of the data. The report's tables and figures use all the draws.
NETCDF_BYTES, NETCDF_DRAWS, NETCDF_MIN_DRAWS, NETCDF_REPLICATES = 2_500_000, 100, 20, 2


def _compact(idata):
    """A copy of ``idata`` for the report's netCDF: float32, thinned to the budget."""
    groups = {name: _arviz.group(idata, name) for name in _arviz.group_names(idata)}

    def nbytes(ds, draws=None):
        if draws is not None and "draw" in ds.dims:
            ds = ds.isel(draw=slice(0, draws))
        return sum(v.size * (4 if v.dtype.kind == "f" else v.dtype.itemsize) for v in ds.data_vars.values())

    fixed = sum(nbytes(ds) for ds in groups.values() if "draw" not in ds.dims)
    replicates = NETCDF_REPLICATES
    pp = groups.get("posterior_predictive")
    if pp is not None and "draw" in pp.dims and nbytes(pp, 1) * replicates > NETCDF_BYTES // 3:
        replicates = 1
    fixed += nbytes(pp, replicates) if pp is not None else 0
    per_draw = sum(nbytes(ds, 1) for name, ds in groups.items() if "draw" in ds.dims and name != "posterior_predictive")
    draws = int(max(NETCDF_MIN_DRAWS, min(NETCDF_DRAWS, (NETCDF_BYTES - fixed) // max(per_draw, 1))))
    out = {}
    for name, ds in groups.items():
        if "draw" in ds.dims:
            ds = ds.isel(draw=slice(0, replicates if name == "posterior_predictive" else draws))
        out[name] = ds.map(lambda v: v.astype("float32") if v.dtype.kind == "f" else v, keep_attrs=True)
    kept = {"netcdf_draws": draws, "netcdf_replicates": replicates}
    return _arviz.make_inference_data(out, {**dict(getattr(idata, "attrs", {}) or {}), **kept}), kept


def _supports(model, hook: str) -> bool:
    return isinstance(model, LatentModel) and model.supports(hook)


def _records(frame, index_name: str, limit: int | None = None) -> list[dict]:
    frame = frame.reset_index().rename(columns={"index": index_name})
    rows = frame.to_dict("records")
    return rows if limit is None else rows[:limit]


def _summary_rows(idata) -> tuple[list[dict], int]:
    """``az.summary`` of the posterior (kind "stats"), at most SUMMARY_ROWS rows per variable."""
    table = _arviz.summary(idata)
    rows, shown = [], {}
    hidden = 0
    for name, row in table.iterrows():
        var = str(name).split("[")[0]
        shown[var] = shown.get(var, 0) + 1
        if shown[var] > SUMMARY_ROWS:
            hidden += 1
            continue
        rows.append({"variable": str(name), **{k: _number(v) for k, v in row.items()}})
    return rows, hidden


def _number(value):
    try:
        return float(value)
    except (TypeError, ValueError):
        return str(value)


def _to_numpy(t) -> np.ndarray:
    return t.detach().cpu().double().numpy() if isinstance(t, torch.Tensor) else np.asarray(t, dtype=np.float64)


class _Builder:
    """Collects figures (saved as PNG files and embedded) and facts for diagnostics.json."""

    def __init__(self, folder: Path, page: HTMLPage):
        self.folder, self.page, self.facts = folder, page, {}

    def figure(self, name: str, fig, caption: str) -> None:
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._") or "figure"
        png = png_bytes(fig)
        if getattr(getattr(fig, "canvas", None), "manager", None) is not None:
            import matplotlib.pyplot as plt  # a pyplot figure (from a model hook): release it

            plt.close(fig)
        (self.folder / f"{name}.png").write_bytes(png)
        self.page.figure(png, caption, alt=name)


def _header(page: HTMLPage, result, data, idata_path: str, kept: dict) -> None:
    page.section("Run")
    rows = [
        {"item": "model", "value": type(result.model).__name__},
        {"item": "guide", "value": type(result.guide).__name__},
        {
            "item": "data",
            "value": f"{getattr(data, 'name', 'data')}: "
            + ", ".join(
                f"{k} {tuple(v.shape)}" for k, v in model_inputs(result, data).items() if isinstance(v, torch.Tensor)
            ),
        },
    ]
    for key, value in result.summary().items():
        rows.append({"item": key, "value": f"{value:.6g}" if isinstance(value, float) else str(value)})
    page.table(rows)
    settings = result.settings.to_dict() if hasattr(result.settings, "to_dict") else {}
    if settings:
        page.paragraph(
            "Fit settings: " + ", ".join(f"{k}={v}" for k, v in settings.items() if v is not None), css="note"
        )
    page.paragraph(
        f"The first {kept['netcdf_draws']} guide draws, {kept['netcdf_replicates']} replicate(s) of the data and the pointwise "
        f"log-likelihoods are in {idata_path} (netCDF, ArviZ groups, single precision); the tables and "
        "figures here use all the draws.",
        css="note",
    )


def write_report(
    result,
    data,
    out_dir: str | os.PathLike,
    *,
    restarts: RestartDiagnostic | None = None,
    nuts: NUTSComparison | None = None,
    num_samples: int = 500,
    seed: int = 0,
    title: str | None = None,
    figure_data=None,
) -> Path:
    """Write ``out_dir/report/``: ``index.html`` (figures embedded), the PNG figures,
    ``inference_data.nc`` and ``diagnostics.json``.

    Parameters
    ----------
    result : FitResult
        The fit to report on.
    data : Dataset, tensor, mapping or None
        The fit's data. A ``pyrolatent.data.Dataset`` adds labels (latent
        scatter colours) and image layout (image grids); ``None`` uses
        ``result.data``.
    out_dir : path
        The run directory; the report goes to ``out_dir/report``.
    restarts : RestartDiagnostic, optional
        From :func:`pyrolatent.diagnostics.restart_diagnostics`: adds the restart-agreement section.
    nuts : NUTSComparison, optional
        From :func:`pyrolatent.diagnostics.compare_to_nuts`: adds the SVI-vs-NUTS section.
    num_samples : int
        Guide draws for the inference data and the k-hat.
    seed : int
        Seed of those draws.
    title : str, optional
        Page title; default "<model> on <data>".
    figure_data : optional
        What the model's own figures (the "Model figures" section) are drawn
        from, when it is more than ``data``: e.g. the ``{"x", "y"}`` mapping of
        both domains of a :class:`~pyrolatent.models.VBTA`. Default: ``data``.

    Returns
    -------
    pathlib.Path
        The path of ``index.html``.

    Examples
    --------
    >>> path = write_report(result, load_digits(), "runs/digits")  # doctest: +SKIP
    """
    num_samples = check_positive_int("num_samples", num_samples, minimum=10)
    if restarts is not None and not isinstance(restarts, RestartDiagnostic):
        raise TypeError(
            f"The 'restarts' argument must be a RestartDiagnostic or None. Got {type(restarts).__name__} instead."
        )
    if nuts is not None and not isinstance(nuts, NUTSComparison):
        raise TypeError(f"The 'nuts' argument must be a NUTSComparison or None. Got {type(nuts).__name__} instead.")
    final = Path(out_dir) / REPORT_DIR
    with replacing_dir(final) as tmp:
        _build(
            result,
            data,
            tmp,
            restarts=restarts,
            nuts=nuts,
            num_samples=num_samples,
            seed=seed,
            title=title,
            figure_data=figure_data,
        )
    return final / "index.html"


def _build(result, data, folder: Path, *, restarts, nuts, num_samples, seed, title, figure_data=None) -> None:
    model = result.model
    name = getattr(data, "name", None) or "data"
    page = HTMLPage(title or f"{type(model).__name__} on {name}")
    out = _Builder(folder, page)
    idata = to_inference_data(result, data, num_samples=num_samples, seed=seed)
    compact, kept = _compact(idata)
    save_inference_data(compact, folder / "inference_data.nc")
    page.section("Verdict")
    verdict_at = len(page.parts)
    _header(page, result, data, "inference_data.nc", kept)
    out.facts["fit"] = result.summary()

    page.section("ELBO")
    out.figure("elbo", figures.elbo_figure(_to_numpy(result.losses)), f"ELBO of each of the {result.num_steps} steps.")

    page.section("Posterior summary")
    if "posterior" in _arviz.group_names(idata):
        rows, hidden = _summary_rows(idata)
        page.table(rows)
        if hidden:
            page.paragraph(
                f"{hidden} more rows (at most {SUMMARY_ROWS} per variable) are in inference_data.nc.", css="note"
            )
        page.paragraph(f"Statistics of {num_samples} guide draws (az.summary, kind='stats').", css="note")
    else:
        page.paragraph("The model has no global latent sites, and its local ones are too large to keep.", css="note")

    draw = figures_for(model)
    if draw is not None:
        model_figs = draw(model, result.guide, data if figure_data is None else figure_data)
        if model_figs:
            page.section("Model figures")
            for fig_name, fig in model_figs.items():
                out.figure(str(fig_name), fig, f"{type(model).__name__}: {fig_name}")

    _ppc(out, idata)
    _khat(out, idata)
    if restarts is not None:
        _restarts(out, restarts)
    if nuts is not None:
        _nuts(out, nuts)
    _latents(out, result, data)
    page.parts[verdict_at:verdict_at] = _verdict(page, result, out.facts, model_findings(result, data))
    (folder / "diagnostics.json").write_text(json.dumps(out.facts, indent=2, default=str) + "\n")
    (folder / "index.html").write_text(page.render(), encoding="utf-8")


def _ppc(out: _Builder, idata) -> None:
    pp = _arviz.group(idata, "posterior_predictive")
    obs = _arviz.group(idata, "observed_data")
    out.page.section("Posterior predictive check")
    for var in pp.data_vars:
        replicates = np.asarray(pp[var])[0]
        if replicates.size == 0:  # a pyro.factor (a loss, not data) has nothing to replicate
            continue
        fig = figures.ppc_figure(np.asarray(obs[var]), replicates, name=str(var))
        out.figure(
            f"ppc_{var}",
            fig,
            f"Observed {var} (black) against {replicates.shape[0]} replicates "
            "drawn from the likelihood at guide draws (blue).",
        )


def _khat(out: _Builder, idata) -> None:
    log_weights = np.asarray(_arviz.group(idata, "sample_stats")["log_weight"]).ravel()
    check = psis_from_log_weights(torch.as_tensor(log_weights))
    out.facts["psis"] = check.to_dict()
    out.page.section("Did the guide work? (PSIS k-hat)")
    out.page.verdict(check.verdict, f"k-hat {check.k_hat:.2f}: {check.verdict}", check.message)
    out.page.paragraph(
        f"Importance-sampling effective sample size: {check.ess:.1f} of {check.num_samples} draws "
        f"(raw weights: {check.ess_raw:.1f}). Below {GOOD} good; {GOOD}-{USABLE} usable; above {USABLE} not to be trusted "
        "(Yao, Vehtari, Simpson, Gelman 2018).",
        css="note",
    )
    out.figure(
        "khat",
        figures.khat_figure(log_weights, check.k_hat, check.verdict, check.ess),
        "Importance log-weights log p(x, z) - log q(z) of the guide draws, and the largest weights.",
    )


def _restarts(out: _Builder, restarts: RestartDiagnostic) -> None:
    table = restarts.table()
    out.facts["restarts"] = {
        "summary": restarts.summary(),
        "max_rhat": restarts.max_rhat,
        "agree": restarts.agree,
        "table": _records(table, "quantity"),
        "final_elbos": restarts.final_elbos,
    }
    out.page.section("Agreement across restarts")
    out.page.verdict(
        "good" if restarts.agree else "unreliable", "agree" if restarts.agree else "disagree", restarts.summary()
    )
    out.page.table(_records(table, "quantity"))
    out.figure(
        "restarts",
        figures.restarts_figure(table, restarts.means(), restarts.final_elbos, restarts.threshold),
        "Worst R-hat of each identifiable quantity with the restarts as chains; restart means; final ELBOs.",
    )


def _nuts(out: _Builder, nuts: NUTSComparison) -> None:
    table = nuts.table()
    ref = nuts.nuts
    out.facts["nuts"] = {
        "num_warmup": ref.num_warmup,
        "num_samples": ref.num_samples,
        "divergences": ref.divergences,
        "wall_time": ref.wall_time,
        "max_abs_z": float(np.nanmax(np.abs(table["z"].to_numpy(float)))),
    }
    out.page.section("SVI against NUTS")
    out.page.paragraph(
        f"NUTS: {ref.num_warmup} warm-up and {ref.num_samples} kept draws, {ref.divergences} divergences, "
        f"{ref.wall_time:.1f} s. z = (SVI mean - NUTS mean) / NUTS sd; sd_ratio below 1 means the guide is too narrow."
    )
    rows = _records(table, "quantity", limit=40)
    out.page.table(rows)
    if len(table) > len(rows):
        out.page.paragraph(f"First {len(rows)} of {len(table)} rows.", css="note")
    out.figure("svi_vs_nuts", figures.nuts_figure(table), "Posterior means and spreads of the identifiable quantities.")


def _latents(out: _Builder, result, data) -> None:
    model, guide = result.model, result.guide
    x = model_inputs(result, data).get("x")
    if not isinstance(x, torch.Tensor):
        return
    labels = getattr(data, "y", None)
    image_shape = getattr(data, "image_shape", None)
    if _supports(model, "encode"):
        with torch.no_grad():
            z = _to_numpy(model.encode(x, guide))
        if z.ndim == 2 and z.shape[1] >= 2:
            out.page.section("Latent space")
            out.figure(
                "latent_scatter",
                figures.latent_scatter_figure(z, None if labels is None else _to_numpy(labels).astype(int)),
                "First two coordinates of the posterior mean of each row's latent code"
                + (", coloured by label." if labels is not None else "."),
            )
    if image_shape is None:
        return
    can_reconstruct, can_sample = _supports(model, "reconstruct"), _supports(model, "sample")
    if can_reconstruct or can_sample:
        out.page.section("Images")
    if can_reconstruct:
        n = min(10, x.shape[0])
        with torch.no_grad():
            rec = _to_numpy(model.reconstruct(x[:n], guide))
        grid = np.concatenate([_to_numpy(x[:n]), rec]).reshape((2 * n,) + tuple(image_shape))
        out.figure(
            "reconstructions",
            figures.image_grid_figure(
                grid, "data (top) and reconstructions (bottom)", n_cols=n, row_labels=["data", "recon."]
            ),
            f"The first {n} rows and their reconstructions.",
        )
    if can_sample:
        with torch.no_grad():
            new = _to_numpy(model.sample(30, guide))
        out.figure(
            "samples",
            figures.image_grid_figure(new.reshape((-1,) + tuple(image_shape)), "samples from the fitted model"),
            "New draws from the fitted generative model.",
        )


def _anchor(page: HTMLPage, title: str) -> str | None:
    return next((a for a, t in page.sections if t == title), None)


def _settled(losses: np.ndarray) -> tuple[bool, str]:
    """Whether the ELBO stopped moving: the mean of the last 10% of steps against
    the 10% before, relative to the spread of the last 10%."""
    n = len(losses)
    if n < 20:
        return False, f"only {n} steps: too few to say whether the optimisation settled"
    w = max(2, n // 10)
    last, before = losses[-w:], losses[-2 * w : -w]
    change = float(before.mean() - last.mean())
    spread = float(last.std()) + 1e-12
    ok = change < 2.0 * spread / np.sqrt(w) + 1e-3 * abs(float(last.mean()))
    how = "settled" if ok else "was still improving"
    return ok, f"the ELBO {how} (mean of the last {w} steps {-last.mean():.6g}, of the {w} before {-before.mean():.6g})"


def _verdict(page: HTMLPage, result, facts: dict, findings: list[str]) -> list[str]:
    """The opening lines: what was fitted, whether it settled, whether the guide
    can be trusted, what the model found; each linking to its section."""
    from html import escape

    def link(title, text):
        anchor = _anchor(page, title)
        return f'<a href="#{anchor}">{escape(text)}</a>' if anchor else escape(text)

    lines = []
    lines.append(
        f"<li>Fitted {escape(type(result.model).__name__)} with guide {escape(type(result.guide).__name__)} "
        f"for {result.num_steps} steps ({escape(str(result.device))}"
        + (f", {result.wall_time:.1f} s)" if result.wall_time >= 0.05 else ")")
        + (" &mdash; interrupted" if result.interrupted else "")
        + ".</li>"
    )
    ok, text = _settled(_to_numpy(result.losses))
    lines.append(f"<li>{link('ELBO', 'Optimisation')}: {escape(text)}.</li>")
    psis = facts.get("psis")
    if psis:
        lines.append(
            f"<li>{link('Did the guide work? (PSIS k-hat)', 'Guide')}: k-hat {psis['k_hat']:.2f}, "
            f"{escape(psis['verdict'])}.</li>"
        )
    if "restarts" in facts:
        lines.append(
            f"<li>{link('Agreement across restarts', 'Restarts')}: {escape(facts['restarts']['summary'])}</li>"
        )
    if "nuts" in facts:
        lines.append(
            f"<li>{link('SVI against NUTS', 'NUTS')}: largest |z| of SVI against NUTS "
            f"{facts['nuts']['max_abs_z']:.2f}.</li>"
        )
    for finding in findings:
        lines.append(f"<li>{link('Model figures', 'Found')}: {escape(finding)}</li>")
    return ['<ul class="verdict-list">' + "".join(lines) + "</ul>"]
