"""Exactly-once: one transactional producer per input partition, named after it.

aiokafka 0.14 speaks the first versions of the transaction APIs (InitProducerId,
AddPartitionsToTxn, AddOffsetsToTxn, TxnOffsetCommit and EndTxn v0), which Kafka 4.4
still serves; the offsets it commits in a transaction carry no group generation, so a
zombie cannot be fenced by the group (KIP-447). It is fenced the older way instead: the
transactional id is the input partition's (`<app id>-<topic>-<partition>`), so when a
partition moves, its new owner's `InitProducerId` bumps the epoch, aborts whatever the
old owner left open, and every later call of the old owner fails with ProducerFenced.

The new owner then reads the partition's committed offset again: an old owner's commit
that completed after the rebalance's own read of it is seen, and the messages it covers
are not answered twice.

A partition's batches wait while its transaction is under way and go together in the
next one, so a transaction carries whatever arrived during the last one: a few records
at low traffic, thousands at high.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection
from typing import Any

from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError, ProducerFenced
from faust.types import TP

from config.settings import Settings
from transport.faust_internals import RetryingProducer
from transport.security import client_options
from transport.sink import Outbox, producer_options, send_outbox

logger = logging.getLogger(__name__)

ATTEMPTS = 5  # tries of one partition's transaction before the worker gives up on it
# A fenced producer's records are refused with a retriable error (Kafka 4 answers the
# produce versions aiokafka speaks with NOT_ENOUGH_REPLICAS when a transaction was aborted
# under it), so they are retried until this timeout; the abort that follows then fails
# with ProducerFenced and the zombie exits. Long enough to ride out a broker restart.
REQUEST_TIMEOUT_MS = 15_000
# Kafka 4 answers with the same NOT_ENOUGH_REPLICAS, now and then, a transaction's first
# records sent right after the partition's last transaction committed (dozens of times in
# a 500,000-event run), and aiokafka retries them after this pause. At its default of
# 100 ms, exactly-once read 0.83-0.86x at-least-once on a backlog; at 10 ms, 0.90-0.91.
RETRY_BACKOFF_MS = 10


class PartitionTransactions:
    """The transactional producers of the input partitions this worker owns."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.group_id = settings.app_id
        self._producers: dict[TP, AIOKafkaProducer] = {}
        self._generation: dict[TP, int | None] = {}
        self._waiting: dict[TP, list[tuple[Outbox, int]]] = {}
        self._done: dict[TP, asyncio.Future[None]] = {}
        self._committing: dict[TP, asyncio.Future[None]] = {}
        self._wake: dict[TP, asyncio.Event] = {}
        self._runners: dict[TP, asyncio.Task[None]] = {}
        self._admin: AIOKafkaAdminClient | None = None

    def transactional_id(self, tp: TP) -> str:
        return f"{self.settings.app_id}-{tp.topic}-{tp.partition}"

    async def claim(self, tps: Collection[TP], generation: int | None) -> dict[TP, int]:
        """Fence every older owner of `tps`, then return their committed offsets (-1 for none).

        Done once per partition and group generation: a producer that lived through a
        rebalance may have been fenced meanwhile by another worker, so it is replaced. The
        partitions are fenced together and their offsets read in one request: claimed one
        at a time as each first came, a worker's partitions started up to 0.5 s apart.
        """
        await asyncio.gather(*(self._fence(tp, generation) for tp in tps))
        committed = await self._committed(tps)
        for tp in tps:
            logger.info("claimed %s[%d] as %s; committed offset %d", tp.topic, tp.partition,
                        self.transactional_id(tp), committed[tp])
        return committed

    async def _fence(self, tp: TP, generation: int | None) -> None:
        await self._finish(tp)
        runner = self._runners.pop(tp, None)
        if runner is not None:
            runner.cancel()
        await self._renew(tp)
        self._generation[tp] = generation

    async def _renew(self, tp: TP) -> AIOKafkaProducer:
        """Replace `tp`'s producer with a new one of the same transactional id.

        Its InitProducerId is the fence: it bumps the epoch, aborts whatever an older
        producer of the id left open, and starts its sequence numbers afresh.
        """
        old = self._producers.pop(tp, None)
        if old is not None:
            await old.stop()
        producer = RetryingProducer(transactional_id=self.transactional_id(tp),
                                    **producer_options(self.settings, f"txn-{tp.partition}"),
                                    request_timeout_ms=REQUEST_TIMEOUT_MS,
                                    retry_backoff_ms=RETRY_BACKOFF_MS)
        await producer.start()
        self._producers[tp] = producer
        return producer

    async def _finish(self, tp: TP) -> None:
        """Let the transactions under way or queued for `tp` end before its producer goes.

        Their batches were admitted against the last claim's offsets, so they commit (or
        fail) as they are, and the claim then reads their offset; a runner cancelled in the
        middle would leave their deliveries waiting forever.
        """
        while pending := [f for f in (self._committing.get(tp), self._done.get(tp))
                          if f is not None and not f.done()]:
            await asyncio.wait(pending)

    def producer(self, tp: TP) -> AIOKafkaProducer:
        """The transactional producer of a claimed partition."""
        return self._producers[tp]

    def claimed(self, tp: TP, generation: int | None) -> bool:
        return tp in self._producers and self._generation.get(tp) == generation

    def commit_soon(self, tp: TP, share: Outbox, next_offset: int) -> asyncio.Future[None]:
        """Queue `share` of a claimed partition; done when a transaction has committed it."""
        if tp not in self._runners:
            self._waiting[tp], self._wake[tp] = [], asyncio.Event()
            self._runners[tp] = asyncio.ensure_future(self._run(tp))
        if tp not in self._done:
            self._done[tp] = asyncio.get_running_loop().create_future()
        self._waiting[tp].append((share, next_offset))
        self._wake[tp].set()
        return self._done[tp]

    async def _run(self, tp: TP) -> None:
        """One transaction at a time for `tp`, each with every share queued meanwhile."""
        while True:
            await self._wake[tp].wait()
            self._wake[tp].clear()
            shares, done = self._waiting[tp], self._done.pop(tp, None)
            self._waiting[tp] = []
            if done is None:
                continue
            self._committing[tp] = done
            try:
                await self.commit(tp, Outbox.merged([s for s, _ in shares]),
                                  max(offset for _, offset in shares))
            except Exception as exc:
                done.set_exception(exc)
            else:
                done.set_result(None)
            finally:
                del self._committing[tp]

    async def commit(self, tp: TP, share: Outbox, next_offset: int) -> None:
        """Send `share` and commit `next_offset` for `tp` in one transaction.

        A transaction that fails for a passing reason is aborted and sent again; a fenced
        producer (another worker owns the partition now) or one that cannot abort raises.
        """
        producer = self._producers[tp]
        offsets = {TopicPartition(tp.topic, tp.partition): next_offset}
        for attempt in range(1, ATTEMPTS + 1):
            await producer.begin_transaction()
            try:
                acks = await send_outbox(producer, share, self.settings.label_counts_topic)
                # aiokafka commits a transaction even if one of its record batches was
                # refused, so every acknowledgement is checked before the commit.
                outcomes = await asyncio.gather(
                    producer.send_offsets_to_transaction(offsets, self.group_id), *acks,
                    return_exceptions=True)
                refused = next((o for o in outcomes if isinstance(o, BaseException)), None)
                if refused is not None:
                    raise refused
                await producer.commit_transaction()
                return
            except ProducerFenced:
                raise ProducerFenced(
                    f"{tp.topic}[{tp.partition}] belongs to another worker now (this one was "
                    f"frozen or cut off past its session timeout): its transaction was fenced"
                ) from None
            except KafkaError as exc:
                # A zombie's abort fails with ProducerFenced, so it never gets to renew.
                await producer.abort_transaction()
                # A refused record batch used up a sequence number the broker never saw;
                # the producer's every later batch to that partition would be refused as
                # out of order, so the next try starts with a new one.
                producer = await self._renew(tp)
                if attempt == ATTEMPTS:
                    raise
                logger.warning("transaction for %s[%d] failed (try %d of %d), aborted; "
                               "sending it again: %r", tp.topic, tp.partition, attempt,
                               ATTEMPTS, exc)
                await asyncio.sleep(0.2 * attempt)

    async def _committed(self, tps: Collection[TP]) -> dict[TP, int]:
        if self._admin is None:
            self._admin = AIOKafkaAdminClient(bootstrap_servers=self.settings.bootstrap_servers,
                                              **client_options(self.settings))
            await self._admin.start()
        asked = {TopicPartition(tp.topic, tp.partition): tp for tp in tps}
        offsets: dict[Any, Any] = await self._admin.list_consumer_group_offsets(
            self.group_id, partitions=list(asked))
        return {tp: offsets[aiotp].offset if aiotp in offsets else -1
                for aiotp, tp in asked.items()}

    async def close(self) -> None:
        for runner in self._runners.values():
            runner.cancel()
        for producer in self._producers.values():
            await producer.stop()
        self._producers.clear()
        if self._admin is not None:
            await self._admin.close()
