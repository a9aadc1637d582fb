"""A heart model that fails on every call: a stand-in for a model that breaks in service."""

from __future__ import annotations

from typing import Any


class FailingModel:
    """Loads like any verified artifact, then raises when asked to predict."""

    def predict_proba(self, rows: Any) -> Any:
        raise RuntimeError("the model failed")
