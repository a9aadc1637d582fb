"""Loading the shipped models at worker start-up, with a clear exit when one is unusable."""

from __future__ import annotations

from pathlib import Path

from models.artifacts import LoadedModel, ModelLoadError, load_model


def load_or_exit(path: Path) -> LoadedModel:
    """Load a verified model, or stop the process with the reason and what to do."""
    try:
        return load_model(path)
    except ModelLoadError as exc:
        raise SystemExit(f"kafka-inference: cannot start: {exc}") from None
