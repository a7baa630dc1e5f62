"""Data for pyrolatent: a :class:`Dataset` record, file loaders and synthetic sets.

- :func:`load_digits` — scikit-learn's bundled 8x8 digits (no download), the default.
- :func:`load_mnist`, :func:`load_frey`, :func:`load_array` — user files (MNIST IDX,
  ``frey_rawface.mat``, CSV/NPY), :func:`load_npz` (``x``, optional ``y`` and
  ``image_shape``); :func:`load_dataset` parses the CLI form
  ``digits | mnist:PATH | frey:PATH | csv:PATH | npy:PATH | npz:PATH``.
- :mod:`pyrolatent.data.triplets` — similarity triplets from labels, an attribute
  or a file, and the object split for held-out triplet evaluation.
- :func:`binarize` — stochastic or thresholded {0, 1} data for Bernoulli likelihoods.
- :func:`make_low_rank`, :func:`make_bishop`, :func:`make_bishop_variational` —
  Gaussian data with a known low-rank-plus-noise covariance, for Bayesian PCA.
- :func:`make_gaussian_mixture`, :class:`GaussianMixture` — a mixture whose score
  is known in closed form, for denoising autoencoders.
"""

from pyrolatent.data.dataset import Dataset
from pyrolatent.data.loaders import (
    DATA_SPECS,
    binarize,
    load_array,
    load_dataset,
    load_digits,
    load_frey,
    load_mnist,
    load_npz,
)
from pyrolatent.data.synthetic import (
    GaussianMixture,
    make_bishop,
    make_bishop_variational,
    make_gaussian_mixture,
    make_low_rank,
    random_rotation,
)

__all__ = [
    "DATA_SPECS",
    "Dataset",
    "GaussianMixture",
    "binarize",
    "load_array",
    "load_dataset",
    "load_digits",
    "load_frey",
    "load_mnist",
    "load_npz",
    "make_bishop",
    "make_bishop_variational",
    "make_gaussian_mixture",
    "make_low_rank",
    "random_rotation",
]
