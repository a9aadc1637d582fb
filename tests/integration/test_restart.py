"""A worker stopped and started again on a backlog answers each record exactly once.

Each start is a rebalance that ends with a seek to the committed offsets; records fetched
before that seek are fetched again after it, and must not be answered twice.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from tests.examples import heart_record
from tests.integration.conftest import Worker, make_worker
from tests.integration.kafka_io import produce, read_until, wait_for

EVENTS = 20_000
STARTS = 3


async def test_each_start_on_a_backlog_answers_it_once(bootstrap: str, tmp_path: Path) -> None:
    worker = make_worker(bootstrap, tmp_path, "restart")
    try:
        for start in range(STARTS):
            await _start_on_backlog(worker, bootstrap, start)
    finally:
        worker.stop()


async def _start_on_backlog(worker: Worker, bootstrap: str, start: int) -> None:
    """Queue EVENTS more records, run the worker until all are committed, stop, check."""
    s = worker.settings
    heart_pipe = s.pipeline("heart")
    await produce(bootstrap, heart_pipe.input_topic,
                  [(f"{start}-{i}".encode(), heart_record(i)) for i in range(EVENTS)])
    worker.start()
    expected = EVENTS * (start + 1)
    await read_until(bootstrap, heart_pipe.output_topic, lambda rs: len(rs) >= expected,
                     timeout=120)

    def committed_everything() -> bool:
        heart = worker.stats()["pipelines"]["heart"]
        return len(heart["lag"]) == s.topic_partitions and heart["lag_total"] == 0

    await wait_for(committed_everything, "every input offset to be committed")
    worker.stop()
    outputs = await read_until(bootstrap, heart_pipe.output_topic, lambda rs: len(rs) >= expected)
    twice = [key for key, n in Counter(r.key for r in outputs).items() if n > 1]
    assert (len(outputs), twice[:5]) == (expected, []), f"start {start + 1}"
