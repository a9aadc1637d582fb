"""The contract between the consumer and a batch agent: here is a batch; say when it is done.

A batch's offsets are committed only after `done(batch)`, which the agent calls once
every record the batch produced (answers, dead letters, count deltas) is acknowledged
by the broker. Until then a rebalance or a stop waits for it, and a crash delivers it
again: at-least-once, never lost.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import faust
from faust.types import Message

from transport import faust_internals


@dataclass(frozen=True)
class Batch:
    """Messages of the routed topic, in offset order per partition."""

    messages: list[Message]


class BatchStream:
    """What a batch agent iterates: batches of at most `max_size` messages."""

    def __init__(self, app: faust.App, stream: faust.StreamT[list[Message]],
                 max_size: int) -> None:
        self.app = app
        self.stream = stream
        self.max_size = max_size

    async def __aiter__(self) -> AsyncIterator[Batch]:
        """Fetches that queued up while a batch was answered come together, up to `max_size`.

        One broker round trip for many small fetches keeps latency flat when traffic rises.
        """
        async for fetched in self.stream:
            messages = [*fetched, *faust_internals.queued(self.stream)]
            current = faust_internals.current_generation(self.app, messages)
            for start in range(0, len(current), self.max_size):
                batch = Batch(current[start : start + self.max_size])
                faust_internals.hold(self.app.consumer, batch.messages)
                yield batch

    async def done(self, batch: Batch) -> None:
        """The batch's records are acknowledged: acknowledge its messages and commit."""
        consumer = self.app.consumer
        for message in batch.messages:
            consumer.ack(message)
        faust_internals.release(consumer, batch.messages)  # acked before a seek back, too
        await consumer.commit()
