r"""A compiled step for :func:`~pyrolatent.inference.fit`: Pyro's per-step
Python work traced away.

An eager SVI step runs the model and the guide as Python under Pyro's effect
handlers: every sample site builds a message, walks the handler stack and
stores a trace, before and after the tensor work. On small models that Python
costs more than the arithmetic (the engine benchmark: tiny Bayesian PCA at
2.4x a hand-written PyTorch ELBO). When the structure of the model is static
(the same sites, shapes and plates every step, as in every model of this
library) the Python can be run once:

- ``compile="trace"``: the engine runs ``elbo.differentiable_loss`` and its
  ``torch.autograd.grad`` once under :func:`torch.fx.experimental.proxy_tensor.make_fx`,
  which records the ATen operations of the loss and of its gradient into one
  graph whose inputs are the parameters, the data and the minibatch indices.
  Every later step replays that graph: the same operations, in the same
  order, with no Pyro in between, so the result equals the eager step's
  exactly (same random draws, same rounding).
- ``compile="inductor"`` (or ``True``): the traced graph is also compiled by
  TorchInductor (``torch.compile``), which fuses the elementwise work into a
  few kernels (C++/OpenMP on the CPU, Triton on a GPU). Compilation takes
  seconds to a minute once per input signature; results equal the eager step
  to float rounding. Inductor is told to draw with torch's own generator
  (``fallback_random``), so a seeded compiled fit draws the same noise as the
  eager one.

The traced step runs with Pyro's argument validation off (validation reads
tensor values; the engine checks a model's inputs before the first step).
Random draws are operations of the graph, so each replay draws fresh noise.
A graph is traced once per signature of the inputs (their shapes, dtypes and
devices); a last, smaller minibatch of an epoch gets its own.

What cannot be traced falls back to the eager step with a
:class:`CompileWarning` that says why: a model whose Python control flow
reads tensor values (``.item()``, ``if x.sum() > 0``; ``make_fx`` refuses
those on traced values), inputs that change shape every step (more than
:data:`MAX_SIGNATURES` graphs), parameters the engine cannot hand to the graph.
When TorchInductor fails (no C++ compiler, an unsupported operation) the step
keeps the traced graph, with a warning. Python-level effects inside the model
(a print, a counter) run once, at tracing, not at every step.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from unittest import mock

import pyro
import torch
from torch.distributions import Distribution
from torch.fx.experimental.proxy_tensor import make_fx
from torch.utils._pytree import tree_flatten, tree_unflatten

from pyrolatent._pyro import rng_state, set_rng_state

__all__ = ["CompileWarning", "CompiledStep", "MAX_SIGNATURES", "TraceError", "compile_mode"]

#: Input signatures (shapes, dtypes, devices) traced before giving up on a model.
MAX_SIGNATURES = 8


class CompileWarning(UserWarning):
    """The step could not be compiled as asked; the message says what runs instead."""


class TraceError(RuntimeError):
    """The step could not be traced into a graph (the engine then runs it eagerly)."""


def compile_mode(value) -> str | None:
    """``None`` (eager), ``"trace"`` or ``"inductor"`` for a ``compile`` setting
    (``False``, ``True`` meaning ``"inductor"``, ``"trace"`` or ``"inductor"``)."""
    if value is False:
        return None
    return "inductor" if value is True else value


class CompiledStep:
    """The loss and gradients of one step of ``elbo`` on ``model`` and ``guide``,
    traced into a graph per input signature and replayed.

    Parameters
    ----------
    elbo : pyro.infer.ELBO
        Its ``differentiable_loss(model, guide, **inputs)`` is traced.
    model, guide : callable
        The fit's model and guide (set up: lazily built parameters exist).
    params : list of torch.Tensor
        The leaf tensors the optimizer updates, in its order.
    store_params : dict
        ``{"param.NAME": leaf}`` for parameters that live in Pyro's parameter
        store (function guides), as collected by the engine.
    mode : {"trace", "inductor"}

    Raises
    ------
    TraceError
        When a parameter cannot be located in the modules or the parameter
        store (constructor), or a step cannot be traced (call); the engine
        then runs the step eagerly.
    """

    def __init__(self, elbo, model, guide, params, store_params: dict, mode: str):
        self.elbo, self.model, self.guide, self.mode = elbo, model, guide, mode
        self.params = list(params)
        self.slots = self._locate(store_params)
        self.graphs: dict = {}

    # -- where each parameter lives -------------------------------------------
    def _locate(self, store_params: dict) -> list[list[tuple[dict, str]]]:
        """For each parameter, the ``(dict, key)`` places that hold it: a module's
        ``_parameters`` (tied weights have several) or the parameter store."""
        index = {id(p): i for i, p in enumerate(self.params)}
        slots: list[list[tuple[dict, str]]] = [[] for _ in self.params]
        seen = set()
        for module in (self.model, self.guide):
            if not isinstance(module, torch.nn.Module):
                continue
            for sub in module.modules():
                for key, value in sub._parameters.items():
                    if value is not None and id(value) in index and (id(sub._parameters), key) not in seen:
                        seen.add((id(sub._parameters), key))
                        slots[index[id(value)]].append((sub._parameters, key))
        store = pyro.get_param_store()._params
        for full_name, leaf in store_params.items():
            name = full_name.removeprefix("param.")
            if store.get(name) is not leaf:
                raise TraceError(f"the parameter {name!r} is not in Pyro's parameter store where the step reads it")
            slots[index[id(leaf)]].append((store, name))
        missing = [i for i, places in enumerate(slots) if not places]
        if missing:
            raise TraceError(f"{len(missing)} parameter(s) live outside the model's and guide's modules")
        return slots

    def _swap(self, values) -> list:
        old = []
        for places, value in zip(self.slots, values, strict=True):
            for container, key in places:
                old.append(container[key])
                container[key] = value
        return old

    def _unswap(self, old) -> None:
        it = iter(old)
        for places in self.slots:
            for container, key in places:
                container[key] = next(it)

    # -- tracing ---------------------------------------------------------------
    @staticmethod
    def _signature(leaves) -> tuple:
        sig = []
        for leaf in leaves:
            if isinstance(leaf, torch.Tensor):
                sig.append(("tensor", tuple(leaf.shape), leaf.dtype, leaf.device))
            else:
                try:
                    hash(leaf)
                    sig.append(("value", leaf))
                except TypeError:
                    sig.append(("id", id(leaf)))
        return tuple(sig)

    def _trace(self, leaves, spec):
        is_tensor = [isinstance(leaf, torch.Tensor) for leaf in leaves]
        fixed = [None if t else leaf for leaf, t in zip(leaves, is_tensor, strict=True)]
        used: list[bool] = []

        def loss_and_grads(param_values, tensor_leaves):
            it = iter(tensor_leaves)
            kwargs = tree_unflatten([next(it) if t else v for t, v in zip(is_tensor, fixed, strict=True)], spec)
            old = self._swap(param_values)
            try:
                with torch.enable_grad(), _without_validation():
                    loss = self.elbo.differentiable_loss(self.model, self.guide, **kwargs)
                    grads = torch.autograd.grad(loss, param_values, allow_unused=True)
            finally:
                self._unswap(old)
            used[:] = [g is not None for g in grads]
            return loss.detach(), [g for g in grads if g is not None]

        examples = [p.detach().requires_grad_(True) for p in self.params]
        tensors = [leaf for leaf, t in zip(leaves, is_tensor, strict=True) if t]
        state = rng_state()  # tracing runs the step once for real: give its draws back
        try:
            graph = make_fx(loss_and_grads)(examples, tensors)
        except Exception as exc:
            raise TraceError(f"{type(exc).__name__}: {_first_line(exc)}") from exc
        finally:
            set_rng_state(state)
        run = graph
        if self.mode == "inductor":
            with _torch_notices_ignored():
                run = torch.compile(graph, dynamic=False, options={"fallback_random": True})
        return {"run": run, "graph": graph, "used": list(used)}

    # -- the step --------------------------------------------------------------
    def __call__(self, kwargs: dict) -> torch.Tensor:
        """The loss of one step; the parameters' ``.grad`` are set (``None``
        for parameters the loss does not reach)."""
        leaves, spec = tree_flatten(kwargs)
        key = (spec, self._signature(leaves))
        entry = self.graphs.get(key)
        tensors = [leaf for leaf in leaves if isinstance(leaf, torch.Tensor)]
        values = [p.detach() for p in self.params]
        with torch.no_grad():
            if entry is not None:
                loss, grads = entry["run"](values, tensors)
            else:
                if len(self.graphs) >= MAX_SIGNATURES:
                    raise TraceError(f"the inputs took more than {MAX_SIGNATURES} shapes; each needs its own graph")
                entry = self.graphs[key] = self._trace(leaves, spec)
                loss, grads = self._first_call(entry, values, tensors)
        it = iter(grads)
        for p, has_grad in zip(self.params, entry["used"], strict=True):
            p.grad = next(it) if has_grad else None
        return loss

    def _first_call(self, entry, values, tensors):
        """Run a new graph once; this is where TorchInductor compiles it."""
        if entry["run"] is entry["graph"]:  # traced only
            return entry["run"](values, tensors)
        state = rng_state()
        try:
            with _torch_notices_ignored():
                return entry["run"](values, tensors)
        except Exception as exc:
            set_rng_state(state)
            warnings.warn(
                f"TorchInductor could not compile the step of {type(self.model).__name__} "
                f"({type(exc).__name__}: {_first_line(exc)}); replaying the traced graph without it "
                "(compile='trace').",
                CompileWarning,
                stacklevel=4,
            )
            entry["run"] = entry["graph"]
            return entry["run"](values, tensors)


@contextmanager
def _torch_notices_ignored() -> Iterator[None]:
    """Deprecation notices that torch's compiler stack raises about its own
    internals (not the user's code) while it compiles."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=FutureWarning)
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        yield


@contextmanager
def _without_validation() -> Iterator[None]:
    """Pyro's and torch's argument validation off, also for distributions built
    before (a prior kept by a module validates its samples when asked): the
    checks read tensor values, which a traced graph cannot."""
    with pyro.validation_enabled(False), mock.patch.object(Distribution, "_validate_sample", _no_check):
        yield


def _no_check(self, value) -> None:
    return None


def _first_line(exc: BaseException) -> str:
    """The first sentence of an exception's message."""
    text = str(exc).strip()
    if not text:
        return "no message"
    line = text.splitlines()[0]
    end = line.find(". ")
    return line[: end + 1] if 0 < end < 300 else line[:300]
