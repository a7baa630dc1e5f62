"""Figures of a fitted VAE (and of the models built on it) for the run report.

- ``latent_manifold`` — Kingma & Welling's figure 4: decoder means on a grid
  of inverse-normal-CDF quantiles (image data, K = 2).
- ``prior_decoder_means`` — decoder means of codes drawn from the prior (image
  data; smoother than the draws that ``sample`` gives the report).
- ``psis_khat_per_example`` — per-example PSIS k-hat of the guide: where the
  amortised encoder is unreliable, over the latent means (first two
  coordinates, or the two leading principal directions when K > 2), with the
  worst-fitted examples.

The report itself draws the latent scatter by label, reconstructions and
samples from the ``encode``, ``reconstruct`` and ``sample``
hooks, so they are not repeated here (:mod:`pyrolatent.reports.figures` has
them for use outside the report).

Figures are ``matplotlib.figure.Figure`` objects built without pyplot, so
nothing has to be closed. A figure the guide cannot support (for example a
non-amortised guide, which cannot encode a subset) is left out.
"""

from __future__ import annotations

import matplotlib
import numpy as np
import torch
from matplotlib.figure import Figure

from pyrolatent._pyro import seeded
from pyrolatent.diagnostics.psis import GOOD as KHAT_GOOD
from pyrolatent.diagnostics.psis import USABLE as KHAT_BAD

__all__ = ["tile_images", "vae_figures"]


def tile_images(images: np.ndarray, ncols: int, pad: int = 1, fill: float = np.nan) -> np.ndarray:
    """Tile ``(n, h, w)`` images row by row into one 2-D array."""
    n, h, w = images.shape
    nrows = -(-n // ncols)
    out = np.full((nrows * (h + pad) - pad, ncols * (w + pad) - pad), fill, dtype=float)
    for k in range(n):
        r, c = divmod(k, ncols)
        out[r * (h + pad) : r * (h + pad) + h, c * (w + pad) : c * (w + pad) + w] = images[k]
    return out


def _unpack(data):
    x = getattr(data, "x", None)
    y = getattr(data, "y", None)
    if x is None:
        x = data.get("x") if isinstance(data, dict) else data
    return torch.as_tensor(x), (None if y is None else torch.as_tensor(y))


def _show(ax, grid, vmin, vmax, title):
    cmap = matplotlib.colormaps["gray"].with_extremes(bad="#5a6fa8")  # tile separators
    ax.imshow(np.ma.masked_invalid(grid), cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title, fontsize=9)


def _images(vae, flat: torch.Tensor) -> np.ndarray:
    return flat.detach().cpu().reshape(-1, *vae.image_shape).numpy()


def _project(means: torch.Tensor):
    """First two coordinates, or the two leading principal directions when K > 2."""
    if means.shape[1] <= 2:
        return means.numpy(), ("$z_1$", "$z_2$" if means.shape[1] == 2 else "")
    centred = means - means.mean(0)
    _, _, vt = torch.linalg.svd(centred, full_matrices=False)
    return (centred @ vt[:2].T).numpy(), ("PC 1 of E[z|x]", "PC 2 of E[z|x]")


def _scatter(ax, xy, c, cmap, label=None):
    if xy.shape[1] == 1:
        xy = np.concatenate([xy, np.zeros_like(xy)], 1)
    return ax.scatter(xy[:, 0], xy[:, 1], c=c, cmap=cmap, s=6, alpha=0.8, linewidths=0, label=label)


def manifold_figure(vae, n_per_side: int, vmin, vmax) -> Figure:
    images, _ = vae.latent_manifold(n_per_side)
    fig = Figure(figsize=(7, 7 * vae.image_shape[0] / vae.image_shape[1]))
    grid = tile_images(_images(vae, images.reshape(-1, vae.n_features)), n_per_side, pad=0)
    _show(
        fig.subplots(),
        grid,
        vmin,
        vmax,
        f"Learned 2-D manifold: decoder means at z = $\\Phi^{{-1}}$((k + 0.5) / {n_per_side})",
    )
    fig.tight_layout()
    return fig


def _range(x: torch.Tensor):
    low, high = float(x.min()), float(x.max())
    return (0.0, 1.0) if low >= 0 and high <= 1 else (low, high)


def vae_figures(vae, guide, data, *, max_examples: int = 500, num_samples: int = 500, seed: int = 0) -> dict:
    """The report figures of a fitted :class:`~pyrolatent.models.VAE` (see the module docstring)."""
    x, _ = _unpack(data)
    rows = torch.randperm(x.shape[0], generator=torch.Generator().manual_seed(seed))[:max_examples]
    xs = x[rows]
    is_image = vae.image_shape is not None and len(vae.image_shape) == 2
    vmin, vmax = _range(x)
    figs = {}
    if is_image and vae.n_components == 2:
        figs["latent_manifold"] = manifold_figure(vae, 20, vmin, vmax)
    if is_image:
        with seeded(seed):
            samples = vae.sample(64, mean=True)
        fig = Figure(figsize=(6, 6 * vae.image_shape[0] / vae.image_shape[1]))
        _show(fig.subplots(), tile_images(_images(vae, samples), 8), vmin, vmax, "Decoder means of z ~ p(z)")
        figs["prior_decoder_means"] = fig
    try:
        means = vae.encode(xs, guide).cpu()
    except Exception:  # noqa: BLE001 - a guide that cannot encode a subset gets no per-example figure
        return figs
    xy, labels = _project(means)
    with seeded(seed):
        khat = vae.psis_khat(xs, guide, num_samples=num_samples).cpu().numpy()
    figs["psis_khat_per_example"] = _khat_figure(vae, xs, khat, xy, labels, is_image, vmin, vmax, num_samples)
    return figs


def _khat_figure(vae, xs, khat, xy, labels, is_image, vmin, vmax, num_samples) -> Figure:
    fig = Figure(figsize=(13, 3.8))
    axes = fig.subplots(1, 3 if is_image else 2)
    ax = axes[0]
    finite = khat[np.isfinite(khat)]
    ax.hist(finite, bins=30, color="tab:blue")
    for level, colour in ((KHAT_GOOD, "tab:orange"), (KHAT_BAD, "tab:red")):
        ax.axvline(level, color=colour, ls="--", lw=1)
    share = [np.mean(khat <= KHAT_GOOD), np.mean((khat > KHAT_GOOD) & (khat <= KHAT_BAD)), np.mean(khat > KHAT_BAD)]
    ax.set_xlabel(r"PSIS $\hat k$ of $q(z \mid x_n)$")
    ax.set_ylabel("examples")
    ax.set_title(
        f"{len(khat)} examples, {num_samples} draws each: {share[0]:.0%} good, "
        f"{share[1]:.0%} ok, {share[2]:.0%} bad (> {KHAT_BAD})",
        fontsize=8,
    )
    ax = axes[1]
    sc = _scatter(ax, xy, np.clip(khat, -0.5, 1.5), "coolwarm")
    fig.colorbar(sc, ax=ax, label=r"$\hat k$")
    ax.set_xlabel(labels[0])
    ax.set_ylabel(labels[1])
    ax.set_title("Where the encoder is unreliable (latent means)", fontsize=9)
    if is_image:
        worst = np.argsort(-khat)[:8]
        _show(
            axes[2],
            tile_images(_images(vae, xs[worst]), 4),
            vmin,
            vmax,
            "Worst 8: " + ", ".join(f"{k:.2f}" for k in khat[worst]),
        )
    fig.tight_layout()
    return fig
