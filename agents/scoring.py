"""The batch loop every inference agent runs: decode, predict once per batch, send, count.

Delivery: outputs, dead letters and count deltas of a batch are all acknowledged by the
broker before the batch's offsets can be committed; so a crash repeats the batches whose
commit had not reached the broker yet (at-least-once; a few hundred events in the crash
test), it never loses one.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, NoReturn, TypeVar

import faust
from faust.streams import Stream
from faust.types import EventT, StreamT

from agents import metrics
from agents.count_keys import DEAD_LETTER, count_key
from agents.sink import OutRecord, send_records
from app import app
from schemas.errors import InvalidEvent

logger = logging.getLogger(__name__)

EXIT_SCORING_FAILED = 70  # EX_SOFTWARE

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
        _hold(events)
        try:
            await _answer(events, pipeline)
        except Exception as exc:
            _exit_unscored(exc)


async def _answer(events: Sequence[EventT[bytes]], pipeline: ScoringPipeline[Any]) -> None:
    """Score the batch, wait for the broker to have its records, then let it be committed."""
    started = time.perf_counter()
    scored = await score_events(events, pipeline)
    await asyncio.gather(*await queue_records(scored, pipeline))
    await _release(events)
    _observe(pipeline.name, len(events), scored.outcome, time.perf_counter() - started)


def _hold(events: Sequence[EventT[Any]]) -> None:
    """Keep the events uncommittable whatever happens to this batch until `_release`.

    `take_events` acks a batch when its generator resumes or is closed, which includes an
    agent stopped or crashed in the middle of the batch; one extra reference per message
    keeps those offsets from being committed without their answers.
    """
    for event in events:
        event.message.incref()


async def _release(events: Sequence[EventT[Any]]) -> None:
    """Drop the references `_hold` took, making the offsets committable, and commit.

    Faust commits on a timer (every 2.8 s) and not reliably when a worker stops, so a
    stopped or rebalanced worker would leave its last seconds of answered events to be
    answered again by the next owner; committing per batch shrinks that to one batch.
    """
    consumer = app.consumer
    for event in events:
        event.message.ack(consumer)
    await consumer.commit()


def _exit_unscored(exc: Exception) -> NoReturn:
    """End the worker when a batch fails for any reason but bad input.

    Such a failure (a dead model process, records the broker refuses for good) leaves the
    worker in a state no retry here can be trusted to fix. The batch is uncommitted, so
    exiting at once, as a crash would, lets the restarted worker (or the partitions' next
    owner) score it again; a graceful stop would wait for it for ever.
    """
    logger.critical("scoring failed; exiting so the batch is scored again after a restart: %r",
                    exc, exc_info=exc)
    logging.shutdown()
    os._exit(EXIT_SCORING_FAILED)


@dataclass(frozen=True)
class ScoredBatch:
    """A decoded and predicted batch, ready to be sent."""

    answers: list[OutRecord]
    dead_letters: list[OutRecord]
    outcome: BatchOutcome


async def score_events(
    events: Sequence[EventT[bytes]], pipeline: ScoringPipeline[Any]
) -> ScoredBatch:
    """Decode every event, predict the valid ones in one call, dead-letter the rest."""
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
    answers = [OutRecord(e.message.partition, e.message.key, label.encode())
               for e, label in zip(valid, labels, strict=True)]
    dead = [_dead_letter(event, reason, pipeline.name) for event, reason in rejects]
    outcome = BatchOutcome(labels=labels, rejected=[reason for _, reason in rejects])
    return ScoredBatch(answers, dead, outcome)


async def queue_records(scored: ScoredBatch,
                        pipeline: ScoringPipeline[Any]) -> list[Awaitable[Any]]:
    """Hand answers, dead letters and count deltas to the producers; return their acks."""
    producer = app.output_producer
    pending = await send_records(producer, pipeline.output_topic, scored.answers)
    if scored.dead_letters:
        pending += await send_records(producer, pipeline.dlq_topic, scored.dead_letters)
    for label, n in scored.outcome.counts().items():
        pending.append(await pipeline.counts_topic.send(key=count_key(pipeline.name, label),
                                                        value=n))
    return pending


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
