"""A frozen worker cannot commit its stale batch once its partitions have moved (exactly once).

Worker A is frozen (SIGSTOP) in the middle of a stream, past its session timeout; worker
B takes its partitions over, which fences A's transactional producers. A is woken and
left to run until it has found out (its stale transaction refused with ProducerFenced, or
its partitions claimed anew in the group's next generation), then stopped for good as a
supervisor would; B answers the rest. Read as a read_committed consumer reads, every
input has exactly one answer: the batch A was committing when it froze never counted.
"""

from __future__ import annotations

import asyncio
import signal
import time
import uuid
from collections import Counter

import pytest
from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import MessageSizeTooLargeError, ProducerFenced
from faust.types import TP

from config.settings import PipelineSettings, Settings
from tests.examples import heart_record
from tests.integration.conftest import Worker, make_worker, twin
from tests.integration.kafka_io import (
    committed_offsets,
    produce,
    read_until,
    records_in,
    wait_for,
    wait_for_async,
)
from transport.sink import Outbox, OutRecord, send_outbox
from transport.topics import ensure_topics
from transport.transactions import PartitionTransactions

CHUNK = 500
CHUNK_EVERY_S = 0.2  # 2,500 events/s: A is always in the middle of a transaction
SESSION_TIMEOUT_S = 6


def _scored(worker: Worker) -> float:
    prefix = 'inference_events_in_total{pipeline="heart"} '
    return sum(float(line.removeprefix(prefix)) for line in worker.page("/metrics").splitlines()
               if line.startswith(prefix))


async def test_a_frozen_worker_is_fenced_and_answers_nothing_twice(
        bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    tmp = tmp_path_factory.mktemp("fencing")
    a = make_worker(bootstrap, tmp, "fencing-a", PROCESSING_GUARANTEE="exactly_once",
                    BROKER_SESSION_TIMEOUT_SECONDS=str(SESSION_TIMEOUT_S))
    b = twin(a, tmp, "fencing-b")
    heart = a.settings.pipeline("heart")
    run = uuid.uuid4().hex[:6]
    sent: list[bytes] = []
    streaming = True

    async def stream_in() -> None:
        while streaming:
            keys = [f"{run}-{i}".encode() for i in range(len(sent), len(sent) + CHUNK)]
            await produce(bootstrap, heart.input_topic,
                          [(key, heart_record(len(sent) + i)) for i, key in enumerate(keys)])
            sent.extend(keys)
            await asyncio.sleep(CHUNK_EVERY_S)

    a.start()
    try:
        producing = asyncio.ensure_future(stream_in())
        await wait_for_async(lambda: _answered_at_least(bootstrap, heart.output_topic, 3_000),
                             "worker A to be answering")
        assert a.process is not None
        a.process.send_signal(signal.SIGSTOP)
        frozen_at = time.monotonic()
        await asyncio.to_thread(b.start)
        await wait_for(lambda: _scored(b) > 0, "worker B to take the partitions over and score")
        # A's session runs from its last heartbeat, sent up to a third of it before the freeze.
        assert time.monotonic() - frozen_at > SESSION_TIMEOUT_S * 2 / 3
        claims_before_waking = a.log_tail(100_000).count("claimed")
        a.process.send_signal(signal.SIGCONT)
        await wait_for(lambda: "ProducerFenced" in a.log_tail(2000)
                       or a.log_tail(100_000).count("claimed") > claims_before_waking,
                       "the woken worker A to find out its partitions moved", timeout=60)
        # No condition says "A did not commit": give its stale transaction the time it
        # would take, then count. The transaction-level proof is the test below.
        await asyncio.sleep(5)
        a.stop(signal.SIGKILL)
        streaming = False
        await producing
        outputs = await read_until(bootstrap, heart.output_topic,
                                   lambda rs: len({r.key for r in rs}) >= len(sent),
                                   timeout=120, committed_only=True)
    finally:
        a.stop(signal.SIGKILL)
        b.stop()
    per_key = Counter(r.key for r in outputs)
    assert set(per_key) == set(sent)  # lost: 0
    assert sum(per_key.values()) == len(sent), f"{sum(per_key.values()) - len(sent)} duplicates"


async def _answered_at_least(bootstrap: str, topic: str, n: int) -> bool:
    return await records_in(bootstrap, topic) >= n


async def test_a_claim_fences_the_old_owners_open_transaction(
        bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    """The scheme itself: the old owner staged a batch and its offsets, then a new owner
    claimed the partition; the old owner's commit is refused, the new owner's stands."""
    settings, heart = await _exactly_once(bootstrap, tmp_path_factory, "claim")
    tp = TP(heart.input_topic, 0)
    old, new = PartitionTransactions(settings), PartitionTransactions(settings)
    try:
        await old.claim([tp], generation=1)
        stale = old.producer(tp)
        await stale.begin_transaction()
        await send_outbox(stale, _answers(heart, b"stale"), settings.label_counts_topic)
        await stale.send_offsets_to_transaction(
            {TopicPartition(tp.topic, tp.partition): 10}, settings.app_id)

        assert await new.claim([tp], generation=2) == {tp: -1}  # nothing committed yet
        await new.commit(tp, _answers(heart, b"fresh"), next_offset=10)
        with pytest.raises(ProducerFenced):
            await stale.commit_transaction()
    finally:
        await old.close()
        await new.close()
    outputs = await read_until(bootstrap, heart.output_topic,
                               lambda rs: any(r.key == b"fresh" for r in rs),
                               committed_only=True)
    assert [r.key for r in outputs] == [b"fresh"]
    offsets = await _committed(bootstrap, settings.app_id, tp)
    assert offsets == 10


async def test_a_claim_lets_the_transactions_queued_under_the_last_one_end_first(
        bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    """A partition claimed again in a new generation while a batch of the old one is still
    on its way: the batch commits with the old producer and the claim reads its offset,
    instead of the batch's delivery waiting forever on a producer taken away under it."""
    settings, heart = await _exactly_once(bootstrap, tmp_path_factory, "reclaim")
    tp = TP(heart.input_topic, 0)
    transactions = PartitionTransactions(settings)
    try:
        await transactions.claim([tp], generation=1)
        delivered = transactions.commit_soon(tp, _answers(heart, b"queued"), next_offset=10)
        committed = await asyncio.wait_for(transactions.claim([tp], generation=2), timeout=60)
        assert delivered.done() and delivered.exception() is None
        assert committed == {tp: 10}
    finally:
        await transactions.close()
    outputs = await read_until(bootstrap, heart.output_topic,
                               lambda rs: any(r.key == b"queued" for r in rs),
                               committed_only=True)
    assert [r.key for r in outputs] == [b"queued"]


async def test_a_transaction_with_a_refused_record_batch_commits_nothing(
        bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    """A record batch the broker refuses for good fails its transaction: the offset stays
    where it was, so the batch is answered again instead of lost; the partition's next
    transaction is not held up by it."""
    settings, heart = await _exactly_once(bootstrap, tmp_path_factory, "refused")
    narrow = f"narrow-{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(narrow, 1, 1,
                                            topic_configs={"max.message.bytes": "1024"})])
    finally:
        await admin.close()
    outbox = Outbox(heart.name, narrow, heart.dlq_topic)
    outbox.answers.append(OutRecord(0, b"too-large", b"x" * 4096))
    outbox.counts[0, "Risk of Heart Disease"] += 1
    tp = TP(heart.input_topic, 0)
    transactions = PartitionTransactions(settings)
    try:
        await transactions.claim([tp], generation=1)
        with pytest.raises(MessageSizeTooLargeError):
            await transactions.commit(tp, outbox, next_offset=10)
        assert await _committed(bootstrap, settings.app_id, tp) == -1
        # The refused batch used up a sequence number the broker never saw: the next
        # transaction to that partition still goes through.
        fits = Outbox(heart.name, narrow, heart.dlq_topic, [OutRecord(0, b"fits", b"Risk")])
        await transactions.commit(tp, fits, next_offset=10)
    finally:
        await transactions.close()
    assert await _committed(bootstrap, settings.app_id, tp) == 10
    outputs = await read_until(bootstrap, narrow, lambda rs: len(rs) >= 1, committed_only=True)
    assert [r.key for r in outputs] == [b"fits"]


async def _exactly_once(bootstrap: str, tmp_path_factory: pytest.TempPathFactory,
                        name: str) -> tuple[Settings, PipelineSettings]:
    """The settings of an exactly-once worker of its own, and its topics, made now."""
    settings = make_worker(bootstrap, tmp_path_factory.mktemp(name), name,
                           PROCESSING_GUARANTEE="exactly_once").settings
    await ensure_topics(settings)
    return settings, settings.pipeline("heart")


def _answers(heart: PipelineSettings, key: bytes) -> Outbox:
    outbox = Outbox(heart.name, heart.output_topic, heart.dlq_topic)
    outbox.answers.append(OutRecord(0, key, b"Risk of Heart Disease"))
    outbox.counts[0, "Risk of Heart Disease"] += 1
    return outbox


async def _committed(bootstrap: str, group: str, tp: TP) -> int:
    return (await committed_offsets(bootstrap, group)).get((tp.topic, tp.partition), -1)
