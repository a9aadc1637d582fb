"""A fetch lingers at the broker only after one that brought records, and never on a backlog."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.protocol.fetch import FetchRequest

from tests.integration.kafka_io import new_topic, produce, wait_for
from transport.faust_internals import LINGER_MIN_BYTES, linger_fetches

IDLE_WAIT_MS = 400  # the consumer's own wait: what a fetch after an empty one asks for
#: Long, so that a fetch the broker held is told from one it answered.
LINGER_MS = 1500
#: Longer than producing a backlog could take while a fetch lingers.
LONG_LINGER_MS = 30_000


@dataclass(frozen=True)
class Fetch:
    max_wait_ms: int
    min_bytes: int
    took_s: float


@contextlib.asynccontextmanager
async def lingering(bootstrap: str, linger_ms: int,
                    ) -> AsyncIterator[tuple[AIOKafkaConsumer, str, list[Fetch]]]:
    """A consumer of a new topic whose fetches linger, and each fetch it made, answered."""
    topic = await new_topic(bootstrap, "linger")
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                auto_offset_reset="earliest", fetch_max_wait_ms=IDLE_WAIT_MS)
    await consumer.start()
    fetches: list[Fetch] = []
    client = consumer._client
    send = client.send

    async def timed_send(node_id: int, request: Any, **kwargs: Any) -> Any:
        started = time.monotonic()
        response = await send(node_id, request, **kwargs)
        if isinstance(request, FetchRequest):
            fetches.append(Fetch(request._max_wait_ms, request._min_bytes,
                                 time.monotonic() - started))
        return response

    client.send = timed_send
    linger_fetches(consumer._fetcher, linger_ms)
    consumer.assign([TopicPartition(topic, 0)])
    try:
        yield consumer, topic, fetches
    finally:
        await consumer.stop()


async def _read(consumer: AIOKafkaConsumer, count: int) -> list[bytes]:
    """At least `count` records' values."""
    values: list[bytes] = []
    deadline = time.monotonic() + 60
    while len(values) < count and time.monotonic() < deadline:
        for records in (await consumer.getmany(timeout_ms=1000)).values():
            values += [r.value or b"" for r in records]
    assert len(values) >= count, f"read {len(values)} of {count} records"
    return values


def _lingered(fetch: Fetch) -> bool:
    return fetch.min_bytes == LINGER_MIN_BYTES and fetch.max_wait_ms in (LINGER_MS,
                                                                         LONG_LINGER_MS)


async def test_after_records_the_next_fetch_lingers_and_after_an_empty_one_none_does(
        bootstrap: str) -> None:
    async with lingering(bootstrap, LINGER_MS) as (consumer, topic, fetches):
        await produce(bootstrap, topic, [(b"k", b"one record")])
        assert await _read(consumer, 1) == [b"one record"]
        await wait_for(lambda: any(map(_lingered, fetches)) and not _lingered(fetches[-1]),
                       "a lingering fetch, then one that does not linger", timeout=30)

    first = next(i for i, fetch in enumerate(fetches) if _lingered(fetch))
    assert first > 0, "the fetch that brought the record lingered"
    assert fetches[first].took_s >= LINGER_MS / 1000 * 0.9, (
        f"the broker answered a lingering fetch with nothing after {fetches[first].took_s} s")
    after = fetches[first + 1]
    assert (after.max_wait_ms, after.min_bytes) == (IDLE_WAIT_MS, 1)


async def test_a_backlog_ends_a_lingering_fetch_at_once(bootstrap: str) -> None:
    async with lingering(bootstrap, LONG_LINGER_MS) as (consumer, topic, fetches):
        await produce(bootstrap, topic, [(b"k", b"one record")])
        await _read(consumer, 1)
        backlog = [(f"{i}".encode(), bytes(1024)) for i in range(2 * LINGER_MIN_BYTES // 1024)]
        await produce(bootstrap, topic, backlog)
        # What the lingering fetch brings: LINGER_MIN_BYTES at least. (What is left of the
        # backlog after it may be less, and a fetch for that lingers its whole time.)
        await _read(consumer, LINGER_MIN_BYTES // 1024)

    lingered = [fetch for fetch in fetches if _lingered(fetch)]
    assert lingered, "no fetch lingered after the first record"
    assert lingered[0].took_s < LONG_LINGER_MS / 1000 / 2, (
        f"a lingering fetch waited {lingered[0].took_s} s with {LINGER_MIN_BYTES} bytes there")
