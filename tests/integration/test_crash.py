"""A worker killed with SIGKILL in the middle of a stream loses nothing once restarted."""

from __future__ import annotations

import json
import signal
import uuid
from collections import Counter
from pathlib import Path

from tests.examples import heart_record
from tests.integration.conftest import OUTPUT, Worker, make_worker
from tests.integration.kafka_io import (
    produce,
    read_until,
    records_in,
    wait_for,
    wait_for_async,
)

EVENTS = 20_000
BAD_EVERY = 97  # about 1% of the stream is malformed and must end in the dead-letter topic


def _counted(worker: Worker) -> int:
    heart = worker.stats()["pipelines"].get("heart", {"labels": {}, "dead_letters": 0})
    return int(sum(heart["labels"].values()) + heart["dead_letters"])


async def test_sigkill_mid_stream_loses_nothing(bootstrap: str, tmp_path: Path) -> None:
    worker = make_worker(bootstrap, tmp_path, "crash", BROKER_SESSION_TIMEOUT_SECONDS="8")
    s = worker.settings
    heart_pipe = s.pipeline("heart")
    run = uuid.uuid4().hex[:6]
    records = [(f"{run}-{i}".encode(),
                b'{"age": "old"}' if i % BAD_EVERY == 0 else heart_record(i))
               for i in range(EVENTS)]
    keys = {k for k, _ in records}
    bad = sum(1 for i in range(EVENTS) if i % BAD_EVERY == 0)

    worker.start()
    try:
        await produce(bootstrap, heart_pipe.input_topic, records)
        progress = 0

        async def some_answered() -> bool:
            nonlocal progress
            progress = await records_in(bootstrap, heart_pipe.output_topic)
            return progress >= EVENTS // 4

        await wait_for_async(some_answered, "a quarter of the stream to be answered")
        worker.stop(signal.SIGKILL)
        assert worker.process is not None and worker.process.returncode == -signal.SIGKILL
        answered_before_kill = await records_in(bootstrap, heart_pipe.output_topic)
        assert answered_before_kill < EVENTS - bad, "the worker finished before it was killed"

        worker.start()
        outputs = await read_until(bootstrap, heart_pipe.output_topic,
                                   lambda rs: len({r.key for r in rs}) >= EVENTS - bad,
                                   timeout=240)
        dead = await read_until(bootstrap, heart_pipe.dlq_topic,
                                lambda rs: len({r.key for r in rs}) >= bad, timeout=60)
        answered = {r.key for r in outputs} | {r.key for r in dead}
        assert answered == keys  # lost: 0
        duplicates = len(outputs) + len(dead) - EVENTS
        written = len(outputs) + len(dead)
        # Counts are sent with each batch's answers, before the batch's commit, so a batch
        # answered again is counted again and the table follows the records written. Two
        # things can each put it off by up to a batch per crash: the kill falling between
        # a batch's count delta and the last of its answers being written (the delta
        # counts answers that were never written), and between a delta added to the table
        # and its commit (the delta is added again).
        bound = 2 * s.batch_size
        await wait_for(lambda: abs(_counted(worker) - written) <= bound,
                       f"the table to count the {written} records written, +-{bound}",
                       timeout=60)
        per_key = Counter(r.key for r in outputs)
        OUTPUT.mkdir(exist_ok=True)
        (OUTPUT / "crash-figures.json").write_text(json.dumps({
            "events": EVENTS, "malformed": bad, "crashes": 1,
            "answered_before_kill": answered_before_kill, "lost": len(keys - answered),
            "duplicated": duplicates, "keys_answered_twice": sum(n > 1 for n in per_key.values()),
            "counted": _counted(worker),
        }))
    finally:
        worker.stop()

