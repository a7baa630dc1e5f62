"""The shared SVI engine: :func:`fit`, its settings, result and checkpoints."""

from pyrolatent._pyro import seeded

from .checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from .compiled import CompileWarning
from .distributed import DistributedError
from .engine import Callback, NonFiniteLossError, StepInfo, as_model_inputs, fit, restore
from .objectives import ImportanceWeightedELBO, MeanFieldELBO, TraceELBO, TraceGraphELBO
from .result import FitResult
from .settings import ELBOS, OPTIMIZERS, FitSettings, resolve_device

__all__ = [
    "Callback",
    "CheckpointError",
    "CompileWarning",
    "DistributedError",
    "ELBOS",
    "FitResult",
    "FitSettings",
    "ImportanceWeightedELBO",
    "MeanFieldELBO",
    "NonFiniteLossError",
    "OPTIMIZERS",
    "StepInfo",
    "TraceELBO",
    "TraceGraphELBO",
    "as_model_inputs",
    "fit",
    "load_checkpoint",
    "resolve_device",
    "restore",
    "save_checkpoint",
    "seeded",
]
