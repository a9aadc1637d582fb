"""Heart-disease risk: JSON patient records in, the demo's risk label out."""

from __future__ import annotations

from collections.abc import Sequence

import faust
from faust.types import Message

from agents.loading import load_or_exit
from agents.scoring import ScoringPipeline, serve
from agents.topics import heart_input_topic
from app import app
from models.heart import heart_scorer, predict_labels
from schemas.heart import HeartEvent, decode_heart_event

heart_model = load_or_exit(app.settings.model_dir / "heart.joblib")


heart_proba = heart_scorer(heart_model.estimator)


async def predict_heart(events: Sequence[HeartEvent]) -> list[str]:
    """One vectorised prediction for the batch, on the event loop.

    The verified linear form takes tens of microseconds per batch, less than handing the
    batch to a thread would; a model without one (e.g. a forest) runs here too, so retrain
    with a linear model or keep batches large when that matters.
    """
    return predict_labels(heart_proba, [event.features() for event in events])


heart_pipeline: ScoringPipeline[HeartEvent] = ScoringPipeline(
    name="heart",
    output_topic=app.settings.heart_output_topic,
    dlq_topic=app.settings.heart_dlq_topic,
    decode=decode_heart_event,
    predict=predict_heart,
)


@app.agent(app.batch_channel(heart_input_topic))
async def predict_heart_risk(batches: faust.StreamT[list[Message]]) -> None:
    """Score patient records in batches and send each its risk label."""
    await serve(batches, heart_pipeline)
