"""Sentiment: the demo's raw review text in, its sentiment label out."""

from __future__ import annotations

from typing import Any

from models import text
from pipelines.spec import EXAMPLES, Examples, Option, PipelineSpec, Training
from schemas.sentiment import DEFAULT_MAX_CHARS, Review, decode_review, drift_columns, texts

REVIEW_FIELDS = ("review", "text")


def _message(row: dict[str, Any]) -> bytes:
    """A data-set row's review, as the plain text the demo sends."""
    for field in REVIEW_FIELDS:
        if isinstance(row.get(field), str):
            return str(row[field]).encode()
    raise ValueError(f"a sentiment record needs a {' or '.join(REVIEW_FIELDS)} field")


pipeline = PipelineSpec(
    name="sentiment",
    record=Review,
    decode=decode_review,
    features=texts,
    labels=text.LABELS,
    model_file="sentiment.joblib",
    fast_form=text.fast_form,
    drift_columns=drift_columns,
    probe=text.probe_reviews,
    # About 45 us of CPU a review: in processes, a batch of 1,000 runs beside the event
    # loop on the other cores instead of holding it for 45 ms.
    predict_in="processes",
    options=(Option("max_chars", DEFAULT_MAX_CHARS, low=1, high=10_000_000,
                    help="longest review accepted"),),
    examples=Examples(EXAMPLES / "imdb_reviews.jsonl", _message),
    training=Training("models.sentiment"),
    bench_events=20_000,
)
