"""Loading the shipped models at worker start-up, with a clear exit when one is unusable."""

from __future__ import annotations

import logging
from pathlib import Path

from models.artifacts import LoadedModel, ModelLoadError, load_model

logger = logging.getLogger(__name__)


def load_or_exit(path: Path) -> LoadedModel:
    """Load a verified model, or stop the process with the reason and what to do."""
    try:
        return load_model(path)
    except ModelLoadError as exc:
        logger.error("cannot start: %s", exc)
        raise SystemExit(f"kafka-inference: cannot start: {exc}") from None
