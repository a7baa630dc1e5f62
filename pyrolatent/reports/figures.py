"""The report's figures, each a function of plain arrays returning a matplotlib ``Figure``.

Figures are made with ``matplotlib.figure.Figure`` on an Agg canvas, not
through ``pyplot``: nothing here touches the global backend or pyplot's list of
open figures, so a report can be written from a notebook, a server or a test.
"""

from __future__ import annotations

import math

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

__all__ = [
    "elbo_figure",
    "image_grid_figure",
    "khat_figure",
    "latent_scatter_figure",
    "nuts_figure",
    "ppc_figure",
    "restarts_figure",
]

_VERDICT_COLOURS = {"good": "tab:green", "usable": "tab:orange", "unreliable": "tab:red"}


def _figure(width: float, height: float, **margins) -> Figure:
    # Fixed margins rather than a layout engine: constrained layout measures
    # every tick label and costs about as much again as drawing the figure.
    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    inch = {"left": 0.75, "right": 0.2, "bottom": 0.55, "top": 0.35}
    inch.update(margins)
    fig.subplots_adjust(
        left=inch["left"] / width,
        right=1 - inch["right"] / width,
        bottom=inch["bottom"] / height,
        top=1 - inch["top"] / height,
        wspace=0.35,
        hspace=0.3,
    )
    return fig


def elbo_figure(losses: np.ndarray) -> Figure:
    """The ELBO of every step: the whole run, and its second half on its own scale."""
    elbo = -np.asarray(losses, dtype=np.float64)
    steps = np.arange(elbo.size)
    fig = _figure(9, 3.2)
    left, right = fig.subplots(1, 2)
    left.plot(steps, elbo, lw=0.8)
    finite = elbo[np.isfinite(elbo)]
    if finite.size:
        low = np.percentile(finite, 2)
        left.set_ylim(low - 0.05 * (finite.max() - low + 1e-12), finite.max() + 0.05 * (finite.max() - low + 1e-12))
    left.set(xlabel="step", ylabel="ELBO (nats)", title="ELBO trace")
    half = elbo.size // 2
    right.plot(steps[half:], elbo[half:], lw=0.8, color="tab:green")
    right.set(xlabel="step", title="second half")
    return fig


def ppc_figure(observed: np.ndarray, replicates: np.ndarray, name: str = "x", max_lines: int = 20) -> Figure:
    """Posterior predictive check: distribution of all values, and per-feature mean and sd.

    Parameters
    ----------
    observed : array, shape (n, ...)
    replicates : array, shape (num_draws, n, ...)
    """
    obs = np.asarray(observed, dtype=np.float64).reshape(observed.shape[0], -1)
    rep = np.asarray(replicates, dtype=np.float64).reshape(replicates.shape[0], obs.shape[0], -1)
    fig = _figure(11, 3.3)
    ax_dist, ax_mean, ax_sd = fig.subplots(1, 3)
    lo, hi = np.percentile(np.concatenate([obs.ravel(), rep[:max_lines].ravel()]), [0.5, 99.5])
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    bins = np.linspace(lo, hi, 50)
    for i, draw in enumerate(rep[:max_lines]):
        ax_dist.hist(
            draw.ravel(),
            bins=bins,
            histtype="step",
            density=True,
            color="tab:blue",
            alpha=0.25,
            label="replicates" if i == 0 else None,
        )
    ax_dist.hist(obs.ravel(), bins=bins, histtype="step", density=True, color="black", lw=1.6, label="observed")
    ax_dist.set(title=f"all values of {name}", xlabel="value", ylabel="density")
    ax_dist.legend(fontsize=8)
    for ax, stat, label in ((ax_mean, np.mean, "mean"), (ax_sd, np.std, "sd")):
        o = stat(obs, axis=0)
        r = stat(rep, axis=1)  # (draws, features)
        order = np.arange(o.size)
        ax.errorbar(
            order,
            r.mean(0),
            yerr=2 * r.std(0) if r.shape[0] > 1 else None,
            fmt="o",
            ms=2.5,
            color="tab:blue",
            elinewidth=0.8,
            label="replicates (mean ± 2 sd)",
        )
        ax.plot(order, o, "k_", ms=8, mew=1.5, label="observed")
        ax.set(title=f"per-feature {label}", xlabel="feature", ylabel=label)
        ax.legend(fontsize=7)
    return fig


def khat_figure(log_weights: np.ndarray, k_hat: float, verdict: str, ess: float) -> Figure:
    """The largest self-normalised importance weights (log scale) with k-hat and its verdict."""
    lw = np.asarray(log_weights, dtype=np.float64)
    lw = lw - (lw.max() + np.log(np.sum(np.exp(lw - lw.max()))))
    w = np.sort(np.exp(lw))[::-1]
    fig = _figure(9, 3.2)
    left, right = fig.subplots(1, 2)
    left.hist(lw, bins=40, color="gray")
    left.set(xlabel="normalised log-weight  log p(x,z) - log q(z)", ylabel="draws", title="importance log-weights")
    right.loglog(np.arange(1, w.size + 1), w, ".", ms=3, color=_VERDICT_COLOURS.get(verdict, "black"))
    right.axhline(1.0 / w.size, color="gray", ls="--", lw=0.8, label="equal weights")
    right.set(xlabel="rank", ylabel="weight", title=f"k-hat = {k_hat:.2f} ({verdict}), ESS = {ess:.0f} of {w.size}")
    right.legend(fontsize=8)
    return fig


def restarts_figure(table, means: dict, final_elbos: list, threshold: float) -> Figure:
    """Worst R-hat per identifiable quantity, and the restarts' means of the small quantities."""
    fig = _figure(10.5, 3.4, left=1.3)
    ax_rhat, ax_means, ax_elbo = fig.subplots(1, 3, width_ratios=[1.2, 1.6, 1])
    names = list(table.index)
    values = table["max_rhat"].to_numpy(dtype=float)
    colours = ["tab:green" if v <= threshold else "tab:red" for v in values]
    ax_rhat.barh(names, values - 1.0, left=1.0, color=colours)
    ax_rhat.axvline(threshold, color="black", ls="--", lw=0.8, label=f"threshold {threshold:g}")
    ax_rhat.set(xlabel="max R-hat across restarts", title="agreement")
    ax_rhat.legend(fontsize=7)
    small = [(n, m) for n, m in means.items() if m[0].size <= 16]
    offset = 0
    for name, m in small:
        flat = m.reshape(m.shape[0], -1)
        x = offset + np.arange(flat.shape[1])
        for r, row in enumerate(flat):
            ax_means.plot(x, row, "o", ms=3, color=f"C{r % 10}", label=f"restart {r}" if offset == 0 else None)
        ax_means.text(x.mean(), np.nanmax(flat), name, ha="center", va="bottom", fontsize=7)
        offset += flat.shape[1] + 1
    if small and np.all(np.concatenate([m.ravel() for _, m in small]) > 0):
        ax_means.set_yscale("log")
    ax_means.set(title="restart means (quantities with <= 16 entries)", xticks=[])
    if small:
        ax_means.legend(fontsize=7)
    ax_elbo.bar(np.arange(len(final_elbos)), final_elbos, color=[f"C{i % 10}" for i in range(len(final_elbos))])
    finite = [e for e in final_elbos if math.isfinite(e)]
    if finite:
        spread = max(finite) - min(finite)
        ax_elbo.set_ylim(min(finite) - 0.5 * spread - 1, max(finite) + 0.5 * spread + 1)
    ax_elbo.set(xlabel="restart", title="final ELBO", xticks=np.arange(len(final_elbos)))
    return fig


def nuts_figure(table) -> Figure:
    """SVI against NUTS: posterior means (with ± sd bars) and the ratio of sds."""
    fig = _figure(9, 3.6)
    ax_mean, ax_sd = fig.subplots(1, 2)
    nm, sm = table["nuts_mean"].to_numpy(float), table["svi_mean"].to_numpy(float)
    ns, ss = table["nuts_sd"].to_numpy(float), table["svi_sd"].to_numpy(float)
    ax_mean.errorbar(nm, sm, xerr=ns, yerr=ss, fmt="o", ms=3, elinewidth=0.6, alpha=0.8)
    lo, hi = np.nanmin([nm.min(), sm.min()]), np.nanmax([nm.max(), sm.max()])
    ax_mean.plot([lo, hi], [lo, hi], color="gray", lw=0.8, ls="--")
    ax_mean.set(xlabel="NUTS posterior mean", ylabel="SVI posterior mean", title="means (bars: ± 1 sd)")
    ratio = table["sd_ratio"].to_numpy(float)
    ax_sd.hist(np.log2(ratio[np.isfinite(ratio) & (ratio > 0)]), bins=30, color="tab:purple")
    ax_sd.axvline(0, color="black", lw=0.8)
    ax_sd.set(xlabel="log2(SVI sd / NUTS sd)", ylabel="entries", title="spread (left of 0: guide too narrow)")
    return fig


def latent_scatter_figure(z: np.ndarray, labels: np.ndarray | None = None, max_points: int = 3000) -> Figure:
    """The first two latent coordinates of each row, coloured by label when given."""
    z = np.asarray(z, dtype=np.float64)
    keep = np.arange(z.shape[0])
    if keep.size > max_points:
        keep = np.random.default_rng(0).choice(keep, max_points, replace=False)
    fig = _figure(5.5, 4.6)
    ax = fig.subplots()
    if labels is None:
        ax.scatter(z[keep, 0], z[keep, 1], s=5, alpha=0.6)
    else:
        labels = np.asarray(labels)
        classes = np.unique(labels[keep])
        for i, c in enumerate(classes):
            sel = keep[labels[keep] == c]
            ax.scatter(z[sel, 0], z[sel, 1], s=5, alpha=0.7, color=f"C{i % 10}", label=str(c))
        if classes.size <= 20:
            ax.legend(fontsize=7, markerscale=2, ncol=2, title="label", title_fontsize=7)
    ax.set(xlabel="latent 1", ylabel="latent 2", title="posterior mean of the latent code")
    return fig


def image_grid_figure(images: np.ndarray, title: str, n_cols: int = 10, row_labels: list[str] | None = None) -> Figure:
    """Images (n, h, w) in a grid of ``n_cols`` columns, on one grey scale (1st-99th percentile)."""
    images = np.asarray(images, dtype=np.float64)
    vmin, vmax = np.percentile(images, [1, 99]) if images.size else (0.0, 1.0)
    if vmax <= vmin:
        vmin, vmax = vmin - 0.5, vmax + 0.5
    n = images.shape[0]
    n_rows = max(1, math.ceil(n / n_cols))
    fig = _figure(1.0 * n_cols, 1.0 * n_rows + 0.5, left=0.3, right=0.1, bottom=0.1, top=0.4)
    axes = np.atleast_1d(fig.subplots(n_rows, n_cols)).reshape(n_rows, n_cols)
    for i, ax in enumerate(axes.ravel()):
        ax.set_xticks([])
        ax.set_yticks([])
        if i < n:
            ax.imshow(images[i], cmap="gray_r", interpolation="nearest", vmin=vmin, vmax=vmax)
        else:
            ax.axis("off")
    if row_labels:
        for r, label in enumerate(row_labels[:n_rows]):
            axes[r, 0].set_ylabel(label, fontsize=8)
    fig.suptitle(title, fontsize=10)
    return fig
