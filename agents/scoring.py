"""The batch loop every inference agent runs: decode, predict once per batch, send, count.

Delivery: outputs, dead letters and count deltas of a batch are all acknowledged by the
broker before the batch's offsets are committed; so a crash repeats at most the batch in
flight (at-least-once), it never loses one.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import faust
from faust.streams import Stream
from faust.types import EventT, StreamT

from agents import metrics
from agents.count_keys import DEAD_LETTER, count_key
from agents.sink import OutRecord, send_records
from app import app
from schemas.errors import InvalidEvent

logger = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class ScoringPipeline(Generic[T]):
    """What differs between pipelines: their topics, decoder and batch predictor."""

    name: str
    output_topic: str
    dlq_topic: str
    counts_topic: faust.TopicT
    decode: Callable[[bytes | None], T]
    predict: Callable[[Sequence[T]], Awaitable[list[str]]]


@dataclass(frozen=True)
class BatchOutcome:
    """Labels given to the valid events and reasons given to the rejected ones, in order."""

    labels: list[str]
    rejected: list[str]

    def counts(self) -> Counter[str]:
        totals = Counter(self.labels)
        if self.rejected:
            totals[DEAD_LETTER] = len(self.rejected)
        return totals


async def serve(stream: StreamT[bytes], pipeline: ScoringPipeline[Any]) -> None:
    """Consume `stream` in batches for ever, scoring each batch with `pipeline`."""
    settings = app.settings
    assert isinstance(stream, Stream)  # take_events is not on the StreamT interface
    async for events in stream.take_events(settings.batch_size, within=settings.batch_wait_s):
        await score_batch(events, pipeline)
        await commit(stream, events)


async def commit(stream: StreamT[Any], events: Sequence[EventT[Any]]) -> None:
    """Ack the processed events and commit their offsets now.

    Faust commits on a timer (every 2.8 s) and not reliably when a worker stops, so a
    stopped or rebalanced worker would leave its last seconds of answered events to be
    answered again by the next owner. Committing per batch shrinks that window to the
    batch in flight. (Acking again when `take_events` resumes is a no-op.)
    """
    for event in events:
        await stream.ack(event)
    await app.consumer.commit()


async def score_batch(
    events: Sequence[EventT[bytes]], pipeline: ScoringPipeline[Any]
) -> BatchOutcome:
    """Score one batch and wait until the broker has every record it produced."""
    started = time.perf_counter()
    valid: list[EventT[bytes]] = []
    items: list[Any] = []
    rejects: list[tuple[EventT[bytes], str]] = []
    for event in events:
        try:
            items.append(pipeline.decode(event.message.value))
            valid.append(event)
        except InvalidEvent as exc:
            rejects.append((event, exc.reason))
    labels = await _predict(pipeline, items) if items else []
    producer = app.output_producer
    answers = [OutRecord(e.message.partition, e.message.key, label.encode())
               for e, label in zip(valid, labels, strict=True)]
    pending = await send_records(producer, pipeline.output_topic, answers)
    if rejects:
        dead = [_dead_letter(event, reason, pipeline.name) for event, reason in rejects]
        pending += await send_records(producer, pipeline.dlq_topic, dead)
    outcome = BatchOutcome(labels=labels, rejected=[reason for _, reason in rejects])
    for label, n in outcome.counts().items():
        pending.append(await pipeline.counts_topic.send(key=count_key(pipeline.name, label),
                                                        value=n))
    await asyncio.gather(*pending)
    _observe(pipeline.name, len(events), outcome, time.perf_counter() - started)
    return outcome


async def _predict(pipeline: ScoringPipeline[Any], items: list[Any]) -> list[str]:
    started = time.perf_counter()
    labels = await pipeline.predict(items)
    metrics.INFERENCE_SECONDS.labels(pipeline.name).observe(time.perf_counter() - started)
    return labels


def _observe(pipeline: str, size: int, outcome: BatchOutcome, seconds: float) -> None:
    metrics.EVENTS_IN.labels(pipeline).inc(size)
    metrics.BATCH_SIZE.labels(pipeline).observe(size)
    metrics.BATCH_SECONDS.labels(pipeline).observe(seconds)
    for label, n in outcome.counts().items():
        if label == DEAD_LETTER:
            metrics.DEAD_LETTERS.labels(pipeline).inc(n)
        else:
            metrics.PREDICTIONS.labels(pipeline, label).inc(n)


def _dead_letter(event: EventT[bytes], reason: str, pipeline: str) -> OutRecord:
    """The original key and bytes, with headers that say why and where they came from."""
    message = event.message
    logger.warning(
        "%s: dead-lettering %s[%d]@%d: %s",
        pipeline, message.topic, message.partition, message.offset, reason,
    )
    headers = [
        ("error.reason", reason.encode()),
        ("source.topic", message.topic.encode()),
        ("source.partition", str(message.partition).encode()),
        ("source.offset", str(message.offset).encode()),
    ]
    return OutRecord(message.partition, message.key, message.value, headers)
