"""The broker is away: what must wait for it waits, without crashing or spinning."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.cluster import ClusterMetadata
from aiokafka.errors import LeaderNotAvailableError
from aiokafka.protocol.metadata import MetadataResponse_v0

from config.settings import DEFAULT_MODEL_DIR
from models.artifact_store import ArtifactStore
from models.artifacts import read_artifact
from tests.integration.conftest import PrivateBroker, make_worker
from tests.integration.kafka_io import new_topic, wait_for
from transport.artifact_topic import publish_first, read_store
from transport.faust_internals import RetryingProducer

LEADER_NOT_AVAILABLE = LeaderNotAvailableError.errno
WATCH_S = 3.0  # how long a producer is watched asking for metadata while the broker is away


async def test_the_first_publish_waits_for_a_broker_that_is_away(
        private_broker: PrivateBroker, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A worker publishes its shipped models while it already answers; a broker stopping
    then had crashed the worker (its producer could not bootstrap)."""
    settings = make_worker(private_broker.bootstrap, tmp_path, "first-publish").settings
    data, manifest = read_artifact(DEFAULT_MODEL_DIR / "heart.joblib")
    caplog.set_level(logging.WARNING, logger="transport.artifact_topic")
    await asyncio.to_thread(private_broker.stop)
    publishing = asyncio.ensure_future(
        publish_first(settings, "heart", data, manifest, ArtifactStore()))
    await wait_for(lambda: "could not publish the shipped model yet" in caplog.text,
                   "a try that failed", timeout=60)
    assert not publishing.done()
    await asyncio.to_thread(private_broker.start)
    await asyncio.wait_for(publishing, timeout=120)
    store = await read_store(settings)
    assert store.live_version("heart") == manifest["sha256"][:12]


async def test_a_producer_waits_between_failed_metadata_updates(
        private_broker: PrivateBroker) -> None:
    """Records in flight and the broker gone: the app's producers ask for metadata every
    retry backoff. aiokafka's own asked as fast as the connection was refused, a core's
    worth (about 3,500 a second)."""
    topic = await new_topic(private_broker.bootstrap, "metadata-backoff")
    producer = RetryingProducer(bootstrap_servers=private_broker.bootstrap, acks="all",
                                enable_idempotence=True, retry_backoff_ms=100,
                                request_timeout_ms=120_000)
    await producer.start()
    attempts = 0
    update = producer.client._metadata_update

    async def counted(*args: object) -> bool:
        nonlocal attempts
        attempts += 1
        done: bool = await update(*args)
        return done

    producer.client._metadata_update = counted
    sending = asyncio.ensure_future(_send_until_cancelled(producer, topic))
    try:
        await producer.send_and_wait(topic, b"first")
        await asyncio.to_thread(private_broker.stop)
        # What a stopping single broker answers for its partitions: leader unknown. The
        # producer may or may not have asked inside that window; it holds this answer now,
        # and every update after it fails, since the broker is gone.
        cluster = producer.client.cluster
        cluster.update_metadata(_leaderless(cluster, TopicPartition(topic, 0)))
        told = attempts
        await wait_for(lambda: attempts > told + 1, "metadata updates that fail")
        before = attempts
        await asyncio.sleep(WATCH_S)
        asked = attempts - before
    finally:
        sending.cancel()
        await asyncio.to_thread(private_broker.start)
        await producer.stop()
    assert asked <= WATCH_S / 0.1 * 2, f"{asked} metadata updates in {WATCH_S} s"


def _leaderless(cluster: ClusterMetadata, tp: TopicPartition) -> MetadataResponse_v0:
    """An answer naming `cluster`'s brokers and `tp` with no leader, as during a shutdown."""
    brokers = [(b.nodeId, b.host, b.port) for b in cluster.brokers()]
    replicas = [node_id for node_id, _, _ in brokers]
    return MetadataResponse_v0(brokers=brokers, topics=[
        (0, tp.topic, [(LEADER_NOT_AVAILABLE, tp.partition, -1, replicas, [])])])


async def _send_until_cancelled(producer: AIOKafkaProducer, topic: str) -> None:
    while True:
        await producer.send(topic, b"x")
        await asyncio.sleep(0.01)
