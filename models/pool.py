"""What runs inside a pipeline's worker processes: one probability function per process.

A process gets the verified fast form of the model when the worker found one, so it
never imports scikit-learn; otherwise it loads and verifies the artifact itself. Either
comes in a file the worker wrote (`models.predictors.Executors`): passed as the pool's
initializer argument instead, it stayed in the worker's memory for as long as the pool
could start a process, and was pickled again in the worker for each process started.
"""

from __future__ import annotations

import io
import pickle
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from models.predictions import ProbaFn

_proba: ProbaFn | None = None  # set by the pool's initializer


def init_process(path: Path) -> None:
    """Pool initializer: read the fast form, or the (verified) artifact's bytes, from `path`."""
    global _proba
    with path.open("rb") as file:
        model: ProbaFn | bytes = pickle.load(file)
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
