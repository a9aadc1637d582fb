"""Two workers in one consumer group on the real broker: shared work, exact global totals,
and take-over when one stops."""

from __future__ import annotations

import uuid
from collections import Counter

import pytest

from tests.examples import heart_record
from tests.integration.conftest import Worker, make_worker, twin
from tests.integration.kafka_io import keyed, produce, read_until, wait_for

PARTITIONS = {0, 1, 2, 3}



def _owned(worker: Worker) -> set[int]:
    """The heart partitions a worker owns, once it has finished rebalancing."""
    stats = worker.stats_or_none()
    if stats is None or stats["worker"]["rebalancing"]:
        return set()
    return set(stats["worker"]["assigned"].get(worker.settings.pipeline("heart").input_topic, []))


def _heart_total(worker: Worker) -> int:
    total: int = worker.stats()["pipelines"]["heart"]["total"]
    return total


async def _send(bootstrap: str, worker: Worker, run: str, start: int, count: int) -> set[bytes]:
    records = [(f"{run}-{i}".encode(), heart_record(i), i % 4) for i in range(start, start + count)]
    for partition in PARTITIONS:  # spread over every partition explicitly
        await produce(bootstrap, worker.settings.pipeline("heart").input_topic,
                      [(k, v) for k, v, p in records if p == partition], partition=partition)
    return {k for k, _, _ in records}


async def test_two_workers_then_one(bootstrap: str,
                                    tmp_path_factory: pytest.TempPathFactory) -> None:
    tmp = tmp_path_factory.mktemp("scale")
    a = make_worker(bootstrap, tmp, "scale-a")
    b = twin(a, tmp, "scale-b")
    a.start()
    b.start()
    try:
        await wait_for(lambda: _owned(a) and _owned(b) and _owned(a) | _owned(b) == PARTITIONS
                        and not _owned(a) & _owned(b), "both workers to own heart partitions")
        s = a.settings
        heart_pipe = s.pipeline("heart")
        run = uuid.uuid4().hex[:6]
        first = await _send(bootstrap, a, run, 0, 2000)
        outputs = await read_until(bootstrap, heart_pipe.output_topic,
                                   lambda rs: len(set(r.key for r in keyed(rs, first))) == 2000,
                                   timeout=120)
        per_key = Counter(r.key for r in keyed(outputs, first))
        assert set(per_key) == first and set(per_key.values()) == {1}  # exactly one each
        assert {r.partition for r in outputs} == PARTITIONS
        await wait_for(lambda: _heart_total(a) == 2000 and _heart_total(b) == 2000,
                        "both dashboards to show 2000")

        b.stop()
        await wait_for(lambda: _owned(a) == PARTITIONS, "worker a to take every partition")
        second = await _send(bootstrap, a, run, 2000, 1000)
        everything = first | second
        outputs = await read_until(
            bootstrap, heart_pipe.output_topic,
            lambda rs: len(set(r.key for r in keyed(rs, everything))) == 3000, timeout=120)
        per_key = Counter(r.key for r in keyed(outputs, everything))
        assert set(per_key) == everything
        assert sum(per_key.values()) == 3000, f"{sum(per_key.values()) - 3000} duplicates"
        await wait_for(lambda: _heart_total(a) == 3000,
                        f"worker a's dashboard to show 3000 (it shows {_heart_total(a)})")
    finally:
        a.stop()
        b.stop()
