"""The one SVI engine: :func:`fit`.

The loop is plain PyTorch around a Pyro objective: ``elbo.differentiable_loss``
gives a loss tensor, ``backward`` its gradients, and a ``torch.optim``
optimizer the step (as in Pyro's ``examples/svi_lightning.py``). Parameters
live in the modules (Pyro's ``module_local_params``), so two fits never share
state through the global parameter store.

The hot loop does not read anything back to the host: the loss and gradient
norm of every step are written into device buffers, and the host reads them
once per check window (``log_every`` steps) for the progress bar, the NaN/Inf
guard, early stopping and the ``on_check`` callbacks. At each clean check the
engine keeps a copy of the state, so that when a window turns out to hold a
non-finite step it can go back and replay up to the step before it exactly.
"""

from __future__ import annotations

import copy
import math
import signal
import threading
import time
from collections.abc import Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pyro
import torch
from pyro import poutine
from tqdm.auto import tqdm

from pyrolatent._validation import check_tensor

from .checkpoint import check_compatible, load_checkpoint, save_checkpoint
from .result import FitResult
from .settings import FitSettings, resolve_device

__all__ = ["fit", "restore", "as_model_inputs", "Callback", "StepInfo", "NonFiniteLossError"]


class NonFiniteLossError(FloatingPointError):
    """A step produced a NaN or infinite loss or gradient.

    Model and guide are left at the state after the last finite step;
    ``result`` holds the :class:`FitResult` up to that step.
    """

    def __init__(self, message: str, result: FitResult):
        super().__init__(message)
        self.result = result


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
    (return True to stop the fit), ``on_end`` once with the result.
    """

    def on_step(self, info: StepInfo) -> None:
        pass

    def on_check(self, info: StepInfo) -> bool | None:
        pass

    def on_end(self, result: FitResult) -> None:
        pass


def fit(model, data, *, guide=None, callbacks=(), settings: FitSettings | None = None, **kwargs) -> FitResult:
    """Fit ``guide`` to the posterior of ``model`` given ``data`` by SVI.

    Parameters
    ----------
    model : callable
        A Pyro model, normally a :class:`~pyro.nn.PyroModule` whose
        ``forward(x=None, subsample=None, ...)`` takes the data by keyword.
        With ``batch_size`` set it is called with ``subsample=`` a tensor of
        row indices, to pass to ``pyro.plate("data", n, subsample=subsample)``.
    data : torch.Tensor, pyrolatent.data.Dataset or mapping
        A tensor or ``Dataset`` is passed as ``x=``; a mapping is passed as
        keyword arguments (every tensor in it must have the same first size
        when minibatching).
    guide : callable, optional
        Any Pyro guide: an autoguide, a ``PyroModule`` or a function. ``None``
        uses ``model.default_guide()``.
    callbacks : sequence of Callback
        Objects with any of ``on_step``, ``on_check``, ``on_end``.
    settings : FitSettings, optional
        All settings at once; otherwise pass them as keyword arguments
        (``num_steps=``, ``lr=``, ``batch_size=``, ... see :class:`FitSettings`).

    Returns
    -------
    FitResult

    Raises
    ------
    NonFiniteLossError
        When a step gives a NaN or infinite loss or gradient; model and guide
        are left after the last finite step.

    Examples
    --------
    >>> from pyrolatent.data import make_bishop
    >>> from pyrolatent.models import BayesianPCA
    >>> data = make_bishop()
    >>> model = BayesianPCA(n_features=10, n_components=9)
    >>> result = fit(model, data, num_steps=100, lr=0.02)  # doctest: +SKIP
    """
    if settings is None:
        settings = FitSettings(**kwargs)
    elif kwargs:
        raise TypeError(f"Pass either 'settings' or keyword settings, not both; got {sorted(kwargs)}.")
    if guide is None:
        make_guide = getattr(model, "default_guide", None)
        if make_guide is None:
            raise TypeError(
                f"The 'guide' argument is None and the model {type(model).__name__} has no default_guide(); "
                "pass a guide, for example pyro.infer.autoguide.AutoNormal(model)."
            )
        guide = make_guide()
    inputs, n_items = _model_inputs(data, batched=settings.batch_size is not None)
    with pyro.settings.context(module_local_params=True):
        return _Run(model, guide, inputs, n_items, settings, list(callbacks)).run()


def restore(model, data, checkpoint_path, *, guide=None, device="cpu") -> FitResult:
    """Load a checkpoint written by :func:`fit` into ``model`` and ``guide``
    without training, and return the :class:`FitResult` it describes.

    Refuses (``CheckpointError``) a checkpoint of another model class or with
    other parameter shapes.
    """
    state = load_checkpoint(checkpoint_path)
    if guide is None:
        guide = model.default_guide()
    settings = FitSettings(
        num_steps=max(1, int(state["step"])), checkpoint_path=checkpoint_path, resume=True, device=device, seed=None
    )
    inputs, n_items = _model_inputs(data, batched=False)
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_initialized() else []
    # loading sets the RNG to the checkpoint's state: keep the caller's RNG as it was
    with pyro.settings.context(module_local_params=True), torch.random.fork_rng(devices=devices):
        run = _Run(model, guide, inputs, n_items, settings, [])
        run._setup()
        run._resume(state)
        run.last_checkpoint = Path(checkpoint_path)
        return run._result(run.step, time.perf_counter())


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


def _model_inputs(data, *, batched: bool) -> tuple[dict, int]:
    """``as_model_inputs(data)`` and the number of items (common first size)."""
    checked = as_model_inputs(data)
    sizes = {v.shape[0] for v in checked.values() if isinstance(v, torch.Tensor) and v.dim() >= 1}
    if batched and len(sizes) != 1:
        raise ValueError(
            "With 'batch_size' set, every tensor in 'data' must have the same first size; "
            f"got sizes {sorted(sizes)}."
        )
    return checked, (sizes.pop() if len(sizes) == 1 else 0)


def _rng_state() -> dict:
    state = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


@contextmanager
def _sigint_flag():
    """Turn the first Ctrl-C into a flag checked between steps (main thread only)."""
    flag = {"set": False}
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return

    def handler(signum, frame):
        if flag["set"]:  # a second Ctrl-C interrupts at once
            raise KeyboardInterrupt
        flag["set"] = True

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield flag
    finally:
        signal.signal(signal.SIGINT, previous)


class _Run:
    """State of one call of :func:`fit` (kept out of the public API)."""

    def __init__(self, model, guide, inputs, n_items, settings: FitSettings, callbacks):
        self.model, self.guide, self.settings, self.callbacks = model, guide, settings, callbacks
        self.device = resolve_device(settings.device)
        self.cpu_inputs = inputs
        self.inputs = {k: v.to(self.device) if isinstance(v, torch.Tensor) else v for k, v in inputs.items()}
        self.n_items = n_items
        batch = settings.batch_size
        if batch is not None and batch > n_items:
            raise ValueError(
                f"The 'batch_size' argument must be at most the number of data items ({n_items}). Got {batch} instead."
            )
        self.batch_size = batch
        self.steps_per_epoch = 1 if batch is None else math.ceil(n_items / batch)
        self.total = settings.total_steps(self.steps_per_epoch)
        if settings.log_every is not None:
            self.log_every = settings.log_every
        else:
            self.log_every = self.steps_per_epoch if batch is not None else 100
        self.ckpt_path = Path(settings.checkpoint_path) if settings.checkpoint_path is not None else None
        self.perm = None
        self.step = 0
        self.last_checkpoint = None

    # -- set-up --------------------------------------------------------------
    def _modules(self):
        return [(prefix, m) for prefix, m in (("model", self.model), ("guide", self.guide)) if isinstance(m, torch.nn.Module)]

    def _setup(self):
        if self.settings.seed is not None:
            pyro.set_rng_seed(self.settings.seed)
        for _, module in self._modules():
            module.to(self.device)
        self.elbo = self.settings.make_elbo()
        # One forward pass creates lazily built parameters (autoguides) and
        # finds the parameters of function guides in the parameter store.
        with poutine.trace(param_only=True) as capture:
            self.elbo.differentiable_loss(self.model, self.guide, **self._kwargs(self._batch(0)))
        named, seen = {}, set()
        for prefix, module in self._modules():
            for name, p in module.named_parameters():
                if id(p) not in seen and p.requires_grad:
                    named[f"{prefix}.{name}"] = p
                    seen.add(id(p))
        self.store_params = {}
        for name, site in capture.trace.nodes.items():
            value = site["value"]
            leaf = value.unconstrained() if hasattr(value, "unconstrained") else value
            if isinstance(leaf, torch.Tensor) and leaf.is_leaf and leaf.requires_grad and id(leaf) not in seen:
                self.store_params[f"param.{name}"] = leaf
                seen.add(id(leaf))
        self.params = list(named.values()) + list(self.store_params.values())
        if not self.params:
            raise ValueError("The model and guide have no parameters to fit.")
        self.optimizer = self.settings.make_optimizer(self.params)
        self.perm = None  # the set-up pass may have drawn a permutation
        self.losses = torch.full((self.total,), math.nan, device=self.device)
        self.gnorms = torch.full((self.total,), math.nan, device=self.device)
        self.best, self.bad_windows = math.inf, 0

    # -- state ---------------------------------------------------------------
    def _tensors(self) -> dict[str, torch.Tensor]:
        state = {}
        for prefix, module in self._modules():
            for name, t in module.state_dict(keep_vars=True).items():
                state[f"{prefix}.{name}"] = t
        state.update(self.store_params)
        return state

    def _capture(self) -> dict:
        return {
            "params": {k: v.detach().clone() for k, v in self._tensors().items()},
            "optimizer": copy.deepcopy(self.optimizer.state_dict()),
            "step": self.step,
            "perm": None if self.perm is None else self.perm.clone(),
            "rng": _rng_state(),
            "best": self.best,
            "bad_windows": self.bad_windows,
        }

    def _restore(self, state: dict) -> None:
        with torch.no_grad():
            for name, t in self._tensors().items():
                t.copy_(state["params"][name].to(t.device))
        self.optimizer.load_state_dict(state["optimizer"])
        self.step = int(state["step"])
        self.perm = None if state["perm"] is None else state["perm"].to(self.device)
        _set_rng_state(state["rng"])
        self.best, self.bad_windows = float(state["best"]), int(state["bad_windows"])

    def _model_class(self) -> str:
        cls = type(self.model)
        return f"{cls.__module__}.{cls.__qualname__}"

    def _save(self) -> None:
        state = self._capture()
        state["params"] = {k: v.cpu() for k, v in state["params"].items()}
        state["losses"] = self.losses[: self.step].cpu()
        state["model_class"] = self._model_class()
        state["settings"] = repr(self.settings.to_dict())
        save_checkpoint(self.ckpt_path, state)
        self.last_checkpoint = self.ckpt_path

    def _resume(self, state: dict | None = None) -> None:
        if state is None:
            state = load_checkpoint(self.ckpt_path)
        shapes = {k: tuple(v.shape) for k, v in self._tensors().items()}
        check_compatible(state, model_class=self._model_class(), shapes=shapes, path=self.ckpt_path)
        if state["step"] > self.total:
            raise ValueError(
                f"The checkpoint {str(self.ckpt_path)!r} is at step {state['step']}, past the "
                f"{self.total} steps asked for."
            )
        self._restore(state)
        self.losses[: self.step] = state["losses"].to(self.device)

    # -- the loop ------------------------------------------------------------
    def _batch(self, step: int):
        if self.batch_size is None:
            return None
        i = step % self.steps_per_epoch
        if i == 0 or self.perm is None:
            self.perm = torch.randperm(self.n_items, device=self.device)
        return self.perm[i * self.batch_size : (i + 1) * self.batch_size]

    def _kwargs(self, idx):
        return self.inputs if idx is None else {**self.inputs, "subsample": idx}

    def _one_step(self) -> torch.Tensor:
        idx = self._batch(self.step)
        self.optimizer.zero_grad(set_to_none=True)
        loss = self.elbo.differentiable_loss(self.model, self.guide, **self._kwargs(idx))
        loss.backward()
        if self.settings.clip_norm is not None:
            gnorm = torch.nn.utils.clip_grad_norm_(self.params, self.settings.clip_norm)
        else:
            grads = [p.grad for p in self.params if p.grad is not None]
            gnorm = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads))) if grads else loss.new_zeros(())
        # A non-finite step is applied like any other; the check at the end of
        # the window finds it, restores the last clean snapshot and replays.
        self.losses[self.step] = loss.detach()
        self.gnorms[self.step] = gnorm.detach()
        self.optimizer.step()
        self.step += 1
        return loss

    def _first_bad(self, start: int, stop: int) -> int | None:
        window = torch.stack([self.losses[start:stop], self.gnorms[start:stop]]).cpu()
        bad = (~torch.isfinite(window)).any(0).nonzero()
        return None if bad.numel() == 0 else start + int(bad[0])

    def _recover(self, bad_step: int, snapshot: dict) -> None:
        """Go back to ``snapshot`` and replay up to (not including) ``bad_step``."""
        self._restore(snapshot)
        while self.step < bad_step:
            self._one_step()

    def _result(self, start_step: int, t0: float, interrupted=False, converged=False) -> FitResult:
        wall = time.perf_counter() - t0
        done = self.step - start_step
        return FitResult(
            model=self.model,
            guide=self.guide,
            losses=self.losses[: self.step].detach().cpu(),
            num_steps=self.step,
            wall_time=wall,
            steps_per_second=done / wall if wall > 0 else math.nan,
            device=self.device,
            settings=self.settings,
            interrupted=interrupted,
            converged=converged,
            data=self.cpu_inputs,
            checkpoint_path=self.last_checkpoint,
        )

    def _check(self, window_start: int, snapshot: dict, t0: float, start_step: int) -> tuple[float, dict]:
        bad = self._first_bad(window_start, self.step)
        if bad is not None:
            self._recover(bad, snapshot)
            kind = "loss" if not math.isfinite(float(self.losses[bad])) else "gradient"
            result = self._result(start_step, t0)
            raise NonFiniteLossError(
                f"The {kind} became non-finite at step {bad} (counting from 0); model and guide are left "
                f"after step {bad - 1}, the last finite one. Check the data for extreme values, lower 'lr', "
                "or set 'clip_norm'.",
                result,
            )
        return float(self.losses[window_start : self.step].mean()), self._capture()

    def run(self) -> FitResult:
        self._setup()
        if self.settings.resume:
            self._resume()
        start_step = self.step
        snapshot = self._capture()
        window_start = self.step
        interrupted = converged = False
        bar = tqdm(
            total=self.total, initial=self.step, disable=not self.settings.progress, unit="step", dynamic_ncols=True
        )
        t0 = time.perf_counter()
        try:
            with _sigint_flag() as sigint:
                while self.step < self.total:
                    loss = self._one_step()
                    epoch = (self.step - 1) // self.steps_per_epoch
                    for cb in self.callbacks:
                        if hasattr(cb, "on_step"):
                            cb.on_step(StepInfo(self.step - 1, epoch, loss.detach(), self.model, self.guide))
                    ckpt_due = self.settings.checkpoint_every and self.step % self.settings.checkpoint_every == 0
                    if self.step % self.log_every == 0 or self.step == self.total or ckpt_due or sigint["set"]:
                        window_loss, snapshot = self._check(window_start, snapshot, t0, start_step)
                        bar.update(self.step - window_start)
                        bar.set_postfix(epoch=epoch, elbo=f"{-window_loss:.4g}", refresh=False)
                        window_start = self.step
                        if ckpt_due:
                            self._save()
                        if self._early_stop(window_loss):
                            converged = True
                            break
                        if self._callbacks_stop(window_loss, epoch):
                            break
                    if sigint["set"]:
                        interrupted = True
                        break
        except KeyboardInterrupt:
            interrupted = True
            # The interrupt may have come in the middle of a step: go back to the
            # last checked state and replay the steps that finished cleanly.
            finished = self.step
            bad = self._first_bad(snapshot["step"], finished)
            self._recover(bad if bad is not None else finished, snapshot)
        finally:
            bar.close()
        if interrupted:
            bad = self._first_bad(snapshot["step"], self.step)
            if bad is not None:
                self._recover(bad, snapshot)
        if self.ckpt_path is not None:
            self._save()
        result = self._result(start_step, t0, interrupted=interrupted, converged=converged)
        for cb in self.callbacks:
            if hasattr(cb, "on_end"):
                cb.on_end(result)
        return result

    def _early_stop(self, window_loss: float) -> bool:
        if self.settings.patience is None:
            return False
        if self.best - window_loss > self.settings.tol * abs(self.best) or not math.isfinite(self.best):
            self.best, self.bad_windows = window_loss, 0
        else:
            self.bad_windows += 1
        return self.bad_windows >= self.settings.patience

    def _callbacks_stop(self, window_loss: float, epoch: int) -> bool:
        stop = False
        for cb in self.callbacks:
            if hasattr(cb, "on_check"):
                stop |= bool(cb.on_check(StepInfo(self.step - 1, epoch, window_loss, self.model, self.guide)))
        return stop
