"""Per-label counts, kept in a table partitioned by label.

The scoring agents send one count delta per label and batch, keyed by label; Faust writes
a table change to the partition of the event being processed, so counting here (and not
in the scoring agents, whose events are keyed by the producer's keys) keeps each label's
total in exactly one partition and recoverable from its changelog.
"""

from __future__ import annotations

import faust

from agents.topics import label_counts_topic, label_to_count
from app import app


@app.agent(label_counts_topic)
async def count_labels(stream: faust.StreamT[int]) -> None:
    """Add each delta to its label's total.

    At least once, each delta is committed at once: Faust's timed commit can miss the
    last seconds before a worker stops, and a delta counted again after a restart would
    make the total wrong. Exactly once, Faust commits the changelog writes and the deltas'
    offsets in one transaction on its own schedule, and reads only committed deltas.
    """
    commit_each = not app.in_transaction
    async for event in stream.events():
        label_to_count[event.key] += event.value
        await stream.ack(event)
        if commit_each:
            await app.consumer.commit()
