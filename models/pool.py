"""What runs inside a pipeline's worker processes: one probability function per process.

A process gets the verified fast form of the model when the worker found one, so it
never imports scikit-learn; otherwise it loads and verifies the artifact itself.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import numpy as np

from models.predictions import ProbaFn

_proba: ProbaFn | None = None  # set by the pool's initializer


def init_process(model: ProbaFn | bytes) -> None:
    """Pool initializer: take the fast form, or unpickle the (verified) artifact's bytes."""
    global _proba
    if not isinstance(model, bytes):
        _proba = model
        return
    # Imported here, not above: a process given the fast form never needs scikit-learn.
    import joblib

    _proba = joblib.load(io.BytesIO(model)).predict_proba


def predict_in_process(features: Sequence[Any]) -> np.ndarray:
    """Probabilities of a chunk of inputs, from this process's model."""
    if _proba is None:
        raise RuntimeError("predict_in_process called outside a pool made with init_process")
    return _proba(features)
