"""The counts table and the topic of count deltas it is fed from (see `schemas.counts`).

Input topics are declared with their agents (`agents.pipeline_agents`); answers and dead
letters are produced by topic name (`transport.sink`).
"""

from __future__ import annotations

from app import app
from schemas import counts

settings = app.settings

label_counts_topic = app.topic(settings.label_counts_topic,
                               partitions=settings.topic_partitions, **counts.DELTA_TOPIC)

#: "pipeline:label" -> number of events given that label ("pipeline:dead_letter" for rejects).
label_to_count = app.Table(
    "label-to-count",
    partitions=settings.topic_partitions,
    help="Events per pipeline and label, including dead letters.",
    **counts.TABLE,
)
