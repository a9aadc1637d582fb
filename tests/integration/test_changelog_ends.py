"""A changelog's recoverable end: one past the last record a reader of it is handed.

Written by transactions as an exactly-once worker writes its tables' changelogs: each
ends in a marker, some are aborted, and the end offset the broker gives is past them.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Sequence

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from faust.types import TP

from tests.integration.kafka_io import new_topic
from transport.changelog_ends import TAIL, record_ends


async def _transactions(bootstrap: str, topic: str, sizes: Sequence[tuple[int, bool]]) -> None:
    """One transaction of `size` records per entry, committed or aborted."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap,
                                transactional_id=f"ends-{uuid.uuid4().hex[:8]}")
    await producer.start()
    try:
        for size, commit in sizes:
            await producer.begin_transaction()
            for i in range(size):
                await producer.send(topic, f"v{i}".encode(), key=b"k")
            if commit:
                await producer.commit_transaction()
            else:
                await producer.abort_transaction()
    finally:
        await producer.stop()


@contextlib.asynccontextmanager
async def _reader(bootstrap: str, isolation: str) -> AsyncIterator[AIOKafkaConsumer]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                isolation_level=isolation)
    await consumer.start()
    try:
        yield consumer
    finally:
        await consumer.stop()


async def _end(reader: AIOKafkaConsumer, topic: str) -> int:
    """What the broker gives recovery's own consumer as the partition's end."""
    tp = TopicPartition(topic, 0)
    end: int = (await reader.end_offsets([tp]))[tp]
    return end


async def _ends(bootstrap: str, topic: str, isolation: str) -> tuple[int, int]:
    """The partition's end offset, and one past the last record a reader is handed."""
    async with _reader(bootstrap, isolation) as reader:
        end = await _end(reader, topic)
        found = await record_ends(reader, {TP(topic, 0): end})
    return end, found[TP(topic, 0)]


@pytest.fixture
async def topic(bootstrap: str) -> AsyncIterator[str]:
    yield await new_topic(bootstrap, "changelog-ends")


async def test_the_end_is_past_the_last_committed_record_not_its_marker(
        bootstrap: str, topic: str) -> None:
    # offsets 0-2 records, 3 commit marker, 4-5 aborted, 6 abort marker
    await _transactions(bootstrap, topic, [(3, True), (2, False)])
    assert await _ends(bootstrap, topic, "read_committed") == (7, 3)


async def test_a_reader_of_uncommitted_records_ends_past_the_aborted_ones(
        bootstrap: str, topic: str) -> None:
    await _transactions(bootstrap, topic, [(3, True), (2, False)])
    assert await _ends(bootstrap, topic, "read_uncommitted") == (7, 6)


async def test_a_committed_record_far_behind_aborted_ones_is_found(
        bootstrap: str, topic: str) -> None:
    await _transactions(bootstrap, topic, [(1, True), (TAIL * 5, False)])
    assert await _ends(bootstrap, topic, "read_committed") == (2 + TAIL * 5 + 1, 1)


async def test_only_aborted_records_or_none_end_at_zero(bootstrap: str, topic: str) -> None:
    assert await _ends(bootstrap, topic, "read_committed") == (0, 0)
    await _transactions(bootstrap, topic, [(TAIL * 2, False)])
    assert await _ends(bootstrap, topic, "read_committed") == (TAIL * 2 + 1, 0)
