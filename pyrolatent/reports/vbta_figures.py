"""Figures of a fitted :class:`~pyrolatent.models.VBTA` (two domains, one latent space).

- ``translations_ab`` / ``translations_ba`` — rows of image triples: the
  source objects, their translations into the other domain and, when the data
  hold both domains row-aligned (or pairs), the true counterparts; otherwise
  (a single-domain data set, or ``"aligned": False``) the third row is the
  round trip back into the source domain instead.
- ``joint_samples`` — decoder means of both domains for the same codes
  :math:`z \\sim p(z)`, column by column.
- ``codes_both_domains`` — posterior means of both domains in one scatter
  (first two coordinates, or the two leading principal directions of the
  pooled codes), coloured by domain; aligned domains with a shared latent
  space overlap.

``data`` is a :class:`~pyrolatent.data.Dataset` of domain A, or a mapping
with ``"x"`` (domain A), ``"y"`` (domain B) and optionally ``"pairs"`` (then
the true counterpart of ``x[pairs[:, 0]]`` is ``y[pairs[:, 1]]``; without
pairs, rows are taken as aligned when both domains have as many rows, unless
the mapping says ``"aligned": False``). The command line's report
(``pyrolatent fit vbta --report``, ``pyrolatent report DIR``) passes the
held-out rows of both domains (:func:`pyrolatent.cli.vbta.report_data`).
:func:`translation_grid_figure` is the tutorial figure: a grid of test digits,
their translations and the true transposes.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
from matplotlib.figure import Figure

from pyrolatent._pyro import seeded
from pyrolatent.models import VBTA

from .model_figures import register_figures
from .vae_figures import _show, tile_images

__all__ = ["translation_grid_figure", "vbta_figures"]


def _images(flat: torch.Tensor, shape) -> np.ndarray:
    return flat.detach().cpu().double().reshape(-1, *shape).numpy()


def translation_grid_figure(
    model: VBTA,
    source: torch.Tensor,
    truth: torch.Tensor | None = None,
    *,
    from_domain: str = "a",
    title: str | None = None,
) -> Figure:
    """Rows: ``source`` objects, their translations, and ``truth`` (their true
    counterparts) or, without it, the round trip back to the source domain."""
    to_domain = "b" if from_domain == "a" else "a"
    shape_src = model.image_shape if from_domain == "a" else model.image_shape_b
    shape_tgt = model.image_shape_b if from_domain == "a" else model.image_shape
    translated = model.translate(source, source=from_domain)
    third = truth if truth is not None else model.translate(translated, source=to_domain)
    n = source.shape[0]
    rows = [
        ("source", _images(source, shape_src)),
        ("translation", _images(translated, shape_tgt)),
        ("true pair" if truth is not None else "round trip", _images(third, shape_src if truth is None else shape_tgt)),
    ]
    width = max(4.0, 0.6 * n)
    fig = Figure(figsize=(width, 0.7 + len(rows) * (0.35 + width / n)))
    axes = fig.subplots(len(rows), 1)
    for ax, (label, images) in zip(axes, rows, strict=True):
        _show(ax, tile_images(images, n), 0.0, 1.0, label)
    fig.suptitle(title or f"Domain {from_domain.upper()} -> {to_domain.upper()}", fontsize=10)
    fig.tight_layout()
    return fig


def _domains(data):
    aligned = None
    if isinstance(data, Mapping):
        x, y, pairs, aligned = data.get("x"), data.get("y"), data.get("pairs"), data.get("aligned")
    else:
        x, y, pairs = getattr(data, "x", data), None, None
    x, y = torch.as_tensor(x), (None if y is None else torch.as_tensor(y))
    if aligned is None:
        aligned = y is not None and (pairs is not None or y.shape[0] == x.shape[0])
    return x, y, pairs, bool(aligned) and y is not None


def _project(codes: torch.Tensor):
    if codes.shape[1] <= 2:
        out = codes.numpy()
        return (np.concatenate([out, np.zeros_like(out)], 1) if codes.shape[1] == 1 else out), ("$z_1$", "$z_2$")
    centred = codes - codes.mean(0)
    _, _, vt = torch.linalg.svd(centred, full_matrices=False)
    return (centred @ vt[:2].T).numpy(), ("PC 1 of E[z]", "PC 2 of E[z]")


@register_figures(VBTA)
def vbta_figures(model: VBTA, guide, data, *, n_show: int = 10, max_points: int = 1000, seed: int = 0) -> dict:
    """The report figures of a fitted VBTA (see the module docstring)."""
    x, y, pairs, aligned = _domains(data)
    images = model.image_shape is not None and model.image_shape_b is not None
    figs = {}
    if images:
        if pairs is not None and aligned:
            ia, ib = pairs[:n_show, 0], pairs[:n_show, 1]
        else:
            ia = torch.arange(min(n_show, x.shape[0]))
            ib = ia if y is None else torch.arange(min(n_show, y.shape[0]))
        figs["translations_ab"] = translation_grid_figure(model, x[ia], y[ib] if aligned else None, from_domain="a")
        if y is not None:
            figs["translations_ba"] = translation_grid_figure(model, y[ib], x[ia] if aligned else None, from_domain="b")
        with seeded(seed):
            xs, ys = model.sample_joint(n_show, mean=True)
        fig = Figure(figsize=(max(4.0, 0.6 * n_show), 4.2))
        axes = fig.subplots(2, 1)
        _show(axes[0], tile_images(_images(xs, model.image_shape), n_show), 0.0, 1.0, "domain A")
        _show(axes[1], tile_images(_images(ys, model.image_shape_b), n_show), 0.0, 1.0, "domain B (same z)")
        fig.suptitle("Joint samples: decoder means of both domains for each z ~ p(z)", fontsize=10)
        fig.tight_layout()
        figs["joint_samples"] = fig
    g = torch.Generator().manual_seed(seed)
    codes = [model.encode(x[torch.randperm(x.shape[0], generator=g)[:max_points]], domain="a").cpu()]
    if y is not None:
        codes.append(model.encode(y[torch.randperm(y.shape[0], generator=g)[:max_points]], domain="b").cpu())
    xy, labels = _project(torch.cat(codes))
    fig = Figure(figsize=(5.5, 4.5))
    ax = fig.subplots()
    start = 0
    for code, name, colour in zip(codes, ("domain A", "domain B"), ("tab:blue", "tab:orange"), strict=False):
        part = xy[start : start + code.shape[0]]
        ax.scatter(part[:, 0], part[:, 1], s=6, alpha=0.6, linewidths=0, color=colour, label=name)
        start += code.shape[0]
    ax.set_xlabel(labels[0])
    ax.set_ylabel(labels[1])
    ax.legend(loc="best", fontsize=8)
    ax.set_title("Posterior means of both domains in the shared latent space", fontsize=9)
    fig.tight_layout()
    figs["codes_both_domains"] = fig
    return figs
