"""A worker's models, unpickled and verified in a short-lived process of their own.

Unpickling an artifact imports scikit-learn, SciPy and the model's code: about 100 MB
that a worker would keep all its life, though it scores with a verified fast form that
needs none of it. So the worker checks the artifact's bytes itself, then a child process
unpickles it, reads and verifies its fast form, and hands back only that. The worker
imports scikit-learn only for a model without a fast form that runs in its threads.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from multiprocessing import get_context
from typing import Any

from models.artifacts import LoadedModel, ModelLoadError, check_artifact, unpickle
from models.predictions import ProbaFn

logger = logging.getLogger(__name__)

FastForm = Callable[[Any], ProbaFn | None]


@dataclass(frozen=True)
class Artifact:
    """An artifact to load: its bytes and manifest, where they came from (`source`), what
    to do if refused (`fix`), its pipeline's `fast_form` (module-level: it runs in the
    child) and whether the pipeline runs a model without one in the worker's threads."""

    data: bytes = field(repr=False)
    manifest: dict[str, Any] = field(repr=False)
    source: str
    fix: str
    fast_form: FastForm
    in_threads: bool


@dataclass(frozen=True)
class ReadyModel(LoadedModel):
    """A verified artifact as a worker scores with it: its fast form, else its estimator
    (only when it runs in the worker's threads), and its bytes for process pools."""

    fast: ProbaFn | None = field(default=None, repr=False)


def load_for_worker(*artifacts: Artifact) -> list[ReadyModel]:
    """The artifacts ready to score with, or ModelLoadError saying why the first refused
    one is. Each is unpickled in a child of its own, all at once (a worker starts with
    every pipeline's model)."""
    for a in artifacts:
        check_artifact(a.data, a.manifest, source=a.source, fix=a.fix)
    with ProcessPoolExecutor(max_workers=max(1, len(artifacts)),
                             mp_context=get_context("spawn")) as children:
        loading = [children.submit(_fast_form_of, a.data, a.manifest, a.source, a.fast_form)
                   for a in artifacts]
        return [_ready(a, _answer(a, future)) for a, future in zip(artifacts, loading,
                                                                   strict=True)]


def _answer(artifact: Artifact, future: Future[ProbaFn | None]) -> ProbaFn | None:
    try:
        return future.result()
    except BrokenProcessPool as exc:
        raise ModelLoadError(f"the process loading {artifact.source} ended before it "
                             f"answered ({exc}); {artifact.fix}") from None


def _ready(a: Artifact, fast: ProbaFn | None) -> ReadyModel:
    estimator = None
    if fast is None and a.in_threads:
        estimator = unpickle(a.data, a.manifest, source=a.source).estimator
    logger.info("loaded model %s (sha256 %s...), %s", a.source, a.manifest["sha256"][:12],
                "its verified fast form" if fast is not None else "as itself")
    return ReadyModel(name=a.manifest.get("name", "model"), manifest=a.manifest,
                      artifact=a.data, fast=fast, estimator=estimator)


def _fast_form_of(data: bytes, manifest: dict[str, Any], source: str,
                  fast_form: FastForm) -> ProbaFn | None:
    """In the child, given bytes the worker checked: the verified fast form, or None."""
    return fast_form(unpickle(data, manifest, source=source).estimator)
