"""The one SVI engine: :func:`fit`.

The loop is plain PyTorch around a Pyro objective: ``elbo.differentiable_loss``
gives a loss tensor, ``backward`` its gradients, and a ``torch.optim``
optimizer the step (as in Pyro's ``examples/svi_lightning.py``). Parameters
live in the modules (Pyro's ``module_local_params``), so two fits never share
state through the global parameter store. With ``compile=`` the loss and its
gradients come from a graph traced once from the same objective
(:mod:`.compiled`); the rest of the step is the same.

The hot loop does not read anything back to the host: the loss and gradient
norm of every step are written into device buffers, and the host reads them
once per check window (``log_every`` steps) for the progress bar, the NaN/Inf
guard, early stopping and the ``on_check`` callbacks. At each clean check the
engine keeps a copy of the state, so that when a window turns out to hold a
non-finite step it can go back and replay up to the step before it exactly.
"""

from __future__ import annotations

import math
import time
import warnings
from pathlib import Path

import torch
from pyro import poutine
from tqdm.auto import tqdm

from pyrolatent._pyro import keep_rng, local_params, seeded

from .batching import Batcher, plate_sizes
from .callbacks import Callback, EarlyStopping, StepInfo, check_callbacks
from .checkpoint import load_checkpoint, save_checkpoint
from .compiled import CompiledStep, CompileWarning, TraceError, compile_mode
from .distributed import current_group
from .inputs import ChecksInputs, as_model_inputs
from .interrupts import stop_signals
from .result import FitResult
from .settings import FitSettings, resolve_device
from .state import FitState

__all__ = ["fit", "restore", "as_model_inputs", "Callback", "StepInfo", "NonFiniteLossError"]


class NonFiniteLossError(FloatingPointError):
    """A step produced a NaN or infinite loss or gradient.

    Model and guide are left at the state after the last finite step;
    ``result`` holds the :class:`FitResult` up to that step.
    """

    def __init__(self, message: str, result: FitResult):
        super().__init__(message)
        self.result = result


def fit(model, data, *, guide=None, callbacks=(), settings: FitSettings | None = None, **kwargs) -> FitResult:
    """Fit ``guide`` to the posterior of ``model`` given ``data`` by SVI.

    Parameters
    ----------
    model : callable
        A Pyro model, normally a :class:`~pyro.nn.PyroModule` whose
        ``forward(x=None, subsample=None, ...)`` takes the data by keyword.
        With ``batch_size`` set it is called with ``subsample=`` the indices of
        the minibatch, to pass to ``pyro.plate(name, size, subsample=...)``:
        a tensor for the one ``"data"`` plate, or ``{plate: indices}`` for a
        model that declares several plates (see :mod:`.batching`).
    data : torch.Tensor, pyrolatent.data.Dataset or mapping
        A tensor or ``Dataset`` is passed as ``x=``; a mapping is passed as
        keyword arguments.
    guide : callable, optional
        Any Pyro guide: an autoguide, a ``PyroModule`` or a function. ``None``
        uses ``model.default_guide()``.
    callbacks : sequence of Callback
        :class:`~pyrolatent.inference.callbacks.Callback` objects.
    settings : FitSettings, optional
        All settings at once; otherwise pass them as keyword arguments
        (``num_steps=``, ``lr=``, ``batch_size=``, ... see :class:`FitSettings`).

    Returns
    -------
    FitResult

    Raises
    ------
    NonFiniteLossError
        When a step gives a NaN or infinite loss or gradient, or fails on the
        values it reached (a distribution's parameters out of their support);
        model and guide are left after the last finite step.

    Notes
    -----
    With ``seed`` set, the fit draws from seeded generators and gives the
    caller's generators back afterwards: a seeded fit does not change the
    random stream of the code around it. Parameters stay in the modules
    (Pyro's ``module_local_params`` for the duration of the fit).

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
    elif not isinstance(settings, FitSettings):
        raise TypeError(
            "The 'settings' argument of fit must be a FitSettings (or pass the settings as keyword "
            f"arguments). Got {type(settings).__name__} instead."
        )
    elif kwargs:
        raise TypeError(f"Pass either 'settings' or keyword settings, not both; got {sorted(kwargs)}.")
    callbacks = check_callbacks(callbacks)
    if not callable(model):
        raise TypeError(f"The 'model' argument of fit must be a callable Pyro model. Got {type(model).__name__}.")
    guide = _resolve_guide(model, guide)
    inputs = as_model_inputs(data)
    if isinstance(model, ChecksInputs):
        with local_params(model):
            model.check_inputs(**inputs)
    if settings.patience is not None:
        callbacks.append(EarlyStopping(settings.patience, settings.tol))
    with local_params(model, guide), seeded(settings.seed):
        return _Run(model, guide, inputs, settings, callbacks).run()


def _resolve_guide(model, guide):
    if guide is None:
        make_guide = getattr(model, "default_guide", None)
        if make_guide is None:
            raise TypeError(
                f"The 'guide' argument is None and the model {type(model).__name__} has no default_guide(); "
                "pass a guide, for example pyro.infer.autoguide.AutoNormal(model)."
            )
        return make_guide()
    if not callable(guide):
        raise TypeError(f"The 'guide' argument of fit must be a callable Pyro guide. Got {type(guide).__name__}.")
    return guide


def restore(model, data, checkpoint_path, *, guide=None, device="cpu") -> FitResult:
    """Load a checkpoint written by :func:`fit` into ``model`` and ``guide``
    without training, and return the :class:`FitResult` it describes.

    Refuses (``CheckpointError``) a checkpoint of another model class or with
    other parameter shapes. The caller's random generators are left as they were.
    """
    state = load_checkpoint(checkpoint_path)
    guide = _resolve_guide(model, guide)
    saved = state.get("settings") if isinstance(state.get("settings"), dict) else {}
    settings = FitSettings(
        num_steps=max(1, int(state.get("step", 1))),
        checkpoint_path=checkpoint_path,
        resume=True,
        device=device,
        seed=None,
        **{k: saved[k] for k in ("lr", "optimizer") if k in saved},
    )
    inputs = as_model_inputs(data)
    # loading sets the RNG to the checkpoint's state: keep the caller's RNG as it was
    with local_params(model, guide), keep_rng():
        run = _Run(model, guide, inputs, settings, [])
        run.setup()
        run.resume(state, compare_settings=False)
        run.last_checkpoint = Path(checkpoint_path)
        return run.result(run.state.step, time.perf_counter())


class _Run:
    """State of one call of :func:`fit` (kept out of the public API)."""

    def __init__(self, model, guide, inputs, settings: FitSettings, callbacks):
        self.model, self.guide, self.settings, self.callbacks = model, guide, settings, callbacks
        self.device = resolve_device(settings.device)
        self.cpu_inputs = inputs
        self.inputs = {k: v.to(self.device) if isinstance(v, torch.Tensor) else v for k, v in inputs.items()}
        self.batcher = None
        if settings.batch_size is not None:
            self.batcher = Batcher(plate_sizes(model, inputs), settings.batch_size, self.device)
        self.steps_per_epoch = 1 if self.batcher is None else self.batcher.steps_per_epoch
        self.total = settings.total_steps(self.steps_per_epoch)
        if settings.log_every is not None:
            self.log_every = settings.log_every
        else:
            self.log_every = self.steps_per_epoch if self.batcher is not None else 100
        self.ckpt_path = Path(settings.checkpoint_path) if settings.checkpoint_path is not None else None
        self.last_checkpoint = None
        self.notes: list[str] = []
        # data-parallel: each rank fits its share of every plate (see .distributed)
        self.group = current_group()
        self.full_indices = None
        if self.group is not None and self.batcher is None:
            sizes = plate_sizes(model, inputs)
            full = {k: torch.arange(n, device=self.device) for k, n in sizes.items()}
            self.full_indices = full["data"] if list(full) == ["data"] else full
        # only the callbacks that override on_step are called every step
        self.step_callbacks = [cb for cb in callbacks if type(cb).on_step is not Callback.on_step]
        self.stop_flag = None  # the signal flag of the running loop
        self.group_stop = False

    # -- set-up --------------------------------------------------------------
    def _modules(self):
        pairs = (("model", self.model), ("guide", self.guide))
        return [(prefix, m) for prefix, m in pairs if isinstance(m, torch.nn.Module)]

    def setup(self):
        for _, module in self._modules():
            module.to(self.device)
        if self.group is not None:  # every rank draws what rank 0 draws
            self.group.broadcast_start([], self.device)
        self.elbo = self.settings.make_elbo()
        # One forward pass creates lazily built parameters (autoguides) and
        # finds the parameters of function guides in the parameter store.
        with poutine.trace(param_only=True) as capture:
            self.elbo.differentiable_loss(self.model, self.guide, **self._kwargs(self._draw(0)))
        named, seen = {}, set()
        for prefix, module in self._modules():
            for name, p in module.named_parameters():
                if id(p) not in seen and p.requires_grad:
                    named[f"{prefix}.{name}"] = p
                    seen.add(id(p))
        store_params = {}
        for name, site in capture.trace.nodes.items():
            value = site["value"]
            leaf = value.unconstrained() if hasattr(value, "unconstrained") else value
            if isinstance(leaf, torch.Tensor) and leaf.is_leaf and leaf.requires_grad and id(leaf) not in seen:
                store_params[f"param.{name}"] = leaf
                seen.add(id(leaf))
        self.params = list(named.values()) + list(store_params.values())
        if not self.params:
            raise ValueError("The model and guide have no parameters to fit.")
        self.optimizer = self.settings.make_optimizer(self.params)
        self.compiled = None
        mode = compile_mode(self.settings.compile)
        if mode is not None:
            try:
                self.compiled = CompiledStep(self.elbo, self.model, self.guide, self.params, store_params, mode)
            except TraceError as exc:
                self._eager_fallback(exc)
        if self.batcher is not None:
            self.batcher.reset()  # the set-up pass drew a permutation
        cls = type(self.model)
        self.state = FitState(
            self._modules(),
            store_params,
            self.optimizer,
            self.batcher,
            self.callbacks,
            f"{cls.__module__}.{cls.__qualname__}",
        )
        self.losses = torch.full((self.total,), math.nan, device=self.device)
        self.gnorms = torch.full((self.total,), math.nan, device=self.device)
        if self.group is not None:  # every rank starts from rank 0's parameters
            self.group.broadcast_start(list(self.state.tensors().values()), self.device)

    # -- checkpoints ---------------------------------------------------------
    def _save(self) -> None:
        if self.group is not None and not self.group.is_main:  # only rank 0 writes
            self.last_checkpoint = self.ckpt_path
            return
        step = self.state.step
        save_checkpoint(self.ckpt_path, self.state.to_checkpoint(self.losses[:step], self.settings.to_dict()))
        self.last_checkpoint = self.ckpt_path

    def resume(self, state: dict | None = None, *, compare_settings: bool = True) -> None:
        if state is None:
            if not self.ckpt_path.is_file():  # a first run with resume=True starts fresh
                return
            state = load_checkpoint(self.ckpt_path)
        saved = state.get("settings") if isinstance(state.get("settings"), dict) else {}
        self.notes += self.state.check_checkpoint(
            state,
            settings=self.settings.to_dict() if compare_settings else saved,
            total_steps=self.total,
            path=self.ckpt_path,
            continuing=compare_settings,
        )
        self.state.restore(state)
        for group in self.optimizer.param_groups:  # a changed lr is applied (and recorded in the settings)
            group["lr"] = self.settings.lr
        self.losses[: self.state.step] = state["losses"].to(self.device)

    # -- the loop ------------------------------------------------------------
    def _draw(self, step: int):
        if self.group is not None:
            whole = self.full_indices if self.batcher is None else self.batcher.draw(step)
            return self.group.shard(whole)
        return None if self.batcher is None else self.batcher.draw(step)

    def _kwargs(self, idx):
        return self.inputs if idx is None else {**self.inputs, "subsample": idx}

    def _one_step(self) -> torch.Tensor:
        step = self.state.step
        idx = self._draw(step)
        self.optimizer.zero_grad(set_to_none=True)
        loss = None
        if self.compiled is not None:
            try:
                loss = self.compiled(self._kwargs(idx))  # sets the gradients
            except TraceError as exc:
                self._eager_fallback(exc)
        if loss is None:
            loss = self.elbo.differentiable_loss(self.model, self.guide, **self._kwargs(idx))
            loss.backward()
        if self.group is not None:  # one all-reduce: mean gradient, mean loss, any rank's stop
            stop = self.stop_flag is not None and self.stop_flag["set"] is not None
            loss, self.group_stop = self.group.average(self.params, loss, stop)
        if self.settings.clip_norm is not None:
            gnorm = torch.nn.utils.clip_grad_norm_(self.params, self.settings.clip_norm)
        else:
            grads = [p.grad for p in self.params if p.grad is not None]
            gnorm = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads))) if grads else loss.new_zeros(())
        # A non-finite step is applied like any other; the check at the end of
        # the window finds it, restores the last clean snapshot and replays.
        self.losses[step] = loss.detach()
        self.gnorms[step] = gnorm.detach()
        self.optimizer.step()
        self.state.step = step + 1
        return loss

    def _eager_fallback(self, exc: TraceError) -> None:
        self.compiled = None
        warnings.warn(
            f"The step of {type(self.model).__name__} cannot be compiled ({exc}); running it eagerly. "
            "A compiled step needs a model whose Python control flow does not read tensor values "
            "(see pyrolatent.inference.compiled).",
            CompileWarning,
            stacklevel=5,
        )

    def _first_bad(self, start: int, stop: int) -> int | None:
        if stop <= start:
            return None
        window = torch.stack([self.losses[start:stop], self.gnorms[start:stop]]).cpu()
        bad = (~torch.isfinite(window)).any(0).nonzero()
        return None if bad.numel() == 0 else start + int(bad[0])

    def _recover(self, stop: int, snapshot: dict) -> None:
        """Go back to ``snapshot`` and replay up to (not including) step ``stop``."""
        self.state.restore(snapshot)
        while self.state.step < stop:
            self._one_step()

    def result(self, start_step: int, t0: float, interrupted=False, converged=False) -> FitResult:
        wall = time.perf_counter() - t0
        step = self.state.step
        done = step - start_step
        return FitResult(
            model=self.model,
            guide=self.guide,
            losses=self.losses[:step].detach().cpu(),
            num_steps=step,
            wall_time=wall,
            steps_per_second=done / wall if wall > 0 else math.nan,
            device=self.device,
            settings=self.settings,
            interrupted=interrupted,
            converged=converged,
            data=self.cpu_inputs,
            checkpoint_path=self.last_checkpoint,
        )

    def _non_finite(self, bad: int, snapshot: dict, t0: float, start_step: int, cause: str) -> NonFiniteLossError:
        """Go back to the state before step ``bad`` and build the error to raise."""
        self._recover(bad, snapshot)
        if self.ckpt_path is not None and bad > start_step:
            self._save()
        result = self.result(start_step, t0)
        left = f"after step {bad - 1}, the last finite one" if bad > 0 else "at their initial values"
        return NonFiniteLossError(
            f"{cause} at step {bad} (counting from 0); model and guide are left "
            f"{left}. Check the data for extreme values, lower 'lr', or set 'clip_norm'.",
            result,
        )

    def _check(self, window_start: int, snapshot: dict, t0: float, start_step: int) -> tuple[float, dict]:
        step = self.state.step
        bad = self._first_bad(window_start, step)
        if bad is not None:
            kind = "loss" if not math.isfinite(float(self.losses[bad])) else "gradient"
            raise self._non_finite(bad, snapshot, t0, start_step, f"The {kind} became non-finite")
        return float(self.losses[window_start:step].mean()), self.state.capture()

    def _step_failed(self, exc: BaseException, snapshot: dict, t0: float, start_step: int) -> BaseException:
        """A step raised: go back to the last finite state. Numerical failures (a
        distribution's parameters driven out of their support, a non-finite step
        before it) become :class:`NonFiniteLossError`; other errors are re-raised."""
        failed = self.state.step
        bad = self._first_bad(snapshot["step"], failed)
        if bad is not None:
            return self._non_finite(bad, snapshot, t0, start_step, "The loss or gradient became non-finite")
        if isinstance(exc, (ValueError, FloatingPointError, OverflowError)):
            first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            return self._non_finite(
                failed, snapshot, t0, start_step, f"The step failed on non-finite or out-of-range values ({first_line})"
            )
        self._recover(failed, snapshot)
        return exc

    def run(self) -> FitResult:
        self.setup()
        if self.settings.resume:
            self.resume()
        start_step = self.state.step
        snapshot = self.state.capture()
        window_start = start_step
        interrupted = converged = False
        stop = {"set": None}
        bar = tqdm(
            total=self.total, initial=start_step, disable=not self.settings.progress, unit="step", dynamic_ncols=True
        )
        t0 = time.perf_counter()
        try:
            with stop_signals() as signals:
                self.stop_flag = stop = signals
                while self.state.step < self.total:
                    try:
                        loss = self._one_step()
                    except (KeyboardInterrupt, NonFiniteLossError):
                        raise
                    except Exception as exc:
                        raised = self._step_failed(exc, snapshot, t0, start_step)
                        if raised is exc:
                            raise
                        raise raised from exc
                    step = self.state.step
                    epoch = (step - 1) // self.steps_per_epoch
                    for cb in self.step_callbacks:
                        cb.on_step(StepInfo(step - 1, epoch, loss.detach(), self.model, self.guide))
                    # one process: a signal during this step or its callbacks stops after it;
                    # several: all ranks stop at the step where any rank had seen one
                    stopping = self.group_stop if self.group is not None else signals["set"] is not None
                    every = self.settings.checkpoint_every
                    ckpt_due = every is not None and step % every == 0
                    if step % self.log_every == 0 or step == self.total or ckpt_due or stopping:
                        window_loss, snapshot = self._check(window_start, snapshot, t0, start_step)
                        bar.update(step - window_start)
                        bar.set_postfix(epoch=epoch, elbo=f"{-window_loss:.4g}", refresh=False)
                        window_start = step
                        if ckpt_due:
                            self._save()
                        if self._callbacks_stop(window_loss, epoch):
                            converged = any(isinstance(cb, EarlyStopping) and cb.stopped for cb in self.callbacks)
                            break
                    if stopping:
                        interrupted = True
                        break
        except KeyboardInterrupt:
            interrupted = True
            stop["set"] = stop["set"] or "SIGINT"
            # The interrupt may have come in the middle of a step: go back to the
            # last checked state and replay the steps that finished cleanly.
            finished = self.state.step
            bad = self._first_bad(snapshot["step"], finished)
            self._recover(bad if bad is not None else finished, snapshot)
        finally:
            bar.close()
        if interrupted:
            bad = self._first_bad(snapshot["step"], self.state.step)
            if bad is not None:
                self._recover(bad, snapshot)
        if self.ckpt_path is not None:
            self._save()
        result = self.result(start_step, t0, interrupted=interrupted, converged=converged)
        result.stopped_by = stop["set"] if interrupted else None
        result.notes = list(self.notes)
        for cb in self.callbacks:
            cb.on_end(result)
        return result

    def _callbacks_stop(self, window_loss: float, epoch: int) -> bool:
        stop = False
        for cb in self.callbacks:
            stop |= bool(cb.on_check(StepInfo(self.state.step - 1, epoch, window_loss, self.model, self.guide)))
        return stop
