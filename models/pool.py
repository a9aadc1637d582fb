"""What runs inside the sentiment worker processes: one verified model per process."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from models.artifacts import load_model
from models.sentiment import predict_sentiment

_estimator: Any = None  # this process's own copy, set once by the pool's initializer


def init_process(model_path: str) -> None:
    """Pool initializer: load and verify the model in this process."""
    global _estimator
    _estimator = load_model(Path(model_path)).estimator


def predict_in_process(texts: Sequence[str]) -> list[str]:
    """Score a chunk of reviews with this process's model."""
    if _estimator is None:
        raise RuntimeError("predict_in_process called outside a pool made with init_process")
    return predict_sentiment(_estimator, texts)
