"""The topics the agents consume and the counts table, declared once from the settings.

Answers and dead letters are produced by topic name (see `agents.sink`).
"""

from __future__ import annotations

import faust

from app import app

settings = app.settings


def _raw_topic(name: str) -> faust.TopicT:
    """A topic whose keys and values stay bytes: decoding is ours, so bad bytes get a reason.

    The worker creates its topics before subscribing (see `topic_admin`).
    """
    return app.topic(
        name,
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
        partitions=settings.topic_partitions,
    )


heart_input_topic = _raw_topic(settings.heart_input_topic)
sentiment_input_topic = _raw_topic(settings.sentiment_input_topic)

label_counts_topic = app.topic(
    settings.label_counts_topic,
    key_type=str,
    value_serializer="json",
    partitions=settings.topic_partitions,
)

#: "pipeline:label" -> number of events given that label ("pipeline:dead_letter" for rejects).
label_to_count = app.Table(
    "label-to-count",
    default=int,
    partitions=settings.topic_partitions,
    help="Events per pipeline and label, including dead letters.",
)
