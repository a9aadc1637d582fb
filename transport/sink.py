"""Writing a batch's answers to Kafka: one record batch per partition, not one send each.

Per-message sends cost a future and a trip through the accumulator each; an output
batch goes out as at most a few `send_batch` calls, which is most of what lets one worker
keep up with real traffic.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaProducer

from config.settings import Settings
from transport.security import client_options
from transport.topics import DEAD_LETTER_MAX_BYTES

Headers = list[tuple[str, bytes]]


def output_producer(settings: Settings) -> AIOKafkaProducer:
    """The idempotent `acks=all` producer answers, dead letters and count deltas go out with."""
    return AIOKafkaProducer(
        bootstrap_servers=settings.bootstrap_servers,
        **client_options(settings),
        client_id=f"{settings.app_id}-outputs",
        acks="all",
        enable_idempotence=True,
        # Answers leave as whole record batches already, so lingering only adds latency.
        linger_ms=0,
        # Room for a dead letter as large as its topic accepts.
        max_batch_size=DEAD_LETTER_MAX_BYTES,
        max_request_size=DEAD_LETTER_MAX_BYTES + 64 * 1024,
    )


@dataclass(frozen=True)
class OutRecord:
    """One record to produce, to a given partition."""

    partition: int
    key: bytes | None
    value: bytes | None
    headers: Headers | None = None


async def send_records(producer: AIOKafkaProducer, topic: str,
                       records: Sequence[OutRecord]) -> list[Awaitable[Any]]:
    """Queue `records` grouped into record batches per partition, in order; return their futures."""
    by_partition: dict[int, list[OutRecord]] = defaultdict(list)
    for record in records:
        by_partition[record.partition].append(record)
    pending: list[Awaitable[Any]] = []
    for partition, items in by_partition.items():
        batch = producer.create_batch()
        for record in items:
            if not _append(batch, record):
                pending.append(await producer.send_batch(batch, topic, partition=partition))
                batch = producer.create_batch()
                if not _append(batch, record):
                    raise ValueError(f"a record for {topic}[{partition}] exceeds the batch size")
        pending.append(await producer.send_batch(batch, topic, partition=partition))
    return pending


def _append(batch: Any, record: OutRecord) -> bool:
    """Add `record` to `batch`; False when the batch is full."""
    return batch.append(key=record.key, value=record.value, timestamp=None,
                        headers=record.headers or []) is not None
