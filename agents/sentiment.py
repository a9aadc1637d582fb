"""Sentiment: raw review text in, the demo's sentiment label out."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Sequence

import faust
from faust.types import Message

from agents.loading import load_or_exit
from agents.scoring import ScoringPipeline, serve
from agents.topics import sentiment_input_topic
from app import app
from models.pool import predict_in_process
from models.sentiment import probe_reviews
from models.text import verified_text_scorer
from schemas.sentiment import Review, decode_review

# Verified here so a bad artifact stops the worker at start-up, not in a pool process.
sentiment_model = load_or_exit(app.settings.model_dir / "sentiment.joblib")
compiled = verified_text_scorer(sentiment_model.estimator, probe_reviews())
if compiled is not None:
    app.sentiment_scorer = compiled


def split(items: Sequence[str], parts: int) -> list[Sequence[str]]:
    """Up to `parts` contiguous chunks of nearly equal size, in order."""
    size = max(1, -(-len(items) // parts))
    return [items[i : i + size] for i in range(0, len(items), size)]


async def predict_sentiments(reviews: Sequence[Review]) -> list[str]:
    """Score the batch across the app's process pool, one chunk per process, order kept."""
    loop = asyncio.get_running_loop()
    chunks = split([r.text for r in reviews], app.settings.sentiment_processes)
    results = await asyncio.gather(*(
        loop.run_in_executor(app.sentiment_pool, predict_in_process, chunk) for chunk in chunks
    ))
    return [label for chunk in results for label in chunk]


sentiment_pipeline: ScoringPipeline[Review] = ScoringPipeline(
    name="sentiment",
    output_topic=app.settings.sentiment_output_topic,
    dlq_topic=app.settings.sentiment_dlq_topic,
    decode=functools.partial(decode_review, max_chars=app.settings.sentiment_max_chars),
    predict=predict_sentiments,
)


@app.agent(app.batch_channel(sentiment_input_topic))
async def predict_review_sentiment(batches: faust.StreamT[list[Message]]) -> None:
    """Score reviews in batches and send each its sentiment label."""
    await serve(batches, sentiment_pipeline)
