"""The batch loop every scoring agent runs: decode, predict once per batch, hand over, count.

Delivery is the processing guarantee's (`transport.delivery`): the agent hands each
batch's outbox over and scores the next batch while the broker acknowledges this one.
A batch's offsets are committed only once its answers, dead letters and count deltas are
acknowledged (at least once) or in the same transaction as them (exactly once), so a
crash repeats at worst what was acknowledged but not committed; it never loses a batch.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from faust.types import Message

from agents import metrics
from agents.recent import RECENT
from config.settings import PipelineSettings
from models.artifacts import ModelIdentity
from models.drift import DriftWindow
from models.predictions import Predictions, predictions
from models.predictors import Predictor
from schemas.answers import Header, answer_headers, model_headers
from schemas.batch import DecodedBatch
from schemas.counts import DEAD_LETTER, is_shadow, shadow_agreed, shadow_label
from transport.delivery import BatchStream, exit_undelivered
from transport.sink import Outbox, OutRecord

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Scorer:
    """One registered pipeline, ready to score: its settings, decoder, model and predictor."""

    pipeline: PipelineSettings
    decode: Callable[[Sequence[bytes | None]], DecodedBatch]
    model: ModelIdentity
    predictor: Predictor
    drift: DriftWindow | None = None  # its inputs and answers against its training profile

    @property
    def name(self) -> str:
        return self.pipeline.name

    @cached_property
    def provenance(self) -> tuple[Header, Header]:
        """The headers that say which model made an answer: its name and version."""
        return model_headers(self.model.name, self.model.version)


@dataclass
class Live:
    """The scorer a pipeline uses now; replaced between two batches when a model goes live.

    A replaced scorer is retired (`retire`, e.g. its process pool shut down) after the
    batch that may still be using it. `settled` is set once the worker knows which
    version is live (`agents.model_updates`): a restarted worker answers its first batch
    with the live model, not with the one it started with.
    """

    scorer: Scorer
    retire: Callable[[Scorer], None]
    shadow: Scorer | None = None
    failed_shadows: set[str] = field(default_factory=set)  # versions not to shadow again
    settled: asyncio.Event = field(default_factory=asyncio.Event)
    _replaced: list[Scorer] = field(default_factory=list)

    def replace(self, scorer: Scorer) -> Scorer:
        """Make `scorer` the one the next batch uses; return the one it replaces."""
        old, self.scorer = self.scorer, scorer
        self._replaced.append(old)
        return old

    def shadow_with(self, scorer: Scorer | None) -> None:
        """From the next batch, also score with `scorer` (None: no shadow)."""
        if self.shadow is not None:
            self._replaced.append(self.shadow)
        self.shadow = scorer

    def after_batch(self) -> None:
        """No batch uses a replaced scorer any more: retire them."""
        while self._replaced:
            self.retire(self._replaced.pop())


async def serve(batches: BatchStream, live: Live) -> None:
    """Score batches for ever, each with the scorer live when it starts; any failure but
    bad input ends the worker.

    `inference_batch_seconds` is the agent's own time per batch: decoding, the model and
    handing the records over, not the broker's acknowledgement.
    """
    await live.settled.wait()
    try:
        async for batch in batches:
            started = time.perf_counter()
            scorer, shadow = live.scorer, live.shadow
            outbox = await score_events(batch.messages, scorer, shadow)
            if outbox.shadow_failed and shadow is not None:
                live.failed_shadows.add(shadow.model.version)
                if live.shadow is shadow:
                    live.shadow_with(None)
            live.after_batch()
            await batches.send(batch, outbox)
            RECENT.answered(scorer.name, batch.messages, time.time())
            _observe(scorer.name, len(batch.messages), outbox, time.perf_counter() - started)
    except Exception as exc:
        exit_undelivered(exc)


async def score_events(messages: Sequence[Message], scorer: Scorer,
                       shadow: Scorer | None = None) -> Outbox:
    """Decode the batch, predict the valid messages in one call, dead-letter the rest.

    With a `shadow` model, it scores the same inputs; its labels are only counted.
    """
    pipeline = scorer.pipeline
    outbox = Outbox(pipeline.name, pipeline.output_topic, pipeline.dlq_topic)
    decoded = scorer.decode([m.value for m in messages])
    if decoded.valid:
        predicted = await _predict(scorer, decoded.features)
        if scorer.drift is not None:
            scorer.drift.observe(decoded.features, predicted.labels)
        if shadow is not None:
            partitions = [messages[i].partition for i in decoded.valid]
            await _compare(shadow, decoded.features, predicted, partitions, outbox)
        encoded = {label: label.encode() for label in pipeline.spec.labels}
        model = scorer.provenance
        answers, counts = outbox.answers, outbox.counts
        for index, label, score in zip(decoded.valid, predicted.labels, predicted.scores,
                                       strict=True):
            message = messages[index]
            partition = message.partition
            answers.append(OutRecord(partition, message.key, encoded[label],
                                     answer_headers(model, score, partition, message.offset)))
            counts[partition, label] += 1
    for index, reason in decoded.rejected:
        message = messages[index]
        outbox.dead_letters.append(_dead_letter(message, reason, scorer.name))
        outbox.counts[message.partition, DEAD_LETTER] += 1
    return outbox


async def _predict(scorer: Scorer, features: Any) -> Predictions:
    started = time.perf_counter()
    result = predictions(await scorer.predictor(features), scorer.pipeline.spec.labels)
    metrics.INFERENCE_SECONDS.labels(scorer.name).observe(time.perf_counter() - started)
    return result


async def _compare(shadow: Scorer, features: Any, live: Predictions, partitions: list[int],
                   outbox: Outbox) -> None:
    """Count what the shadow model says of the inputs the live one answered.

    A shadow model is a candidate: if it fails, this worker stops shadowing, says so and
    counts it, and the live answers go out as if there had been no shadow.
    """
    started = time.perf_counter()
    try:
        theirs = predictions(await shadow.predictor(features), shadow.pipeline.spec.labels)
    except Exception as exc:  # any failure of a candidate must leave the live answers alone
        logger.error("%s: shadow version %s failed, shadowing stops on this worker: %r",
                     shadow.name, shadow.model.version, exc)
        metrics.SHADOW_FAILURES.labels(shadow.name).inc()
        outbox.shadow_failed = True
        return
    metrics.SHADOW_MODEL_SECONDS.labels(shadow.name).observe(time.perf_counter() - started)
    version, counts = shadow.model.version, outbox.counts
    agreed = shadow_agreed(version)
    agreements = 0
    for partition, mine, other in zip(partitions, live.labels, theirs.labels, strict=True):
        counts[partition, shadow_label(version, "live", mine)] += 1
        counts[partition, shadow_label(version, "shadow", other)] += 1
        if mine == other:
            counts[partition, agreed] += 1
            agreements += 1
    for label, n in Counter(theirs.labels).items():
        metrics.SHADOW_PREDICTIONS.labels(shadow.name, label).inc(n)
    metrics.SHADOW_AGREEMENTS.labels(shadow.name).inc(agreements)


def _observe(pipeline: str, size: int, outbox: Outbox, seconds: float) -> None:
    metrics.EVENTS_IN.labels(pipeline).inc(size)
    metrics.BATCH_SIZE.labels(pipeline).observe(size)
    metrics.BATCH_SECONDS.labels(pipeline).observe(seconds)
    for label, n in outbox.label_counts().items():
        if label == DEAD_LETTER:
            metrics.DEAD_LETTERS.labels(pipeline).inc(n)
        elif not is_shadow(label):
            metrics.PREDICTIONS.labels(pipeline, label).inc(n)


def _dead_letter(message: Message, reason: str, pipeline: str) -> OutRecord:
    """The original key and bytes, with headers that say why and where they came from."""
    logger.warning(
        "%s: dead-lettering %s[%d]@%d: %s",
        pipeline, message.topic, message.partition, message.offset, reason,
    )
    RECENT.rejected(pipeline, reason)
    headers = [
        ("error.reason", reason.encode()),
        ("source.topic", message.topic.encode()),
        ("source.partition", str(message.partition).encode()),
        ("source.offset", str(message.offset).encode()),
    ]
    return OutRecord(message.partition, message.key, message.value, headers)
