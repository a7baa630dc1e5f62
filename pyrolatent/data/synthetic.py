r"""Synthetic data with known truth: Bishop's checks for Bayesian PCA.

The data are Gaussian with a covariance whose spectrum is known:

.. math::

    z_n \sim \mathcal{N}(0, \operatorname{diag}(s_1^2, \dots, s_d^2)), \qquad
    x_n = R z_n + \mu,

so :math:`\operatorname{Cov}(x) = R \operatorname{diag}(s^2) R^\top`. A
probabilistic PCA with :math:`q` components fits it exactly when the
:math:`d - q` smallest standard deviations are equal (they form the isotropic
noise :math:`\sigma^2 = s_{\min}^2`).

References
----------
1. C. M. Bishop, "Bayesian PCA", NIPS 11, 1998.
2. C. M. Bishop, "Variational principal components", ICANN, 1999.
"""

from __future__ import annotations

import dataclasses

import torch

from pyrolatent._validation import check_positive_int, check_tensor
from pyrolatent.data.dataset import Dataset

__all__ = ["make_bishop", "make_bishop_variational", "make_low_rank", "random_rotation"]

BISHOP_STDS = (1.0, 1.0, 1.0) + (0.5,) * 7
BISHOP_VARIATIONAL_STDS = (5.0, 4.0, 3.0, 2.0) + (1.0,) * 6


def random_rotation(d: int, generator: torch.Generator) -> torch.Tensor:
    """Draw a Haar-uniform ``d x d`` orthogonal matrix (float64).

    QR of a standard Gaussian matrix, with the columns' signs fixed so that
    ``R`` has a positive diagonal; without the sign fix the result would
    depend on the QR implementation and not be uniformly distributed.
    """
    d = check_positive_int("d", d)
    gaussian = torch.randn(d, d, generator=generator, dtype=torch.float64)
    q, r = torch.linalg.qr(gaussian)
    signs = torch.sign(torch.diagonal(r))
    signs[signs == 0] = 1.0
    return q * signs


def make_low_rank(
    n_samples: int = 300,
    stds=None,
    *,
    seed: int = 0,
    rotate: bool = True,
    mean=None,
) -> Dataset:
    """Draw Gaussian data with given per-direction standard deviations, then rotate.

    Parameters
    ----------
    n_samples : int
        Number of observations.
    stds : array-like of float, optional
        Positive standard deviations of the independent latent coordinates;
        their number is ``n_features``. Default: 3 directions with 1.0 and 7
        with 0.5 (Bishop's Bayesian-PCA check, ``d = 10``).
    seed : int
        Seed of a local ``torch.Generator``; global RNG state is untouched.
        The rotation is drawn first, so the same seed gives the same rotation
        for any ``n_samples``, and the same latent draws whether ``rotate`` is
        on or off.
    rotate : bool
        Multiply by a random orthogonal matrix, so that the principal axes are
        not the coordinate axes. When False the rotation is the identity.
    mean : array-like of float, optional
        Shift added after the rotation; default zeros.

    Returns
    -------
    Dataset
        Named ``"low_rank"``; ``truth`` holds ``stds``, ``rotation``, ``mean``,
        ``covariance`` (:math:`R \\operatorname{diag}(s^2) R^T`, exact),
        ``n_components`` (number of stds strictly above the smallest) and
        ``noise_variance`` (the smallest std squared).

    Examples
    --------
    >>> ds = make_low_rank(500, [2.0, 1.0, 0.1, 0.1], seed=1)
    >>> ds.n_features, ds.truth["n_components"]
    (4, 2)
    """
    n_samples = check_positive_int("n_samples", n_samples)
    seed = check_positive_int("seed", seed, minimum=0)
    if not isinstance(rotate, bool):
        raise TypeError(f"The 'rotate' argument must be True or False; got {rotate!r}.")
    if stds is None:
        stds = BISHOP_STDS
    stds = check_tensor("stds", stds, ndim=1).to(torch.float64)
    if bool((stds <= 0).any()):
        i = int((stds <= 0).nonzero()[0])
        raise ValueError(
            f"The 'stds' argument must hold positive standard deviations; "
            f"got {float(stds[i]):g} at index {i}."
        )
    d = stds.shape[0]
    if mean is None:
        mean = torch.zeros(d, dtype=torch.float64)
    else:
        mean = check_tensor("mean", mean, ndim=1).to(torch.float64)
        if mean.shape[0] != d:
            raise ValueError(
                f"The 'mean' argument must have one entry per feature ({d}, the length of 'stds'); "
                f"got {mean.shape[0]}."
            )

    generator = torch.Generator().manual_seed(seed)
    rotation = random_rotation(d, generator)
    if not rotate:
        rotation = torch.eye(d, dtype=torch.float64)
    z = torch.randn(n_samples, d, generator=generator, dtype=torch.float64) * stds
    x = z @ rotation.T + mean
    covariance = (rotation * stds**2) @ rotation.T

    dtype = torch.get_default_dtype()
    smallest = float(stds.min())
    truth = {
        "stds": stds.to(dtype),
        "rotation": rotation.to(dtype),
        "mean": mean.to(dtype),
        "covariance": covariance.to(dtype),
        "n_components": int((stds > smallest).sum()),
        "noise_variance": smallest**2,
    }
    return Dataset(x.to(dtype), name="low_rank", truth=truth)


def make_bishop(n_samples: int = 300, seed: int = 0) -> Dataset:
    """Bishop's Bayesian-PCA check: ``d = 10``, stds ``[1, 1, 1, 0.5 x 7]``.

    Three directions stand out of isotropic noise of variance 0.25; a
    Bayesian PCA with ``q = 9`` should keep three components. Named
    ``"bishop"``; see :func:`make_low_rank` for ``truth``.
    """
    ds = make_low_rank(n_samples, BISHOP_STDS, seed=seed)
    return dataclasses.replace(ds, name="bishop")


def make_bishop_variational(n_samples: int = 300, seed: int = 0) -> Dataset:
    """The variational-PCA check: ``d = 10``, stds ``[5, 4, 3, 2, 1 x 6]``.

    Four directions over unit-variance noise. Named ``"bishop_variational"``;
    see :func:`make_low_rank` for ``truth``.
    """
    ds = make_low_rank(n_samples, BISHOP_VARIATIONAL_STDS, seed=seed)
    return dataclasses.replace(ds, name="bishop_variational")
