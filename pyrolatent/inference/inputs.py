"""What a model is called with: the data as checked keyword arguments."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol, runtime_checkable

import torch

from pyrolatent._validation import check_tensor

__all__ = ["ChecksInputs", "as_model_inputs"]


@runtime_checkable
class ChecksInputs(Protocol):
    """A model that checks its data before the first traced step."""

    def check_inputs(self, **inputs) -> None: ...


def as_model_inputs(data) -> dict:
    """The keyword arguments a model is called with for ``data``, checked.

    A tensor, array or :class:`~pyrolatent.data.Dataset` becomes ``{"x": ...}``;
    a mapping is taken as the keyword arguments. Every array is checked (rank,
    numeric, finite) and floating data get the default float dtype.
    """
    x = getattr(data, "x", None)
    if isinstance(data, Mapping):
        if not data:
            raise ValueError("The 'data' argument must not be an empty mapping.")
        # tensors and arrays are checked; other keyword arguments pass as they are
        arrays = {k: v for k, v in data.items() if isinstance(v, torch.Tensor) or hasattr(v, "__array__")}
        names = {k: f"data[{k!r}]" for k in arrays}
    else:  # a tensor, an array-like, or a pyrolatent Dataset
        arrays = {"x": x if isinstance(x, torch.Tensor) else data}
        names = {"x": "data"}
        data = arrays
    checked = dict(data)
    for key, value in arrays.items():
        value = check_tensor(names[key], value, dtype="any")
        checked[key] = value.to(torch.get_default_dtype()) if value.is_floating_point() else value
    return checked
