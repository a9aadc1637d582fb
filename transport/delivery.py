"""The contract between the consumer and a batch agent: here is a batch; here is what it sends.

An agent iterates a `BatchStream` and hands each batch's `Outbox` to `BatchStream.send`,
which returns as soon as the records are queued: the agent scores the next batch while
the broker acknowledges this one. What happens then is the processing guarantee's:

- `AtLeastOnce`: answers and dead letters go to the app's idempotent producer; once the
  broker has acknowledged them, the batch is handed to the `Committer`, which, every
  COMMIT_EVERY_S, sends the count deltas of every batch handed to it since its last
  round (with the next answers) and, once they are acknowledged, acknowledges those
  batches' messages to Faust and commits their offsets. A crash repeats what was
  answered but not yet committed, counts included; nothing is lost.
- `ExactlyOnce`: each input partition's share of the batch (answers, dead letters, count
  deltas) and the offset after its last message are committed in one Kafka transaction
  of that partition's own transactional producer (`transport.transactions`).

Either way a batch is held (a rebalance or a stop waits for it) until it is done, and
batches of one partition complete in order.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections import Counter, deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import NoReturn, Protocol

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

#: Least time between two rounds of count deltas and commits (at least once).
COMMIT_EVERY_S = 0.1

EXIT_UNDELIVERED = 70  # EX_SOFTWARE

OnFailure = Callable[[BaseException], None]


def exit_undelivered(exc: BaseException) -> NoReturn:
    """End the worker when a batch fails for any reason but bad input.

    Such a failure (a dead model process, records the broker refuses for good, a fenced
    transaction) leaves the worker in a state no retry here can be trusted to fix. The
    batch is uncommitted, so exiting at once, as a crash would, lets the restarted worker
    (or the partitions' next owner) score it again; a graceful stop would wait for it.
    """
    logger.critical("a batch failed; exiting so it is scored again after a restart: %r",
                    exc, exc_info=exc)
    _exit_as_crash()


def exit_unless_stopped(within_s: float) -> threading.Timer:
    """Exit as a crash would if the worker has not stopped `within_s` seconds from now;
    cancel the returned timer once it has.

    A stop waits for the batches in flight to be acknowledged and committed. With the
    brokers gone that can take for ever, and a worker that neither stops nor works is one
    a supervisor never restarts. What was not committed is scored again after a restart.
    """
    timer = threading.Timer(within_s, _stop_overdue, args=(within_s,))
    timer.daemon = True
    timer.start()
    return timer


def _stop_overdue(within_s: float) -> None:
    logger.critical("the worker did not stop within %ss (STOP_TIMEOUT_SECONDS); exiting, "
                    "what it had not committed is scored again after a restart", within_s)
    _exit_as_crash()


def _exit_as_crash() -> NoReturn:
    """End the process at once, its log flushed: nothing uncommitted is waited for."""
    logging.shutdown()
    os._exit(EXIT_UNDELIVERED)


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
    """Counts and commits answered batches in rounds, one at a time, every COMMIT_EVERY_S.

    A round sends the count deltas of every batch answered since the last round, one
    record per pipeline and label, in the accumulator's next request; once the broker has
    acknowledged them, it acknowledges those batches' messages to Faust and commits their
    offsets. Sent with each batch's answers instead, the deltas cost a produce, a
    counting-agent event and a changelog write per batch: at 1,000 events/s most of the
    worker's time, and half its latency. A Faust commit costs about a millisecond whatever
    it carries, so it is made once per round too. A crash repeats at most the batches of
    the rounds not yet committed.
    """

    def __init__(self, app: faust.App, accumulator: Accumulator) -> None:
        self.app = app
        self.accumulator = accumulator
        self._answered: list[list[Message]] = []
        self._deltas: Counter[tuple[str, str]] = Counter()
        self._wanted = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def answered(self, batch: Batch, outbox: Outbox) -> None:
        """The batch's answers and dead letters are acknowledged: count it, then commit it."""
        self._answered.append(batch.messages)
        self._deltas.update(outbox.pipeline_counts())
        if self._task is None:
            self._task = asyncio.ensure_future(self._run())
            self._task.add_done_callback(_exit_if_failed)
        self._wanted.set()

    async def _run(self) -> None:
        consumer = self.app.consumer
        while True:
            await self._wanted.wait()
            self._wanted.clear()
            answered, deltas = self._answered, self._deltas
            self._answered, self._deltas = [], Counter()
            await self.accumulator.add_counts(deltas)
            for messages in answered:
                for message in messages:
                    consumer.ack(message)
                faust_internals.release(consumer, messages)  # acked before a seek back, too
            await consumer.commit()
            await asyncio.sleep(COMMIT_EVERY_S)


def _exit_if_failed(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        exit_undelivered(task.exception())  # type: ignore[arg-type]


class AtLeastOnce:
    """Answers through the idempotent producer; counts and offsets once they are acknowledged."""

    name = "at_least_once"

    def __init__(self, app: faust.App, producer: Callable[[], AIOKafkaProducer],
                 counts_topic: str) -> None:
        self.accumulator = Accumulator(producer, counts_topic)
        self.committer = Committer(app, self.accumulator)

    async def admit(self, batch: Batch) -> Batch:
        return batch

    async def deliver(self, batch: Batch, outbox: Outbox) -> None:
        await self.accumulator.add(outbox)
        self.committer.answered(batch, outbox)


class ExactlyOnce:
    """Each input partition's share of a batch and its offset in one transaction."""

    name = "exactly_once"

    def __init__(self, app: faust.App, transactions: PartitionTransactions) -> None:
        self.app = app
        self.transactions = transactions
        self._committed: dict[TP, int] = {}

    async def admit(self, batch: Batch) -> Batch:
        """Skip what is committed; a partition first seen in this generation is claimed
        first, with every other unclaimed partition of its topics the worker owns."""
        generation = batch.messages[0].generation_id
        transactions = self.transactions
        new = {m.tp for m in batch.messages if not transactions.claimed(m.tp, generation)}
        if new:
            topics = {tp.topic for tp in new}
            new |= {tp for tp in self.app.consumer.assignment()
                    if tp.topic in topics and not transactions.claimed(tp, generation)}
            self._committed |= await transactions.claim(new, generation)
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
