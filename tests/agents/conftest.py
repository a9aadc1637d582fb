"""Agent tests run in Faust's in-memory test context with a recording producer."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from app import app


@dataclass
class SentRecord:
    topic: str
    key: bytes | None
    value: bytes | None
    partition: int | None
    headers: dict[str, bytes] = field(default_factory=dict)


@dataclass
class RecordingProducer:
    """Stands in for the broker at the output side: keeps what the agent sends."""

    sent: list[SentRecord] = field(default_factory=list)

    async def send(self, topic: str, key: bytes | None, value: bytes | None,
                   partition: int | None, timestamp: float | None, headers: Any,
                   **_: Any) -> asyncio.Future[None]:
        self.sent.append(SentRecord(topic, key, value, partition, dict(headers or [])))
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done

    def on(self, topic: str) -> list[SentRecord]:
        return [r for r in self.sent if r.topic == topic]


@pytest.fixture
def producer(monkeypatch: pytest.MonkeyPatch) -> Iterator[RecordingProducer]:
    recording = RecordingProducer()
    monkeypatch.setattr(app.producer, "send", recording.send)
    app.finalize()
    yield recording
