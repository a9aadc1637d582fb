"""What runs inside the sentiment worker processes: one scorer per process.

The processes score with the verified numpy form of the model (`models.text`) when the
worker found one, so they never import scikit-learn; otherwise each loads and verifies
the artifact itself.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

from models.text import LinearText

_score: Callable[[Sequence[str]], list[str]] | None = None  # set by the pool's initializer


def init_process(model: LinearText | str) -> None:
    """Pool initializer: take the compiled scorer, or load the artifact at this path."""
    global _score
    if isinstance(model, LinearText):
        _score = model.predict_labels
        return
    # Imported here, not above: a process given the compiled form never needs them.
    from models.artifacts import load_model
    from models.sentiment import predict_sentiment

    _score = partial(predict_sentiment, load_model(Path(model)).estimator)


def predict_in_process(texts: Sequence[str]) -> list[str]:
    """Score a chunk of reviews with this process's scorer."""
    if _score is None:
        raise RuntimeError("predict_in_process called outside a pool made with init_process")
    return _score(texts)
