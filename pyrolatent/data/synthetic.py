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
import math

import torch

from pyrolatent._validation import check_positive_int, check_tensor
from pyrolatent.data.dataset import Dataset

__all__ = [
    "GaussianMixture",
    "make_bishop",
    "make_bishop_variational",
    "make_gaussian_mixture",
    "make_low_rank",
    "random_rotation",
]

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
            f"The 'stds' argument must hold positive standard deviations; got {float(stds[i]):g} at index {i}."
        )
    d = stds.shape[0]
    if mean is None:
        mean = torch.zeros(d, dtype=torch.float64)
    else:
        mean = check_tensor("mean", mean, ndim=1).to(torch.float64)
        if mean.shape[0] != d:
            raise ValueError(
                f"The 'mean' argument must have one entry per feature ({d}, the length of 'stds'); got {mean.shape[0]}."
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


# -- densities with a closed-form score (denoising autoencoders) ------------------

#: Default mixture: three isotropic components on a triangle, std 0.5.
MIXTURE_MEANS = ((-1.5, -0.8), (1.5, -0.8), (0.0, 1.6))
MIXTURE_SCALE = 0.5


@dataclasses.dataclass(frozen=True)
class GaussianMixture:
    r"""A mixture of isotropic Gaussians in :math:`\mathbb R^D` with its log-density and score.

    .. math::

        p(x) = \sum_k w_k\, \mathcal N(x;\, \mu_k, s_k^2 I), \qquad
        \nabla_x \log p(x) = -\sum_k \gamma_k(x)\, \frac{x - \mu_k}{s_k^2},

    with responsibilities :math:`\gamma_k(x) \propto w_k \mathcal N(x; \mu_k, s_k^2 I)`.
    Convolving with :math:`\mathcal N(0, \sigma^2 I)` gives the same mixture with
    :math:`s_k^2 + \sigma^2` (:meth:`smoothed`): the density whose score a
    denoising autoencoder with corruption level :math:`\sigma` estimates exactly
    at its optimum (Alain & Bengio 2014; Efron 2011).

    Parameters
    ----------
    means : Tensor (K, D)
    scales : Tensor (K,)
        Positive standard deviations of the components.
    weights : Tensor (K,)
        Mixture weights, positive, summing to one.
    """

    means: torch.Tensor
    scales: torch.Tensor
    weights: torch.Tensor

    def __post_init__(self):
        means = check_tensor("means", self.means, ndim=2)
        k = means.shape[0]
        scales = check_tensor("scales", self.scales, ndim=1)
        weights = check_tensor("weights", self.weights, ndim=1)
        for name, t in (("scales", scales), ("weights", weights)):
            if t.shape[0] != k:
                raise ValueError(
                    f"The {name!r} argument of GaussianMixture must have one entry per component ({k}); "
                    f"got {t.shape[0]}."
                )
            if bool((t <= 0).any()):
                raise ValueError(f"The {name!r} argument of GaussianMixture must be positive; got {t.tolist()}.")
        if abs(float(weights.sum()) - 1.0) > 1e-5:
            raise ValueError(
                f"The 'weights' argument of GaussianMixture must sum to 1; got sum {float(weights.sum()):.6g}."
            )
        object.__setattr__(self, "means", means)
        object.__setattr__(self, "scales", scales)
        object.__setattr__(self, "weights", weights)

    @property
    def n_features(self) -> int:
        return self.means.shape[1]

    def _check_x(self, x) -> torch.Tensor:
        x = check_tensor("x", x, ndim=2)
        if x.shape[1] != self.n_features:
            raise ValueError(
                f"The 'x' argument of GaussianMixture must have {self.n_features} columns; got shape {tuple(x.shape)}."
            )
        return x

    def _component_log_probs(self, x: torch.Tensor) -> torch.Tensor:
        """``log w_k + log N(x; mu_k, s_k^2 I)``, shape (n, K)."""
        var = self.scales.to(x) ** 2
        sq = (x.unsqueeze(1) - self.means.to(x)).pow(2).sum(-1)
        d = self.n_features
        return self.weights.to(x).log() - 0.5 * sq / var - 0.5 * d * torch.log(2 * math.pi * var)

    def log_prob(self, x) -> torch.Tensor:
        """:math:`\\log p(x)` of each row (n,)."""
        return self._component_log_probs(self._check_x(x)).logsumexp(-1)

    def score(self, x) -> torch.Tensor:
        """The score :math:`\\nabla_x \\log p(x)` of each row (n, D), in closed form."""
        x = self._check_x(x)
        resp = self._component_log_probs(x).softmax(-1)  # (n, K)
        pull = (self.means.to(x) - x.unsqueeze(1)) / (self.scales.to(x) ** 2).unsqueeze(-1)  # (n, K, D)
        return (resp.unsqueeze(-1) * pull).sum(1)

    def smoothed(self, sigma: float) -> GaussianMixture:
        """The density convolved with :math:`\\mathcal N(0, \\sigma^2 I)`: scales :math:`\\sqrt{s_k^2 + \\sigma^2}`."""
        from pyrolatent._validation import check_positive_float

        sigma = check_positive_float("sigma", sigma, allow_zero=True)
        return GaussianMixture(self.means, (self.scales**2 + sigma**2).sqrt(), self.weights)

    def sample(self, n_samples: int, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``(x, component)``: ``n_samples`` draws (n, D) and the component of each (n,)."""
        n_samples = check_positive_int("n_samples", n_samples)
        comp = torch.multinomial(self.weights, n_samples, replacement=True, generator=generator)
        eps = torch.randn(n_samples, self.n_features, generator=generator, dtype=self.means.dtype)
        return self.means[comp] + self.scales[comp].unsqueeze(-1) * eps, comp


def make_gaussian_mixture(n_samples: int = 1000, *, seed: int = 0, means=None, scales=None, weights=None) -> Dataset:
    """Draw from a mixture of isotropic Gaussians whose score is known in closed form.

    Parameters
    ----------
    n_samples : int
        Number of draws.
    seed : int
        Seed of a local ``torch.Generator``; the global RNG is untouched.
    means : array-like (K, D), optional
        Component means; default three points on a triangle in 2-D
        (``MIXTURE_MEANS``).
    scales : float or array-like (K,), optional
        Component standard deviations; default 0.5 each.
    weights : array-like (K,), optional
        Mixture weights; default uniform.

    Returns
    -------
    Dataset
        Named ``"gaussian_mixture"``; ``y`` the component of each row;
        ``truth["mixture"]`` the :class:`GaussianMixture` (``.score(x)``,
        ``.log_prob(x)``, ``.smoothed(sigma)``).

    Examples
    --------
    >>> data = make_gaussian_mixture(500, seed=1)
    >>> data.truth["mixture"].score(data.x).shape
    torch.Size([500, 2])
    """
    n_samples = check_positive_int("n_samples", n_samples)
    seed = check_positive_int("seed", seed, minimum=0)
    dtype = torch.get_default_dtype()
    means = check_tensor("means", MIXTURE_MEANS if means is None else means, ndim=2).to(dtype)
    k = means.shape[0]
    if scales is None:
        scales = MIXTURE_SCALE
    scales = check_tensor("scales", scales, ndim=(0, 1)).to(dtype)
    scales = scales.expand(k).clone() if scales.dim() == 0 else scales
    weights = torch.full((k,), 1.0 / k, dtype=dtype) if weights is None else check_tensor("weights", weights, ndim=1)
    mixture = GaussianMixture(means, scales, weights.to(dtype))
    generator = torch.Generator().manual_seed(seed)
    x, comp = mixture.sample(n_samples, generator)
    return Dataset(x, y=comp, name="gaussian_mixture", truth={"mixture": mixture})
