"""Produce to and read from the real broker, and wait on conditions with deadlines."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic


async def new_topic(bootstrap: str, prefix: str) -> str:
    """A topic of one partition, named `prefix-<random>`, made for one test."""
    topic = f"{prefix}-{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, 1, 1)])
    finally:
        await admin.close()
    return topic


async def produce(bootstrap: str, topic: str,
                  records: Sequence[tuple[bytes | None, bytes | None]],
                  *, partition: int | None = None, **login: Any) -> None:
    """Send `(key, value)` pairs and wait until the broker has all of them.

    `login`: aiokafka's security options, for a broker that wants them.
    """
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all",
                                enable_idempotence=True, linger_ms=5, **login)
    await producer.start()
    try:
        batch = [await producer.send(topic, value, key=key, partition=partition)
                 for key, value in records]
        await asyncio.gather(*batch)
    finally:
        await producer.stop()


@dataclass
class SteadyStream:
    """Keyed records sent at `rate` a second, `chunk` at a time, from `start()` to `stop()`.

    The i-th record's key is `<run>-<i>` and its value `value(i)`; `sent` lists the keys
    the broker has acknowledged, in order.
    """

    bootstrap: str
    topic: str
    value: Callable[[int], bytes]
    rate: float
    chunk: int = 300
    run: str = field(default_factory=lambda: uuid.uuid4().hex[:6])
    sent: list[bytes] = field(default_factory=list)
    _task: asyncio.Future[None] | None = None
    _streaming: bool = True

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._stream())

    async def stop(self) -> None:
        self._streaming = False
        if self._task is not None:
            await self._task

    async def _stream(self) -> None:
        loop = asyncio.get_running_loop()
        started, sent = loop.time(), self.sent
        while self._streaming:
            await asyncio.sleep(max(0.0, started + len(sent) / self.rate - loop.time()))
            first = len(sent)
            keys = [f"{self.run}-{i}".encode() for i in range(first, first + self.chunk)]
            await produce(self.bootstrap, self.topic,
                          [(k, self.value(first + i)) for i, k in enumerate(keys)])
            sent.extend(keys)


async def read_until(
    bootstrap: str,
    topic: str,
    done: Callable[[list[ConsumerRecord[bytes, bytes]]], bool],
    *,
    timeout: float = 60.0,
    committed_only: bool = False,
    **login: Any,
) -> list[ConsumerRecord[bytes, bytes]]:
    """Read `topic` from the beginning until `done(records)` holds; fail at the deadline.

    `committed_only` reads as exactly-once consumers do (`isolation.level=read_committed`).
    """
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest",
        isolation_level="read_committed" if committed_only else "read_uncommitted", **login)
    await consumer.start()
    records: list[ConsumerRecord[bytes, bytes]] = []
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        partitions: set[TopicPartition] = set()
        while not partitions:
            ids = await consumer._client.fetch_all_metadata()
            partitions = {TopicPartition(topic, p) for p in ids.partitions_for_topic(topic) or []}
            if not partitions:
                assert loop.time() < deadline, f"topic {topic} never appeared"
                await asyncio.sleep(0.2)
        consumer.assign(list(partitions))
        await consumer.seek_to_beginning()
        while not done(records):
            left = deadline - loop.time()
            assert left > 0, (f"{topic}: condition not met within {timeout}s; read {len(records)}; "
                              f"{_where(consumer, records)}")
            batches = await consumer.getmany(timeout_ms=int(min(left, 1.0) * 1000))
            for batch in batches.values():
                records.extend(batch)
        return records
    finally:
        await consumer.stop()


def _where(consumer: AIOKafkaConsumer, records: list[ConsumerRecord[bytes, bytes]]) -> str:
    """Per partition: records read, the last offset read, high watermark, last stable offset.

    A last stable offset short of the high watermark is a transaction left open.
    """
    read: dict[int, int] = {}
    last: dict[int, int] = {}
    for record in records:
        read[record.partition] = read.get(record.partition, 0) + 1
        last[record.partition] = record.offset
    return "; ".join(
        f"[{tp.partition}] read {read.get(tp.partition, 0)} up to {last.get(tp.partition)}, "
        f"highwater {consumer.highwater(tp)}, stable {consumer.last_stable_offset(tp)}"
        for tp in sorted(consumer.assignment()))


def keyed(records: list[ConsumerRecord[bytes, bytes]], keys: set[bytes]) -> list[
        ConsumerRecord[bytes, bytes]]:
    """The records whose key is one of `keys`."""
    return [r for r in records if r.key in keys]


async def wait_for(check: Callable[[], object], what: str, timeout: float = 120) -> None:
    """Poll `check` until it is truthy; fail naming `what` at the deadline."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.2)


async def wait_for_async(check: Callable[[], Awaitable[bool]], what: str,
                         timeout: float = 120) -> None:
    """Like `wait_for`, for a check that has to talk to the broker."""
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)


async def committed_offsets(bootstrap: str, group: str) -> dict[tuple[str, int], int]:
    """The offset `group` has committed for each (topic, partition) that has one."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        found = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    return {(tp.topic, tp.partition): meta.offset for tp, meta in found.items()
            if meta.offset >= 0}


async def records_in(bootstrap: str, topic: str) -> int:
    """How many records `topic` holds (the sum of its partitions' end offsets)."""
    return sum((await end_offsets(bootstrap, topic)).values())


async def end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    """Each partition of `topic` and its end offset."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        cluster = await consumer._client.fetch_all_metadata()
        partitions = [TopicPartition(topic, p) for p in cluster.partitions_for_topic(topic) or []]
        consumer.assign(partitions)
        ends = await consumer.end_offsets(partitions) if partitions else {}
        return {tp.partition: offset for tp, offset in ends.items()}
    finally:
        await consumer.stop()
