"""What runs inside a pipeline's worker processes: one probability function per process.

A process gets the verified fast form of the model when the worker found one, so it
never imports scikit-learn; otherwise it loads and verifies the artifact itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from models.predictions import ProbaFn

_proba: ProbaFn | None = None  # set by the pool's initializer


def init_process(model: ProbaFn | str) -> None:
    """Pool initializer: take the fast form, or load the artifact at this path."""
    global _proba
    if not isinstance(model, str):
        _proba = model
        return
    # Imported here, not above: a process given the fast form never needs scikit-learn.
    from models.artifacts import load_model

    _proba = load_model(Path(model)).estimator.predict_proba


def predict_in_process(features: Sequence[Any]) -> np.ndarray:
    """Probabilities of a chunk of inputs, from this process's model."""
    if _proba is None:
        raise RuntimeError("predict_in_process called outside a pool made with init_process")
    return _proba(features)
