"""Hooks into :func:`~pyrolatent.inference.fit`: per step, per check window, at the end.

A callback subclasses :class:`Callback` and overrides the hooks it needs. A
callback with state that must survive a checkpoint (early stopping counts its
patience) also overrides ``state_dict`` / ``load_state_dict``; the engine saves
that state with the parameters, so a resumed fit stops where an uninterrupted
one would.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from pyrolatent._validation import check_positive_float, check_positive_int

__all__ = ["Callback", "EarlyStopping", "StepInfo"]


@dataclass
class StepInfo:
    """What callbacks see. ``loss`` is a device tensor in ``on_step`` (reading
    it forces a host sync) and the mean loss of the window, a float, in
    ``on_check``."""

    step: int
    epoch: int
    loss: torch.Tensor | float
    model: object
    guide: object


class Callback:
    """Hooks called by :func:`fit`; override the ones you need.

    ``on_step`` runs after every step, ``on_check`` after every check window
    (``log_every`` steps; return True to stop the fit), ``on_end`` once with
    the result.
    """

    def on_step(self, info: StepInfo) -> None:
        pass

    def on_check(self, info: StepInfo) -> bool | None:
        pass

    def on_end(self, result) -> None:
        pass

    def state_dict(self) -> dict:
        """State to keep in checkpoints (numbers, strings, tensors); none by default."""
        return {}

    def load_state_dict(self, state: dict) -> None:
        """Take back what :meth:`state_dict` returned."""


class EarlyStopping(Callback):
    """Stop when the mean loss of a check window has not improved by a relative
    ``tol`` for ``patience`` windows in a row (``fit(patience=..., tol=...)``
    adds one)."""

    def __init__(self, patience: int, tol: float = 1e-4):
        self.patience = check_positive_int("patience", patience)
        self.tol = check_positive_float("tol", tol, allow_zero=True)
        self.best, self.bad_windows = math.inf, 0
        self.stopped = False

    def on_check(self, info: StepInfo) -> bool:
        loss = float(info.loss)
        if not math.isfinite(self.best) or self.best - loss > self.tol * abs(self.best):
            self.best, self.bad_windows = loss, 0
        else:
            self.bad_windows += 1
        self.stopped = self.bad_windows >= self.patience
        return self.stopped

    def state_dict(self) -> dict:
        return {"best": self.best, "bad_windows": self.bad_windows}

    def load_state_dict(self, state: dict) -> None:
        self.best, self.bad_windows = float(state["best"]), int(state["bad_windows"])


def check_callbacks(callbacks) -> list[Callback]:
    """``callbacks`` as a list of :class:`Callback`, or a clear ``TypeError``."""
    if callbacks is None or isinstance(callbacks, (str, bytes, Callback)) or not hasattr(callbacks, "__iter__"):
        raise TypeError(
            "The 'callbacks' argument of fit must be a sequence of Callback objects (use () for none). "
            f"Got {callbacks!r} instead."
        )
    out = list(callbacks)
    for i, cb in enumerate(out):
        if not isinstance(cb, Callback):
            raise TypeError(
                f"The 'callbacks' argument of fit must hold Callback objects (subclass "
                f"pyrolatent.inference.Callback); item {i} is a {type(cb).__name__}."
            )
    return out
