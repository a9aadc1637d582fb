"""Exactly once, the counts table survives kills while count deltas pour in.

The crash test sends a few deltas a second, so a commit rarely overlaps a table write.
Here thousands of deltas a second reach the counting agent directly, so nearly every
commit does: a table write entering a transaction without its offset would be counted
twice after the next kill, one whose offset went without it never.
"""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

from aiokafka import AIOKafkaProducer, ConsumerRecord

from schemas.counts import changelog_entry, count_key, delta
from tests.integration.conftest import make_worker
from tests.integration.kafka_io import read_until, wait_for, wait_for_async

DELTAS = 60_000  # one each: the table must end at exactly this
RATE = 3_000  # deltas/s: the stream lasts 20 s, the kills land in it
KILL_AFTER = (9_000, 24_000, 39_000)
LABEL = "No Risk of Heart Disease"


async def test_kills_while_deltas_pour_in_leave_the_table_exact(
        bootstrap: str, tmp_path: Path) -> None:
    worker = make_worker(bootstrap, tmp_path, "counting-crash",
                         BROKER_SESSION_TIMEOUT_SECONDS="6",
                         PROCESSING_GUARANTEE="exactly_once")
    topic = worker.settings.label_counts_topic
    key, value = delta("heart", LABEL, 1)
    sent = 0

    async def stream_in() -> None:
        nonlocal sent
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all",
                                    enable_idempotence=True, linger_ms=5)
        await producer.start()
        try:
            loop = asyncio.get_running_loop()
            started = loop.time()
            for first in range(0, DELTAS, 300):
                await asyncio.sleep(max(0.0, started + first / RATE - loop.time()))
                pending = [await producer.send(topic, value, key=key) for _ in range(300)]
                await asyncio.gather(*pending)
                sent = first + 300
        finally:
            await producer.stop()

    def counted() -> int:
        return int(worker.stats()["pipelines"]["heart"]["labels"].get(LABEL, 0))

    worker.start()
    try:
        producing = asyncio.ensure_future(stream_in())
        for threshold in KILL_AFTER:
            before = counted()

            async def due(threshold: int = threshold, before: int = before) -> bool:
                return sent >= threshold and counted() > before

            await wait_for_async(due, f"{threshold} deltas sent and counted since the start")
            worker.stop(signal.SIGKILL)
            worker.start()
        await producing
        # The last worker's backlog took 18 s alone here, 48 s beside the three-broker
        # test, and over 90 s in one full suite run (two test files at a time).
        await wait_for(lambda: counted() >= DELTAS, f"the table to count {DELTAS}", timeout=240)
        assert counted() == DELTAS
    finally:
        worker.stop()
    # Each restart's recovery stopped at the changelog's last record, not waiting out
    # Faust's two idle polls for the commit marker after it (`transport.changelog_ends`).
    assert "Aborted tx until highwater" not in worker.log_path.read_text()
    # What the graceful stop committed last is the exact count too.
    changelog = f"{worker.settings.app_id}-label-to-count-changelog"  # Faust's naming
    await read_until(bootstrap, changelog, lambda rs: _newest(rs) == DELTAS, timeout=30,
                     committed_only=True)


def _newest(changelog: list[ConsumerRecord[bytes, bytes]]) -> int | None:
    totals = [total for key, total in (changelog_entry(r.key, r.value) for r in changelog)
              if key == count_key("heart", LABEL)]
    return totals[-1] if totals else None
