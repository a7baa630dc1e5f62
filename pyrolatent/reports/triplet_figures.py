"""Figures of a fitted triplet VAE (:class:`pyrolatent.models.TripletVAE`) for the run report.

- ``triplet_latent_by_label`` — the posterior means coloured by label, one
  panel per oracle on the two most heavily weighted dimensions of its mask
  (the first two dimensions with one oracle and no mask).
- ``triplet_accuracy`` — the model's probabilities :math:`p(t_{ijl} = 1)` for
  triplets drawn (seeded) from the labels of the reported objects, with the
  share above 1/2. In a ``pyrolatent fit triplet`` run the report is drawn on
  the training objects; the held-out accuracy is ``test_triplet_accuracy`` in
  ``summary.json`` (pass held-out data to :func:`write_report` to draw it here).
- ``oracle_masks`` — each oracle's weights :math:`w_{o,h}` over the latent
  dimensions (fixed or learned).
- ``triplet_neighbours`` — a few objects and their nearest neighbours among
  the others under the model's distance :math:`D_{ab}` (oracle 0's mask), for
  image data.

Each figure needs what it shows (labels, images); a figure without its input
is left out. The triplet VAE also gets the VAE's figures
(:func:`pyrolatent.reports.vae_figures.vae_figures`).
"""

from __future__ import annotations

import numpy as np
import torch
from matplotlib.figure import Figure

from pyrolatent._pyro import seeded
from pyrolatent.models import TripletVAE

from .model_figures import register_figures
from .vae_figures import _show, _unpack, tile_images, vae_figures

__all__ = ["triplet_figures"]

#: Objects used by the figures (the first ones of the data).
MAX_OBJECTS = 2000
#: Label triplets drawn for the accuracy figure.
N_TRIPLETS = 2000


def _latent_by_label(model, z: np.ndarray, y: np.ndarray | None) -> Figure:
    masks = model.oracle_masks().detach().cpu().numpy()
    n = masks.shape[0]
    fig = Figure(figsize=(4.2 * n, 3.8))
    axes = np.atleast_1d(fig.subplots(1, n))
    for o, ax in enumerate(axes):
        dims = np.argsort(-masks[o], kind="stable")[:2]
        colour = {"color": "tab:blue"} if y is None else {"c": y, "cmap": "tab10"}
        ax.scatter(z[:, dims[0]], z[:, dims[1] if len(dims) > 1 else dims[0]], s=4, alpha=0.7, **colour)
        ax.set_xlabel(f"z[{dims[0]}]")
        ax.set_ylabel(f"z[{dims[1]}]" if len(dims) > 1 else "")
        ax.set_title(f"oracle {o}: its two heaviest dimensions" if n > 1 else "posterior means by label", fontsize=9)
    fig.tight_layout()
    return fig


def _accuracy(model, x: torch.Tensor, y: torch.Tensor) -> Figure | None:
    from pyrolatent.data.triplets import triplets_from_labels

    try:
        triplets = triplets_from_labels(y, N_TRIPLETS, seed=0)
    except ValueError:  # fewer than two labels
        return None
    oracle = None if model.n_oracles == 1 else torch.zeros(len(triplets), dtype=torch.long)
    p = model.triplet_probability(x, triplets.index, oracle).numpy()
    acc = float((p > 0.5).mean())
    fig = Figure(figsize=(5.5, 3.4))
    ax = fig.subplots()
    ax.hist(p, bins=40, range=(0, 1), color="tab:blue")
    ax.axvline(0.5, color="tab:red", ls="--", lw=1)
    ax.set_xlabel(r"model probability $p(t_{ijl}=1)$ (anchor closer to the same-label object)")
    ax.set_ylabel("triplets")
    who = "oracle 0's mask, " if model.n_oracles > 1 else ""
    ax.set_title(f"{len(p)} label triplets of these objects ({who}seed 0): accuracy {acc:.3f}", fontsize=9)
    fig.tight_layout()
    return fig


def _masks(model) -> Figure:
    masks = model.oracle_masks().detach().cpu().numpy()
    fig = Figure(figsize=(1.0 + 0.45 * masks.shape[1], 1.2 + 0.45 * masks.shape[0]))
    ax = fig.subplots()
    im = ax.imshow(masks, cmap="viridis", vmin=0.0, vmax=max(1.0, float(masks.max())), aspect="auto")
    ax.set_xticks(range(masks.shape[1]))
    ax.set_yticks(range(masks.shape[0]))
    ax.set_xlabel("latent dimension h")
    ax.set_ylabel("oracle o")
    kind = "learned gates" if model.learn_masks else "fixed masks"
    ax.set_title(f"oracle masks $w_{{o,h}}$ ({kind})", fontsize=9)
    fig.colorbar(im, ax=ax, fraction=0.05)
    fig.tight_layout()
    return fig


def _neighbours(model, x: torch.Tensor, image_shape, n_queries: int = 6, k: int = 7) -> Figure:
    device = model._device()
    with torch.no_grad():
        loc, scale = model.encoder(x.to(device))
        w = model.oracle_masks()[0]
        rows = []
        for q in range(n_queries):
            d = (model._distance(loc[q : q + 1], scale[q : q + 1], loc, scale) * w).sum(-1)
            d[q] = float("inf")
            rows.append([q] + d.topk(k, largest=False).indices.tolist())
    order = np.array(rows).reshape(-1)
    images = x[order].cpu().numpy().reshape((-1,) + tuple(image_shape))
    fig = Figure(figsize=(1.0 * (k + 1), 1.05 * n_queries + 0.4))
    ax = fig.subplots()
    vmin, vmax = np.percentile(images, [1, 99])
    _show(
        ax, tile_images(images, k + 1), vmin, vmax, f"left: an object; right: its {k} nearest others under D (oracle 0)"
    )
    return fig


def triplet_figures(model, guide, data) -> dict:
    """The VAE's figures plus the four of the module docstring."""
    out = dict(vae_figures(model, guide, data))
    x, y = _unpack(data)
    x = model.check_data(x)[0][:MAX_OBJECTS]
    y = None if y is None else y[:MAX_OBJECTS]
    with seeded(0):
        z = model.encode(x, guide).cpu().numpy()
    out["triplet_latent_by_label"] = _latent_by_label(model, z, None if y is None else y.numpy())
    if y is not None:
        fig = _accuracy(model, x, y)
        if fig is not None:
            out["triplet_accuracy"] = fig
    out["oracle_masks"] = _masks(model)
    image_shape = getattr(data, "image_shape", None) or model.image_shape
    if image_shape is not None and x.shape[0] > 8:
        out["triplet_neighbours"] = _neighbours(model, x, image_shape)
    return out


register_figures(TripletVAE)(triplet_figures)
