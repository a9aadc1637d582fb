"""The batch loop every scoring agent runs: decode, predict once per batch, send, count.

Delivery: a batch's answers, dead letters and count deltas are all acknowledged by the
broker before the batch is done and its offsets may be committed (`transport.delivery`);
so a crash repeats the batches whose commit had not reached the broker yet
(at-least-once; one batch in the crash test), it never loses one.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

from faust.types import Message

from agents import metrics
from app import app
from config.settings import PipelineSettings
from models.artifacts import LoadedModel
from models.predictions import Predictions, predictions
from models.predictors import Predictor
from schemas.counts import DEAD_LETTER, delta
from schemas.errors import InvalidEvent
from transport.delivery import Batch, BatchStream
from transport.sink import OutRecord, send_records

logger = logging.getLogger(__name__)

EXIT_SCORING_FAILED = 70  # EX_SOFTWARE


@dataclass(frozen=True)
class Scorer:
    """One registered pipeline, ready to score: its settings, decoder, model and predictor."""

    pipeline: PipelineSettings
    decode: Callable[[bytes | None], Any]
    model: LoadedModel
    predictor: Predictor

    @property
    def name(self) -> str:
        return self.pipeline.name


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


@dataclass(frozen=True)
class ScoredBatch:
    """A decoded and predicted batch, ready to be sent."""

    answers: list[OutRecord]
    dead_letters: list[OutRecord]
    outcome: BatchOutcome


async def serve(batches: BatchStream, scorer: Scorer) -> None:
    """Score `scorer`'s batches for ever; any failure but bad input ends the worker."""
    async for batch in batches:
        try:
            await _answer(batch, batches, scorer)
        except Exception as exc:
            _exit_unscored(exc)


async def _answer(batch: Batch, batches: BatchStream, scorer: Scorer) -> None:
    """Score the batch, wait for the broker to have its records, then hand it back."""
    started = time.perf_counter()
    scored = await score_events(batch.messages, scorer)
    await asyncio.gather(*await queue_records(scored, scorer))
    await batches.done(batch)
    _observe(scorer.name, len(batch.messages), scored.outcome, time.perf_counter() - started)


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


async def score_events(messages: Sequence[Message], scorer: Scorer) -> ScoredBatch:
    """Decode every message, predict the valid ones in one call, dead-letter the rest."""
    valid: list[Message] = []
    items: list[Any] = []
    rejects: list[tuple[Message, str]] = []
    for message in messages:
        try:
            items.append(scorer.decode(message.value))
            valid.append(message)
        except InvalidEvent as exc:
            rejects.append((message, exc.reason))
    labels = (await _predict(scorer, items)).labels if items else []
    answers = [OutRecord(m.partition, m.key, label.encode())
               for m, label in zip(valid, labels, strict=True)]
    dead = [_dead_letter(message, reason, scorer.name) for message, reason in rejects]
    outcome = BatchOutcome(labels=labels, rejected=[reason for _, reason in rejects])
    return ScoredBatch(answers, dead, outcome)


async def queue_records(scored: ScoredBatch, scorer: Scorer) -> list[Awaitable[Any]]:
    """Hand answers, dead letters and count deltas to the producer; return their acks."""
    producer = app.output_producer
    pipeline = scorer.pipeline
    pending = await send_records(producer, pipeline.output_topic, scored.answers)
    if scored.dead_letters:
        pending += await send_records(producer, pipeline.dlq_topic, scored.dead_letters)
    for label, n in scored.outcome.counts().items():
        key, value = delta(pipeline.name, label, n)
        pending.append(await producer.send(app.settings.label_counts_topic, value, key=key))
    return pending


async def _predict(scorer: Scorer, items: list[Any]) -> Predictions:
    started = time.perf_counter()
    spec = scorer.pipeline.spec
    result = predictions(await scorer.predictor(spec.features(items)), spec.labels)
    metrics.INFERENCE_SECONDS.labels(scorer.name).observe(time.perf_counter() - started)
    return result


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
