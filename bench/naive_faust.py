"""The naive way: a Faust agent that decodes, predicts and sends one event at a time."""

from __future__ import annotations

import os
from pathlib import Path

import faust

from models.artifacts import load_model
from models.predictions import predictions
from schemas.heart import LABELS, decode_heart_event, feature_rows

app = faust.App(os.environ["BENCH_APP_ID"], broker=os.environ["BROKER_URL"],
                store="memory://", web_enabled=False)
source = app.topic(os.environ["BENCH_TOPIC"], value_type=bytes, key_type=bytes,
                   value_serializer="raw", key_serializer="raw")
sink = app.topic(os.environ["BENCH_OUTPUT"], value_type=bytes, key_type=bytes,
                 value_serializer="raw", key_serializer="raw")
model = load_model(Path(__file__).resolve().parents[1] / "models" / "heart.joblib").estimator


@app.agent(source)
async def predict_one_by_one(stream: faust.StreamT[bytes]) -> None:
    async for event in stream.events():
        record = decode_heart_event(event.message.value)  # all valid in the benchmark
        # The fitted pipeline called as is, as a first implementation would.
        [label] = predictions(model.predict_proba(feature_rows([record])), LABELS).labels
        await sink.send(key=event.message.key, value=label.encode())
