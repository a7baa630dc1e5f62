"""Minibatches over a model's subsampled plates.

A model declares which plates the engine may subsample and how large each is
(the counterpart of ``AutoGuide.create_plates``): a model with a
``plate_sizes(**inputs) -> {name: size}`` method (every
:class:`~pyrolatent.models.base.LatentModel` has one; its default is the one
``"data"`` plate over the rows of ``x``). For any other callable the engine
assumes one ``"data"`` plate over the common first size of the data's tensors.

Each plate gets its own minibatches, drawn independently:

- the first plate (``"data"`` when there is one) defines the epoch: a fresh
  random permutation at the start of every epoch, cut into
  ``ceil(size / batch)`` consecutive batches (the last one may be shorter);
- every other plate walks through its own permutations, ``batch`` indices at
  a time, and draws a new permutation when the current one cannot fill a
  whole batch.

Every minibatch is a uniform random subset of its plate, so with the scaling
that ``pyro.plate(name, size, subsample=idx)`` applies the minibatch ELBO is an
unbiased estimate of the full-data ELBO, plate by plate.

The model receives the indices through its ``subsample`` argument: a tensor
when its only plate is ``"data"`` (as for BPCA and the VAE), a dict
``{plate: indices}`` when it declares several; :func:`plate_subsample` reads
either form. The state (current permutations and positions) is part of every
checkpoint, so a resumed fit draws exactly the minibatches an uninterrupted
one would.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Protocol, runtime_checkable

import torch

from pyrolatent._pyro import plate_subsample
from pyrolatent._validation import check_positive_int

__all__ = ["Batcher", "PlatedModel", "plate_sizes", "plate_subsample"]


@runtime_checkable
class PlatedModel(Protocol):
    """A model that declares its subsampled plates."""

    def plate_sizes(self, **inputs) -> dict[str, int]:
        """``{plate name: full size}`` for these inputs, the epoch-defining plate first."""
        ...


def plate_sizes(model, inputs: Mapping) -> dict[str, int]:
    """The subsampled plates of ``model`` for ``inputs`` (see the module docstring)."""
    if isinstance(model, PlatedModel):
        sizes = dict(model.plate_sizes(**inputs))
        if not sizes:
            raise ValueError(f"{type(model).__name__}.plate_sizes() declared no plate.")
        for name, size in sizes.items():
            check_positive_int(f"plate size of {name!r}", size)
        return sizes
    lengths = {v.shape[0] for v in inputs.values() if isinstance(v, torch.Tensor) and v.dim() >= 1}
    if len(lengths) != 1:
        raise ValueError(
            "With 'batch_size' set, every tensor in 'data' must have the same first size (the one 'data' "
            f"plate) unless the model declares its plates with plate_sizes(); got sizes {sorted(lengths)}."
        )
    return {"data": lengths.pop()}


class Batcher:
    """Draws one minibatch of indices per plate and step.

    Parameters
    ----------
    sizes : dict
        ``{plate: size}``, the epoch-defining plate first.
    batch_size : int or dict
        One size for every plate, or ``{plate: size}`` (plates left out are
        used whole).
    device : torch.device
        Where the indices live.
    """

    def __init__(self, sizes: Mapping[str, int], batch_size, device):
        self.sizes = dict(sizes)
        self.device = device
        if isinstance(batch_size, Mapping):
            unknown = sorted(set(batch_size) - set(self.sizes))
            if unknown:
                raise ValueError(
                    f"The 'batch_size' argument names plates {unknown} that the model does not declare; "
                    f"its plates are {list(self.sizes)}."
                )
            sizes_per_plate = {k: check_positive_int(f"batch_size[{k!r}]", v) for k, v in batch_size.items()}
        else:
            b = check_positive_int("batch_size", batch_size)
            sizes_per_plate = dict.fromkeys(self.sizes, b)
        for name, b in sizes_per_plate.items():
            if b > self.sizes[name]:
                label = "batch_size" if not isinstance(batch_size, Mapping) else f"batch_size[{name!r}]"
                raise ValueError(
                    f"The '{label}' argument must be at most the size of the {name!r} plate "
                    f"({self.sizes[name]}). Got {b} instead."
                )
        self.batch = sizes_per_plate
        self.first = next(iter(self.sizes))
        self.single = list(self.sizes) == ["data"]
        b0 = self.batch.get(self.first)
        self.steps_per_epoch = 1 if b0 is None else math.ceil(self.sizes[self.first] / b0)
        self.perms: dict[str, torch.Tensor | None] = dict.fromkeys(self.batch)
        self.pos: dict[str, int] = dict.fromkeys(self.batch, 0)

    def draw(self, step: int):
        """The ``subsample`` argument for step ``step``: a tensor, a dict, or None."""
        out = {}
        for name in self.sizes:  # a fixed order: the random stream is reproducible
            b = self.batch.get(name)
            if b is None:
                continue
            n = self.sizes[name]
            if name == self.first:
                i = step % self.steps_per_epoch
                if i == 0 or self.perms[name] is None:
                    self.perms[name] = torch.randperm(n, device=self.device)
                out[name] = self.perms[name][i * b : (i + 1) * b]
            else:
                if self.perms[name] is None or self.pos[name] + b > n:
                    self.perms[name] = torch.randperm(n, device=self.device)
                    self.pos[name] = 0
                out[name] = self.perms[name][self.pos[name] : self.pos[name] + b]
                self.pos[name] += b
        if self.single:
            return out.get("data")
        return out or None

    def reset(self) -> None:
        """Forget the current permutations (the next draw starts new ones)."""
        self.perms = dict.fromkeys(self.batch)
        self.pos = dict.fromkeys(self.batch, 0)

    def state_dict(self) -> dict:
        return {
            "perms": {k: (None if v is None else v.detach().clone()) for k, v in self.perms.items()},
            "pos": dict(self.pos),
        }

    def check_state(self, state: Mapping) -> None:
        """Refuse (``ValueError``) a saved state for other plates or other plate sizes."""
        perms = state.get("perms", {})
        if set(perms) != set(self.perms):
            raise ValueError(
                f"The saved minibatch state is for plates {sorted(perms)}, but this fit subsamples "
                f"{sorted(self.perms)}."
            )
        for name, saved in perms.items():
            if saved is not None and saved.numel() != self.sizes[name]:
                raise ValueError(
                    f"The saved minibatch state is for a {name!r} plate of size {saved.numel()}, but the data "
                    f"give {self.sizes[name]}."
                )

    def load_state_dict(self, state: Mapping) -> None:
        self.check_state(state)
        pos = state.get("pos", {})
        for name, saved in state.get("perms", {}).items():
            self.perms[name] = None if saved is None else saved.to(self.device)
            self.pos[name] = int(pos.get(name, 0))
