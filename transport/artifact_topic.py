"""Reading and writing the compacted topic published models travel in (`models.artifact_store`).

One partition, so every reader sees a version's chunks before its manifest, and its
manifest before the live pointer that names it.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError

from config.settings import Settings
from models.artifact_store import (
    CHUNK_BYTES,
    ArtifactError,
    ArtifactStore,
    chunk_key,
    chunks,
    live_key,
    manifest_key,
    shadow_key,
)
from models.signing import sign
from transport.security import client_options

logger = logging.getLogger(__name__)
#: Waits between tries of a worker's first publish while the broker is away, doubling.
FIRST_PUBLISH_RETRY_S = (0.5, 10.0)


def _consumer(settings: Settings) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(bootstrap_servers=settings.bootstrap_servers,
                            enable_auto_commit=False, auto_offset_reset="earliest",
                            **client_options(settings))


async def read_store(settings: Settings) -> ArtifactStore:
    """Everything published so far, read from the beginning to the topic's current end."""
    store = ArtifactStore()
    await follow(settings, store, until_end=True)
    return store


async def follow(settings: Settings, store: ArtifactStore, *, until_end: bool = False,
                 on_change: Callable[[str], Awaitable[None]] | None = None,
                 on_bad: Callable[[str], None] | None = None,
                 ready: asyncio.Event | None = None) -> None:
    """Fold the topic's records into `store` from the beginning; for ever, or to its end.

    `on_change(pipeline)` is awaited after records that may change a pipeline's live model;
    a record that is no artifact record is logged, passed to `on_bad(pipeline)` and
    skipped; `ready` is set once the records that were there at the start have been read.
    """
    tp = TopicPartition(settings.artifacts_topic, 0)
    consumer = _consumer(settings)
    await consumer.start()
    try:
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        end = (await consumer.end_offsets([tp]))[tp]
        while True:
            if await consumer.position(tp) >= end:
                if ready is not None:
                    ready.set()
                if until_end:
                    return
            batch = await consumer.getmany(tp, timeout_ms=1000)
            changed = {_apply(store, r, on_bad) for r in batch.get(tp, [])}
            if on_change is not None:
                for pipeline in sorted(p for p in changed if p):
                    await on_change(pipeline)
    finally:
        await consumer.stop()


def _apply(store: ArtifactStore, record: ConsumerRecord[bytes, bytes],
           on_bad: Callable[[str], None] | None) -> str | None:
    try:
        return store.apply(record.key, record.value)
    except ArtifactError as exc:
        logger.warning("skipping record at offset %d of %s: %s", record.offset,
                       record.topic, exc)
        if on_bad is not None:
            on_bad(_pipeline_named(record.key))
        return None


def _pipeline_named(key: bytes | None) -> str:
    """The pipeline an artifact record's key names (`live/heart`, `manifest/heart/...`)."""
    parts = (key or b"").decode(errors="replace").split("/")
    return parts[1] if len(parts) > 1 else "?"


async def publish(settings: Settings, pipeline: str, data: bytes,
                  manifest: dict[str, Any]) -> dict[str, Any]:
    """Write the artifact's chunks, then its signed manifest; return that manifest."""
    pieces = chunks(data)
    version = manifest["sha256"][:12]
    signed = sign({**manifest, "pipeline": pipeline, "version": version,
                   "chunks": len(pieces), "size_bytes": len(data)}, settings.artifact_key)
    producer = await _producer(settings)
    try:
        topic = settings.artifacts_topic
        sent = [await producer.send(topic, piece, key=chunk_key(pipeline, version, i),
                                    partition=0) for i, piece in enumerate(pieces)]
        await asyncio.gather(*sent)
        await producer.send_and_wait(topic, json.dumps(signed).encode(),
                                     key=manifest_key(pipeline, version), partition=0)
    finally:
        await producer.stop()
    logger.info("published %s version %s (%d bytes in %d chunks)", pipeline, version,
                len(data), len(pieces))
    return signed


async def publish_first(settings: Settings, pipeline: str, data: bytes,
                        manifest: dict[str, Any], store: ArtifactStore) -> None:
    """Publish a pipeline's shipped artifact and make it live, trying again until the
    broker takes both or `store` (followed meanwhile) shows another worker has done it.

    A worker publishes this at start, while it already answers with the model it loaded;
    a broker that stops then (restarting, say) must not stop the worker with it.
    """
    delay, longest = FIRST_PUBLISH_RETRY_S
    while store.live_version(pipeline) is None:
        try:
            signed = await publish(settings, pipeline, data, manifest)
            await set_live(settings, pipeline, signed["version"], history=[])
            return
        except KafkaError as exc:
            logger.warning("%s: could not publish the shipped model yet (%r); trying again "
                           "in %.1f s", pipeline, exc, delay)
            await asyncio.sleep(delay)
            delay = min(2 * delay, longest)


async def set_live(settings: Settings, pipeline: str, version: str,
                   history: list[str]) -> None:
    """Point the pipeline at `version`; `history` lists the versions live before it."""
    await _write(settings, live_key(pipeline), {"version": version, "history": history})


async def set_shadow(settings: Settings, pipeline: str, version: str | None) -> None:
    """Have `version` score the pipeline's inputs beside the live one (None: stop)."""
    await _write(settings, shadow_key(pipeline), {"version": version})


async def _write(settings: Settings, key: bytes, value: dict[str, Any]) -> None:
    producer = await _producer(settings)
    try:
        await producer.send_and_wait(settings.artifacts_topic, json.dumps(value).encode(),
                                     key=key, partition=0)
    finally:
        await producer.stop()


async def _producer(settings: Settings) -> AIOKafkaProducer:
    """A started producer for the artifacts topic, whose requests fit a chunk with room."""
    producer = AIOKafkaProducer(bootstrap_servers=settings.bootstrap_servers, acks="all",
                                enable_idempotence=True, max_request_size=4 * CHUNK_BYTES,
                                **client_options(settings))
    try:
        await producer.start()
    except BaseException:
        await producer.stop()
        raise
    return producer
