"""A batch of class probabilities turned into the answers sent: label texts and their scores."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

#: A model, or a faster equivalent of it: model input for a batch -> probabilities, either
#: one row per input and one column per class, or (binary models) the positive class's.
ProbaFn = Callable[[Any], np.ndarray]


@dataclass(frozen=True)
class Predictions:
    """One label per input, and the probability the model gave that label."""

    labels: list[str]
    scores: list[float]


def predictions(proba: np.ndarray, labels: tuple[str, ...]) -> Predictions:
    """Labels and scores of a batch; class `i` is `labels[i]`.

    Two classes: the positive one from probability 0.5 up, as the shipped models were
    evaluated; more: the most probable.
    """
    proba = np.asarray(proba, dtype=np.float64)
    if proba.ndim == 2 and proba.shape[1] == 2:
        proba = proba[:, 1]
    if proba.ndim == 1:
        positive = proba >= 0.5
        chosen = positive.astype(np.int64)
        scores = np.where(positive, proba, 1.0 - proba)
    else:
        chosen = proba.argmax(axis=1)
        scores = proba[np.arange(len(proba)), chosen]
    return Predictions([labels[i] for i in chosen.tolist()], scores.tolist())
