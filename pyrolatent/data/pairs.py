"""Known correspondences between two domains, and second domains made from the first.

A cross-domain model (:class:`~pyrolatent.models.VBTA`) sees two sets of
objects, domain A (rows of ``x``) and domain B (rows of ``y``), and a few known
pairs: a ``(P, 2)`` integer array whose row ``p`` says that row ``pairs[p, 0]``
of A and row ``pairs[p, 1]`` of B show the same thing. Pairs are one-to-one: an
object of either domain is in at most one pair (so a negative drawn from the
other pairs is never a partner of the anchor).

- :func:`check_pairs` — refuses out-of-range indices and repeated objects, naming the row.
- :func:`load_pairs` — a ``.csv`` (two integer columns, optional header) or ``.npy`` file.
- :func:`reveal_pairs` — for row-aligned domains, ``n_pairs`` seeded rows ``(i, i)``.
- :func:`second_domain` — ``transpose``, ``invert`` or ``rot90`` of an image data set,
  row-aligned with it (the semi-supervised set-up of the VBTA authors' code:
  MNIST against transposed MNIST).

Examples
--------
>>> from pyrolatent.data import load_digits
>>> a = load_digits()
>>> b = second_domain(a, "transpose")
>>> pairs = reveal_pairs(a.n_samples, 10, seed=0)
>>> pairs.shape
torch.Size([10, 2])
"""

from __future__ import annotations

import dataclasses

import torch

from pyrolatent._validation import check_choice, check_positive_int, check_tensor

from . import _readers
from .dataset import Dataset

__all__ = ["DOMAIN_TRANSFORMS", "check_pairs", "load_pairs", "pairs_from_file_rows", "reveal_pairs", "second_domain"]

#: Second domains made from the first (row-aligned with it).
DOMAIN_TRANSFORMS = ("transpose", "invert", "rot90")


def check_pairs(pairs, n_a: int, n_b: int, *, name: str = "pairs", where: str = "") -> torch.Tensor:
    """``pairs`` as a checked ``(P, 2)`` long tensor of (row in A, row in B).

    Refuses a wrong shape, non-integers, an index outside ``[0, n_a)`` or
    ``[0, n_b)``, and an object of either domain in two pairs; the message names
    the first bad row (counted from 0) and what it holds. ``where`` is added to
    the argument's name (e.g. ``" (file 'p.csv')"``).
    """
    p = check_tensor(name, pairs, ndim=2, dtype="int")
    if p.shape[1] != 2 or p.shape[0] == 0:
        raise ValueError(
            f"The {name!r} argument{where} must have 2 columns (row in domain A, row in domain B) and at least "
            f"one row; got shape {tuple(p.shape)}."
        )
    p = p.to(torch.long).cpu()
    for col, (n, domain) in enumerate(((n_a, "A"), (n_b, "B"))):
        bad = (p[:, col] < 0) | (p[:, col] >= n)
        if bool(bad.any()):
            r = int(bad.nonzero()[0])
            raise ValueError(
                f"The {name!r} argument{where} must hold rows of domain {domain} in [0, {n}); "
                f"row {r} is {p[r].tolist()}."
            )
    for col, domain in ((0, "A"), (1, "B")):
        values = p[:, col]
        order = torch.argsort(values, stable=True)
        sorted_values = values[order]
        repeat = (sorted_values[1:] == sorted_values[:-1]).nonzero()
        if repeat.numel():
            rows = order[repeat[:, 0] + 1]
            r = int(rows.min())  # the first row that repeats an earlier one
            first = int((values[:r] == values[r]).nonzero()[0])
            kind = "duplicates" if bool((p[first] == p[r]).all()) else f"reuses the domain-{domain} object of"
            raise ValueError(
                f"The {name!r} argument{where} must pair each object at most once (pairs are one-to-one); "
                f"row {r} {p[r].tolist()} {kind} row {first}."
            )
    return p


def load_pairs(path, n_a: int, n_b: int) -> torch.Tensor:
    """Read known pairs from a ``.csv`` (two integer columns: row in A, row in B;
    a header of names is skipped) or ``.npy`` file, checked by :func:`check_pairs`
    (file rows counted from 0 after any header)."""
    file = _readers.existing_file(path, "pairs_file")
    suffix = file.suffix.lower()
    if suffix not in (".csv", ".npy"):
        raise ValueError(f"The 'pairs_file' argument must end in .csv or .npy; got '{path}'.")
    values = _readers.read_csv(file) if suffix == ".csv" else _readers.read_npy(file)
    values = torch.as_tensor(values)
    if values.is_floating_point():
        whole = values == values.round()
        if not bool(whole.all()):
            r = int((~whole).any(-1).nonzero()[0]) if values.dim() == 2 else 0
            raise ValueError(
                f"The 'pairs_file' '{file}' must hold integer row indices; row {r} is {values[r].tolist()}."
            )
        values = values.to(torch.long)
    return check_pairs(values, n_a, n_b, name="pairs_file", where=f" ('{file}')")


def reveal_pairs(n_rows: int, n_pairs: int, seed: int = 0) -> torch.Tensor:
    """For two row-aligned domains of ``n_rows`` objects: ``n_pairs`` distinct rows
    drawn with a seeded local generator, as pairs ``(i, i)`` ``(n_pairs, 2)``."""
    n_rows = check_positive_int("n_rows", n_rows)
    n_pairs = check_positive_int("n_pairs", n_pairs)
    if n_pairs > n_rows:
        raise ValueError(f"The 'n_pairs' argument must be at most the {n_rows} aligned rows. Got {n_pairs} instead.")
    rows = torch.randperm(n_rows, generator=torch.Generator().manual_seed(int(seed)))[:n_pairs]
    return torch.stack([rows, rows], 1)


def second_domain(data: Dataset, how: str) -> Dataset:
    """Domain B made from image data ``data``, row-aligned with it (same labels).

    ``"transpose"`` swaps the image axes, ``"rot90"`` rotates each image by 90
    degrees anticlockwise (both need ``image_shape``; the new shape is
    ``(width, height)``), ``"invert"`` maps ``v -> 1 - v`` (data in [0, 1]).
    """
    how = check_choice("data_b", how, DOMAIN_TRANSFORMS)
    if how == "invert":
        lo, hi = float(data.x.min()), float(data.x.max())
        if lo < 0.0 or hi > 1.0:
            raise ValueError(f"The 'data_b' option 'invert' needs data in [0, 1]; got values in [{lo:g}, {hi:g}].")
        return dataclasses.replace(data, x=1.0 - data.x, name=f"{data.name}-invert")
    if data.image_shape is None or len(data.image_shape) != 2:
        raise ValueError(
            f"The 'data_b' option {how!r} needs images (a data set with a 2-D image_shape); "
            f"got image_shape {data.image_shape!r} for {data.name!r}."
        )
    h, w = data.image_shape
    images = data.x.reshape(-1, h, w)
    images = images.transpose(1, 2) if how == "transpose" else torch.rot90(images, 1, dims=(1, 2))
    return dataclasses.replace(
        data, x=images.reshape(-1, h * w).contiguous(), image_shape=(w, h), name=f"{data.name}-{how}"
    )


def pairs_from_file_rows(pairs: torch.Tensor, train_rows_a: torch.Tensor, train_rows_b: torch.Tensor):
    """Map pairs given in file rows to rows of the training parts.

    ``train_rows_a`` (``train_rows_b``) lists, in order, the file rows of A (B)
    that make up the training part. Returns ``(pairs in training rows, number of
    pairs dropped because one of their objects is held out)``.
    """

    def position(rows, n):
        pos = torch.full((n,), -1, dtype=torch.long)
        pos[rows] = torch.arange(rows.numel())
        return pos

    n_a = int(max(int(pairs[:, 0].max()), int(train_rows_a.max()))) + 1
    n_b = int(max(int(pairs[:, 1].max()), int(train_rows_b.max()))) + 1
    a, b = position(train_rows_a, n_a)[pairs[:, 0]], position(train_rows_b, n_b)[pairs[:, 1]]
    keep = (a >= 0) & (b >= 0)
    return torch.stack([a[keep], b[keep]], 1), int((~keep).sum())
