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
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from multiprocessing import get_context
from typing import Any

from models.artifacts import ModelIdentity, ModelLoadError, check_artifact, load_model_bytes
from models.predictions import ProbaFn

logger = logging.getLogger(__name__)

FastForm = Callable[[Any], ProbaFn | None]


@dataclass(frozen=True)
class ReadyModel(ModelIdentity):
    """A verified artifact as a worker scores with it: its fast form, else its estimator
    (only when it runs in the worker's threads), and its bytes for process pools."""

    artifact: bytes = field(default=b"", repr=False)
    fast: ProbaFn | None = field(default=None, repr=False)
    estimator: Any = field(default=None, repr=False)


def load_for_worker(data: bytes, manifest: dict[str, Any], *, source: str, fix: str,
                    fast_form: FastForm, in_threads: bool) -> ReadyModel:
    """The artifact ready to score with, or ModelLoadError saying why it is refused.

    `fast_form` must pickle (a module-level function): it runs in the child. With
    `in_threads`, a model that has no fast form is also unpickled here, to run as itself.
    """
    check_artifact(data, manifest, source=source, fix=fix)
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as child:
        try:
            fast = child.submit(_fast_form_of, data, manifest, source, fix, fast_form).result()
        except BrokenProcessPool as exc:
            raise ModelLoadError(f"the process loading {source} ended before it answered "
                                 f"({exc}); {fix}") from None
    estimator = None
    if fast is None and in_threads:
        estimator = load_model_bytes(data, manifest, source=source, fix=fix).estimator
    logger.info("loaded model %s (sha256 %s...), %s", source, manifest["sha256"][:12],
                "its verified fast form" if fast is not None else "as itself")
    return ReadyModel(name=manifest.get("name", "model"), manifest=manifest, artifact=data,
                      fast=fast, estimator=estimator)


def _fast_form_of(data: bytes, manifest: dict[str, Any], source: str, fix: str,
                  fast_form: FastForm) -> ProbaFn | None:
    """In the child: the artifact's verified fast form, or None."""
    return fast_form(load_model_bytes(data, manifest, source=source, fix=fix).estimator)
