"""Checkpoints that are written atomically and load without unpickling code.

A checkpoint is one ``torch.save`` file holding only tensors, numbers, strings,
lists and dicts, so :func:`torch.load` reads it with ``weights_only=True``.
It is first written to a temporary file in the same folder, flushed to disk,
and then renamed over the old one (:func:`os.replace` is atomic on POSIX), so
a crash while writing leaves the previous checkpoint intact. The file gets the
permissions of any new file (``0666`` less the umask, as the rest of a run
directory), so others can read a shared run.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import torch

__all__ = ["CheckpointError", "save_checkpoint", "load_checkpoint", "check_compatible"]

FORMAT = "pyrolatent-checkpoint"
VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint cannot be read or does not belong to the model being fitted."""


def save_checkpoint(path: str | os.PathLike, state: dict) -> Path:
    """Write ``state`` to ``path`` atomically and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"format": FORMAT, "version": VERSION, **state}
    tmp_name = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    # O_EXCL on a random name, and the umask decides the mode (mkstemp would make it 0600)
    fd = os.open(tmp_name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as handle:
            torch.save(payload, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        try:
            os.unlink(tmp_name)
        except FileNotFoundError:
            pass
        raise
    return path


def load_checkpoint(path: str | os.PathLike) -> dict:
    """Read a checkpoint written by :func:`save_checkpoint` (tensors only)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"The 'checkpoint_path' argument must name an existing file; got {str(path)!r}.")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise CheckpointError(f"Cannot read checkpoint {str(path)!r}: {exc}") from exc
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{str(path)!r} is not a pyrolatent checkpoint.")
    if state.get("version") != VERSION:
        raise CheckpointError(
            f"Checkpoint {str(path)!r} has format version {state.get('version')!r}; this pyrolatent reads {VERSION}."
        )
    return state


def check_compatible(state: dict, *, model_class: str, shapes: dict[str, tuple], path) -> None:
    """Refuse a checkpoint of another model class or with other parameter shapes."""
    if state.get("model_class") != model_class:
        raise CheckpointError(
            f"Checkpoint {str(path)!r} was written for model {state.get('model_class')!r}, not for {model_class!r}."
        )
    saved = {name: tuple(t.shape) for name, t in state["params"].items()}
    if saved != shapes:
        missing = sorted(set(shapes) - set(saved))
        extra = sorted(set(saved) - set(shapes))
        differ = sorted(n for n in set(saved) & set(shapes) if saved[n] != shapes[n])
        parts = []
        if missing:
            parts.append(f"missing {missing}")
        if extra:
            parts.append(f"unexpected {extra}")
        if differ:
            parts.append(
                "shape mismatch " + ", ".join(f"{n}: checkpoint {saved[n]} vs model {shapes[n]}" for n in differ)
            )
        raise CheckpointError(
            f"Checkpoint {str(path)!r} does not match this model and guide: " + "; ".join(parts) + "."
        )
