"""The registered pipelines. Adding one is a line in SHIPPED, or a module named in PIPELINES.

A pipeline module declares `pipeline = PipelineSpec(...)` (see `pipelines.spec`); the
worker runs the pipelines of the modules the `PIPELINES` setting names, by default these.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import Any

from pipelines.spec import NAME, PipelineSpec, Training

SHIPPED: tuple[str, ...] = (
    "pipelines.heart",
    "pipelines.sentiment",
)


class RegistryError(ValueError):
    """A pipeline module that cannot be used; the message says which and why."""


def load(modules: Sequence[str]) -> tuple[PipelineSpec[Any], ...]:
    """The pipelines the modules declare, in order; RegistryError on the first unusable one."""
    specs: list[PipelineSpec[Any]] = []
    for module in modules:
        try:
            declared = importlib.import_module(module)
        except Exception as exc:  # any failure to import: name, syntax, a missing library
            raise RegistryError(f"pipeline module {module!r} cannot be imported: {exc!r}") from None
        spec = getattr(declared, "pipeline", None)
        if not isinstance(spec, PipelineSpec):
            raise RegistryError(f"pipeline module {module!r} has no `pipeline = PipelineSpec(...)`")
        if not NAME.match(spec.name):
            raise RegistryError(f"pipeline name {spec.name!r} (in {module}) must be lower-case "
                                "letters, digits and '_', starting with a letter")
        if any(s.name == spec.name for s in specs):
            raise RegistryError(f"two pipeline modules declare the name {spec.name!r}")
        specs.append(spec)
    return tuple(specs)


def trainable(modules: Sequence[str] = SHIPPED) -> dict[str, Training]:
    """Name -> how to train and evaluate, for the pipelines that ship a trained artifact."""
    return {spec.name: spec.training for spec in load(modules) if spec.training is not None}
