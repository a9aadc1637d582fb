"""Per-label counts, kept in a table partitioned by label.

The scoring agents send count deltas keyed by label; Faust writes a table change to the
partition of the event being processed, so counting here (and not in the scoring agents,
whose events are keyed by the producer's keys) keeps each label's total in exactly one
partition and recoverable from its changelog.
"""

from __future__ import annotations

import time

import faust

from agents.topics import label_counts_topic, label_to_count
from app import app
from transport.faust_internals import commit_gate

#: At least once, the least time between two commits of counted deltas.
COMMIT_EVERY_S = 0.1


@app.agent(label_counts_topic)
async def count_labels(stream: faust.StreamT[int]) -> None:
    """Add each delta to its label's total.

    At least once, the deltas are committed every COMMIT_EVERY_S while they arrive, and
    by Faust's own timer (BROKER_COMMIT_INTERVAL, one second here) after the last: a
    commit per delta made this agent too slow to keep up, which stalls every topic the
    worker fetches; Faust's timer alone would leave seconds of deltas to be counted again
    after a crash. Exactly once,
    Faust commits the changelog writes and the deltas' offsets in one transaction on its
    own schedule (`transport.faust_internals.commit_gate` keeps them together), and reads
    only committed deltas.
    """
    commit_here = not app.in_transaction
    next_commit = time.monotonic() + COMMIT_EVERY_S
    gate = commit_gate(app)
    async for event in stream.events():
        async with gate:  # a transaction holds a delta's table write and its offset, or neither
            label_to_count[event.key] += event.value
            await stream.ack(event)
        if commit_here and time.monotonic() >= next_commit:
            await app.consumer.commit()
            next_commit = time.monotonic() + COMMIT_EVERY_S
