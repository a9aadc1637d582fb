"""The naive way: a Faust agent that decodes, predicts and sends one event at a time."""

from __future__ import annotations

import os
from pathlib import Path

import faust
import numpy as np

from models.artifacts import load_model
from models.heart import predict_labels
from schemas.heart import decode_heart_event

app = faust.App(os.environ["BENCH_APP_ID"], broker=os.environ["BROKER_URL"],
                store="memory://", web_enabled=False)
source = app.topic(os.environ["BENCH_TOPIC"], value_type=bytes, key_type=bytes,
                   value_serializer="raw", key_serializer="raw")
sink = app.topic(os.environ["BENCH_OUTPUT"], value_type=bytes, key_type=bytes,
                 value_serializer="raw", key_serializer="raw")
model = load_model(Path(__file__).resolve().parents[1] / "models" / "heart.joblib").estimator


def sklearn_proba(rows: np.ndarray) -> np.ndarray:
    """The fitted pipeline called as is, as a first implementation would."""
    result: np.ndarray = model.predict_proba(rows)[:, 1]
    return result


@app.agent(source)
async def predict_one_by_one(stream: faust.StreamT[bytes]) -> None:
    async for event in stream.events():
        row = decode_heart_event(event.message.value).features()  # all valid in the benchmark
        [label] = predict_labels(sklearn_proba, [row])
        await sink.send(key=event.message.key, value=label.encode())
