"""A worker killed with SIGKILL three times in the middle of a steady stream, for each guarantee.

At least once: nothing is lost, a kill repeats only what was not yet committed when it
landed, every input's count delta is sent, and the table counts each delta once, or twice
if a kill landed after it was counted and before that was committed. Exactly once: read
as a read_committed consumer reads (ours and kcat), every input has exactly one answer or
dead letter, and the table counts exactly them.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import signal
import subprocess
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiokafka import ConsumerRecord

from schemas.counts import DEAD_LETTER, changelog_entry, split_count_key
from tests.examples import heart_record
from tests.integration.conftest import OUTPUT, Worker, make_worker
from tests.integration.kafka_io import (
    committed_offsets,
    end_offsets,
    produce,
    read_until,
    records_in,
    wait_for,
    wait_for_async,
)

EVENTS = 50_000
CHUNK = 250
RATE = 1_000  # events/s: the stream lasts 50 s, the kills land in it
KILL_AFTER = (8_000, 20_000, 32_000)  # events sent (a restart takes up to about 12 s)
BAD_EVERY = 97  # about 1% of the stream is malformed and must end in the dead-letter topic


@dataclass(frozen=True)
class AtKill:
    """What Kafka held right after a kill: the group's committed offsets, every topic's,
    and the end of each partition of the deltas topic."""

    committed: dict[tuple[str, int], int]
    deltas_end: dict[int, int]

    def not_committed(self, topic: str, partition: int, offset: int) -> bool:
        return offset >= self.committed.get((topic, partition), 0)


def _repeated_past_a_commit(answered: Counter[bytes], inputs: list[ConsumerRecord[bytes, bytes]],
                            kills: list[AtKill]) -> int:
    """Inputs answered again more often than kills found them not committed yet: a kill
    repeats only what was not committed, at most once each."""
    placed = {r.key: r for r in inputs}
    return sum(1 for key, n in answered.items()
               if n - 1 > sum(1 for kill in kills if kill.not_committed(
                   placed[key].topic, placed[key].partition, placed[key].offset)))


def _recountable(deltas: list[ConsumerRecord[bytes, bytes]], kills: list[AtKill]) -> int:
    """What the deltas a kill left read but not committed add up to: the next worker
    counts them again."""
    return sum(int(r.value) for kill in kills for r in deltas
               if kill.not_committed(r.topic, r.partition, r.offset)
               and r.offset < kill.deltas_end[r.partition])


def _counted(worker: Worker) -> dict[str, int]:
    heart = worker.stats()["pipelines"].get("heart", {"labels": {}, "dead_letters": 0})
    return {**heart["labels"], "dead letters": heart["dead_letters"]}


def _table(changelog: list[ConsumerRecord[bytes, bytes]]) -> dict[str, int]:
    """The heart counts as the table's changelog last has them."""
    newest: dict[str, int] = {}
    for record in changelog:
        key, total = changelog_entry(record.key, record.value)
        pipeline, label = split_count_key(key)
        if pipeline == "heart" and total is not None:
            newest["dead letters" if label == DEAD_LETTER else label] = total
    return newest


def _kcat_keys(bootstrap: str, topic: str) -> list[str]:
    """The keys kcat reads from `topic` as a read_committed consumer."""
    kcat = shutil.which("kcat")
    assert kcat, "kcat is not installed: `make test` installs it (apt-get install kcat)"
    done = subprocess.run([kcat, "-C", "-b", bootstrap, "-t", topic, "-o", "beginning", "-e",
                           "-q", "-X", "isolation.level=read_committed", "-f", "%k\n"],
                          capture_output=True, timeout=120, check=True)
    return done.stdout.decode().split()


@pytest.mark.parametrize("guarantee", ["at_least_once", "exactly_once"])
async def test_three_kills_mid_stream(bootstrap: str, tmp_path: Path, guarantee: str) -> None:
    worker = make_worker(bootstrap, tmp_path, f"crash-{guarantee}",
                         BROKER_SESSION_TIMEOUT_SECONDS="6", PROCESSING_GUARANTEE=guarantee)
    heart = worker.settings.pipeline("heart")
    exactly = guarantee == "exactly_once"
    run = uuid.uuid4().hex[:6]
    records = [(f"{run}-{i}".encode(),
                b'{"age": "old"}' if i % BAD_EVERY == 0 else heart_record(i))
               for i in range(EVENTS)]
    keys = {k for k, _ in records}
    sent = 0

    async def stream_in() -> None:
        nonlocal sent
        loop = asyncio.get_running_loop()
        started = loop.time()
        for start in range(0, EVENTS, CHUNK):
            await asyncio.sleep(max(0.0, started + start / RATE - loop.time()))
            await produce(bootstrap, heart.input_topic, records[start : start + CHUNK])
            sent = start + CHUNK

    worker.start()
    kills = []
    at_kills: list[AtKill] = []
    group, counts_topic = worker.settings.app_id, worker.settings.label_counts_topic
    try:
        producing = asyncio.ensure_future(stream_in())
        for threshold in KILL_AFTER:
            before = await records_in(bootstrap, heart.output_topic)

            async def due(threshold: int = threshold, before: int = before) -> bool:
                answered = await records_in(bootstrap, heart.output_topic)
                return sent >= threshold and answered > before

            await wait_for_async(due, f"{threshold} events sent and answers since the start")
            worker.stop(signal.SIGKILL)
            kills.append(sent)
            at_kills.append(AtKill(await committed_offsets(bootstrap, group),
                                   await end_offsets(bootstrap, counts_topic)))
            worker.start()
        await producing
        assert sent == EVENTS and kills[-1] < EVENTS, "the kills did not land mid-stream"
        bad = sum(1 for k, v in records if v.startswith(b'{"age": "old"'))
        outputs = await read_until(bootstrap, heart.output_topic,
                                   lambda rs: len({r.key for r in rs}) >= EVENTS - bad,
                                   timeout=240, committed_only=exactly)
        dead = await read_until(bootstrap, heart.dlq_topic,
                                lambda rs: len({r.key for r in rs}) >= bad,
                                timeout=120, committed_only=exactly)
        answered = Counter(r.key for r in outputs) + Counter(r.key for r in dead)
        lost = len(keys - set(answered))
        duplicated = sum(answered.values()) - len(set(answered))
        inputs = await read_until(bootstrap, heart.input_topic, lambda rs: len(rs) >= EVENTS)
        repeated_past_a_commit = _repeated_past_a_commit(answered, inputs, at_kills)

        async def all_committed() -> bool:
            offsets = await committed_offsets(bootstrap, group)
            return sum(n for (topic, _), n in offsets.items() if topic == heart.input_topic
                       ) == EVENTS

        await wait_for_async(all_committed, "every input offset to be committed", timeout=60)
        expected = {**Counter(r.value.decode() for r in outputs), "dead letters": len(dead)}
        assert worker.stats()["processing_guarantee"] == guarantee
        counting: dict[str, int] = {}
        if exactly:
            try:
                await wait_for(lambda: _counted(worker) == expected,
                               f"the table to count exactly {expected}", timeout=90)
            except AssertionError as exc:
                raise AssertionError(f"{exc}; it counts {_counted(worker)}") from None
            table_error = 0
        else:
            # Every delta is counted at least once; after a kill the next worker counts
            # again at most the deltas past the counting agent's last commit.
            written = len(outputs) + len(dead)
            delta_records = sum((await end_offsets(bootstrap, counts_topic)).values())
            deltas = [r for r in await read_until(bootstrap, counts_topic,
                                                  lambda rs: len(rs) >= delta_records)
                      if r.key.startswith(b"heart:")]
            sent_deltas = sum(int(r.value) for r in deltas)
            recountable = _recountable(deltas, at_kills)
            assert EVENTS <= sent_deltas <= written, (EVENTS, sent_deltas, written)
            try:
                await wait_for(lambda: sent_deltas <= sum(_counted(worker).values())
                               <= sent_deltas + recountable,
                               f"the table to count the {sent_deltas} deltas sent, plus at most "
                               f"the {recountable} a kill left to count again", timeout=90)
            except AssertionError as exc:
                raise AssertionError(f"{exc}; it counts {sum(_counted(worker).values())}"
                                     ) from None
            table_error = sum(_counted(worker).values()) - written
            counting = {"deltas_sent": sent_deltas, "recountable": recountable}
        figures = {"guarantee": guarantee, "events": EVENTS, "malformed": bad,
                   "kills": len(kills), "killed_after_sent": kills, "lost": lost,
                   "duplicated": duplicated, "repeated_past_a_commit": repeated_past_a_commit,
                   "table_error": table_error, **counting}
        if exactly:
            seen_by_kcat = (_kcat_keys(bootstrap, heart.output_topic)
                            + _kcat_keys(bootstrap, heart.dlq_topic))
            figures["kcat_records"] = len(seen_by_kcat)
            figures["kcat_distinct_keys"] = len(set(seen_by_kcat))
        OUTPUT.mkdir(exist_ok=True)
        (OUTPUT / f"crash-figures-{guarantee}.json").write_text(json.dumps(figures))
    finally:
        worker.stop()
    assert lost == 0
    if exactly:
        assert duplicated == 0
        assert figures["kcat_records"] == figures["kcat_distinct_keys"] == EVENTS
        # A graceful stop commits what the worker still held: the table stays exact.
        changelog = f"{worker.settings.app_id}-label-to-count-changelog"  # Faust's naming
        await read_until(bootstrap, changelog, lambda rs: _table(rs) == expected,
                         timeout=30, committed_only=True)
    else:
        assert repeated_past_a_commit == 0
