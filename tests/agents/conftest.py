"""Agent tests run in Faust's in-memory test context with a recording producer."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from faust.types import Message

from agents.pipeline_agents import SCORERS
from app import app


@dataclass
class SentRecord:
    topic: str
    key: bytes | None
    value: bytes | None
    partition: int | None
    headers: dict[str, bytes] = field(default_factory=dict)


@dataclass
class RecordBatch:
    """Collects appended records like aiokafka's BatchBuilder."""

    records: list[tuple[bytes | None, bytes | None, Any]] = field(default_factory=list)

    def append(self, *, key: bytes | None, value: bytes | None, timestamp: Any,
               headers: Any) -> object:
        self.records.append((key, value, headers))
        return object()

    def size(self) -> int:
        return sum(len(key or b"") + len(value or b"") for key, value, _ in self.records)

    def record_count(self) -> int:
        return len(self.records)


def _done() -> asyncio.Future[None]:
    done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    done.set_result(None)
    return done


@dataclass
class RecordingProducer:
    """Stands in for the broker at the output side: keeps what the agent sends."""

    sent: list[SentRecord] = field(default_factory=list)

    def create_batch(self) -> RecordBatch:
        return RecordBatch()

    async def send_batch(self, batch: RecordBatch, topic: str, *,
                         partition: int) -> asyncio.Future[None]:
        for key, value, headers in batch.records:
            self.sent.append(SentRecord(topic, key, value, partition, dict(headers or [])))
        return _done()

    async def send(self, topic: str, value: bytes | None = None, key: bytes | None = None,
                   partition: int | None = None, timestamp_ms: int | None = None,
                   headers: Any = None) -> asyncio.Future[None]:
        """AIOKafkaProducer.send."""
        self.sent.append(SentRecord(topic, key, value, partition, dict(headers or [])))
        return _done()

    async def faust_send(self, topic: str, key: bytes | None, value: bytes | None,
                         partition: int | None, timestamp: float | None, headers: Any,
                         **_: Any) -> asyncio.Future[None]:
        """Faust's Producer.send, which table changes go through."""
        return await self.send(topic, value, key, partition, None, headers)

    def on(self, topic: str) -> list[SentRecord]:
        return [r for r in self.sent if r.topic == topic]


@pytest.fixture(autouse=True)
def settled_models() -> None:
    """The agents score with the models they start with: no artifacts topic to follow."""
    for live in SCORERS.values():
        live.settled.set()


@pytest.fixture
def producer(monkeypatch: pytest.MonkeyPatch) -> Iterator[RecordingProducer]:
    recording = RecordingProducer()
    monkeypatch.setattr(app.producer, "send", recording.faust_send)
    monkeypatch.setattr(app, "_output_producer", recording)
    app.finalize()
    yield recording


async def until(condition: Callable[[], object], timeout: float = 60.0) -> None:
    """Wait for `condition` with a deadline."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


def fetched(topic: str, records: Sequence[tuple[bytes | None, bytes | None]]) -> list[Message]:
    """What the consumer hands a batch agent: one fetch's messages, in offset order."""
    return [Message(topic, 0, offset, time.time(), 0, [], key, value, None,
                    generation_id=app.consumer_generation_id)
            for offset, (key, value) in enumerate(records)]
