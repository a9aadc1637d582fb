"""Per-label counts, kept in a table partitioned by label.

The scoring agents send count deltas keyed by label; Faust writes a table change to the
partition of the event being processed, so counting here (and not in the scoring agents,
whose events are keyed by the producer's keys) keeps each label's total in exactly one
partition and recoverable from its changelog.
"""

from __future__ import annotations

import time
from typing import cast

import faust
from faust.channels import Channel

from agents.topics import label_counts_topic, label_to_count
from app import app

#: At least once, the longest deltas wait for their commit while more keep arriving.
COMMIT_EVERY_S = 0.05


@app.agent(label_counts_topic)
async def count_labels(stream: faust.StreamT[int]) -> None:
    """Add each delta to its label's total.

    At least once, the deltas are committed as soon as none is waiting, and at least
    every COMMIT_EVERY_S under load: Faust's own timer (every few seconds) would leave
    that many deltas to be counted again after a crash, and a commit per delta made this
    agent too slow to keep up, which stalls every topic the worker fetches. Exactly once,
    Faust commits the changelog writes and the deltas' offsets in one transaction on its
    own schedule, and reads only committed deltas.
    """
    commit_here = not app.in_transaction
    waiting = cast(Channel[int], stream.channel).queue
    next_commit = time.monotonic() + COMMIT_EVERY_S
    async for event in stream.events():
        label_to_count[event.key] += event.value
        await stream.ack(event)
        if commit_here and (waiting.empty() or time.monotonic() >= next_commit):
            await app.consumer.commit()
            next_commit = time.monotonic() + COMMIT_EVERY_S
