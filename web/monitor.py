"""What every worker's dashboard shows: global label totals, rates and consumer lag.

The counts table is partitioned across workers, so no worker holds every total. Each
worker instead reads the table's changelog topic, all partitions, from the beginning:
the newest record per key there *is* the table's value, whichever worker owns it. This
is a read-only global view built from Kafka alone (no calls between workers, and none of
GlobalTable's multi-worker issues).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from schemas.counts import DEAD_LETTER, changelog_entry, is_shadow, split_count_key

logger = logging.getLogger(__name__)

RATE_WINDOW_S = 60.0
REFRESH_S = 1.0
HISTORY_SLOT_S = 10  # events/s over the last ten minutes, one figure per slot
HISTORY_SLOTS = 60


@dataclass
class PipelineTopics:
    name: str
    input_topic: str
    output_topic: str
    dlq_topic: str


@dataclass
class GlobalView:
    """Latest totals per table key, samples for rates, and lag per input partition."""

    totals: dict[str, int] = field(default_factory=dict)
    samples: deque[tuple[float, dict[str, int]]] = field(default_factory=deque)
    history: deque[tuple[float, dict[str, int]]] = field(
        default_factory=lambda: deque(maxlen=HISTORY_SLOTS + 1))
    lag: dict[str, dict[int, int]] = field(default_factory=dict)
    changelog_records: int = 0

    def apply(self, key: bytes | None, value: bytes | None) -> None:
        """Fold one changelog record into the totals (a null value deletes the key)."""
        if key is None:
            return
        name, total = changelog_entry(key, value)
        self.changelog_records += 1
        if total is None:
            self.totals.pop(name, None)
        else:
            self.totals[name] = total

    def pipeline_totals(self) -> dict[str, int]:
        sums: dict[str, int] = {}
        for key, value in self.totals.items():
            pipeline, label = split_count_key(key)
            if not is_shadow(label):
                sums[pipeline] = sums.get(pipeline, 0) + value
        return sums

    def sample(self, now: float, wall: float) -> None:
        """Remember the per-pipeline totals at `now`, keeping one window of samples, and
        at each history slot's start (`wall`: epoch seconds)."""
        totals = self.pipeline_totals()
        self.samples.append((now, totals))
        while self.samples and self.samples[0][0] < now - RATE_WINDOW_S:
            self.samples.popleft()
        slot = wall // HISTORY_SLOT_S * HISTORY_SLOT_S
        if not self.history or self.history[-1][0] != slot:
            self.history.append((slot, totals))

    def rates(self, pipeline: str) -> dict[int, float]:
        """Slot start (epoch seconds) -> events per second during that slot."""
        return {int(t0): max(0.0, (b.get(pipeline, 0) - a.get(pipeline, 0)) / (t1 - t0))
                for (t0, a), (t1, b) in pairwise(self.history)}

    def rate(self, pipeline: str) -> float:
        """Events per second over the last minute (or since this worker started)."""
        if len(self.samples) < 2:
            return 0.0
        (t0, first), (t1, last) = self.samples[0], self.samples[-1]
        if t1 <= t0:
            return 0.0
        return max(0.0, (last.get(pipeline, 0) - first.get(pipeline, 0)) / (t1 - t0))


class Monitor:
    """Keeps a GlobalView fresh from Kafka: the changelog, and the group's committed offsets."""

    def __init__(self, *, bootstrap: str, group_id: str, changelog_topic: str,
                 pipelines: list[PipelineTopics],
                 client_options: dict[str, Any] | None = None,
                 committed_only: bool = False) -> None:
        self.bootstrap = bootstrap
        self.client_options = client_options or {}
        # With exactly-once the table's changes are transactional: show only committed ones.
        self.isolation_level = "read_committed" if committed_only else "read_uncommitted"
        self.group_id = group_id
        self.changelog_topic = changelog_topic
        self.pipelines = pipelines
        self.view = GlobalView()

    async def run(self) -> None:
        """Follow the changelog and refresh lag until cancelled."""
        consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False,
                                    isolation_level=self.isolation_level,
                                    auto_offset_reset="earliest", **self.client_options)
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap, **self.client_options)
        await consumer.start()
        await admin.start()
        try:
            await self._assign_changelog(admin, consumer)
            next_refresh = 0.0
            while True:
                batches = await consumer.getmany(timeout_ms=int(REFRESH_S * 500))
                for records in batches.values():
                    for record in records:
                        self.view.apply(record.key, record.value)
                now = time.monotonic()
                if now >= next_refresh:
                    next_refresh = now + REFRESH_S
                    self.view.sample(now, time.time())
                    await self._refresh_lag(admin, consumer)
        finally:
            await consumer.stop()
            await admin.close()

    async def _assign_changelog(self, admin: AIOKafkaAdminClient,
                                consumer: AIOKafkaConsumer) -> None:
        while not (partitions := (await _partitions(admin, [self.changelog_topic]))
                   .get(self.changelog_topic)):
            await asyncio.sleep(REFRESH_S)
        consumer.assign([TopicPartition(self.changelog_topic, p) for p in sorted(partitions)])
        await consumer.seek_to_beginning()

    async def _refresh_lag(self, admin: AIOKafkaAdminClient, consumer: AIOKafkaConsumer) -> None:
        """Lag = end offset - committed offset of this app's group, per input partition."""
        try:
            committed = await admin.list_consumer_group_offsets(self.group_id)
            partitions = await _partitions(admin, [p.input_topic for p in self.pipelines])
            inputs = {
                p.name: [TopicPartition(p.input_topic, i)
                         for i in partitions.get(p.input_topic, [])]
                for p in self.pipelines
            }
            every = [tp for tps in inputs.values() for tp in tps]
            ends = await consumer.end_offsets(every) if every else {}

            def done(tp: TopicPartition) -> int:
                offset = committed[tp].offset if tp in committed else -1
                return max(offset, 0)

            self.view.lag = {
                name: {tp.partition: ends[tp] - done(tp) for tp in tps}
                for name, tps in inputs.items()
            }
        except KafkaError as exc:
            logger.warning("monitor: could not read consumer lag: %r", exc)

    def snapshot(self) -> dict[str, Any]:
        """Per pipeline: labels, dead letters, total, events/s, lag per partition."""
        out: dict[str, Any] = {}
        for p in self.pipelines:
            labels: dict[str, int] = {}
            shadow: dict[str, int] = {}
            dead = 0
            for key, value in sorted(self.view.totals.items()):
                name, label = split_count_key(key)
                if name != p.name:
                    continue
                if label == DEAD_LETTER:
                    dead = value
                elif is_shadow(label):
                    shadow[label] = value
                else:
                    labels[label] = value
            lag = self.view.lag.get(p.name, {})
            out[p.name] = {
                "topics": {"input": p.input_topic, "output": p.output_topic, "dlq": p.dlq_topic},
                "labels": labels,
                "dead_letters": dead,
                "total": sum(labels.values()) + dead,
                "events_per_second": round(self.view.rate(p.name), 2),
                "lag": {str(k): v for k, v in lag.items()},
                "lag_total": sum(lag.values()),
                "shadow_counts": shadow,
            }
        return out


async def _partitions(admin: AIOKafkaAdminClient, topics: list[str]) -> dict[str, list[int]]:
    """Partition ids of those of `topics` that exist.

    Asks for these topics only: metadata for every topic of a large cluster takes tens
    of milliseconds to parse, all of it on the worker's event loop.
    """
    described = await admin.describe_topics(topics)
    return {t["topic"]: sorted(p["partition"] for p in t["partitions"])
            for t in described if t["error_code"] == 0}
