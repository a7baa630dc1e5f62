"""Two small guards around Pyro's and torch's global state.

- :func:`local_params`: Pyro's ``module_local_params`` for the duration of a
  call, so the parameters of ``PyroModule``\\ s live in the modules and never
  in Pyro's global parameter store. Importing pyrolatent changes no global
  setting; the engine, the models' public methods, diagnostics and reports
  enter this context themselves.
- :func:`seeded`: run a block with seeded random number generators and give
  the caller's generators back afterwards (torch on the CPU and on every CUDA
  device, NumPy's and Python's global ones), so a seeded fit or figure does not
  change the random stream of the code that called it.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pyro
import torch
from pyro.nn import PyroModule

__all__ = [
    "apply_to_distribution",
    "plate_subsample",
    "local_params",
    "seeded",
    "rng_state",
    "set_rng_state",
    "with_local_params",
]


def _ready(*objects) -> None:
    """Give every ``PyroModule`` in ``objects`` (and in their submodules; a fit
    result stands for its model and guide) the per-module parameter state that
    Pyro creates only for modules built while ``module_local_params`` was on."""
    for obj in objects:
        if not isinstance(obj, torch.nn.Module):
            model, guide = getattr(obj, "model", None), getattr(obj, "guide", None)
            if isinstance(model, torch.nn.Module) or isinstance(guide, torch.nn.Module):
                _ready(model, guide)
            continue
        for module in obj.modules():
            if isinstance(module, PyroModule):
                context = module._pyro_context
                if not hasattr(context, "param_state") and not context.active:
                    context.param_state = {"params": {}, "constraints": {}}


@contextmanager
def local_params(*modules) -> Iterator[None]:
    """Pyro's ``module_local_params=True`` inside the block; as before outside it.

    ``modules`` (PyroModules, or fit results) that were built while the
    setting was off get the parameter state that the setting needs."""
    _ready(*modules)
    with pyro.settings.context(module_local_params=True):
        yield


class LocalParamsModule(PyroModule):
    """A ``PyroModule`` whose parameters stay in the module however it is called
    (the base of pyrolatent's models and guides).

    Inside a fit the setting is already on (the engine readied model and guide
    once), so a call adds one settings read to the step and nothing else."""

    def __call__(self, *args, **kwargs):
        if pyro.settings.get("module_local_params") and hasattr(self._pyro_context, "param_state"):
            return super().__call__(*args, **kwargs)
        with local_params(self):
            return super().__call__(*args, **kwargs)


def with_local_params(fn):
    """Decorator form of :func:`local_params`, readying the modules among the arguments."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with local_params(*args, *kwargs.values()):
            return fn(*args, **kwargs)

    return wrapper


def _cuda_devices() -> list[int]:
    return list(range(torch.cuda.device_count())) if torch.cuda.is_available() and torch.cuda.is_initialized() else []


def rng_state() -> dict:
    """Every global generator's state: torch (CPU and initialised CUDA devices), NumPy, Python."""
    name, keys, pos, has_gauss, cached = np.random.get_state()
    version, internal, gauss_next = random.getstate()
    # tensors, numbers and lists only: checkpoints load with torch.load(weights_only=True)
    state = {
        "torch": torch.get_rng_state(),
        "numpy": [name, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(cached)],
        "python": [version, torch.tensor(internal, dtype=torch.int64), gauss_next],
    }
    devices = _cuda_devices()
    if devices:
        state["cuda"] = [torch.cuda.get_rng_state(d) for d in devices]
    return state


def set_rng_state(state: dict) -> None:
    """Undo to a state from :func:`rng_state`."""
    torch.set_rng_state(state["torch"])
    if "numpy" in state:
        name, keys, pos, has_gauss, cached = state["numpy"]
        np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    if "python" in state:
        version, internal, gauss_next = state["python"]
        random.setstate((version, tuple(int(v) for v in internal.tolist()), gauss_next))
    if "cuda" in state and torch.cuda.is_available():
        for device, s in enumerate(state["cuda"]):
            torch.cuda.set_rng_state(s, device)


@contextmanager
def keep_rng() -> Iterator[None]:
    """Give the caller's generators back after the block, whatever it draws or sets."""
    before = rng_state()
    try:
        yield
    finally:
        set_rng_state(before)


@contextmanager
def seeded(seed: int | None) -> Iterator[None]:
    """Run the block with every generator seeded by ``seed`` (``pyro.set_rng_seed``)
    and restore the caller's generators afterwards, so the block does not change
    the caller's random stream. With ``seed=None`` the block simply draws from
    the caller's generators (and advances them).

    Public as ``pyrolatent.inference.seeded``: ``fit(..., seed=s)`` seeds the fit's
    own draws, but a model draws its initial weights when it is built, so a
    reproducible run builds it under the same seed (as the command line does)::

        with seeded(0):
            model = VAE(784, 8)
        result = fit(model, data, seed=0)
    """
    if seed is None:
        yield
        return
    with keep_rng():
        pyro.set_rng_seed(seed)
        yield


def apply_to_distribution(d, fn) -> None:
    """Apply ``fn`` (as ``nn.Module._apply`` does) to every tensor a distribution holds,
    wrapped distributions (``Independent``, ``ExpandedDistribution``, ...) included."""
    from pyro.distributions import Distribution

    for key, value in list(vars(d).items()):
        if isinstance(value, torch.Tensor):
            setattr(d, key, fn(value))
        elif isinstance(value, Distribution):
            apply_to_distribution(value, fn)


def plate_subsample(subsample, name: str = "data"):
    """The indices of plate ``name`` in a model's ``subsample`` argument (None: the
    whole plate): a tensor stands for the ``"data"`` plate, a dict names plates
    (see :mod:`pyrolatent.inference.batching`)."""
    if subsample is None:
        return None
    if isinstance(subsample, dict):
        return subsample.get(name)
    return subsample if name == "data" else None
