"""Figures of the architecture search: best-so-far curves with bands, and the latent space by accuracy.

Each function takes plain arrays and returns a matplotlib ``Figure`` (Agg canvas, no pyplot).
"""

from __future__ import annotations

import numpy as np

from pyrolatent.reports.figures import _figure

__all__ = ["best_so_far_figure", "latent_accuracy_figure", "principal_plane"]


def best_so_far_figure(curves: dict, *, optimum: float | None = None, title: str = "", band: str = "std"):
    """Mean accuracy of the cell found against the number of queries, one line per method,
    with a band of one standard deviation (``band="std"``) or standard error (``"sem"``).

    Parameters
    ----------
    curves : dict of str -> array (runs, queries)
        ``SearchResult.curves`` of each method.
    optimum : float, optional
        Drawn as a dashed line (the best cell of the space).
    """
    fig = _figure(6.0, 4.0)
    ax = fig.add_subplot(1, 1, 1)
    for name, c in curves.items():
        c = np.asarray(c, dtype=float)
        q = np.arange(1, c.shape[1] + 1)
        mean, spread = c.mean(0), c.std(0)
        if band == "sem":
            spread = spread / np.sqrt(c.shape[0])
        ax.plot(q, mean, label=f"{name} ({c.shape[0]} runs)")
        ax.fill_between(q, mean - spread, mean + spread, alpha=0.2)
    if optimum is not None:
        ax.axhline(optimum, color="k", ls="--", lw=1, label="optimum")
    finals = [np.asarray(c)[:, -1] for c in curves.values()]
    low = min(float(np.percentile(f, 5)) for f in finals) if finals else None
    if low is not None and optimum is not None:
        ax.set_ylim(low - 0.5, optimum + 0.2)
    ax.set_xlabel("queries")
    ax.set_ylabel("test accuracy of the cell found (%)")
    ax.set_title(title)
    ax.legend(fontsize=8, loc="lower right")
    return fig


def principal_plane(x: np.ndarray) -> np.ndarray:
    """The first two principal components of the rows of ``x`` (n, d), shape (n, 2)."""
    x = np.asarray(x, dtype=float)
    x = x - x.mean(0)
    _, _, vt = np.linalg.svd(x, full_matrices=False)
    return x @ vt[:2].T


def latent_accuracy_figure(embedding: np.ndarray, accuracy: np.ndarray, *, title: str = "", floor: float | None = None):
    """Scatter of the embedding (its principal plane when ``d > 2``) coloured by accuracy;
    accuracies below ``floor`` (default: the 5th percentile) share the lowest colour."""
    xy = np.asarray(embedding, dtype=float)
    if xy.shape[1] > 2:
        xy = principal_plane(xy)
    acc = np.asarray(accuracy, dtype=float)
    floor = float(np.percentile(acc, 5)) if floor is None else floor
    order = np.argsort(acc)  # best cells drawn on top
    fig = _figure(5.5, 4.5, right=1.0)
    ax = fig.add_subplot(1, 1, 1)
    points = ax.scatter(xy[order, 0], xy[order, 1], c=np.maximum(acc[order], floor), s=2, cmap="viridis")
    fig.colorbar(points, ax=ax, label="test accuracy (%)")
    ax.set_xlabel("PC 1")
    ax.set_ylabel("PC 2")
    ax.set_title(title)
    return fig
