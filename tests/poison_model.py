"""Heart models that misbehave in known ways: stand-ins for what goes wrong in service."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from config.settings import DEFAULT_MODEL_DIR
from models.artifacts import load_model, save_model


class FailingModel:
    """Loads like any verified artifact, then raises when asked to predict."""

    def predict_proba(self, rows: Any) -> Any:
        raise RuntimeError("the model failed")


class DisagreesOnOddAges:
    """A known candidate: the wrapped heart model's answers, turned round for odd ages.

    Against the live model it agrees exactly on the patients of even age, which makes the
    agreement a shadow comparison must report known in advance.
    """

    def __init__(self, estimator: Any) -> None:
        self.estimator = estimator

    def predict_proba(self, rows: Any) -> Any:
        proba = np.array(self.estimator.predict_proba(rows))
        odd = np.asarray(rows)[:, 0].astype(int) % 2 == 1  # column 0 is age
        proba[odd] = proba[odd][:, ::-1]
        return proba


def odd_age_candidate(folder: Path) -> Path:
    """The shipped heart model wrapped in DisagreesOnOddAges, saved with its manifest."""
    shipped = DEFAULT_MODEL_DIR / "heart.joblib"
    manifest = json.loads(shipped.with_suffix(".json").read_text())
    path = folder / "heart.joblib"
    save_model(DisagreesOnOddAges(load_model(shipped).estimator), path,
               {k: v for k, v in manifest.items() if k in ("labels", "features")}
               | {"estimator": "the shipped model, turned round for odd ages"})
    return path
