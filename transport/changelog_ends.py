"""Where a table's recovery can stop: one past the last record a reader of its changelog gets.

Faust recovers a table until it has applied the record at its changelog's end offset
minus one. With exactly-once that offset holds a transaction's commit marker, which no
reader is ever handed, so recovery waited for it: after two idle 5 s polls Faust checks
the consumer's position and gives up waiting ("Aborted tx until highwater"), and every
restart or rebalance of an exactly-once worker answered nothing for 10 s. Reading the
tail of each changelog once, as recovery will read it, gives the end recovery can reach.
"""

from __future__ import annotations

from collections.abc import Mapping

from aiokafka import AIOKafkaConsumer, TopicPartition
from faust.types import TP

TAIL = 64  # offsets read back from a partition's end first; more while no record is there
POLL_MS = 200


async def record_ends(reader: AIOKafkaConsumer, ends: Mapping[TP, int]) -> dict[TP, int]:
    """For each partition, one past the offset of the last record `reader` is handed
    before `ends` (0 when there is none); `reader` is started and assigned nothing.

    Markers and aborted records are skipped as recovery's consumer skips them: `reader`
    has its isolation level.
    """
    found = {tp: 0 for tp in ends}
    window = TAIL
    todo = [tp for tp, end in ends.items() if end > 0]
    while todo:
        partitions = {TopicPartition(tp.topic, tp.partition): tp for tp in todo}
        reader.assign(list(partitions))
        for kafka_tp, tp in partitions.items():
            reader.seek(kafka_tp, max(0, ends[tp] - window))
        reading = set(partitions)
        while reading:
            for kafka_tp, records in (await reader.getmany(*reading,
                                                           timeout_ms=POLL_MS)).items():
                tp = partitions[kafka_tp]
                before = [r.offset for r in records if r.offset < ends[tp]]
                if before:
                    found[tp] = max(found[tp], before[-1] + 1)
            reading = {kafka_tp for kafka_tp in reading
                       if await reader.position(kafka_tp) < ends[partitions[kafka_tp]]}
        todo = [tp for tp in todo if not found[tp] and ends[tp] > window]
        window *= 4
    return found
