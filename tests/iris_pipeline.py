"""A third pipeline, declared as any new one is: iris flowers in, their species out.

Nothing outside this module names it. A worker runs it with
`PIPELINES=pipelines.heart,pipelines.sentiment,tests.iris_pipeline` and `iris.joblib`
(see `train`) in its `MODEL_DIR`; its topics are `IRIS_INPUT_TOPIC` and `IRIS_OUTPUT_TOPIC`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import faust
import numpy as np
import orjson

from models.artifacts import save_model
from pipelines.spec import PipelineSpec
from schemas.errors import InvalidEvent
from schemas.json_input import json_object

MEASUREMENTS = ("sepal length", "sepal width", "petal length", "petal width")
SPECIES = ("setosa", "versicolor", "virginica")


class Flower(faust.Record, serializer="json"):
    """One flower's measurements, in centimetres."""

    sepal_length: float
    sepal_width: float
    petal_length: float
    petal_width: float


def decode_flower(raw: bytes | None) -> Flower:
    """A JSON object of the four measurements; InvalidEvent saying why otherwise."""
    payload = json_object(raw)
    values = []
    for key in MEASUREMENTS:
        value = payload.get(key)
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 100:
            raise InvalidEvent(f'"{key}" must be a length in centimetres, got {value!r}')
        values.append(float(value))
    return Flower(*values)


def measurements(flowers: Sequence[Flower]) -> np.ndarray:
    return np.array([[f.sepal_length, f.sepal_width, f.petal_length, f.petal_width]
                     for f in flowers], dtype=np.float64)


def message(row: Sequence[float]) -> bytes:
    """A flower as a producer would send it."""
    return orjson.dumps(dict(zip(MEASUREMENTS, map(float, row), strict=True)))


def train(model_dir: Path) -> Any:
    """Fit a forest on the iris data scikit-learn ships and save it as `iris.joblib`."""
    from sklearn.datasets import load_iris
    from sklearn.ensemble import RandomForestClassifier

    x, y = load_iris(return_X_y=True)
    forest = RandomForestClassifier(n_estimators=25, random_state=0).fit(x, y)
    save_model(forest, model_dir / "iris.joblib", {
        "estimator": "random forest (25 trees)", "labels": list(SPECIES),
        "metrics": {"evaluation": "training accuracy", "accuracy": forest.score(x, y)}})
    return forest


pipeline = PipelineSpec(
    name="iris",
    record=Flower,
    decode=decode_flower,
    features=measurements,
    labels=SPECIES,
    model_file="iris.joblib",
)
