"""Rebalances in the middle of a stream: a second worker joins, then leaves, while events
keep arriving. Nothing is lost, and each rebalance repeats at most a batch or two."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter

import pytest

from tests.examples import heart_record
from tests.integration.conftest import OUTPUT, Worker, make_worker, twin
from tests.integration.kafka_io import produce, read_until, records_in, wait_for_async

CHUNK = 500
CHUNK_EVERY_S = 0.15  # about 3,300 events/s, until the second worker has come and gone
CHUNKS_AFTER_LEAVING = 10  # the stream goes on through the second rebalance
REBALANCES = 2


def _heart_scored(worker: Worker) -> float:
    """Heart events this worker process has scored, from its /metrics."""
    text = worker.page("/metrics")
    prefix = 'inference_events_in_total{pipeline="heart"} '
    return sum(float(line.removeprefix(prefix)) for line in text.splitlines()
               if line.startswith(prefix))


def _owns_heart(worker: Worker) -> bool:
    stats = worker.stats_or_none()
    return bool(stats and not stats["worker"]["rebalancing"]
                and stats["worker"]["assigned"].get(worker.settings.pipeline("heart").input_topic))


@pytest.mark.parametrize("guarantee", ["at_least_once", "exactly_once"])
async def test_join_and_leave_mid_stream(bootstrap: str, guarantee: str,
                                         tmp_path_factory: pytest.TempPathFactory) -> None:
    tmp = tmp_path_factory.mktemp("rebalance")
    a = make_worker(bootstrap, tmp, f"rebalance-{guarantee}-a", PROCESSING_GUARANTEE=guarantee)
    b = twin(a, tmp, f"rebalance-{guarantee}-b")
    s = a.settings
    heart_pipe = s.pipeline("heart")
    run = uuid.uuid4().hex[:6]
    sent: list[bytes] = []
    chunks_after_leaving = -1  # counting starts once the second worker has left

    async def stream_in() -> None:
        nonlocal chunks_after_leaving
        while chunks_after_leaving < CHUNKS_AFTER_LEAVING:
            keys = [f"{run}-{i}".encode() for i in range(len(sent), len(sent) + CHUNK)]
            await produce(bootstrap, heart_pipe.input_topic,
                          [(key, heart_record(len(sent) + i)) for i, key in enumerate(keys)])
            sent.extend(keys)
            if chunks_after_leaving >= 0:
                chunks_after_leaving += 1
            await asyncio.sleep(CHUNK_EVERY_S)

    async def answered(n: int) -> bool:
        return await records_in(bootstrap, heart_pipe.output_topic) >= n

    async def b_scored() -> bool:
        return await asyncio.to_thread(_heart_scored, b) > 0

    a.start()
    try:
        producing = asyncio.create_task(stream_in())
        await wait_for_async(lambda: answered(5_000), "the stream to be under way")
        await asyncio.to_thread(b.start)  # joins: the first rebalance
        await wait_for_async(lambda: asyncio.to_thread(_owns_heart, b),
                             "the second worker to own heart partitions")
        await wait_for_async(b_scored, "the second worker to score heart events")
        scored_by_b = await asyncio.to_thread(_heart_scored, b)
        await asyncio.to_thread(b.stop)  # leaves mid-stream: the second rebalance
        chunks_after_leaving = 0
        await producing
        outputs = await read_until(bootstrap, heart_pipe.output_topic,
                                   lambda rs: len({r.key for r in rs}) >= len(sent),
                                   timeout=120, committed_only=guarantee == "exactly_once")
    finally:
        a.stop()
        b.stop()
    per_key = Counter(r.key for r in outputs)
    lost = len(set(sent) - set(per_key))
    duplicated = len(outputs) - len(sent)
    OUTPUT.mkdir(exist_ok=True)
    (OUTPUT / f"rebalance-figures-{guarantee}.json").write_text(json.dumps({
        "guarantee": guarantee, "events": len(sent), "rebalances": REBALANCES,
        "scored_by_second_worker": scored_by_b, "lost": lost, "duplicated": duplicated}))
    assert lost == 0
    allowed = 0 if guarantee == "exactly_once" else REBALANCES * 2 * s.batch_size
    assert duplicated <= allowed, f"{duplicated} answered twice"
