"""The record that :func:`pyrolatent.inference.fit` returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .settings import FitSettings

__all__ = ["FitResult"]


@dataclass
class FitResult:
    """What one fit produced.

    Attributes
    ----------
    model, guide
        The fitted model and guide (the same objects that were passed in,
        trained in place).
    losses : torch.Tensor
        The loss (negative ELBO) of every step from the start of the fit,
        resumed steps included, on the CPU.
    num_steps : int
        Steps completed, counted from the start of the original fit.
    wall_time : float
        Seconds spent in this call of ``fit``.
    steps_per_second : float
        Steps of this call divided by ``wall_time``.
    device : torch.device
        Where the fit ran.
    settings : FitSettings
        The settings used.
    interrupted : bool
        True when the fit was stopped by Ctrl-C (KeyboardInterrupt); model and
        guide hold the last completed step.
    converged : bool
        True when early stopping ended the fit.
    data : dict
        The keyword arguments the model was fitted on (on the CPU).
    notes : list of str
        What the engine noticed that the caller may want to know (for example
        a learning rate changed on resume).
    checkpoint_path : pathlib.Path, optional
        The last checkpoint written, if any.
    stopped_by : str, optional
        The signal that interrupted the fit (``"SIGINT"`` for Ctrl-C or
        ``"SIGTERM"``), None when it was not interrupted.
    """

    model: Any
    guide: Any
    losses: torch.Tensor
    num_steps: int
    wall_time: float
    steps_per_second: float
    device: torch.device
    settings: FitSettings
    interrupted: bool = False
    converged: bool = False
    data: dict = field(default_factory=dict, repr=False)
    checkpoint_path: Path | None = None
    notes: list = field(default_factory=list)
    stopped_by: str | None = None

    @property
    def final_loss(self) -> float:
        """Mean loss over the last 10% of steps (at least 1, at most 100)."""
        if self.losses.numel() == 0:
            return float("nan")
        k = max(1, min(100, self.losses.numel() // 10))
        return float(self.losses[-k:].mean())

    @property
    def final_elbo(self) -> float:
        """The ELBO (in nats, summed over the data) at the end of the fit."""
        return -self.final_loss

    def summary(self) -> dict:
        """A JSON-friendly summary of the fit."""
        return {
            "final_elbo": self.final_elbo,
            "num_steps": self.num_steps,
            "wall_time_s": self.wall_time,
            "steps_per_second": self.steps_per_second,
            "device": str(self.device),
            "interrupted": self.interrupted,
            "converged": self.converged,
        }
