"""A three-node cluster loses a broker under load, then its active controller: the worker
goes on, every input is answered, and the node rejoins the in-sync replicas.

Each time 50,000 heart events stream in at 2,000/s; halfway through, the node is killed
with SIGKILL; once the stream is over it is started again. Figures (stall: the longest
time without a new answer) go to test-output/broker-failure-figures.json.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from tests.examples import heart_record
from tests.integration.conftest import OUTPUT, PrivateBroker, Worker, make_worker
from tests.integration.kafka_io import SteadyStream, read_until, wait_for, wait_for_async

EVENTS = 50_000
RATE = 2_000.0


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[PrivateBroker]:
    nodes = PrivateBroker.create(tmp_path / "cluster", nodes=3)
    nodes.start()
    yield nodes
    nodes.stop()


async def _partitions(bootstrap: str, topics: list[str]) -> list[dict[str, Any]]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        described = await admin.describe_topics(topics)
    finally:
        await admin.close()
    return [p for t in described for p in t["partitions"]]


async def _busiest_leader(bootstrap: str, topics: list[str]) -> int:
    leaders = Counter(int(p["leader"]) for p in await _partitions(bootstrap, topics))
    return leaders.most_common(1)[0][0]


async def _in_sync_everywhere(bootstrap: str, topics: list[str], node: int) -> bool:
    return all(node in p["isr"] for p in await _partitions(bootstrap, topics))


async def _kill_midstream(cluster: PrivateBroker, worker: Worker, victim: str,
                          ) -> dict[str, object]:
    heart = worker.settings.pipeline("heart")
    topics = [heart.input_topic, heart.output_topic]
    stream = SteadyStream(cluster.bootstrap, heart.input_topic, heart_record, RATE, chunk=200)
    stream.start()
    await wait_for(lambda: len(stream.sent) >= EVENTS // 2, "half the events sent")
    node = (cluster.active_controller() if victim == "active controller"
            else await _busiest_leader(cluster.bootstrap, topics))
    cluster.kill(node)
    killed_at = time.time()
    await wait_for(lambda: len(stream.sent) >= EVENTS, "every event sent", timeout=180)
    await stream.stop()
    sent = set(stream.sent)
    answers = await read_until(cluster.bootstrap, heart.output_topic,
                               lambda rs: sent <= {r.key for r in rs}, timeout=240)
    assert worker.process is not None and worker.process.poll() is None, worker.log_tail()
    mine = sorted(r.timestamp / 1000 for r in answers if r.key in sent)
    gaps = [later - earlier for earlier, later in itertools.pairwise(mine)
            if later > killed_at - 5]
    restarted = time.monotonic()
    await asyncio.to_thread(cluster.start, node)
    await wait_for_async(lambda: _in_sync_everywhere(cluster.bootstrap, topics, node),
                         f"node {node} back in every ISR", timeout=120)
    answered = [r.key for r in answers if r.key in sent]
    return {"killed": victim, "node": node, "events": len(sent),
            "lost": len(sent - set(answered)), "duplicated": len(answered) - len(set(answered)),
            "stall_s": round(max(gaps), 2),
            "restart_to_in_sync_s": round(time.monotonic() - restarted, 1)}


async def test_worker_rides_out_a_dead_broker_and_a_dead_controller(
        cluster: PrivateBroker, tmp_path: Path) -> None:
    worker = make_worker(cluster.bootstrap, tmp_path, "failover")
    worker.start()
    try:
        figures = [await _kill_midstream(cluster, worker, "partition leader"),
                   await _kill_midstream(cluster, worker, "active controller")]
    finally:
        worker.stop()
    (OUTPUT / "broker-failure-figures.json").write_text(json.dumps(figures, indent=1))
    for run in figures:
        assert run["lost"] == 0, figures
