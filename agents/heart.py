"""Heart-disease risk: JSON patient records in, the demo's risk label out."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import faust

from agents.loading import load_or_exit
from agents.scoring import ScoringPipeline, serve
from agents.topics import heart_input_topic, label_counts_topic
from app import app
from models.heart import predict_labels
from schemas.heart import HeartEvent, decode_heart_event

heart_model = load_or_exit(app.settings.model_dir / "heart.joblib")


async def predict_heart(events: Sequence[HeartEvent]) -> list[str]:
    """One vectorised prediction for the batch, run on the app's model thread."""
    rows = [event.features() for event in events]
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(
        app.model_executor, predict_labels, heart_model.estimator, rows
    )


heart_pipeline: ScoringPipeline[HeartEvent] = ScoringPipeline(
    name="heart",
    output_topic=app.settings.heart_output_topic,
    dlq_topic=app.settings.heart_dlq_topic,
    counts_topic=label_counts_topic,
    decode=decode_heart_event,
    predict=predict_heart,
)


@app.agent(heart_input_topic)
async def predict_heart_risk(stream: faust.StreamT[bytes]) -> None:
    """Score patient records in batches and send each its risk label."""
    await serve(stream, heart_pipeline)
