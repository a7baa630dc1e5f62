"""What a fit's state is, how it is copied, replayed and checked on resume.

The state of a fit is everything that decides its future: the parameters of
model and guide (and of function guides, from Pyro's parameter store), the
optimizer's moments, the step counter, the minibatch permutations of every
plate, the random number generators and the state of stateful callbacks
(early stopping). :class:`FitState` copies it (for the engine's in-memory
snapshots and for checkpoints) and puts it back exactly, so that a fit
resumed from a checkpoint equals an uninterrupted one bit for bit on the CPU.
"""

from __future__ import annotations

import copy
from pathlib import Path

import torch

from pyrolatent._pyro import rng_state, set_rng_state

from .checkpoint import CheckpointError, check_compatible

__all__ = ["FitState", "RESUME_MUST_MATCH"]

#: Settings that a resumed fit must share with the checkpoint: with another
#: value the saved optimizer moments or minibatch permutations do not apply.
#: (A changed ``lr`` is applied and recorded; the others are free.)
RESUME_MUST_MATCH = ("optimizer", "batch_size", "elbo", "num_particles", "vectorize_particles")

#: Keys every checkpoint written by the engine holds.
REQUIRED_KEYS = ("params", "optimizer", "step", "rng", "losses", "model_class")


class FitState:
    """The live state of one fit, and its copies."""

    def __init__(self, modules, store_params: dict, optimizer, batcher, callbacks, model_class: str):
        self.modules, self.store_params, self.optimizer = modules, store_params, optimizer
        self.batcher, self.callbacks, self.model_class = batcher, callbacks, model_class
        self.step = 0

    def tensors(self) -> dict[str, torch.Tensor]:
        """Every parameter and buffer of model and guide, by a stable name."""
        state = {}
        for prefix, module in self.modules:
            for name, t in module.state_dict(keep_vars=True).items():
                state[f"{prefix}.{name}"] = t
        state.update(self.store_params)
        return state

    def finite(self) -> bool:
        """Whether every floating tensor of the state is finite."""
        return all(bool(torch.isfinite(t).all()) for t in self.tensors().values() if t.is_floating_point())

    # -- in-memory copies ---------------------------------------------------------
    def capture(self) -> dict:
        return {
            "params": {k: v.detach().clone() for k, v in self.tensors().items()},
            "optimizer": copy.deepcopy(self.optimizer.state_dict()),
            "step": self.step,
            "batching": None if self.batcher is None else self.batcher.state_dict(),
            "rng": rng_state(),
            "callbacks": [cb.state_dict() for cb in self.callbacks],
        }

    def restore(self, state: dict) -> None:
        with torch.no_grad():
            for name, t in self.tensors().items():
                t.copy_(state["params"][name].to(t.device))
        self.optimizer.load_state_dict(state["optimizer"])
        self.step = int(state["step"])
        if self.batcher is not None:
            if state.get("batching") is not None:
                self.batcher.load_state_dict(state["batching"])
            elif "perm" in state:  # checkpoints of pyrolatent 0.1: one "data" plate
                self.batcher.load_state_dict({"perms": {"data": state["perm"]}, "pos": {"data": 0}})
            else:
                self.batcher.reset()
        set_rng_state(state["rng"])
        for cb, cb_state in zip(self.callbacks, state.get("callbacks") or [{}] * len(self.callbacks), strict=False):
            if cb_state:
                cb.load_state_dict(cb_state)

    # -- checkpoints ----------------------------------------------------------------
    def to_checkpoint(self, losses: torch.Tensor, settings: dict) -> dict:
        state = self.capture()
        state["params"] = {k: v.cpu() for k, v in state["params"].items()}
        if state["batching"] is not None:
            state["batching"]["perms"] = {
                k: (None if v is None else v.cpu()) for k, v in state["batching"]["perms"].items()
            }
        state["losses"] = losses.cpu()
        state["model_class"] = self.model_class
        state["settings"] = dict(settings)
        return state

    def check_checkpoint(
        self, state: dict, *, settings: dict, total_steps: int, path, continuing: bool = True
    ) -> list[str]:
        """Refuse a checkpoint that cannot continue this fit (``CheckpointError``
        naming what differs); return notes on settings that changed harmlessly.
        With ``continuing=False`` (loading a fit to look at it) only the model
        and its parameters must match."""
        path = Path(path) if path is not None else None
        missing = [k for k in REQUIRED_KEYS if k not in state]
        if missing:
            raise CheckpointError(f"Checkpoint {str(path)!r} is incomplete: it lacks {missing}.")
        shapes = {k: tuple(v.shape) for k, v in self.tensors().items()}
        check_compatible(state, model_class=self.model_class, shapes=shapes, path=path)
        saved = state.get("settings")
        notes = []
        if isinstance(saved, dict):
            for key in RESUME_MUST_MATCH:
                if key in saved and saved[key] != settings.get(key):
                    raise CheckpointError(
                        f"Checkpoint {str(path)!r} was written with {key}={saved[key]!r}; this fit asks for "
                        f"{key}={settings.get(key)!r}. Resume with the same {key!r}, or start a new fit."
                    )
            if "lr" in saved and saved["lr"] != settings.get("lr"):
                notes.append(f"lr changed from {saved['lr']!r} to {settings.get('lr')!r} on resume")
        step = int(state["step"])
        if step > total_steps:
            raise CheckpointError(
                f"Checkpoint {str(path)!r} is at step {step}, past the {total_steps} steps asked for."
            )
        if state["losses"].numel() != step:
            raise CheckpointError(
                f"Checkpoint {str(path)!r} is damaged: {state['losses'].numel()} losses for {step} steps."
            )
        if self.batcher is not None and state.get("batching") is not None:
            try:
                self.batcher.check_state(state["batching"])
            except ValueError as exc:
                raise CheckpointError(f"Checkpoint {str(path)!r} does not fit these data: {exc}") from exc
        elif self.batcher is not None and "perm" in state and state["perm"] is not None:
            n = self.batcher.sizes.get("data")
            if state["perm"].numel() != n:
                raise CheckpointError(
                    f"Checkpoint {str(path)!r} was written for {state['perm'].numel()} data rows; these data have {n}."
                )
        if continuing and self.batcher is None and state.get("batching") is not None:
            raise CheckpointError(
                f"Checkpoint {str(path)!r} was written by a minibatch fit; this fit uses full batches. "
                "Resume with the same 'batch_size'."
            )
        return notes
