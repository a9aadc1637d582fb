"""The contract between the consumer and a batch agent: here is a batch; here is what it sends.

An agent iterates a `BatchStream` and hands each batch's `Outbox` to `BatchStream.send`,
which returns as soon as the records are queued: the agent scores the next batch while
the broker acknowledges this one. What happens then is the processing guarantee's:

- `AtLeastOnce`: the records go to the app's idempotent producer; once the broker has
  acknowledged all of them, the batch's messages are acknowledged to Faust, whose
  committer (`Committer`, one commit in flight at a time) commits their offsets. A crash
  repeats what was acknowledged but not yet committed; nothing is lost.
- `ExactlyOnce`: each input partition's share of the batch (answers, dead letters, count
  deltas) and the offset after its last message are committed in one Kafka transaction
  of that partition's own transactional producer (`transport.transactions`).

Either way a batch is held (a rebalance or a stop waits for it) until it is done, and
batches of one partition complete in order.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Protocol

import faust
from aiokafka import AIOKafkaProducer
from faust.types import TP, Message

from transport import faust_internals
from transport.sink import Accumulator, Outbox
from transport.transactions import PartitionTransactions

logger = logging.getLogger(__name__)

#: Batches of one agent that may be sent and not yet done; the next waits for the oldest.
#: Many, so that a transaction or a request carries many batches under load (exactly-once
#: went from 0.6 to about 1.0 of at-least-once going from 8 to 32).
MAX_IN_FLIGHT = 32

#: Least time between two commits of acknowledged offsets (at least once).
COMMIT_EVERY_S = 0.1

OnFailure = Callable[[BaseException], None]


@dataclass(frozen=True)
class Batch:
    """Messages of the routed topic, in offset order per partition."""

    messages: list[Message]

    def last_offsets(self) -> dict[TP, int]:
        """The last offset of each partition in the batch."""
        last: dict[TP, int] = {}
        for message in self.messages:
            last[message.tp] = message.offset
        return last


class Sender(Protocol):
    """How a guarantee gets a batch's records to Kafka and its offsets committed."""

    name: str

    async def admit(self, batch: Batch) -> Batch:
        """The messages of a fetched batch that are to be scored."""

    async def deliver(self, batch: Batch, outbox: Outbox) -> None:
        """Send the records and commit the batch; return when both are done."""


class BatchStream:
    """What a batch agent iterates: batches of at most `max_size` messages."""

    def __init__(self, app: faust.App, stream: faust.StreamT[list[Message]], max_size: int,
                 sender: Sender, on_failure: OnFailure) -> None:
        self.app = app
        self.stream = stream
        self.max_size = max_size
        self.sender = sender
        self.on_failure = on_failure
        self._in_flight: deque[asyncio.Task[None]] = deque()

    async def __aiter__(self) -> AsyncIterator[Batch]:
        """Fetches that queued up while a batch was scored come together, up to `max_size`.

        One hand-over for many small fetches keeps latency flat when traffic rises.
        """
        async for fetched in self.stream:
            messages = [*fetched, *faust_internals.queued(self.stream)]
            current = faust_internals.current_generation(self.app, messages)
            faust_internals.note_progress(self.app, current)
            for start in range(0, len(current), self.max_size):
                batch = await self.sender.admit(Batch(current[start : start + self.max_size]))
                if batch.messages:
                    faust_internals.hold(self.app.consumer, batch.messages)
                    yield batch

    async def send(self, batch: Batch, outbox: Outbox) -> None:
        """Start delivering the batch; wait only while too many are in flight."""
        task = asyncio.ensure_future(self.sender.deliver(batch, outbox))
        task.add_done_callback(self._check)
        self._in_flight.append(task)
        while self._in_flight and (self._in_flight[0].done()
                                   or len(self._in_flight) > MAX_IN_FLIGHT):
            await self._in_flight.popleft()

    def _check(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            self.on_failure(task.exception())  # type: ignore[arg-type]


class Committer:
    """Commits acknowledged offsets through Faust, one commit at a time, every COMMIT_EVERY_S.

    A Faust commit costs about a millisecond of the worker's time whatever it carries;
    committed at every acknowledgement, small batches at moderate traffic spent most of
    the worker on commits. A crash repeats at most COMMIT_EVERY_S of acknowledged input.
    """

    def __init__(self, app: faust.App) -> None:
        self.app = app
        self._wanted = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def wanted(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(self._run())
        self._wanted.set()

    async def _run(self) -> None:
        while True:
            await self._wanted.wait()
            self._wanted.clear()
            await self.app.consumer.commit()
            await asyncio.sleep(COMMIT_EVERY_S)


class AtLeastOnce:
    """Records through the idempotent producer; offsets committed once they are acknowledged."""

    name = "at_least_once"

    def __init__(self, app: faust.App, producer: Callable[[], AIOKafkaProducer],
                 counts_topic: str) -> None:
        self.app = app
        self.accumulator = Accumulator(producer, counts_topic)
        self.committer = Committer(app)

    async def admit(self, batch: Batch) -> Batch:
        return batch

    async def deliver(self, batch: Batch, outbox: Outbox) -> None:
        await self.accumulator.add(outbox)
        consumer = self.app.consumer
        for message in batch.messages:
            consumer.ack(message)
        faust_internals.release(consumer, batch.messages)  # acked before a seek back, too
        self.committer.wanted()


class ExactlyOnce:
    """Each input partition's share of a batch and its offset in one transaction."""

    name = "exactly_once"

    def __init__(self, app: faust.App, transactions: PartitionTransactions) -> None:
        self.app = app
        self.transactions = transactions
        self._committed: dict[TP, int] = {}

    async def admit(self, batch: Batch) -> Batch:
        """Claim each partition first seen in this generation; skip what is committed."""
        generation = batch.messages[0].generation_id
        for tp in {m.tp for m in batch.messages}:
            if not self.transactions.claimed(tp, generation):
                self._committed[tp] = await self.transactions.claim(tp, generation)
        committed = self._committed
        return Batch([m for m in batch.messages if m.offset >= committed[m.tp]])

    async def deliver(self, batch: Batch, outbox: Outbox) -> None:
        """Each input partition's share goes in that partition's next transaction."""
        last = batch.last_offsets()
        await asyncio.gather(*(self.transactions.commit_soon(tp, outbox.only(tp.partition),
                                                             offset + 1)
                               for tp, offset in last.items()))
        now = time.monotonic()
        for tp in last:
            faust_internals.note_committed(self.app, tp, now)
        faust_internals.release(self.app.consumer, batch.messages)
