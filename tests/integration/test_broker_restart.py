"""The broker stops in the middle of a stream: the worker carries on alone once it is back,
and a worker told to stop meanwhile exits instead of waiting for it."""

from __future__ import annotations

import asyncio
import signal
import uuid
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer

from tests.examples import heart_record
from tests.integration.conftest import PrivateBroker, make_worker
from tests.integration.kafka_io import read_until, records_in, wait_for, wait_for_async
from transport.delivery import EXIT_UNDELIVERED

EVENTS = 5_000
RATE = 500  # events/s: the stream lasts 10 s and the broker is down in the middle of it


async def _stream(bootstrap: str, topic: str, records: list[tuple[bytes, bytes]]) -> None:
    """Send at RATE, riding out the outage on the producer's own retries."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all",
                                enable_idempotence=True, request_timeout_ms=120_000)
    await producer.start()
    try:
        loop = asyncio.get_running_loop()
        started = loop.time()
        pending = []
        for i, (key, value) in enumerate(records):
            await asyncio.sleep(max(0.0, started + i / RATE - loop.time()))
            pending.append(await producer.send(topic, value, key=key))
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


@pytest.mark.parametrize("guarantee", ["at_least_once", "exactly_once"])
async def test_broker_restart_mid_stream_loses_nothing(private_broker: PrivateBroker,
                                                       tmp_path: Path, guarantee: str) -> None:
    bootstrap = private_broker.bootstrap
    worker = make_worker(bootstrap, tmp_path, f"broker-restart-{guarantee}",
                         PROCESSING_GUARANTEE=guarantee)
    exactly = guarantee == "exactly_once"
    s = worker.settings
    heart_pipe = s.pipeline("heart")
    run = uuid.uuid4().hex[:6]
    records = [(f"{run}-{i}".encode(), heart_record(i)) for i in range(EVENTS)]
    keys = {k for k, _ in records}
    worker.start()
    try:
        stream = asyncio.ensure_future(_stream(bootstrap, heart_pipe.input_topic, records))

        async def some_answered() -> bool:
            return await records_in(bootstrap, heart_pipe.output_topic) >= RATE

        await wait_for_async(some_answered, "the first answers")
        await asyncio.to_thread(private_broker.stop)
        await asyncio.to_thread(private_broker.start)
        await stream
        try:
            outputs = await read_until(bootstrap, heart_pipe.output_topic,
                                       lambda rs: {r.key for r in rs} >= keys, timeout=240,
                                       committed_only=exactly)
        except AssertionError as short:
            notable = worker.log_tail(60, matching=r"WARNING|ERROR|claimed|[Gg]eneration")
            raise AssertionError(f"{short}\n{worker.log_path.name}:\n{notable}") from None
        assert {r.key for r in outputs} == keys
        if exactly:
            assert len(outputs) == len(keys), f"{len(outputs) - len(keys)} answered twice"
        assert worker.process is not None and worker.process.poll() is None, worker.log_tail()
        assert worker.stats()["pipelines"]["heart"]["dead_letters"] == 0
        log = worker.log_path.read_text(errors="replace")
        # aiokafka retries without backing off; the log keeps one line per kind per 5 s.
        assert 0 < log.count("Unable connect to node") < 50, log.count("Unable connect to node")
    finally:
        worker.stop()


async def test_a_stop_that_cannot_finish_ends_in_an_exit_after_the_stop_timeout(
        private_broker: PrivateBroker, tmp_path: Path) -> None:
    """SIGTERM once the broker is gone: the batches in flight can never be acknowledged or
    committed. The worker exits as a crash would after STOP_TIMEOUT_SECONDS instead of
    waiting for a broker that may never come back."""
    bootstrap = private_broker.bootstrap
    worker = make_worker(bootstrap, tmp_path, "stop-timeout", STOP_TIMEOUT_SECONDS="3")
    heart = worker.settings.pipeline("heart")
    records = [(f"stop-{i}".encode(), heart_record(i)) for i in range(EVENTS)]
    worker.start()
    stream = asyncio.ensure_future(_stream(bootstrap, heart.input_topic, records))
    try:
        async def some_answered() -> bool:
            return await records_in(bootstrap, heart.output_topic) >= RATE

        await wait_for_async(some_answered, "the first answers")
        await asyncio.to_thread(private_broker.stop)
        assert worker.process is not None
        worker.process.send_signal(signal.SIGTERM)
        process = worker.process
        await wait_for(lambda: process.poll() is not None, "the worker to exit", timeout=60)
    finally:
        stream.cancel()
        worker.stop(signal.SIGKILL)
        await asyncio.to_thread(private_broker.start)
    assert process.returncode == EXIT_UNDELIVERED, worker.log_tail()
    assert "did not stop within 3.0s" in worker.log_path.read_text(), worker.log_tail()
