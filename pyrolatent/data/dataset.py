"""The :class:`Dataset` record that every loader and synthetic generator returns."""

from __future__ import annotations

import dataclasses
import math
import numbers
from dataclasses import dataclass

import torch

from pyrolatent._validation import check_positive_int, check_tensor

__all__ = ["Dataset"]


@dataclass(frozen=True, eq=False, repr=False)
class Dataset:
    """A matrix of observations with optional labels, image layout and known truth.

    Rows of ``x`` are observations and columns are features. The record is
    frozen: methods such as :meth:`subset`, :meth:`split` and :meth:`to`
    return new datasets and never change this one.

    Parameters
    ----------
    x : torch.Tensor or array-like
        The observations, shape ``(n_samples, n_features)``; finite and non-empty.
        A tensor keeps its floating dtype; anything else (NumPy arrays,
        integer tensors, nested lists) becomes ``torch.get_default_dtype()``.
    y : torch.Tensor or array-like, optional
        Integer labels, shape ``(n_samples,)``; stored as ``torch.long``.
    name : str
        A short name used in reports and file names.
    image_shape : tuple of int, optional
        The shape of one image when each row is a flattened image (row-major);
        its product must equal ``n_features``.
    truth : dict, optional
        Known truth for synthetic data, e.g. ``{"stds": ..., "rotation": ...,
        "n_components": 3}``.

    Notes
    -----
    Equality is identity (``eq=False``): comparing tensors element-wise has no
    single truth value, so two datasets compare equal only if they are the
    same object.

    Examples
    --------
    >>> import torch
    >>> ds = Dataset(torch.rand(10, 4), y=torch.arange(10) % 2, name="toy")
    >>> train, test = ds.split(test_fraction=0.2, seed=0)
    >>> len(train), len(test)
    (8, 2)
    """

    x: torch.Tensor
    y: torch.Tensor | None = None
    name: str = "data"
    image_shape: tuple[int, ...] | None = None
    truth: dict | None = None

    def __post_init__(self):
        x = self.x
        if not isinstance(x, torch.Tensor):
            x = check_tensor("x", x, ndim=2, dtype="any", finite=False)
            if x.dtype.is_complex:
                raise TypeError(f"The 'x' argument must be real-valued; got dtype {x.dtype}.")
            x = x.to(torch.get_default_dtype())
        x = check_tensor("x", x, ndim=2, dtype="float")
        object.__setattr__(self, "x", x)

        if self.y is not None:
            y = check_tensor("y", self.y, ndim=1, dtype="int", finite=False)
            if y.shape[0] != x.shape[0]:
                raise ValueError(
                    f"The 'y' argument must hold one label per row of 'x' ({x.shape[0]} labels); got {y.shape[0]}."
                )
            object.__setattr__(self, "y", y.to(device=x.device, dtype=torch.long))

        if not isinstance(self.name, str) or not self.name:
            raise TypeError(f"The 'name' argument must be a non-empty string; got {self.name!r}.")

        if self.image_shape is not None:
            shape = self.image_shape
            if isinstance(shape, (str, bytes)) or not hasattr(shape, "__iter__"):
                raise TypeError(
                    f"The 'image_shape' argument must be a tuple of positive integers or None; got {shape!r}."
                )
            shape = tuple(shape)
            for size in shape:
                check_positive_int("image_shape", size)
            shape = tuple(int(s) for s in shape)
            if not shape or math.prod(shape) != x.shape[1]:
                raise ValueError(
                    f"The 'image_shape' argument must multiply out to n_features = {x.shape[1]}; "
                    f"got {shape} (product {math.prod(shape) if shape else 0})."
                )
            object.__setattr__(self, "image_shape", shape)

        if self.truth is not None and not isinstance(self.truth, dict):
            raise TypeError(f"The 'truth' argument must be a dict or None; got {type(self.truth).__name__}.")

    # ------------------------------------------------------------------ sizes
    @property
    def n_samples(self) -> int:
        """Number of observations (rows of ``x``)."""
        return int(self.x.shape[0])

    @property
    def n_features(self) -> int:
        """Number of features (columns of ``x``)."""
        return int(self.x.shape[1])

    def __len__(self) -> int:
        return self.n_samples

    def __repr__(self) -> str:
        parts = [
            f"name={self.name!r}",
            f"n_samples={self.n_samples}",
            f"n_features={self.n_features}",
            f"dtype={self.x.dtype}",
            f"device={self.x.device}",
        ]
        if self.y is not None:
            parts.append("labelled")
        if self.image_shape is not None:
            parts.append(f"image_shape={self.image_shape}")
        if self.truth is not None:
            parts.append(f"truth={sorted(self.truth)}")
        return f"Dataset({', '.join(parts)})"

    # ------------------------------------------------------------- new copies
    def to(self, device) -> Dataset:
        """Return a copy with ``x``, ``y`` and any tensors in ``truth`` on ``device``.

        Parameters
        ----------
        device : str or torch.device
            Where to put the tensors, e.g. ``"cuda"`` or ``"cpu"``.
        """
        device = torch.device(device)
        truth = self.truth
        if truth is not None:
            truth = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in truth.items()}
        y = None if self.y is None else self.y.to(device)
        return dataclasses.replace(self, x=self.x.to(device), y=y, truth=truth)

    def subset(self, idx) -> Dataset:
        """Return the rows selected by ``idx`` as a new dataset.

        Parameters
        ----------
        idx : slice, sequence of int, integer tensor or boolean mask
            Row indices (negative ones count from the end) or a boolean mask
            with one entry per row. At least one row must be selected.

        Returns
        -------
        Dataset
            Same name, image shape and truth; labels follow their rows.
        """
        n = self.n_samples
        if isinstance(idx, slice):
            rows = torch.arange(n)[idx]
            if rows.numel() == 0:
                raise ValueError(f"The 'idx' argument must select at least one row; got {idx!r}.")
        elif isinstance(idx, numbers.Integral) and not isinstance(idx, bool):
            raise TypeError(
                f"The 'idx' argument must be a slice, sequence of indices or boolean mask; got the "
                f"single integer {idx!r} (use [{idx!r}] for one row)."
            )
        else:
            rows = check_tensor("idx", idx, ndim=1, dtype="any", finite=False)
            if rows.dtype == torch.bool:
                if rows.shape[0] != n:
                    raise ValueError(
                        f"The 'idx' argument, a boolean mask, must have one entry per row ({n}); got {rows.shape[0]}."
                    )
                rows = rows.nonzero().squeeze(-1)
                if rows.numel() == 0:
                    raise ValueError("The 'idx' argument must select at least one row; got an all-False mask.")
            elif rows.dtype.is_floating_point or rows.dtype.is_complex:
                raise TypeError(f"The 'idx' argument must hold integers or booleans; got dtype {rows.dtype}.")
            else:
                bad = (rows < -n) | (rows >= n)
                if bool(bad.any()):
                    first = int(rows[bad][0])
                    raise IndexError(f"The 'idx' argument must hold row indices in [-{n}, {n}); got {first}.")
        rows = rows.to(torch.long).to(self.x.device)
        y = None if self.y is None else self.y[rows]
        return dataclasses.replace(self, x=self.x[rows], y=y)

    def split(self, test_fraction: float = 0.1, seed: int = 0) -> tuple[Dataset, Dataset]:
        """Split the rows at random into a training and a test dataset.

        Parameters
        ----------
        test_fraction : float
            Share of rows that go to the test set, strictly between 0 and 1;
            rounded to a whole number of rows, with at least one row on each side.
        seed : int
            Seed of the local ``torch.Generator`` that draws the permutation;
            the same seed gives the same split. Global RNG state is untouched.

        Returns
        -------
        (Dataset, Dataset)
            ``(train, test)``, rows in permuted order.
        """
        ok = (
            isinstance(test_fraction, numbers.Real)
            and not isinstance(test_fraction, bool)
            and 0.0 < test_fraction < 1.0
        )
        if not ok:
            raise ValueError(
                f"The 'test_fraction' argument must be a number strictly between 0 and 1; got {test_fraction!r}."
            )
        seed = check_positive_int("seed", seed, minimum=0)
        n = self.n_samples
        n_test = round(n * float(test_fraction))
        if n_test < 1 or n_test > n - 1:
            raise ValueError(
                f"The 'test_fraction' argument must leave at least one row in each part; got "
                f"{test_fraction!r}, which puts {n_test} of {n} rows in the test set."
            )
        generator = torch.Generator().manual_seed(seed)
        perm = torch.randperm(n, generator=generator)
        return self.subset(perm[n_test:]), self.subset(perm[:n_test])

    def images(self) -> torch.Tensor:
        """Return ``x`` reshaped to ``(n_samples, *image_shape)``."""
        if self.image_shape is None:
            raise ValueError(
                f"images() needs the dataset's 'image_shape' (the layout of one image); got None "
                f"for dataset {self.name!r}, whose rows are not marked as images."
            )
        return self.x.reshape(self.n_samples, *self.image_shape)
