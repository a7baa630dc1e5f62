"""The one registry of models: it drives the command line (one ``fit``
subcommand per entry), the common model tests and the README's table.

A model file registers its model at import with :func:`register`; the
package imports every model file, so ``REGISTRY`` is complete once
``pyrolatent.models`` is imported.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["REGISTRY", "ModelSpec", "get_model_spec", "register"]


@dataclass(frozen=True)
class ModelSpec:
    """One method of the collection.

    Attributes
    ----------
    name : str
        Its command-line name (``pyrolatent fit NAME``).
    cls : type
        The model class (a :class:`~pyrolatent.models.base.LatentModel`).
    title : str
        The method and its paper, for the README's table.
    summary : str
        What it offers, one line.
    cli : str
        The module of its command-line entry (defines ``ENTRY``).
    examples : dict
        ``{variant: factory}``; each factory returns a small ``(model, data)``
        pair that the common model tests fit for a few steps.
    """

    name: str
    cls: type
    title: str
    summary: str
    cli: str
    examples: dict[str, Callable[[], tuple]] = field(default_factory=dict)


REGISTRY: dict[str, ModelSpec] = {}


def register(spec: ModelSpec) -> ModelSpec:
    """Add ``spec`` to :data:`REGISTRY` (names are unique)."""
    if spec.name in REGISTRY and REGISTRY[spec.name].cls is not spec.cls:
        raise ValueError(f"A model named {spec.name!r} is already registered ({REGISTRY[spec.name].cls.__name__}).")
    REGISTRY[spec.name] = spec
    return spec


def get_model_spec(name: str) -> ModelSpec:
    """The registered model called ``name``, or a ``ValueError`` listing the names."""
    if name not in REGISTRY:
        known = ", ".join(repr(k) for k in sorted(REGISTRY))
        raise ValueError(f"Unknown model {name!r}; the registered models are {known}.")
    return REGISTRY[name]
