"""Argument checks shared by the whole package.

Every check raises a specific exception (``ValueError`` or ``TypeError``)
whose message names the argument, says what was expected and quotes what was
got, in the manner of scikit-learn::

    The 'batch_size' argument must be a positive integer or None. Got 0 instead.

Never use ``assert`` for input checks: ``python -O`` strips them.
"""

from __future__ import annotations

import contextvars
import functools
import math
import numbers
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import torch

__all__ = [
    "check_choice",
    "check_finite",
    "check_positive_int",
    "check_positive_float",
    "check_probability",
    "check_tensor",
    "owned",
    "owner",
]

_OWNER: contextvars.ContextVar[str | None] = contextvars.ContextVar("pyrolatent_owner", default=None)


@contextmanager
def owner(obj) -> Iterator[None]:
    """Name ``obj`` (a class, an instance or a name) as the owner of the arguments
    checked inside the block: "The 'n_components' argument of MixturePrior must ..."."""
    name = obj if isinstance(obj, str) else (obj.__name__ if isinstance(obj, type) else type(obj).__name__)
    token = _OWNER.set(name)
    try:
        yield
    finally:
        _OWNER.reset(token)


def owned(cls):
    """Class decorator: the arguments checked in ``cls.__init__`` name ``cls`` as
    their owner (see :func:`owner`); a subclass is named by its own name."""
    init = cls.__init__

    @functools.wraps(init)
    def __init__(self, *args, **kwargs):
        with owner(self):
            init(self, *args, **kwargs)

    cls.__init__ = __init__
    return cls


def _arg(name: str) -> str:
    """``'name' argument`` with the current owner, for messages."""
    who = _OWNER.get()
    return f"{name!r} argument" + (f" of {who}" if who else "")


def _got(value) -> str:
    text = repr(value)
    if len(text) > 80:
        text = text[:77] + "..."
    return f"Got {text} instead."


def check_positive_int(name: str, value, *, allow_none: bool = False, minimum: int = 1):
    """Return ``value`` if it is an integer >= ``minimum`` (or None when allowed)."""
    if value is None and allow_none:
        return None
    ok = isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= minimum
    if not ok:
        what = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        if allow_none:
            what += " or None"
        raise ValueError(f"The {_arg(name)} must be {what}. {_got(value)}")
    return int(value)


def check_positive_float(name: str, value, *, allow_none: bool = False, allow_zero: bool = False):
    """Return ``value`` as a float if it is finite and > 0 (>= 0 with ``allow_zero``)."""
    if value is None and allow_none:
        return None
    ok = (
        isinstance(value, numbers.Real)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and (value >= 0 if allow_zero else value > 0)
    )
    if not ok:
        what = "a finite non-negative number" if allow_zero else "a finite positive number"
        if allow_none:
            what += " or None"
        raise ValueError(f"The {_arg(name)} must be {what}. {_got(value)}")
    return float(value)


def check_probability(name: str, value):
    """Return ``value`` as a float if it lies in [0, 1]."""
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and 0.0 <= value <= 1.0
    if not ok:
        raise ValueError(f"The {_arg(name)} must be a number in [0, 1]. {_got(value)}")
    return float(value)


def check_choice(name: str, value, choices: Iterable[str]):
    """Return ``value`` if it is one of ``choices`` (strings)."""
    choices = tuple(choices)
    if not isinstance(value, str) or value not in choices:
        options = ", ".join(repr(c) for c in choices)
        raise ValueError(f"The {_arg(name)} must be one of {options}. {_got(value)}")
    return value


def check_finite(name: str, x: torch.Tensor) -> torch.Tensor:
    """Raise ``ValueError`` saying where the first NaN or infinity in ``x`` is."""
    bad = ~torch.isfinite(x)
    if bool(bad.any()):
        first = tuple(int(i) for i in bad.nonzero()[0])
        where = f"row {first[0]}" if x.dim() >= 1 else "the value"
        if x.dim() >= 2:
            where += f", column {first[1]}" if x.dim() == 2 else f", index {first[1:]}"
        n_bad = int(bad.sum())
        kind = "NaN" if bool(torch.isnan(x[first])) else "an infinite value"
        raise ValueError(
            f"The {_arg(name)} must contain only finite values; found {kind} at {where} "
            f"({n_bad} non-finite value{'s' if n_bad > 1 else ''} in all)."
        )
    return x


def check_tensor(
    name: str,
    x,
    *,
    ndim: int | tuple[int, ...] | None = None,
    dtype: str = "float",
    allow_empty: bool = False,
    finite: bool = True,
) -> torch.Tensor:
    """Turn ``x`` into a tensor and check its rank, dtype, size and values.

    Parameters
    ----------
    name : str
        The argument name quoted in error messages.
    x : array-like
        A tensor, NumPy array or nested sequence of numbers.
    ndim : int or tuple of int, optional
        Allowed number(s) of dimensions.
    dtype : {"float", "int", "any"}
        ``"float"`` converts integer and boolean input to the default float
        dtype; ``"int"`` requires integer input.
    allow_empty : bool
        Whether a tensor with no elements is acceptable.
    finite : bool
        Whether to reject NaN and infinite values.
    """
    if not isinstance(x, torch.Tensor):
        try:
            import numpy as np

            arr = np.asarray(x)
        except Exception as exc:  # pragma: no cover - numpy raises many types
            raise TypeError(f"The {_arg(name)} must be array-like. {_got(type(x).__name__)}") from exc
        if arr.dtype == object or arr.dtype.kind in "USV":
            raise TypeError(f"The {_arg(name)} must be numeric; got an array of dtype {arr.dtype}.")
        x = torch.as_tensor(arr)
    if dtype == "float":
        if x.dtype.is_complex:
            raise TypeError(f"The {_arg(name)} must be real-valued; got dtype {x.dtype}.")
        if not x.dtype.is_floating_point:
            x = x.to(torch.get_default_dtype())
    elif dtype == "int":
        if x.dtype.is_floating_point or x.dtype.is_complex or x.dtype == torch.bool:
            raise TypeError(f"The {_arg(name)} must have an integer dtype; got {x.dtype}.")
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if x.dim() not in allowed:
            want = " or ".join(str(a) for a in allowed)
            raise ValueError(f"The {_arg(name)} must have {want} dimension(s); got {x.dim()} (shape {tuple(x.shape)}).")
    if not allow_empty and x.numel() == 0:
        raise ValueError(f"The {_arg(name)} must not be empty; got shape {tuple(x.shape)}.")
    if finite and x.dtype.is_floating_point:
        check_finite(name, x)
    return x
