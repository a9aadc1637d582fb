"""The batch loop every inference agent runs: decode, predict once per batch, send, count.

Delivery: outputs, dead letters and count deltas of a batch are all acknowledged by the
broker before the batch's offsets can be committed; so a crash repeats the batches whose
commit had not reached the broker yet (at-least-once; one batch in the crash test), it
never loses one.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, NoReturn, TypeVar, cast

from faust.types import ChannelT, Message, StreamT

from agents import metrics
from agents.count_keys import DEAD_LETTER, count_delta
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


async def serve(batches: StreamT[list[Message]], pipeline: ScoringPipeline[Any]) -> None:
    """Score `pipeline`'s fetched messages for ever, up to `batch_size` at a time.

    Fetches that queued up while a batch was being answered are scored together: one
    broker round trip for many small fetches keeps latency flat when traffic rises.
    """
    queue = cast(ChannelT[list[Message]], batches.channel).queue
    size = app.settings.batch_size
    async for fetched in batches:
        messages = list(fetched)
        while not queue.empty():
            messages.extend(queue.get_nowait())
        # Fetched before a rebalance: the partitions' owner fetches them again.
        current = [m for m in messages if m.generation_id == app.consumer_generation_id]
        for start in range(0, len(current), size):
            try:
                await _answer(current[start : start + size], pipeline)
            except Exception as exc:
                _exit_unscored(exc)


async def _answer(messages: Sequence[Message], pipeline: ScoringPipeline[Any]) -> None:
    """Score the batch, wait for the broker to have its records, then commit it."""
    started = time.perf_counter()
    consumer = app.consumer
    consumer.unacked.update(messages)  # a rebalance waits for these to be answered
    scored = await score_events(messages, pipeline)
    await asyncio.gather(*await queue_records(scored, pipeline))
    for message in messages:
        consumer.ack(message)
    consumer.unacked.difference_update(messages)  # acked before a seek back, too
    await consumer.commit()
    _observe(pipeline.name, len(messages), scored.outcome, time.perf_counter() - started)


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


async def score_events(messages: Sequence[Message],
                       pipeline: ScoringPipeline[Any]) -> ScoredBatch:
    """Decode every message, predict the valid ones in one call, dead-letter the rest."""
    valid: list[Message] = []
    items: list[Any] = []
    rejects: list[tuple[Message, str]] = []
    for message in messages:
        try:
            items.append(pipeline.decode(message.value))
            valid.append(message)
        except InvalidEvent as exc:
            rejects.append((message, exc.reason))
    labels = await _predict(pipeline, items) if items else []
    answers = [OutRecord(m.partition, m.key, label.encode())
               for m, label in zip(valid, labels, strict=True)]
    dead = [_dead_letter(message, reason, pipeline.name) for message, reason in rejects]
    outcome = BatchOutcome(labels=labels, rejected=[reason for _, reason in rejects])
    return ScoredBatch(answers, dead, outcome)


async def queue_records(scored: ScoredBatch,
                        pipeline: ScoringPipeline[Any]) -> list[Awaitable[Any]]:
    """Hand answers, dead letters and count deltas to the producer; return their acks."""
    producer = app.output_producer
    pending = await send_records(producer, pipeline.output_topic, scored.answers)
    if scored.dead_letters:
        pending += await send_records(producer, pipeline.dlq_topic, scored.dead_letters)
    for label, n in scored.outcome.counts().items():
        key, value = count_delta(pipeline.name, label, n)
        pending.append(await producer.send(app.settings.label_counts_topic, value, key=key))
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


def _dead_letter(message: Message, reason: str, pipeline: str) -> OutRecord:
    """The original key and bytes, with headers that say why and where they came from."""
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
