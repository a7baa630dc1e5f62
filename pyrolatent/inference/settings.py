"""Optimisation settings for :func:`pyrolatent.inference.fit`, checked once."""

from __future__ import annotations

import dataclasses
import inspect
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pyro.infer
import torch

from pyrolatent._validation import (
    check_choice,
    check_positive_float,
    check_positive_int,
)

from .objectives import ImportanceWeightedELBO, MeanFieldELBO, TraceELBO, TraceGraphELBO

__all__ = ["FitSettings", "ELBOS", "OPTIMIZERS", "resolve_device"]

#: Objectives by name (see :mod:`.objectives`): ``"trace"`` and ``"meanfield"``
#: are Pyro's Trace_ELBO and TraceMeanField_ELBO without per-step host reads;
#: ``"iwae"`` is the importance-weighted bound of Burda et al. (2016) with
#: ``num_particles`` draws (always vectorised).
ELBOS: dict[str, Callable[..., pyro.infer.ELBO]] = {
    "trace": TraceELBO,
    "meanfield": MeanFieldELBO,
    "tracegraph": TraceGraphELBO,
    "iwae": ImportanceWeightedELBO,
}

OPTIMIZERS: dict[str, type[torch.optim.Optimizer]] = {
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
    "sgd": torch.optim.SGD,
    "rmsprop": torch.optim.RMSprop,
}


def resolve_device(device) -> torch.device:
    """Turn ``"auto" | "cpu" | "cuda" | "cuda:N" | torch.device`` into a device.

    ``"auto"`` picks CUDA when it is available and the CPU otherwise.
    """
    if isinstance(device, torch.device):
        resolved = device
    elif device == "auto":
        resolved = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    elif isinstance(device, str):
        try:
            resolved = torch.device(device)
        except RuntimeError as exc:
            raise ValueError(
                f"The 'device' argument must be 'auto', 'cpu', 'cuda', 'cuda:N' or a torch.device. "
                f"Got {device!r} instead."
            ) from exc
    else:
        raise ValueError(
            f"The 'device' argument must be 'auto', 'cpu', 'cuda', 'cuda:N' or a torch.device. Got {device!r} instead."
        )
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"The 'device' argument asks for {str(resolved)!r}, but CUDA is not available here.")
    return resolved


def _fusable(params) -> bool:
    """Whether torch's fused optimizers take these parameters: floating point, all
    on one CPU or CUDA device."""
    devices = {p.device for p in params}
    return (
        len(devices) == 1
        and next(iter(devices)).type in ("cpu", "cuda")
        and all(p.dtype.is_floating_point for p in params)
    )


@dataclass(frozen=True)
class FitSettings:
    """Everything that steers one fit; validated when constructed.

    Parameters
    ----------
    num_steps : int, optional
        Number of optimisation steps. Give this or ``num_epochs``; with
        neither, 1000 steps.
    num_epochs : int, optional
        Number of passes over the data (``ceil(n_samples / batch_size)`` steps
        each).
    lr : float
        Learning rate.
    optimizer : {"adam", "adamw", "sgd", "rmsprop"}
        A ``torch.optim`` optimizer by name.
    batch_size : int or dict, optional
        Minibatch size; ``None`` uses the whole data set every step. A model
        with several subsampled plates gets an independent minibatch of this
        size from each, or ``{plate: size}`` sizes them one by one (see
        :mod:`.batching`).
    num_particles : int
        Monte-Carlo samples of the ELBO per step.
    vectorize_particles : bool, optional
        Draw the particles in one vectorised pass (the model must broadcast).
        ``None`` takes the objective's default (vectorised for ``"iwae"``,
        one pass per particle for the others).
    elbo : {"trace", "meanfield", "tracegraph", "iwae"} or pyro.infer.ELBO
        The objective. An ELBO instance is used as given (its own
        ``num_particles`` then applies).
    seed : int, optional
        Seed for Pyro, torch, NumPy and Python; ``None`` leaves the RNGs alone.
    device : "auto", "cpu", "cuda", "cuda:N" or torch.device
        Where model, guide and data live during the fit.
    progress : bool
        Show a tqdm progress bar.
    log_every : int, optional
        Steps between the host reads of the loss (progress bar, NaN/Inf guard,
        early stopping, ``on_check`` callbacks). Defaults to one epoch with
        minibatches and 100 steps with full batches.
    checkpoint_path : str or os.PathLike, optional
        Where to write checkpoints (atomically; see :mod:`.checkpoint`).
    checkpoint_every : int, optional
        Steps between checkpoints; by default only at the end (and on
        interruption).
    resume : bool
        Continue from ``checkpoint_path`` when it exists. ``num_steps`` /
        ``num_epochs`` still count from the start of the original fit.
    patience : int, optional
        Stop when the mean loss of a check window has not improved by a
        relative ``tol`` for this many windows.
    tol : float
        Relative improvement that counts for early stopping.
    clip_norm : float, optional
        Clip the global gradient norm to this value.
    compile : {False, True, "trace", "inductor"}
        Run each step as a graph traced once from the model and guide, which
        removes Pyro's per-step Python work: ``"trace"`` replays the traced
        ATen graph (results equal the eager step's); ``"inductor"`` (or
        ``True``) also compiles it with TorchInductor (seconds to a minute at
        the first step; results equal to float rounding). A model that cannot
        be traced runs eagerly with a ``CompileWarning``; see
        :mod:`pyrolatent.inference.compiled`.
    """

    num_steps: int | None = None
    num_epochs: int | None = None
    lr: float = 1e-2
    optimizer: str = "adam"
    batch_size: int | dict | None = None
    num_particles: int = 1
    vectorize_particles: bool | None = None
    elbo: Any = "trace"
    seed: int | None = 0
    device: Any = "auto"
    progress: bool = False
    log_every: int | None = None
    checkpoint_path: str | os.PathLike | None = None
    checkpoint_every: int | None = None
    resume: bool = False
    patience: int | None = None
    tol: float = 1e-4
    clip_norm: float | None = None
    compile: bool | str = False

    def __post_init__(self):
        if self.num_steps is not None and self.num_epochs is not None:
            raise ValueError(
                "Give either 'num_steps' or 'num_epochs', not both. "
                f"Got num_steps={self.num_steps!r} and num_epochs={self.num_epochs!r}."
            )
        check_positive_int("num_steps", self.num_steps, allow_none=True)
        check_positive_int("num_epochs", self.num_epochs, allow_none=True)
        check_positive_float("lr", self.lr)
        check_choice("optimizer", self.optimizer, OPTIMIZERS)
        if isinstance(self.batch_size, dict):
            if not self.batch_size:
                raise ValueError("The 'batch_size' argument must not be an empty dict; use None for full batches.")
            for plate, size in self.batch_size.items():
                if not isinstance(plate, str):
                    raise ValueError(f"The 'batch_size' argument's keys must be plate names; got {plate!r}.")
                check_positive_int(f"batch_size[{plate!r}]", size)
        else:
            check_positive_int("batch_size", self.batch_size, allow_none=True)
        check_positive_int("num_particles", self.num_particles)
        if not isinstance(self.elbo, pyro.infer.ELBO):
            check_choice("elbo", self.elbo, ELBOS)
        if self.seed is not None:
            check_positive_int("seed", self.seed, minimum=0)
        resolve_device(self.device)
        check_positive_int("log_every", self.log_every, allow_none=True)
        check_positive_int("checkpoint_every", self.checkpoint_every, allow_none=True)
        check_positive_int("patience", self.patience, allow_none=True)
        check_positive_float("tol", self.tol, allow_zero=True)
        check_positive_float("clip_norm", self.clip_norm, allow_none=True)
        if not (isinstance(self.compile, bool) or self.compile in ("trace", "inductor")):
            raise ValueError(
                f"The 'compile' argument must be False, True, 'trace' or 'inductor'. Got {self.compile!r} instead."
            )
        if self.vectorize_particles is not None and not isinstance(self.vectorize_particles, bool):
            raise ValueError(
                f"The 'vectorize_particles' argument must be True, False or None. Got {self.vectorize_particles!r} instead."
            )
        for flag in ("progress", "resume"):
            if not isinstance(getattr(self, flag), bool):
                raise ValueError(f"The {flag!r} argument must be True or False. Got {getattr(self, flag)!r} instead.")
        if self.resume and self.checkpoint_path is None:
            raise ValueError("The 'resume' argument needs 'checkpoint_path' to name the checkpoint to resume from.")
        if self.checkpoint_every is not None and self.checkpoint_path is None:
            raise ValueError("The 'checkpoint_every' argument needs 'checkpoint_path' to say where to write.")

    # -- construction helpers ------------------------------------------------
    def make_elbo(self) -> pyro.infer.ELBO:
        if isinstance(self.elbo, pyro.infer.ELBO):
            return self.elbo
        kwargs = {"num_particles": self.num_particles}
        if self.vectorize_particles is not None:
            kwargs["vectorize_particles"] = self.vectorize_particles
        return ELBOS[self.elbo](**kwargs)

    def make_optimizer(self, params) -> torch.optim.Optimizer:
        """The optimizer, with torch's fused implementation where it has one for
        these parameters (one kernel per parameter instead of a loop of small
        operations: on small models the update costs as much as the ELBO)."""
        cls = OPTIMIZERS[self.optimizer]
        params = list(params)
        kwargs = {"lr": self.lr}
        if "fused" in inspect.signature(cls).parameters and _fusable(params):
            kwargs["fused"] = True
        return cls(params, **kwargs)

    def total_steps(self, steps_per_epoch: int) -> int:
        if self.num_epochs is not None:
            return self.num_epochs * steps_per_epoch
        return self.num_steps if self.num_steps is not None else 1000

    def to_dict(self) -> dict:
        """JSON-friendly form (objects are written as their ``repr``)."""
        out = {}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if isinstance(value, dict) and all(isinstance(v, int) for v in value.values()):
                value = dict(value)
            elif not (value is None or isinstance(value, (bool, int, float, str))):
                value = repr(value) if not isinstance(value, os.PathLike) else os.fspath(value)
            out[field.name] = value
        return out
