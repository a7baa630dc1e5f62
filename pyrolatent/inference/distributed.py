"""Data-parallel fits on ``torch.distributed``.

When :func:`~pyrolatent.inference.fit` runs in a process group (started by
``torchrun``, or by :func:`init_from_env` / ``torch.distributed.init_process_group``
yourself), every rank:

1. starts from rank 0's parameters and random generator state (broadcast once),
   so all ranks draw the same global minibatch of every plate;
2. fits its own disjoint share of that minibatch (``indices.tensor_split(world)[rank]``,
   passed through the model's plates, whose scaling makes each rank's loss an
   unbiased estimate of the full-data loss);
3. averages the gradients of model and guide with one bucketed ``all_reduce``
   per step (the loss and the stop flag of Ctrl-C/SIGTERM travel in the same
   buffer), so every rank takes the same optimizer step.

The average of the ranks' losses equals the single-process loss of the whole
global minibatch, so with the same seed a fit with N processes follows the
single-process fit to float tolerance for models whose only random draws are
global (collapsed Bayesian PCA). Models with local latents (the VAE's ``z``)
draw their noise per rank, so they follow it in distribution, not draw for
draw. Only rank 0 writes checkpoints; a checkpoint written by N processes
resumes with any number of processes, one included. A rank that stops
answering makes the others fail after ``timeout`` with
:class:`DistributedError`, not wait forever.

Command line (one node, two processes; the gloo backend on CPU, NCCL on GPUs)::

    torchrun --nproc-per-node 2 -m pyrolatent fit bpca --data digits --steps 2000 --out runs/ddp

Several nodes: the same command on each node with ``--nnodes N --node-rank i
--rdzv-endpoint HOST:PORT`` (torchrun's rendezvous); the run directory must be
on a file system that rank 0 writes.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch._utils import _flatten_dense_tensors, _unflatten_dense_tensors

__all__ = ["DistributedError", "Group", "current_group", "init_from_env"]

#: Seconds a collective may wait for the other ranks.
DEFAULT_TIMEOUT = 300.0


class DistributedError(RuntimeError):
    """A rank failed or stopped answering during a data-parallel fit."""


def init_from_env(*, timeout: float = DEFAULT_TIMEOUT, device: str = "auto") -> bool:
    """Join the process group that ``torchrun`` describes in the environment
    (``WORLD_SIZE`` > 1); return whether one was joined. NCCL when CUDA is used,
    gloo otherwise."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or dist.is_initialized():
        return dist.is_initialized()
    use_cuda = torch.cuda.is_available() and device != "cpu"
    backend = "nccl" if use_cuda else "gloo"
    if use_cuda:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(backend=backend, timeout=datetime.timedelta(seconds=timeout))
    return True


@dataclass
class Group:
    """The process group of a data-parallel fit, as the engine uses it."""

    rank: int
    world: int

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def _run(self, what: str, fn):
        try:
            return fn()
        except (RuntimeError, ValueError) as exc:
            raise DistributedError(
                f"Rank {self.rank} of {self.world}: {what} failed, another rank has failed or stopped answering "
                f"({str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__})."
            ) from exc

    def broadcast_start(self, tensors, device) -> None:
        """Give every rank rank 0's parameters and torch generator state."""
        rng = torch.get_rng_state().to(device)

        def go():
            with torch.no_grad():
                for t in tensors:
                    dist.broadcast(t.data, src=0)
            dist.broadcast(rng, src=0)

        self._run("the start-up broadcast", go)
        torch.set_rng_state(rng.cpu())

    def shard(self, subsample):
        """This rank's share of every plate's minibatch."""
        if subsample is None:
            return None
        if isinstance(subsample, dict):
            return {k: v.tensor_split(self.world)[self.rank] for k, v in subsample.items()}
        return subsample.tensor_split(self.world)[self.rank]

    def average(self, params, loss: torch.Tensor, stop: bool) -> tuple[torch.Tensor, bool]:
        """Average the gradients of ``params`` and ``loss`` over ranks in one
        all-reduce; OR the stop flags. Returns ``(mean loss, stop)``."""
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
        extra = torch.stack([loss.detach().to(grads[0].dtype), torch.tensor(float(stop), dtype=grads[0].dtype)])
        flat = _flatten_dense_tensors([*grads, extra.to(grads[0].device)])
        self._run("the gradient all-reduce", lambda: dist.all_reduce(flat, op=dist.ReduceOp.SUM))
        flat /= self.world
        *out, extra = _unflatten_dense_tensors(flat, [*grads, extra])
        for p, g in zip(params, out, strict=True):
            if p.grad is None:
                p.grad = g
            else:
                p.grad.copy_(g)
        return extra[0], bool(extra[1] > 0)

    def barrier(self) -> None:
        self._run("the barrier", dist.barrier)


def current_group() -> Group | None:
    """The process group of this process, or None outside one (or with one rank)."""
    if not (dist.is_available() and dist.is_initialized()):
        return None
    world = dist.get_world_size()
    return Group(dist.get_rank(), world) if world > 1 else None
