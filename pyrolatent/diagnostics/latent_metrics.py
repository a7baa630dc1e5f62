r"""How well a latent space answers similarity questions: held-out triplet
accuracy, k-nearest-neighbour accuracy, and per-oracle accuracy on each
oracle's own latent subspace and on the others' (the compartmentalisation
check of Karaletsos, Belongie and Rätsch, ICLR 2016).

All functions take arrays (codes, probabilities, distances) so that any model
can be scored the same way: the triplet VAE by its own probabilities, a plain
VAE by the same distance on its encoder's posteriors, a deterministic baseline
by the Euclidean distance between its codes.
"""

from __future__ import annotations

import numpy as np
import torch

from pyrolatent._validation import check_positive_int, check_tensor

__all__ = [
    "knn_accuracy",
    "oracle_subspace_accuracy",
    "posterior_distances",
    "triplet_accuracy",
    "triplet_accuracy_from_codes",
    "triplet_accuracy_from_posteriors",
]


def triplet_accuracy(d_ij, d_il) -> float:
    r"""Share of triplets whose anchor is closer to its positive than to its negative,
    :math:`D_{ij} < D_{il}` (equivalently, model probability above 1/2); ties count as wrong."""
    d_ij = check_tensor("d_ij", d_ij, ndim=1)
    d_il = check_tensor("d_il", d_il, ndim=1)
    if d_ij.shape != d_il.shape:
        raise ValueError(
            f"The 'd_ij' and 'd_il' arguments must have the same shape; got {tuple(d_ij.shape)} "
            f"and {tuple(d_il.shape)}."
        )
    return float((d_ij < d_il).double().mean())


def triplet_accuracy_from_codes(codes, triplets) -> float:
    """Triplet accuracy under the Euclidean distance between codes (n, K) of the objects."""
    codes = check_tensor("codes", codes, ndim=2)
    idx = check_tensor("triplets", triplets, ndim=2, dtype="int").to(torch.long)
    a, p, n = idx.to(codes.device).T
    return triplet_accuracy(((codes[a] - codes[p]) ** 2).sum(-1), ((codes[a] - codes[n]) ** 2).sum(-1))


def triplet_accuracy_from_posteriors(loc, scale, triplets, *, distance: str = "js", mask=None) -> float:
    r"""Triplet accuracy of the rule :math:`D_{ij} < D_{il}` with
    :math:`D_{ab} = \sum_h w_h\, d\big(\mathcal N(\mu_a^h, \sigma_a^{h\,2}),
    \mathcal N(\mu_b^h, \sigma_b^{h\,2})\big)`: a distance of
    :mod:`pyrolatent.components.divergences` (``"js"``, the triplet VAE's default, or
    ``"symmetric_kl"``, ``"moment_matched"``, ``"sq_euclidean"``) between per-dimension
    posteriors, summed over the latent dimensions (weighted by ``mask``, (K,), when given).

    This is the triplet VAE's decision rule applied to any model with a diagonal normal
    posterior, e.g. a plain VAE's ``model.encoder(x)``: ``loc`` and ``scale`` are (n, K),
    ``triplets`` (T, 3) rows of them (anchor, positive, negative).
    """
    return triplet_accuracy(*posterior_distances(loc, scale, triplets, distance=distance, mask=mask))


def posterior_distances(loc, scale, triplets, *, distance: str = "js", mask=None) -> tuple[torch.Tensor, torch.Tensor]:
    """``(D_ij, D_il)`` (T,) of :func:`triplet_accuracy_from_posteriors`, for any other rule on them."""
    from pyrolatent.components.divergences import draw_codes, get_distance

    loc = check_tensor("loc", loc, ndim=2)
    scale = check_tensor("scale", scale, ndim=2)
    if scale.shape != loc.shape:
        raise ValueError(
            f"The 'scale' argument must have the shape of 'loc', {tuple(loc.shape)}; got {tuple(scale.shape)}."
        )
    idx = check_tensor("triplets", triplets, ndim=2, dtype="int").to(torch.long)
    if idx.shape[1] != 3:
        raise ValueError(
            f"The 'triplets' argument must have 3 columns (anchor, positive, negative); got {idx.shape[1]}."
        )
    weight = torch.ones(loc.shape[1], dtype=loc.dtype, device=loc.device)
    if mask is not None:
        weight = check_tensor("mask", mask, ndim=1).to(loc)
        if weight.shape[0] != loc.shape[1]:
            raise ValueError(
                f"The 'mask' argument must have one weight per latent dimension ({loc.shape[1]}); "
                f"got {weight.shape[0]}."
            )
    d = get_distance(distance, drawn=True)
    a, p, n = idx.to(loc.device).T
    with torch.no_grad():
        loc, scale = draw_codes(distance, loc, scale)  # a sampled distance: one code per object
        d_ij = (d(loc[a], scale[a], loc[p], scale[p]) * weight).sum(-1)
        d_il = (d(loc[a], scale[a], loc[n], scale[n]) * weight).sum(-1)
    return d_ij, d_il


def knn_accuracy(train_codes, train_labels, test_codes, test_labels, k: int = 1) -> float:
    """Accuracy of the ``k``-nearest-neighbour vote (Euclidean, scikit-learn) of the
    training codes and labels, on the test codes."""
    from sklearn.neighbors import KNeighborsClassifier

    k = check_positive_int("k", k)
    train_codes = check_tensor("train_codes", train_codes, ndim=2).cpu().numpy()
    test_codes = check_tensor("test_codes", test_codes, ndim=2).cpu().numpy()
    y_train = check_tensor("train_labels", train_labels, ndim=1, dtype="int").cpu().numpy()
    y_test = check_tensor("test_labels", test_labels, ndim=1, dtype="int").cpu().numpy()
    if k > len(y_train):
        raise ValueError(f"The 'k' argument must be at most the {len(y_train)} training codes. Got {k} instead.")
    clf = KNeighborsClassifier(n_neighbors=k).fit(train_codes, y_train)
    return float(np.mean(clf.predict(test_codes) == y_test))


def oracle_subspace_accuracy(model, x, triplets, oracle) -> np.ndarray:
    """``A[o, m]``: triplet accuracy of oracle ``o``'s triplets scored with oracle
    ``m``'s latent mask (a TripletVAE's ``oracle_masks()``), for rows ``x``.

    The diagonal is each oracle on its own subspace; a compartmentalised latent
    space has each diagonal entry above the rest of its row.
    """
    idx = check_tensor("triplets", triplets, ndim=2, dtype="int").to(torch.long)
    oracle = check_tensor("oracle", oracle, ndim=1, dtype="int").to(torch.long)
    with torch.no_grad():
        masks = model.oracle_masks().detach()
    n_oracles = masks.shape[0]
    out = np.full((n_oracles, n_oracles), np.nan)
    for o in range(n_oracles):
        rows = idx[oracle == o]
        if rows.shape[0] == 0:
            continue
        for m in range(n_oracles):
            p = model.triplet_probability(x, rows, mask=masks[m])
            out[o, m] = float((p > 0.5).double().mean())
    return out
