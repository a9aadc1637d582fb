"""`make test-soak`: half an hour on a three-node cluster, 3,000 heart events/s, 1% bad.

Not in the default suite. Every event must come back, as an answer or as a dead letter,
and the worker's resident memory, sampled each minute, may grow less than 10% after the
first five minutes. SOAK_SECONDS and SOAK_RATE change the length and the rate; the
figures go to test-output/soak-figures.json.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from tests.examples import heart_record
from tests.integration.conftest import OUTPUT, PrivateBroker, Worker, make_worker

SECONDS = int(os.environ.get("SOAK_SECONDS", "1800"))
RATE = int(os.environ.get("SOAK_RATE", "3000"))
BAD_EVERY = 100  # 1% of the events are not JSON
WARM_UP_MINUTES = 5

pytestmark = pytest.mark.soak


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateBroker]:
    nodes = PrivateBroker.create(tmp_path_factory.mktemp("soak") / "cluster", nodes=3)
    nodes.start()
    yield nodes
    nodes.stop()


def _value(i: int) -> bytes:
    return b"not json at all" if i % BAD_EVERY == 0 else heart_record(i)


async def _offer(bootstrap: str, topic: str, total: int) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5,
                                enable_idempotence=True)
    await producer.start()
    try:
        started, pending = time.monotonic(), []
        for i in range(total):
            delay = started + i / RATE - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            pending.append(await producer.send(topic, _value(i), key=str(i).encode()))
            if len(pending) >= 3000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


async def _returned(bootstrap: str, topics: list[str], total: int, timeout: float) -> bytearray:
    """How many times each event came back on `topics` (answers and dead letters)."""
    seen = bytearray(total)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign([TopicPartition(t, p) for t in topics for p in range(4)])
        await consumer.seek_to_beginning()
        deadline, missing = time.monotonic() + timeout, total
        while missing and time.monotonic() < deadline:
            for records in (await consumer.getmany(timeout_ms=1000, max_records=10_000)).values():
                for r in records:
                    i = int(r.key or b"-1")
                    if 0 <= i < total:
                        missing -= seen[i] == 0
                        seen[i] = min(255, seen[i] + 1)
    finally:
        await consumer.stop()
    return seen


def _rss_mb(worker: Worker) -> float:
    """Resident memory now of the worker and its child processes, in MB."""
    assert worker.process is not None
    pids = [worker.process.pid]
    children = Path(f"/proc/{worker.process.pid}/task/{worker.process.pid}/children")
    if children.exists():
        pids += [int(p) for p in children.read_text().split()]
    kb = 0
    for pid in pids:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                kb += int(line.split()[1])
    return round(kb / 1024, 1)


async def test_half_an_hour_on_the_cluster(cluster: PrivateBroker, tmp_path: Path) -> None:
    worker = make_worker(cluster.bootstrap, tmp_path, "soak")
    heart = worker.settings.pipeline("heart")
    total = RATE * SECONDS
    worker.start()
    rss: list[float] = []
    try:
        offering = asyncio.ensure_future(_offer(cluster.bootstrap, heart.input_topic, total))
        while not offering.done():
            rss.append(_rss_mb(worker))
            await asyncio.wait([offering], timeout=60)
        await offering
        seen = await _returned(cluster.bootstrap, [heart.output_topic, heart.dlq_topic],
                               total, timeout=600)
        rss.append(_rss_mb(worker))
        assert worker.process is not None and worker.process.poll() is None
    finally:
        worker.stop()
    lost = seen.count(0)
    warm = rss[min(WARM_UP_MINUTES, len(rss) - 1)]
    growth = (max(rss[WARM_UP_MINUTES:] or rss) - warm) / warm
    figures = {"events": total, "rate": RATE, "seconds": SECONDS, "bad_share": 1 / BAD_EVERY,
               "lost": lost, "returned_more_than_once": total - lost - seen.count(1),
               "rss_mb_each_minute": rss, "rss_growth_after_warm_up": round(growth, 4)}
    (OUTPUT / "soak-figures.json").write_text(json.dumps(figures, indent=1))
    assert lost == 0, figures
    assert growth < 0.10, figures
